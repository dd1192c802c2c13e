package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conductor-go/conductor/internal/faultfake"
)

// The fault suite: every fault of internal/faultfake on every path a call
// takes — an OpenAI client, an Anthropic client and a Cloudflare client
// (a Workers AI model on a gateway path) through `conductor serve`, and an
// ensemble member on the built-in gateway and on direct routing through
// `conductor run` — each in three scenarios:
//
//   - once: the fault hits the first call only. A retryable fault is
//     retried (the upstream sees a second call) and the caller gets the
//     whole answer; another fails clearly.
//   - fallback: the fault hits every call of the first route, a second
//     route works (a [[model]] chain, the universal endpoint's second step,
//     a fallback member): the caller gets the second route's whole answer.
//   - always: the fault hits every call and nothing else is there: the
//     caller gets a clear error in its own format. The same request again
//     reaches the upstream again (a failure is never cached).
//
// Every call is bounded (faultDeadlines.bound): past it the case is a hang. A
// 200 whose answer is cut short fails every scenario.

// faultDeadlines are the deadlines of one config of the suite.
type faultDeadlines struct {
	firstByte, idle, total time.Duration
	// call is the providers' own bound on a call (direct routing has no
	// idle deadline: this is what ends a stalled body there).
	call time.Duration
}

var (
	// quickDeadlines are short, so a hang costs little.
	quickDeadlines = faultDeadlines{firstByte: time.Second, idle: time.Second, total: 5 * time.Second, call: 2 * time.Second}
)

// The suite's bound on a whole answer ([gateway] max_answer_bytes) and
// the huge answer past it: small, so the case costs little.
const (
	faultMaxAnswerBytes = 2 << 20
	faultHugeBytes      = 3 << 20
)

// bound bounds one call from the caller's side: the total deadline, plus a
// start of `conductor run` on a loaded machine.
func (d faultDeadlines) bound() time.Duration { return d.total + 10*time.Second }

func (d faultDeadlines) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, faultConfig, faultMaxAnswerBytes, d.firstByte, d.idle, d.total, d.firstByte, d.call, d.firstByte, d.call, d.firstByte, d.call)
	// Each fault's fallback cases have chains of their own: the cases run
	// at once, and one fault's failures open a route's breaker (a 429's
	// Retry-After holds it) for whoever else shares it.
	for _, f := range faultfake.All() {
		fmt.Fprintf(&b, "\n[[model]]\nname = %q\nroutes = [\"openai/gpt-4o-mini\", \"anthropic/%s\"]\n", chainName("openai-then-anthropic", f), claude)
		fmt.Fprintf(&b, "\n[[model]]\nname = %q\nroutes = [\"anthropic/%s\", \"openai/gpt-4o-mini\"]\n", chainName("anthropic-then-openai", f), claude)
	}
	return b.String()
}

// chainName is the [[model]] chain a fault's fallback cases use.
func chainName(chain string, f faultfake.Fault) string { return chain + "-" + string(f) }

const faultConfig = `[gateway]
max_answer_bytes = %d

[[ai.gateway]]
id = "my-gateway"
cache_ttl = 3600
max_attempts = 2
retry_delay = "10ms"
backoff = "constant"
request_timeout = "%v"
idle_timeout = "%v"
total_timeout = "%v"

# Direct routing has no gateway: the provider's own deadlines bound it.
[providers.openai]
first_byte_timeout = "%v"
timeout = "%v"

[providers.anthropic]
first_byte_timeout = "%v"
timeout = "%v"

[providers.workers-ai]
first_byte_timeout = "%v"
timeout = "%v"
`

// faultScenario is how a case's fault is planned and what stands behind it.
type faultScenario string

const (
	scenarioOnce     faultScenario = "once"
	scenarioFallback faultScenario = "fallback"
	scenarioAlways   faultScenario = "always"
)

