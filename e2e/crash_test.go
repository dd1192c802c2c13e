package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conductor-go/conductor/gateway"
	"github.com/conductor-go/conductor/internal/faultfake"
	"github.com/conductor-go/conductor/store/sqlite"
)

// Crash safety of the built binary: `conductor serve` on a SQLite store
// with a cache and a budget is put under load, killed with SIGKILL,
// restarted on the same data directory, and checked — the file's
// integrity, a HIT for an answer cached before the kill, spend within the
// limit plus one reservation (and at least the cost of every acknowledged
// answer), and the request log against the durability promise of
// docs/reliability.md.

const (
	crashGateway = "crash"
	// The load: crashCallers callers at crashRate requests a second in
	// all, killed after crashAnswers answers (any status). Half the
	// callers ask for gpt-4o-mini, which the budget limits, so the limit
	// is reached under load; the others for gpt-4o, which it does not, so
	// the kill comes while answers are being logged.
	crashCallers = 8
	crashRate    = 200
	crashAnswers = 600
	// The budget and the prices: a call asks for at most 100 output
	// tokens at $1,000 per million, so it reserves about $0.10 and costs
	// $0.01 (the fixture's 10 output tokens): the $2 budget is spent
	// after ~200 answers, and reservations are in flight when it is.
	crashLimitUSD = 2
	crashMaxOut   = 100
	// crashReservation bounds one call's reservation in nano-USD: 100
	// output tokens at $1,000/M and a prompt of under 100 tokens at $1/M.
	crashReservation = crashMaxOut*1000_000 + 100*1000
	// crashCost is one answer's cost in nano-USD: the fixture's 19 input
	// tokens at $1/M and 10 output tokens at $1,000/M.
	crashCost = 19*1000 + 10*1000_000
	// crashAsyncBound is what async durability may lose (the rows of the
	// transaction in flight and those queued behind it), as
	// gateway.TestKill9KeepsAcknowledgedLogRows asserts it: 100 ms of
	// traffic at 200 requests a second.
	crashAsyncBound = 20
)

const crashConfig = `[gateway]
default = "` + crashGateway + `"

[[ai.gateway]]
id = "` + crashGateway + `"
cache_ttl = 3600

[log]
durability = "%s"

[[budget]]
name = "crash-daily"
scope = "model"
match = "gpt-4o-mini"
daily_usd = %d

[[pricing.model]]
provider = "openai"
model = "gpt-4o-mini"
input = 1.0
output = 1000.0
`

func TestServeKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts conductor serve")
	}
	for _, durability := range []string{gateway.DurabilityAsync, gateway.DurabilitySync} {
		t.Run(durability, func(t *testing.T) { serveKill9(t, durability) })
	}
}

