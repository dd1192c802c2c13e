package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser finds a Chromium as the dashboard's browser test does.
func browser(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found (CI is set, so the browser test must run): apt-get install -y chromium, or set CHROMIUM")
	}
	t.Skip("no Chromium found: apt-get install -y chromium (or set CHROMIUM) to run the browser test")
	return ""
}

// The dashboard's administration, as a person uses it in headless
// Chromium against `conductor serve`: unlock with the admin token, create
// a key, give it a tiny budget, see its request refused, revoke it, see it
// refused with 401; the audit log shows each change.
func TestDashboardAdminForms(t *testing.T) {
	exe := browser(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "conductor.toml")
	if err := os.WriteFile(cfgPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	const adminTok = "adm-browser-test"
	t.Setenv("CONDUCTOR_TOKENS", "")
	t.Setenv("CONDUCTOR_ADMIN_TOKEN", adminTok)
	t.Setenv("OPENAI_API_KEY", "sk-test-unused")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1") // never reached: the budget refuses first
	url, _, _ := startServe(t, serveFlags{config: cfgPath, data: dir, logLevel: "error", ensembles: dir})

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1400),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var (
		mu       sync.Mutex
		problems []string
	)
	consoleCtx, stopConsole := context.WithCancel(bctx)
	defer stopConsole()
	go func() {
		for m, err := range chromedp.Console(consoleCtx) {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	message := func(want string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("admin-message").textContent.includes(`+jsString(want)+`)`)); err != nil {
			text, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#admin-message")))
			t.Fatalf("wait for %q: %v (the page says %q)", want, err, text)
		}
	}
	call := func(secret string) (int, string) {
		req, _ := http.NewRequest("POST", url+"/v1/chat/completions",
			strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error struct{ Code, Message string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error.Code
	}

	step("open the dashboard", chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS("#admin-login")))
	step("a wrong admin token", chromedp.SendKeys(chromedp.CSS("#admin-token"), "nope"), chromedp.Click(chromedp.CSS(`#admin-login button[type=submit]`)))
	message("not valid")
	step("unlock", chromedp.SetValue(chromedp.CSS("#admin-token"), adminTok), chromedp.Click(chromedp.CSS(`#admin-login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#admin-panels")))

	step("create a key",
		chromedp.SendKeys(chromedp.CSS(`#form-key input[name=name]`), "web"),
		chromedp.SendKeys(chromedp.CSS(`#form-key input[name=user]`), "web-user"),
		chromedp.Click(chromedp.CSS(`#form-key button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#new-key")))
	secret, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#new-key-value")))
	if err != nil || !keyRE.MatchString(secret) {
		t.Fatalf("the new key %q: %v", secret, err)
	}
	step("the key is listed", chromedp.WaitVisible(chromedp.CSS(`#table-keys tr[data-key="web"]`)))

	step("set a tiny budget on the key",
		chromedp.SendKeys(chromedp.CSS(`#form-budget input[name=name]`), "web-tiny"),
		chromedp.SetValue(chromedp.CSS(`#form-budget select[name=scope]`), "key"),
		chromedp.SendKeys(chromedp.CSS(`#form-budget input[name=match]`), "web"),
		chromedp.SendKeys(chromedp.CSS(`#form-budget input[name=daily_usd]`), "0.0000001"),
		chromedp.Click(chromedp.CSS(`#form-budget button[type=submit]`)))
	message("Budget web-tiny is in force")
	if code, reason := call(secret); code != 429 || reason != "budget_exceeded" {
		t.Errorf("under the tiny budget: %d %s", code, reason)
	}

	// The refused call is in the log under its key: the page's spend by key
	// shows it (each poll clicks the tab, which reloads the table).
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](
		`(document.querySelector('#who-tabs button[data-by=key]').click(), !!document.querySelector('#table-who tr[data-group="web"]'))`,
		chromedp.WithPollingInterval(250*time.Millisecond))); err != nil {
		t.Fatalf("the spend by key: %v", err)
	}
	step("revoke the key", chromedp.Click(chromedp.CSS(`#table-keys tr[data-key="web"] button.revoke`)))
	message("Revoked key web")
	if code, _ := call(secret); code != 401 {
		t.Errorf("the revoked key: %d", code)
	}
	audit, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#table-audit tbody")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"revoke", "key web", "budget web-tiny", "create"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit table lacks %q:\n%s", want, audit)
		}
	}
	if strings.Contains(audit, secret) {
		t.Error("the audit table shows the key")
	}
	if shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
		out := filepath.Join("testdata", "out")
		if d := os.Getenv("ARTIFACTS_DIR"); d != "" {
			out = d
		}
		if os.MkdirAll(out, 0o755) == nil {
			_ = os.WriteFile(filepath.Join(out, "dashboard-admin.png"), shot, 0o644)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		// The refused admin token is an expected 401 in the console.
		if !strings.Contains(p, "401") {
			t.Errorf("console: %s", p)
		}
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