// faultOutcome is what a caller got, judged in its own wire format.
type faultOutcome struct {
	// whole: a complete answer (a 200 with the whole body, a stream with
	// its terminator); text is its text.
	whole bool
	text  string
	// clearErr: an error in the caller's format with a message (a 4xx/5xx
	// body, an error event ending a stream, a failed member) — message is
	// it, status its HTTP status (0 for a stream's event or a member).
	clearErr bool
	message  string
	status   int
	// step is which route answered (cf-aig-step; for ensembles 1 when the
	// fallback member answered).
	step int
	// bad is what is wrong when the answer is neither whole nor a clear
	// error: a truncated 200, an unreadable body, a hang.
	bad string
}

func (o faultOutcome) String() string {
	switch {
	case o.bad != "":
		return "BAD: " + o.bad
	case o.whole:
		return fmt.Sprintf("whole answer from step %d (%q)", o.step, o.text)
	case o.clearErr:
		return fmt.Sprintf("error %d %q", o.status, o.message)
	}
	return "nothing"
}

// faultPath is one way a call reaches the upstream.
type faultPath struct {
	name string
	// provider is the format of the faulted route; backup the one behind.
	provider, backup string
	// call makes one call in scenario sc with marker in its prompt.
	call func(t *testing.T, sc faultScenario, f faultfake.Fault, marker string, stream bool) faultOutcome
}

// faultWant is the outcome a fault must have in each scenario; always is
// a clear error unless ok.
type faultWant struct {
	// recovers: the once scenario ends in a whole answer (the fault was
	// retried, or it is no failure at all); otherwise a clear error.
	recovers bool
	// fallsBack: the fallback scenario ends in the second route's whole
	// answer; otherwise (a total deadline that passed) a clear error.
	fallsBack bool
	// ok: the fault is no failure (a slow stream): every scenario is the
	// first route's whole answer.
	ok bool
	// either: once and fallback may end either way — a stream that broke
	// before anything reached the caller is retried, one that broke after
	// ends in an error event.
	either bool
}

// wantFor is the outcome a fault must have on a path; stream says whether
// the call asked for a stream.
func wantFor(f faultfake.Fault, stream bool) faultWant {
	switch f {
	case faultfake.SlowStream:
		return faultWant{ok: true}
	case faultfake.MalformedJSON, faultfake.WrongContentType, faultfake.HugeAnswer:
		// An answer that came but cannot be used is not asked for again
		// (it may have been paid for); the next route is tried.
		return faultWant{fallsBack: true}
	case faultfake.HangBetweenChunks, faultfake.CutStream, faultfake.HangMidBody:
		if stream {
			// Once the caller has the stream's first chunks an error event
			// ends it: nothing can be retried or fall back under it.
			return faultWant{either: true}
		}
		// A whole answer that stalls or breaks after its headers: nothing
		// reached the caller yet, so it is retried and falls back like a
		// 5xx (the idle deadline bounds each read of its body).
	}
	return faultWant{recovers: true, fallsBack: true}
}