func serveKill9(t *testing.T, durability string) {
	up := faultfake.New(t, faultfake.Options{})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "conductor.toml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(crashConfig, durability, crashLimitUSD)), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	env := map[string]string{"OPENAI_BASE_URL": up.OpenAIURL(), "OPENAI_API_KEY": openaiKey}
	srv := startServeData(t, dir, cfgPath, data, env)

	// An answer cached before the crash: asked until it is a HIT, which
	// the cache answers from the file.
	const cachedPrompt = "cached before the crash"
	for i := 0; ; i++ {
		status, cache, _ := crashCall(srv.url, "gpt-4o-mini", cachedPrompt)
		if status != http.StatusOK {
			t.Fatalf("the call to cache answered %d", status)
		}
		if cache == "HIT" {
			break
		}
		if i == 100 {
			t.Fatal("the answer was not cached after 100 calls")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The load, until the kill.
	var (
		mu           sync.Mutex
		acked        []string // log ids of the 200s
		ackedLimited int      // of them, gpt-4o-mini answers
		answers      atomic.Int64
		refused      atomic.Int64 // 429 budget_exceeded
		other        sync.Map     // unexpected statuses
	)
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for c := range crashCallers {
		wg.Go(func() {
			tick := time.NewTicker(time.Second * crashCallers / crashRate)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-killed:
					return
				case <-tick.C:
				}
				model := "gpt-4o"
				if c%2 == 0 {
					model = "gpt-4o-mini"
				}
				status, _, id := crashCall(srv.url, model, fmt.Sprintf("caller %d request %d", c, i))
				switch status {
				case 0: // the process is gone
					return
				case http.StatusOK:
					mu.Lock()
					acked = append(acked, id)
					if model == "gpt-4o-mini" {
						ackedLimited++
					}
					mu.Unlock()
				case http.StatusTooManyRequests:
					refused.Add(1)
				default:
					other.Store(status, true)
				}
				if answers.Add(1) == crashAnswers {
					srv.kill()
					close(killed)
				}
			}
		})
	}
	wg.Wait()
	other.Range(func(k, _ any) bool { t.Errorf("the load got status %v", k); return true })
	if refused.Load() == 0 {
		t.Errorf("no call was refused by the $%d budget: the load did not reach it", crashLimitUSD)
	}

	// The file as the kill left it.
	dbPath := filepath.Join(data, "conductor.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if integrity != "ok" {
		t.Errorf("PRAGMA integrity_check after kill -9: %s", integrity)
	}

	// The log and the spend.
	st, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatalf("reopening after kill -9: %v", err)
	}
	rows, err := st.RecentLogs(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool, len(rows))
	for _, r := range rows {
		have[r.ID] = true
	}
	lost := 0
	for _, id := range acked {
		if !have[id] {
			lost++
		}
	}
	day := time.Now().UTC().Format("2006-01-02")
	spent, err := st.Spent(context.Background(), gateway.SpendKey(gateway.ScopeModel, "gpt-4o-mini")+"/"+gateway.PeriodDay+":"+day)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	t.Logf("durability %s: %d answers, %d acknowledged (%d limited by the budget), %d refused by the budget, %d rows lost (%.2f%%); spent %.4f USD of %d",
		durability, answers.Load(), len(acked), ackedLimited, refused.Load(), lost, 100*float64(lost)/float64(max(len(acked), 1)), float64(spent)/1e9, crashLimitUSD)
	want := 0
	if durability == gateway.DurabilityAsync {
		want = crashAsyncBound
	}
	if lost > want {
		t.Errorf("kill -9 lost %d of %d acknowledged rows, want at most %d", lost, len(acked), want)
	}
	if limit := int64(crashLimitUSD * 1e9); spent > limit+crashReservation {
		t.Errorf("after kill -9 the budget holds %d nano-USD, more than the limit %d plus one reservation %d", spent, limit, crashReservation)
	}
	// +1: the answer cached before the load.
	if least := int64(ackedLimited+1) * crashCost; spent < least {
		t.Errorf("after kill -9 the budget holds %d nano-USD, less than the %d its acknowledged answers cost", spent, least)
	}

	// Restarted on the same file: the answer cached before the crash is a
	// HIT, and the server answers new calls (or refuses them on the spent
	// budget) in its format.
	before := len(up.Requests())
	srv = startServeData(t, dir, cfgPath, data, env)
	status, cache, _ := crashCall(srv.url, "gpt-4o-mini", cachedPrompt)
	if status != http.StatusOK || cache != "HIT" {
		t.Errorf("after the restart the cached answer got %d %q, want 200 HIT", status, cache)
	}
	if n := len(up.Requests()); n != before {
		t.Errorf("the cached answer reached the upstream after the restart")
	}
	if status, _, _ := crashCall(srv.url, "gpt-4o-mini", "after the restart"); status != http.StatusOK && status != http.StatusTooManyRequests {
		t.Errorf("a new call after the restart answered %d", status)
	}
}

// crashCall sends one chat call and returns its status (0 when the server
// is gone), cache status and log id.
func crashCall(url, model, prompt string) (status int, cache, logID string) {
	body := fmt.Sprintf(`{"model":"openai/%s","max_tokens":%d,"messages":[{"role":"user","content":%s}]}`, model, crashMaxOut, quoted(prompt))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return 0, "", ""
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", ""
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		// The answer did not arrive whole: not acknowledged.
		return 0, "", ""
	}
	return resp.StatusCode, resp.Header.Get("cf-aig-cache-status"), resp.Header.Get("cf-aig-log-id")
}
