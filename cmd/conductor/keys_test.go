package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var keyRE = regexp.MustCompile(`(?m)^ck-[0-9A-Za-z]{43}$`)

// The whole life of a key from the command line: created (printed once,
// only its digest stored), listed (never the key), rotated, revoked.
func TestKeysCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data") // no store yet: create makes it
	cfg := filepath.Join(dir, "conductor.toml")
	if err := os.WriteFile(cfg, []byte("[[team]]\nname = \"research\"\ndaily_usd = 10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--data", data, "--config", cfg}
	out, code, err := runCmd(t, newKeysCmd, append([]string{"create", "ci", "--user", "ci-bot", "--team", "research", "--daily-usd", "5",
		"--rpm", "60", "--models", "gpt-4o*,anthropic/*", "--expires", "30d"}, flags...)...)
	if code != 0 {
		t.Fatalf("create: exit %d %v\n%s", code, err, out)
	}
	secret := keyRE.FindString(out)
	if secret == "" || !strings.Contains(out, "it is not shown again") {
		t.Fatalf("create printed:\n%s", out)
	}
	db, err := os.ReadFile(filepath.Join(data, dbName))
	if err != nil || strings.Contains(string(db), secret) {
		t.Fatalf("the key itself is in the store file (%v)", err)
	}
	if _, code, _ := runCmd(t, newKeysCmd, append([]string{"create", "ci"}, flags...)...); code != exitInvalid {
		t.Errorf("create twice: exit %d", code)
	}
	if out, code, _ := runCmd(t, newKeysCmd, append([]string{"create", "bad name"}, flags...)...); code != exitInvalid {
		t.Errorf("bad name: exit %d %s", code, out)
	}
	if out, code, _ := runCmd(t, newKeysCmd, append([]string{"create", "x", "--team", "nope"}, flags...)...); code != 0 || !strings.Contains(out, `team "nope" has no [[team]]`) {
		t.Errorf("unknown team: exit %d\n%s", code, out)
	}

	out, code, err = runCmd(t, newKeysCmd, append([]string{"list"}, flags...)...)
	if code != 0 || strings.Contains(out, secret) || strings.Contains(out, "ck-") {
		t.Fatalf("list: exit %d %v\n%s", code, err, out)
	}
	for _, want := range []string{"NAME", "ci  ", "ci-bot", "research", "$5.00/day; 60 rpm; models gpt-4o*,anthropic/*; expires", "$0.00", "never", "active"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}

	out, code, _ = runCmd(t, newKeysCmd, append([]string{"rotate", "ci", "--grace", "0"}, flags...)...)
	fresh := keyRE.FindString(out)
	if code != 0 || fresh == "" || fresh == secret {
		t.Fatalf("rotate: exit %d\n%s", code, out)
	}
	if _, code, _ := runCmd(t, newKeysCmd, append([]string{"revoke", "ci"}, flags...)...); code != 0 {
		t.Fatalf("revoke: exit %d", code)
	}
	if _, code, _ := runCmd(t, newKeysCmd, append([]string{"revoke", "nope"}, flags...)...); code != exitInvalid {
		t.Errorf("revoke an unknown key: exit %d", code)
	}
	out, _, _ = runCmd(t, newKeysCmd, append([]string{"list", "--json"}, flags...)...)
	var listed []keyListing
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if len(listed) != 2 || listed[0].Name != "ci" || listed[0].Status != "revoked" || listed[0].Secrets != nil || strings.Contains(out, "sha256") {
		t.Errorf("list --json:\n%s", out)
	}
}

// A key created by `conductor keys` while `conductor serve` runs on the
// same store is accepted by the server without a restart, and a revoked
// one refused; the server wants a key from every caller once one exists.
func TestKeysReachARunningServer(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "conductor.toml")
	if err := os.WriteFile(cfgPath, []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONDUCTOR_TOKENS", "")
	url, _, _ := startServe(t, serveFlags{config: cfgPath, data: dir, logLevel: "error", ensembles: dir})
	call := func(secret string) int {
		req, _ := http.NewRequest("POST", url+"/v1/chat/completions",
			strings.NewReader(`{"model":"mock/echo","messages":[{"role":"user","content":"Hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// eventually waits for the server's next control poll (every 250 ms).
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen by the running server", what)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	if code := call(""); code != 200 {
		t.Fatalf("before any key: %d", code)
	}
	out, code, err := runCmd(t, newKeysCmd, "create", "app", "--data", dir, "--config", cfgPath)
	if code != 0 {
		t.Fatalf("create: %v\n%s", err, out)
	}
	secret := keyRE.FindString(out)
	eventually("the new key", func() bool { return call("") == 401 })
	if code := call(secret); code != 200 {
		t.Fatalf("with the key: %d", code)
	}
	if _, code, _ := runCmd(t, newKeysCmd, "revoke", "app", "--data", dir, "--config", cfgPath); code != 0 {
		t.Fatal("revoke")
	}
	eventually("the revocation", func() bool { return call(secret) == 401 })
}