func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts conductor serve and runs conductor")
	}
	up := faultfake.New(t, faultfake.Options{HugeBytes: faultHugeBytes})
	env := map[string]string{
		"OPENAI_BASE_URL":         up.OpenAIURL(),
		"ANTHROPIC_BASE_URL":      up.AnthropicURL(),
		"CLOUDFLARE_API_BASE_URL": up.WorkersAIURL(),
		"CLOUDFLARE_ACCOUNT_ID":   workersAccount,
		"CLOUDFLARE_API_TOKEN":    workersToken,
		"OPENAI_API_KEY":          openaiKey,
		"ANTHROPIC_API_KEY":       anthropicKey,
	}
	// One conductor serve and one conductor config per set of deadlines.
	paths := func(d faultDeadlines) []faultPath {
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "conductor.toml")
		if err := os.WriteFile(cfgPath, []byte(d.config()), 0o600); err != nil {
			t.Fatal(err)
		}
		srv := startServe(t, dir, cfgPath, env)
		srv.bound = d.bound()
		ens := &faultRunner{dir: dir, config: cfgPath, env: env, bound: d.bound()}
		return []faultPath{
			{name: "openai-serve", provider: "openai", backup: "anthropic", call: srv.openaiCall},
			{name: "anthropic-serve", provider: "anthropic", backup: "openai", call: srv.anthropicCall},
			{name: "cloudflare-serve", provider: "workers-ai", backup: "openai", call: srv.cloudflareCall},
			{name: "member-gateway", provider: "openai", backup: "anthropic", call: ens.call("cloudflare-gateway")},
			{name: "member-direct", provider: "openai", backup: "anthropic", call: ens.call("direct")},
		}
	}
	quick := paths(quickDeadlines)
	// Every case at once, at most faultConcurrency running: most of a
	// case is waiting for a deadline, and t.Parallel would run only
	// GOMAXPROCS of them.
	sem := make(chan struct{}, faultConcurrency)
	var wg sync.WaitGroup
	for i := range quick {
		wg.Go(func() {
			t.Run(quick[i].name, func(t *testing.T) {
				var inner sync.WaitGroup
				for _, f := range faultfake.All() {
					inner.Go(func() {
						sem <- struct{}{}
						defer func() { <-sem }()
						t.Run(string(f), func(t *testing.T) { faultCase(t, up, quick[i], f) })
					})
				}
				inner.Wait()
			})
		})
	}
	wg.Wait()
}

// fixtureTexts are the answers of internal/faultfake/testdata, whole and
// streamed: a whole answer with another text was cut, doubled or mixed.
var fixtureTexts = map[string]bool{
	"Hello! How can I assist you today?": true, "Hello there!": true, // OpenAI
	"Hi! My name is Claude.": true, "Hello!": true, // Anthropic
	"Hello! It's nice to meet you. Is there something I can help you with?": true, "Hello world": true, // Workers AI
}

// faultConcurrency bounds the cases running at once (each may start a
// conductor process).
const faultConcurrency = 16

// faultCase runs the three scenarios of one fault on one path.
func faultCase(t *testing.T, up *faultfake.Upstream, p faultPath, f faultfake.Fault) {
	direct := p.name == "member-direct"
	stream := f.Streams() && strings.HasSuffix(p.name, "-serve")
	want := wantFor(f, stream)

	for _, sc := range []faultScenario{scenarioOnce, scenarioFallback, scenarioAlways} {
		times := 0
		if sc == scenarioOnce {
			times = 1
		}
		marker := up.Plan(faultfake.Plan{Fault: f, Times: times, Provider: p.provider})
		got := p.call(t, sc, f, marker, stream)
		calls := up.Count(marker, p.provider)
		if got.bad != "" {
			t.Errorf("%s: %s (upstream calls %d)", sc, got.bad, calls)
			continue
		}
		if got.whole && !fixtureTexts[got.text] {
			t.Errorf("%s: a whole answer whose text is not a fixture's: %.200q", sc, got.text)
		}
		switch {
		case want.either && sc != scenarioAlways:
			if !got.whole && !got.clearErr {
				t.Errorf("%s: got %v, want a whole answer or a clear error", sc, got)
			}
		case want.either:
			if !got.clearErr {
				t.Errorf("%s: got %v, want a clear error", sc, got)
			}
		case want.ok:
			if !got.whole || got.step != 0 {
				t.Errorf("%s: got %v, want the first route's whole answer", sc, got)
			}
		case sc == scenarioOnce && want.recovers:
			if !got.whole || got.step != 0 {
				t.Errorf("%s: got %v, want the whole answer after a retry", sc, got)
			} else if calls != 2 {
				t.Errorf("%s: the upstream saw %d calls, want 2 (the fault, then the retry)", sc, calls)
			}
		case sc == scenarioFallback && want.fallsBack:
			if !got.whole || got.step != 1 {
				t.Errorf("%s: got %v, want the second route's whole answer", sc, got)
			}
			if n := up.Count(marker, p.backup); n == 0 {
				t.Errorf("%s: the second route saw no call", sc)
			}
		default:
			if !got.clearErr {
				t.Errorf("%s: got %v, want a clear error", sc, got)
			}
		}
		if direct && calls > 2 {
			t.Errorf("%s: direct routing made %d upstream calls; only the member's retry (2 attempts) may repeat one", sc, calls)
		}
		if sc != scenarioAlways || want.ok {
			continue
		}
		// The same request again must reach the upstream again.
		again := p.call(t, sc, f, marker, stream)
		if again.bad != "" {
			t.Errorf("%s, again: %s", sc, again.bad)
		}
		if n := up.Count(marker, p.provider); n <= calls {
			t.Errorf("%s: the same request after a failure reached the upstream %d times, as often as before (%d): the failure was cached (got %v)", sc, n, calls, again)
		}
	}
}

