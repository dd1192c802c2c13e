package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// attempts counts every upstream call the built-in gateway made for the
// member, its own retries included, when the member succeeds after them
// and when it fails after them; --trace names the gateway that served it.
func TestBuiltinGatewayAttempts(t *testing.T) {
	tests := []struct {
		name     string
		respond  Responder
		code     int
		attempts int
	}{
		{"retried then answered", Sequence(Fail(http.StatusServiceUnavailable), Fail(http.StatusServiceUnavailable), Text("")), 0, 3},
		{"every attempt failed", Fail(http.StatusServiceUnavailable), 1, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, configBuiltin+"max_attempts = 3\nretry_delay = \"1ms\"\n")
			w.openai.Respond(tc.respond)
			o := w.run(example("generate-article"), "--input", `"hi"`, "--trace")
			if o.code != tc.code || o.res == nil {
				t.Fatalf("exit %d, want %d\nstderr: %s", o.code, tc.code, o.stderr)
			}
			if n := len(w.openai.Requests()); n != 3 {
				t.Fatalf("openai got %d requests, want 3", n)
			}
			if m := o.res.member(t, "write-draft"); m.Attempts != tc.attempts {
				t.Errorf("attempts = %d, want %d (every upstream call)", m.Attempts, tc.attempts)
			}
			if !strings.Contains(o.stderr, "built-in gateway "+gatewayID) {
				t.Errorf("--trace does not name the built-in gateway %s:\n%s", gatewayID, o.stderr)
			}
		})
	}
}

// --trace names Cloudflare's hosted gateway and its id when the gateway
// has an account_id.
func TestTraceNamesHostedGateway(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configHosted)
	o := w.run(example("generate-article"), "--input", `"hi"`, "--trace")
	o.mustSucceed(t)
	if !strings.Contains(o.stderr, "hosted gateway "+gatewayID) {
		t.Errorf("--trace does not name the hosted gateway %s:\n%s", gatewayID, o.stderr)
	}
}

// Ctrl-C during a call: the call stops, the --json result is printed with
// the member the run never reached as not_run (not skipped), and the exit
// status is 130, as shells report SIGINT.
func TestInterruptExits130(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configBuiltin)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { close(release) }) // before the fake server closes
	w.openai.Respond(func(ex *Exchange) Reply {
		once.Do(func() { close(started) })
		<-release
		return Success(ex.Provider, ex.Model, "")
	})
	flow := filepath.Join(w.dir, "interrupt.yaml")
	if err := os.WriteFile(flow, []byte(`name: interrupt
flow:
  - member: slow
    config:
      provider: openai
      model: gpt-4o
      routing: direct
      prompt: hi
  - member: later
    config:
      provider: mock
      prompt: hi
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(conductorBin, "run", flow, "--json", "--trace", "--config", w.config, "--data", w.data)
	cmd.Dir = w.dir
	cmd.Env = []string{"HOME=" + w.dir}
	for k, v := range w.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the call never reached the provider\nstderr: %s", stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130\nstderr: %s", err, stderr.String())
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("no --json result: %v\n%s", err, stdout.String())
	}
	if m := res.member(t, "slow"); m.Status != "failed" {
		t.Errorf("slow = %+v, want failed (cancelled)", m)
	}
	if m := res.member(t, "later"); m.Status != "not_run" {
		t.Errorf("later = %s, want not_run", m.Status)
	}
	if !strings.Contains(stderr.String(), "not_run") || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say the run was interrupted and later not run:\n%s", stderr.String())
	}
}
