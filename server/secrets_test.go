package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/metrics"
	"github.com/conductor-go/conductor/store/sqlite"
)

// Every secret the key-planting test configures holds this word, and
// nothing else the test sends or expects does: finding it anywhere is a
// leak.
const planted = "PLANTED"

// plantedEnv are the secrets of the configuration: every provider key,
// the Cloudflare token, the hosted gateway's token and the server's own
// gateway token.
var plantedEnv = map[string]string{
	"OPENAI_API_KEY":       "sk-PLANTED-0123456789abcdef",
	"ANTHROPIC_API_KEY":    "sk-ant-PLANTED-0123456789abcdef",
	"GROQ_API_KEY":         "gsk_PLANTED_0123456789abcdef",
	"CLOUDFLARE_API_TOKEN": "cf-PLANTED-0123456789abcdef",
	"AIG_TOKEN":            "aig-PLANTED-0123456789abcdef",
	"CONDUCTOR_TOKENS":     "alice=tok-PLANTED-0123456789abcdef",
}

// plantedCallerKey is a caller's own key, with allow_caller_keys on.
const plantedCallerKey = "sk-CALLER-PLANTED-0123456789abcdef"

const serverToken = "tok-PLANTED-0123456789abcdef"

// echoUpstream is every provider at once (OpenAI, Anthropic, Groq,
// Workers AI native and /v1, Cloudflare's hosted gateway) and the worst
// upstream there is: each answer quotes every configured secret and the
// credentials the request carried, in its request-id headers always, and
// in its body when it fails — a 401, or an error event in the middle of a
// stream. A body holding __ok__ gets the documented success answer (with
// the headers still quoting), __midstream__ a stream cut by an error
// event; anything else a 401.
func echoUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		kind := "openai"
		switch p := r.URL.Path; {
		case strings.HasSuffix(p, "/v1/messages"):
			kind = "anthropic"
		case strings.HasSuffix(p, "/embeddings"):
			kind = "openai-embed"
		case strings.HasSuffix(p, "/chat/completions"):
		case strings.Contains(p, "/ai/run/@cf/baai/"):
			kind = "workersai-embed"
		case strings.Contains(p, "/ai/run/"), strings.Contains(p, "/workers-ai/"):
			kind = "workersai"
		default:
			http.Error(w, "no such path", http.StatusNotFound)
			return
		}
		quoted := slices.Sorted(maps.Values(plantedEnv))
		quoted = append(quoted, r.Header.Get("Authorization"), r.Header.Get("x-api-key"), r.Header.Get("cf-aig-authorization"))
		echo := strings.Join(quoted, " ")
		for _, h := range []string{"x-request-id", "request-id", "cf-ray"} {
			w.Header().Set(h, "req "+echo)
		}
		stream := isStream(body)
		status, file := http.StatusUnauthorized, filepath.Join("testdata", "secrets", strings.TrimSuffix(kind, "-embed")+"_401.json")
		switch {
		case bytes.Contains(body, []byte("__ok__")):
			status = http.StatusOK
			file = map[string]string{
				"openai": "openai/chat_completion.json", "openai+": "openai/stream.sse",
				"anthropic": "anthropic/message.json", "anthropic+": "anthropic/stream.sse",
				"workersai": "workersai/run.json", "workersai+": "workersai/stream_usage.sse",
				"openai-embed": "openai/embeddings.json", "workersai-embed": "workersai/embed.json",
			}[kind+map[bool]string{true: "+"}[stream]]
			file = filepath.Join("testdata", "upstream", file)
		case bytes.Contains(body, []byte("__midstream__")) && stream:
			status, file = http.StatusOK, filepath.Join("testdata", "secrets", kind+"_stream_error.sse")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Error(err)
		}
		b = bytes.ReplaceAll(b, []byte("{{ECHO}}"), []byte(echo))
		if strings.HasSuffix(file, ".sse") {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// secretServer is `conductor serve` as the command wires it (FromConfig,
// metrics over the store, the JSON log), every upstream on up.
type secretServer struct {
	url  string
	dir  string // the store's files
	logs *syncBuffer
	// flush writes the gateways' queued log rows (and so their metrics);
	// done then closes the server and the store.
	flush, done func()
}

const secretEnsemble = `name: %s
flow:
  - member: ask
    config:
      provider: %s
      model: "%s"
%s      prompt: "${input.text}"
`

func newSecretServer(t *testing.T, up *httptest.Server, callerKeys bool) *secretServer {
	t.Helper()
	dir := t.TempDir()
	env := maps.Clone(plantedEnv)
	for k, v := range map[string]string{
		"OPENAI_BASE_URL":         up.URL + "/openai/v1",
		"ANTHROPIC_BASE_URL":      up.URL + "/anthropic",
		"GROQ_BASE_URL":           up.URL + "/groq",
		"CLOUDFLARE_API_BASE_URL": up.URL + "/cf",
		"CLOUDFLARE_ACCOUNT_ID":   testAccount,
	} {
		env[k] = v
	}
	toml := fmt.Sprintf(`
[server]
allow_caller_keys = %v

[[ai.gateway]]
id = "gw"
account_id = %q
url = %q
token_env = "AIG_TOKEN"
cache_ttl = "5m"

[[model]]
name = "chain"
routes = ["openai/gpt-4o-mini", "anthropic/claude-3-5-sonnet-20241022"]
`, callerKeys, testAccount, up.URL+"/aig")
	cfg, err := config.Parse(filepath.Join(dir, "conductor.toml"), []byte(toml), false)
	if err != nil {
		t.Fatal(err)
	}
	ens := filepath.Join(dir, "ensembles")
	if err := os.Mkdir(ens, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, member := range map[string][3]string{
		"direct":  {"openai", "gpt-4o-mini", "      routing: direct\n"},
		"hosted":  {"anthropic", "claude-3-5-sonnet-20241022", "      routing: cloudflare-gateway\n"},
		"workers": {"workers-ai", "@cf/meta/llama-3.1-8b-instruct", ""},
	} {
		y := fmt.Sprintf(secretEnsemble, name, member[0], member[1], member[2])
		if err := os.WriteFile(filepath.Join(ens, name+".yaml"), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	st, err := sqlite.Open(context.Background(), filepath.Join(data, "conductor.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	col := metrics.New(metrics.WithGateways("gw", "default"))
	opts, set, err := FromConfig(cfg, config.MapEnv(env), col.ObserveStore(st), log)
	if err != nil {
		t.Fatal(err)
	}
	opts.Metrics = col.Handler()
	opts.EnsemblesDir = ens
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	var flushed, closed sync.Once
	flush := func() {
		flushed.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := set.Close(ctx); err != nil {
				t.Errorf("flushing the gateways: %v", err)
			}
		})
	}
	done := func() {
		closed.Do(func() {
			flush()
			hs.Close()
			st.Close()
		})
	}
	t.Cleanup(done)
	return &secretServer{url: hs.URL, dir: data, logs: logs, flush: flush, done: done}
}

// secretCall is one request of the key-planting test; its body holds
// MARK, replaced by each mode's marker.
type secretCall struct {
	name, path, body string
	header           []string
	// stream says the body asks for a stream (a mid-stream error is then
	// one of the modes).
	stream bool
}

func plantBody(model string, stream bool) string {
	return fmt.Sprintf(`{"model":%q,"stream":%v,"max_tokens":50,"messages":[{"role":"user","content":"Hi MARK"}]}`, model, stream)
}

func workersBody(stream bool) string {
	return fmt.Sprintf(`{"stream":%v,"messages":[{"role":"user","content":"Hi MARK"}]}`, stream)
}

// secretCalls are every model endpoint and format, whole and streamed.
func secretCalls(header ...string) []secretCall {
	const cf = "/v1/" + testAccount + "/gw"
	var calls []secretCall
	for _, stream := range []bool{false, true} {
		s := map[bool]string{false: "whole", true: "stream"}[stream]
		add := func(name, path, body string) {
			calls = append(calls, secretCall{name: name + " " + s, path: path, body: body, header: header, stream: stream})
		}
		add("chat openai", "/v1/chat/completions", plantBody("openai/gpt-4o-mini", stream))
		add("chat anthropic", "/v1/chat/completions", plantBody("anthropic/claude-3-5-sonnet-20241022", stream))
		add("chat groq", "/v1/chat/completions", plantBody("groq/llama-3.1-8b-instant", stream))
		add("chat workers-ai", "/v1/chat/completions", plantBody("workers-ai/@cf/meta/llama-3.1-8b-instruct", stream))
		add("chat fallback chain", "/v1/chat/completions", plantBody("chain", stream))
		add("messages anthropic", "/v1/messages", plantBody("claude-3-5-sonnet-20241022", stream))
		add("messages openai", "/v1/messages", plantBody("openai/gpt-4o-mini", stream))
		add("cloudflare openai", cf+"/openai/chat/completions", plantBody("gpt-4o-mini", stream))
		add("cloudflare groq", cf+"/groq/chat/completions", plantBody("llama-3.1-8b-instant", stream))
		add("cloudflare anthropic", cf+"/anthropic/v1/messages", plantBody("claude-3-5-sonnet-20241022", stream))
		add("cloudflare workers-ai", cf+"/workers-ai/@cf/meta/llama-3.1-8b-instruct", workersBody(stream))
		add("cloudflare workers-ai v1", cf+"/workers-ai/v1/chat/completions", plantBody("@cf/meta/llama-3.1-8b-instruct", stream))
		add("cloudflare compat", cf+"/compat/chat/completions", plantBody("anthropic/claude-3-5-sonnet-20241022", stream))
		add("universal", cf, fmt.Sprintf(`[{"provider":"openai","endpoint":"chat/completions","headers":{},"query":%s},`+
			`{"provider":"anthropic","endpoint":"v1/messages","headers":{},"query":%s}]`,
			plantBody("gpt-4o-mini", stream), plantBody("claude-3-5-sonnet-20241022", stream)))
		if !stream {
			add("embeddings openai", "/v1/embeddings", `{"model":"openai/text-embedding-3-small","input":["Hi MARK","Bye"]}`)
			add("embeddings workers-ai", "/v1/embeddings", `{"model":"@cf/baai/bge-small-en-v1.5","input":["Hi MARK","Bye"]}`)
		}
	}
	return calls
}

// TestSecretsNeverLeave plants a distinctive value in every secret the
// server holds, points every provider at an upstream that quotes them all
// back (and the credentials it got) in its error bodies, stream error
// events and request-id headers, calls every endpoint and format, and
// then looks for the secrets in every answer's body and headers, every log
// line, every byte of the store's files (request log, cache) and the
// metrics. A failure must still reach the caller, with [redacted] where
// the upstream quoted a secret.
func TestSecretsNeverLeave(t *testing.T) {
	up := echoUpstream(t)
	tests := []struct {
		name       string
		callerKeys bool
		calls      []secretCall
	}{
		{"server keys", false, append(secretCalls("Authorization", "Bearer "+serverToken),
			secretCall{name: "ensemble direct", path: "/v1/ensembles/direct/run", body: `{"text":"Hi MARK"}`, header: []string{"x-api-key", serverToken}},
			secretCall{name: "ensemble hosted gateway", path: "/v1/ensembles/hosted/run", body: `{"text":"Hi MARK"}`, header: []string{"x-api-key", serverToken}},
			secretCall{name: "ensemble workers-ai", path: "/v1/ensembles/workers/run", body: `{"text":"Hi MARK"}`, header: []string{"x-api-key", serverToken}},
			secretCall{name: "ensemble events", path: "/v1/ensembles/direct/run", body: `{"text":"Hi MARK"}`,
				header: []string{"x-api-key", serverToken, "Accept", "text/event-stream"}},
		)},
		// The gateway token travels in cf-aig-authorization, so that
		// Authorization or x-api-key carries the caller's own key.
		{"caller's own key", true, append(secretCalls("cf-aig-authorization", "Bearer "+serverToken, "Authorization", "Bearer "+plantedCallerKey),
			secretCall{name: "messages x-api-key whole", path: "/v1/messages", body: plantBody("claude-3-5-sonnet-20241022", false),
				header: []string{"cf-aig-authorization", "Bearer " + serverToken, "x-api-key", plantedCallerKey}},
			secretCall{name: "messages x-api-key stream", path: "/v1/messages", body: plantBody("claude-3-5-sonnet-20241022", true),
				header: []string{"cf-aig-authorization", "Bearer " + serverToken, "x-api-key", plantedCallerKey}, stream: true},
			secretCall{name: "universal step key", path: "/v1/" + testAccount + "/gw", body: fmt.Sprintf(
				`[{"provider":"openai","endpoint":"chat/completions","headers":{"Authorization":"Bearer %s"},"query":%s}]`,
				plantedCallerKey, plantBody("gpt-4o-mini", false)), header: []string{"cf-aig-authorization", "Bearer " + serverToken}},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := newSecretServer(t, up, tt.callerKeys)
			for _, c := range tt.calls {
				modes := []string{"__fail__", "__ok__"}
				if c.stream {
					modes = append(modes, "__midstream__")
				}
				for _, mode := range modes {
					t.Run(c.name+" "+mode, func(t *testing.T) {
						resp, body := postTo(t, ss.url+c.path, strings.ReplaceAll(c.body, "MARK", mode), c.header...)
						noSecret(t, "the answer's body", body)
						for name, vs := range resp.Header {
							noSecret(t, "answer header "+name, []byte(strings.Join(vs, " ")))
						}
						switch {
						case mode == "__ok__":
							if resp.StatusCode != http.StatusOK {
								t.Errorf("status %d: %s", resp.StatusCode, body)
							}
						case !bytes.Contains(body, []byte("[redacted]")):
							// The upstream's failure reached the caller
							// with its message, minus the secrets.
							t.Errorf("status %d, no [redacted] in the failure: %s", resp.StatusCode, body)
						}
					})
				}
			}
			ss.flush()
			req, _ := http.NewRequest(http.MethodGet, ss.url+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+serverToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Contains(m, []byte("conductor_gateway_requests_total")) {
				t.Fatalf("/metrics: %d %.300s", resp.StatusCode, m)
			}
			noSecret(t, "/metrics", m)

			ss.done()
			noSecret(t, "the log", []byte(ss.logs.String()))
			if !strings.Contains(ss.logs.String(), "[redacted]") {
				t.Error("no log line shows a scrubbed upstream error: the log was not looked at")
			}
			files, _ := os.ReadDir(ss.dir)
			if len(files) == 0 {
				t.Fatal("the store wrote no file")
			}
			for _, f := range files {
				b, err := os.ReadFile(filepath.Join(ss.dir, f.Name()))
				if err != nil {
					t.Fatal(err)
				}
				noSecret(t, "store file "+f.Name(), b)
			}
		})
	}
}

func noSecret(t *testing.T, where string, b []byte) {
	t.Helper()
	if i := bytes.Index(b, []byte(planted)); i >= 0 {
		t.Errorf("%s shows a secret: %q", where, b[max(0, i-80):min(len(b), i+40)])
	}
}