// serveProc is a `conductor serve` process.
type serveProc struct {
	url    string
	bound  time.Duration // of one call; 0 for none
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	stderr *syncBuf
}

// kill ends the process with SIGKILL and waits for it.
func (s *serveProc) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// startServe runs `conductor serve` on a free loopback port with exactly
// env, and waits until it answers.
func startServe(t *testing.T, dir, cfgPath string, env map[string]string) *serveProc {
	t.Helper()
	return startServeData(t, dir, cfgPath, filepath.Join(dir, "serve-data"), env)
}

// startServeData is startServe with the store in data.
func startServeData(t *testing.T, dir, cfgPath, data string, env map[string]string) *serveProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(conductorBin, "serve", "--addr", addr, "--config", cfgPath, "--data", data, "--log-level", "warn")
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr syncBuf
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if s := stderr.String(); strings.Contains(s, "WARNING: DATA RACE") || strings.Contains(s, "panic:") {
			t.Errorf("conductor serve:\n%s", s)
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &serveProc{url: url, cmd: cmd, done: done, stderr: &stderr}
			}
		}
		select {
		case <-done:
			t.Fatalf("conductor serve exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("conductor serve did not answer /healthz: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends body to path and reads the whole answer within the call
// bound: an answer that does not end in time is a hang.
func (s *serveProc) post(path, body string) (*http.Response, []byte, string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.bound)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, strings.NewReader(body))
	if err != nil {
		return nil, nil, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Sprintf("no answer within %v: a hang", s.bound)
		}
		return nil, nil, "the server broke the connection: " + err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return resp, b, fmt.Sprintf("status %d, body not ended within %v: a hang", resp.StatusCode, s.bound)
		}
		return resp, b, fmt.Sprintf("status %d, body broken after %d bytes: %v", resp.StatusCode, len(b), err)
	}
	return resp, b, ""
}

func quoted(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (s *serveProc) openaiCall(t *testing.T, sc faultScenario, f faultfake.Fault, marker string, stream bool) faultOutcome {
	model := "openai/gpt-4o-mini"
	if sc == scenarioFallback {
		model = chainName("openai-then-anthropic", f)
	}
	body := `{"model":"` + model + `","stream":` + fmt.Sprint(stream) + `,"messages":[{"role":"user","content":` + quoted("Hello "+marker) + `}]}`
	resp, b, bad := s.post("/v1/chat/completions", body)
	if bad != "" {
		return faultOutcome{bad: bad}
	}
	o := judgeOpenAI(resp, b)
	o.step = stepOf(resp)
	return o
}

func (s *serveProc) anthropicCall(t *testing.T, sc faultScenario, f faultfake.Fault, marker string, stream bool) faultOutcome {
	model := claude
	if sc == scenarioFallback {
		model = chainName("anthropic-then-openai", f)
	}
	body := `{"model":"` + model + `","max_tokens":256,"stream":` + fmt.Sprint(stream) + `,"messages":[{"role":"user","content":` + quoted("Hello "+marker) + `}]}`
	resp, b, bad := s.post("/v1/messages", body)
	if bad != "" {
		return faultOutcome{bad: bad}
	}
	o := judgeAnthropic(resp, b)
	o.step = stepOf(resp)
	return o
}

func (s *serveProc) cloudflareCall(t *testing.T, sc faultScenario, _ faultfake.Fault, marker string, stream bool) faultOutcome {
	messages := `[{"role":"user","content":` + quoted("Hello "+marker) + `}]`
	base := "/v1/" + gatewayAccount + "/" + gatewayID
	if sc == scenarioFallback {
		// The universal endpoint: Workers AI, then OpenAI.
		body := `[{"provider":"workers-ai","endpoint":"` + llama + `","query":{"stream":` + fmt.Sprint(stream) + `,"messages":` + messages + `}},` +
			`{"provider":"openai","endpoint":"chat/completions","headers":{"Authorization":"Bearer ` + openaiKey + `"},"query":{"model":"gpt-4o-mini","stream":` + fmt.Sprint(stream) + `,"messages":` + messages + `}}]`
		resp, b, bad := s.post(base, body)
		if bad != "" {
			return faultOutcome{bad: bad}
		}
		step := stepOf(resp)
		var o faultOutcome
		if step == 1 {
			o = judgeOpenAI(resp, b)
		} else {
			o = judgeWorkersAI(resp, b)
		}
		o.step = step
		return o
	}
	body := `{"stream":` + fmt.Sprint(stream) + `,"messages":` + messages + `}`
	resp, b, bad := s.post(base+"/workers-ai/"+llama, body)
	if bad != "" {
		return faultOutcome{bad: bad}
	}
	o := judgeWorkersAI(resp, b)
	o.step = stepOf(resp)
	return o
}

func stepOf(resp *http.Response) int {
	var n int
	fmt.Sscan(resp.Header.Get("cf-aig-step"), &n)
	return n
}

// sse splits a text/event-stream body into (event, data) pairs.
func sse(b []byte) (names, data []string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	name := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			names = append(names, name)
			data = append(data, strings.TrimSpace(strings.TrimPrefix(line, "data:")))
		case line == "":
			name = ""
		}
	}
	return names, data
}

func isSSE(resp *http.Response) bool {
	return strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
}

// judgeOpenAI judges an answer in OpenAI's format.
func judgeOpenAI(resp *http.Response, b []byte) faultOutcome {
	if resp.StatusCode != http.StatusOK {
		return judgeErrorBody(resp, b, func(m map[string]any) string {
			e, _ := m["error"].(map[string]any)
			s, _ := e["message"].(string)
			return s
		})
	}
	if isSSE(resp) {
		_, data := sse(b)
		var text strings.Builder
		for i, d := range data {
			if d == "[DONE]" {
				if i != len(data)-1 {
					return faultOutcome{bad: "events after [DONE]"}
				}
				return faultOutcome{whole: true, text: text.String()}
			}
			var c struct {
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
				Error *struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(d), &c); err != nil {
				return faultOutcome{bad: fmt.Sprintf("200 stream with an event that is not JSON: %q", d)}
			}
			if c.Error != nil {
				if c.Error.Message == "" || i != len(data)-1 {
					return faultOutcome{bad: "an error event without a message, or not last"}
				}
				return faultOutcome{clearErr: true, message: c.Error.Message}
			}
			for _, ch := range c.Choices {
				text.WriteString(ch.Delta.Content)
			}
		}
		return faultOutcome{bad: fmt.Sprintf("200 stream ended without [DONE] or an error event (%d events): a truncated answer", len(data))}
	}
	var c struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &c); err != nil || len(c.Choices) == 0 || c.Choices[0].FinishReason == "" {
		return faultOutcome{bad: fmt.Sprintf("200 that is not a whole chat completion (%d bytes): %.200q", len(b), b)}
	}
	return faultOutcome{whole: true, text: c.Choices[0].Message.Content}
}

// judgeAnthropic judges an answer in Anthropic's format.
func judgeAnthropic(resp *http.Response, b []byte) faultOutcome {
	if resp.StatusCode != http.StatusOK {
		return judgeErrorBody(resp, b, func(m map[string]any) string {
			if m["type"] != "error" {
				return ""
			}
			e, _ := m["error"].(map[string]any)
			s, _ := e["message"].(string)
			return s
		})
	}
	if isSSE(resp) {
		names, data := sse(b)
		var text strings.Builder
		for i, d := range data {
			var ev struct {
				Type  string `json:"type"`
				Delta struct {
					Text string `json:"text"`
				} `json:"delta"`
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(d), &ev); err != nil {
				return faultOutcome{bad: fmt.Sprintf("200 stream with an event that is not JSON: %q", d)}
			}
			switch {
			case names[i] == "message_stop" || ev.Type == "message_stop":
				if i != len(data)-1 {
					return faultOutcome{bad: "events after message_stop"}
				}
				return faultOutcome{whole: true, text: text.String()}
			case names[i] == "error" || ev.Type == "error":
				if ev.Error.Message == "" || i != len(data)-1 {
					return faultOutcome{bad: "an error event without a message, or not last"}
				}
				return faultOutcome{clearErr: true, message: ev.Error.Message}
			case ev.Type == "content_block_delta":
				text.WriteString(ev.Delta.Text)
			}
		}
		return faultOutcome{bad: fmt.Sprintf("200 stream ended without message_stop or an error event (%d events): a truncated answer", len(data))}
	}
	var m struct {
		Type    string `json:"type"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		StopReason string `json:"stop_reason"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Type != "message" || m.StopReason == "" {
		return faultOutcome{bad: fmt.Sprintf("200 that is not a whole message (%d bytes): %.200q", len(b), b)}
	}
	var text strings.Builder
	for _, c := range m.Content {
		text.WriteString(c.Text)
	}
	return faultOutcome{whole: true, text: text.String()}
}

// judgeWorkersAI judges an answer in Workers AI's format (the Cloudflare
// API envelope, or its stream).
func judgeWorkersAI(resp *http.Response, b []byte) faultOutcome {
	errMsg := func(m map[string]any) string {
		if m["success"] != false {
			return ""
		}
		errs, _ := m["errors"].([]any)
		if len(errs) == 0 {
			return ""
		}
		e, _ := errs[0].(map[string]any)
		s, _ := e["message"].(string)
		return s
	}
	if resp.StatusCode != http.StatusOK {
		return judgeErrorBody(resp, b, errMsg)
	}
	if isSSE(resp) {
		_, data := sse(b)
		var text strings.Builder
		for i, d := range data {
			if d == "[DONE]" {
				if i != len(data)-1 {
					return faultOutcome{bad: "events after [DONE]"}
				}
				return faultOutcome{whole: true, text: text.String()}
			}
			var ev map[string]any
			if err := json.Unmarshal([]byte(d), &ev); err != nil {
				return faultOutcome{bad: fmt.Sprintf("200 stream with an event that is not JSON: %q", d)}
			}
			if msg := errMsg(ev); msg != "" || ev["error"] != nil {
				if i != len(data)-1 {
					return faultOutcome{bad: "an error event that is not last"}
				}
				if msg == "" {
					e, _ := ev["error"].(map[string]any)
					msg, _ = e["message"].(string)
				}
				return faultOutcome{clearErr: msg != "", message: msg, bad: map[bool]string{true: "an error event without a message"}[msg == ""]}
			}
			s, _ := ev["response"].(string)
			text.WriteString(s)
		}
		return faultOutcome{bad: fmt.Sprintf("200 stream ended without [DONE] or an error event (%d events): a truncated answer", len(data))}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return faultOutcome{bad: fmt.Sprintf("200 that is not JSON (%d bytes): %.200q", len(b), b)}
	}
	if msg := errMsg(m); msg != "" {
		return faultOutcome{bad: "a 200 carrying an error: " + msg}
	}
	res, _ := m["result"].(map[string]any)
	text, ok := res["response"].(string)
	if m["success"] != true || !ok {
		return faultOutcome{bad: fmt.Sprintf("200 that is not a whole Workers AI answer: %.200q", b)}
	}
	return faultOutcome{whole: true, text: text}
}

// judgeErrorBody judges a non-200: JSON whose message (read by msg) is
// not empty.
func judgeErrorBody(resp *http.Response, b []byte, msg func(map[string]any) string) faultOutcome {
	var m map[string]any
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(b, &m) != nil {
		return faultOutcome{bad: fmt.Sprintf("%d answered in %q, not the caller's JSON error: %.200q", resp.StatusCode, resp.Header.Get("Content-Type"), b)}
	}
	s := msg(m)
	if s == "" {
		return faultOutcome{bad: fmt.Sprintf("%d without an error message in the caller's format: %.200q", resp.StatusCode, b)}
	}
	return faultOutcome{clearErr: true, message: s, status: resp.StatusCode}
}

// faultRunner runs the suite's ensemble with `conductor run`.
type faultRunner struct {
	dir, config string
	env         map[string]string
	bound       time.Duration // of one run
}

// call returns the path of a member on routing: the faults ensemble's
// primary member on openai; in the fallback scenario a backup member on
// anthropic runs when the primary failed.
func (r *faultRunner) call(routing string) func(t *testing.T, sc faultScenario, f faultfake.Fault, marker string, stream bool) faultOutcome {
	return func(t *testing.T, sc faultScenario, _ faultfake.Fault, marker string, _ bool) faultOutcome {
		input, _ := json.Marshal(map[string]any{"prompt": "Hello " + marker})
		name := "faults-" + routing
		if sc == scenarioFallback {
			name += "-fallback"
		}
		file, err := filepath.Abs(ensembleFile(name))
		if err != nil {
			t.Fatal(err)
		}
		data := filepath.Join(r.dir, "run-data-"+routing)
		ctx, cancel := context.WithTimeout(context.Background(), r.bound)
		defer cancel()
		cmd := exec.CommandContext(ctx, conductorBin, "run", file, "--json", "--config", r.config, "--data", data, "--input", string(input))
		cmd.Dir = r.dir
		cmd.Env = []string{"HOME=" + r.dir}
		for k, v := range r.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		if ctx.Err() != nil {
			return faultOutcome{bad: fmt.Sprintf("conductor run did not end within %v: a hang", r.bound)}
		}
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if strings.Contains(stderr.String(), "WARNING: DATA RACE") || strings.Contains(stderr.String(), "panic:") {
			return faultOutcome{bad: "conductor run: " + stderr.String()}
		}
		var res result
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			return faultOutcome{bad: fmt.Sprintf("exit %v, no --json result: %v\nstdout: %s\nstderr: %s", err, err, stdout.String(), stderr.String())}
		}
		var primary, backup *memberResult
		for i := range res.Members {
			switch res.Members[i].Member {
			case "primary":
				primary = &res.Members[i]
			case "backup":
				backup = &res.Members[i]
			}
		}
		if primary == nil {
			return faultOutcome{bad: "no primary member in the result: " + stdout.String()}
		}
		text := func(m *memberResult) string { s, _ := m.Output.(string); return s }
		switch {
		case err == nil && res.Success && primary.Success:
			if text(primary) == "" {
				return faultOutcome{bad: "a successful member without text"}
			}
			return faultOutcome{whole: true, text: text(primary)}
		case err == nil && res.Success && backup != nil && backup.Success:
			if text(backup) == "" {
				return faultOutcome{bad: "a successful fallback member without text"}
			}
			return faultOutcome{whole: true, text: text(backup), step: 1}
		case !res.Success && !primary.Success && primary.Error != nil && primary.Error.Message != "":
			if err == nil {
				return faultOutcome{bad: "a failed run that exited 0"}
			}
			return faultOutcome{clearErr: true, message: primary.Error.Message, status: primary.Error.Status}
		}
		return faultOutcome{bad: fmt.Sprintf("exit %v with a result that is neither a success nor a clear failure: %s\nstderr: %s", err, stdout.String(), stderr.String())}
	}
}

// syncBuf is an output sink safe for a process's two pipes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
