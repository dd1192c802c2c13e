package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// conductorBin is the conductor binary TestMain builds once.
var conductorBin string

func TestMain(m *testing.M) {
	os.Exit(mainRun(m))
}

func mainRun(m *testing.M) int {
	// A prebuilt binary (a release build, say) can be tested instead.
	if bin := os.Getenv("CONDUCTOR_E2E_BINARY"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		conductorBin = abs
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "conductor-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	conductorBin = filepath.Join(dir, "conductor")
	args := []string{"build", "-o", conductorBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/conductor-go/conductor/cmd/conductor")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the conductor binary:", err)
		return 1
	}
	return m.Run()
}

// Credentials and accounts the fakes accept. The two accounts differ so a
// route that took the wrong one shows.
const (
	gatewayAccount = "5f1a9c0b2d3e4f5a6b7c8d9e0f1a2b3c"
	gatewayID      = "my-gateway"
	gatewayToken   = "cf-aig-e2e-token"
	workersAccount = "0123456789abcdef0123456789abcdef"
	workersToken   = "cf-api-e2e-token"
	openaiKey      = "sk-proj-e2e-openai"
	anthropicKey   = "sk-ant-e2e-anthropic"
	groqKey        = "gsk_e2e_groq"
	llama          = "@cf/meta/llama-3.1-8b-instruct"
	claude         = "claude-3-5-sonnet-20241022"
)

// world is one test's fakes, config and environment: every provider's own
// API and one hosted gateway in front of them all.
type world struct {
	t                                  *testing.T
	dir                                string
	data                               string
	config                             string
	gw                                 *Gateway
	openai, anthropic, groq, workersAI *Upstream
	env                                map[string]string
	hosted                             bool
}

// configHosted is the page's wrangler.toml setup plus the account id (and
// token) that send cloudflare-gateway to Cloudflare's hosted AI Gateway.
const configHosted = `[ai]
binding = "AI"

[[ai.gateway]]
id = "` + gatewayID + `"
account_id = "` + gatewayAccount + `"
token_env = "CF_AIG_TOKEN"
cache_ttl = 3600
`

// configBuiltin is the page's setup as written: no account id, so
// cloudflare-gateway is served by the built-in gateway.
const configBuiltin = `[ai]
binding = "AI"

[[ai.gateway]]
id = "` + gatewayID + `"
cache_ttl = 3600
rate_limiting_requests_per_minute = 60
`

// newWorld starts the fakes and writes cfg as the run's conductor.toml.
func newWorld(t *testing.T, cfg string) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir(), hosted: strings.Contains(cfg, "account_id")}
	w.data = filepath.Join(w.dir, "data")
	w.config = filepath.Join(w.dir, "conductor.toml")
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w.openai = NewUpstream(t, conductor.ProviderOpenAI, openaiKey, "")
	w.anthropic = NewUpstream(t, conductor.ProviderAnthropic, anthropicKey, "")
	w.groq = NewUpstream(t, conductor.ProviderGroq, groqKey, "")
	w.workersAI = NewUpstream(t, conductor.ProviderWorkersAI, workersToken, workersAccount)
	w.gw = NewGateway(t, gatewayAccount, gatewayID, gatewayToken, map[string]string{
		conductor.ProviderOpenAI:    openaiKey,
		conductor.ProviderAnthropic: anthropicKey,
		conductor.ProviderGroq:      groqKey,
		conductor.ProviderWorkersAI: workersToken,
	})
	// Only the variables a user sets: base URLs, keys, account, token.
	w.env = map[string]string{
		"OPENAI_BASE_URL":                w.openai.URL,
		"ANTHROPIC_BASE_URL":             w.anthropic.URL,
		"GROQ_BASE_URL":                  w.groq.URL,
		"CLOUDFLARE_API_BASE_URL":        w.workersAI.URL,
		"CLOUDFLARE_AI_GATEWAY_BASE_URL": w.gw.URL,
		"CLOUDFLARE_ACCOUNT_ID":          workersAccount,
		"CLOUDFLARE_API_TOKEN":           workersToken,
		"OPENAI_API_KEY":                 openaiKey,
		"ANTHROPIC_API_KEY":              anthropicKey,
		"GROQ_API_KEY":                   groqKey,
		"CF_AIG_TOKEN":                   gatewayToken,
	}
	return w
}

// respond sets how provider answers, behind the hosted gateway and at its
// own API alike, so a case runs unchanged on either gateway.
func (w *world) respond(provider string, fn Responder) {
	w.gw.Respond(provider, fn)
	if u, ok := w.fake(provider).(*Upstream); ok {
		u.Respond(fn)
	}
}

// fake returns the fake a call is expected on.
func (w *world) fake(name string) interface{ Requests() []Exchange } {
	switch name {
	case "gateway":
		return w.gw
	case conductor.ProviderOpenAI:
		return w.openai
	case conductor.ProviderAnthropic:
		return w.anthropic
	case conductor.ProviderGroq:
		return w.groq
	case conductor.ProviderWorkersAI:
		return w.workersAI
	}
	w.t.Fatalf("no fake %q", name)
	return nil
}

var fakeNames = []string{"gateway", conductor.ProviderOpenAI, conductor.ProviderAnthropic, conductor.ProviderGroq, conductor.ProviderWorkersAI}

// requestCounts is how many requests each fake received, for messages.
func (w *world) requestCounts() string {
	var parts []string
	for _, n := range fakeNames {
		parts = append(parts, fmt.Sprintf("%s=%d", n, len(w.fake(n).Requests())))
	}
	return strings.Join(parts, " ")
}

// outcome is one conductor run.
type outcome struct {
	code           int
	stdout, stderr string
	res            *result // the --json result, nil when none was printed
}

// result is `conductor run --json` as documented.
type result struct {
	Ensemble  string         `json:"ensemble"`
	Success   bool           `json:"success"`
	Output    any            `json:"output"`
	Members   []memberResult `json:"members"`
	Cost      float64        `json:"cost"`
	LatencyMs int64          `json:"latencyMs"`
}

type memberResult struct {
	Member  string `json:"member"`
	Status  string `json:"status"`
	Success bool   `json:"success"`
	Output  any    `json:"output"`
	Error   *struct {
		Message  string `json:"message"`
		Status   int    `json:"status"`
		Provider string `json:"provider"`
	} `json:"error"`
	Scoring struct {
		Score  *float64 `json:"score"`
		Passed bool     `json:"passed"`
	} `json:"scoring"`
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Routing  string `json:"routing"`
	Cached   bool   `json:"cached"`
	Attempts int    `json:"attempts"`
	Usage    struct {
		InputTokens  int `json:"inputTokens"`
		OutputTokens int `json:"outputTokens"`
	} `json:"usage"`
	Cost float64 `json:"cost"`
}

func (r *result) member(t *testing.T, name string) memberResult {
	t.Helper()
	for _, m := range r.Members {
		if m.Member == name {
			return m
		}
	}
	t.Fatalf("no member %q in the result", name)
	return memberResult{}
}

// filepathGlob returns the names (without directory and .yaml) of the
// files matching pattern.
func filepathGlob(pattern string) ([]string, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(filepath.Base(f), ".yaml")
	}
	return names, nil
}

// example is the path of a product page example.
func example(name string) string { return filepath.Join("..", "examples", name+".yaml") }

// ensembleFile is the path of one of this package's own ensembles.
func ensembleFile(name string) string { return filepath.Join("testdata", "ensembles", name+".yaml") }

// run runs `conductor run FILE --json --config … --data …` in the world's
// directory, with the world's environment and nothing else; extra is
// further arguments (--input …).
func (w *world) run(file string, extra ...string) outcome {
	w.t.Helper()
	return w.runEnv(w.env, file, extra...)
}

func (w *world) runEnv(env map[string]string, file string, extra ...string) outcome {
	w.t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		w.t.Fatal(err)
	}
	args := append([]string{"run", abs, "--json", "--config", w.config, "--data", w.data}, extra...)
	return runConductor(w.t, w.dir, env, args...)
}

// runConductor execs the binary in dir with exactly env (plus HOME).
func runConductor(t *testing.T, dir string, env map[string]string, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, conductorBin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	o := outcome{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		o.code = ee.ExitCode()
	default:
		t.Fatalf("conductor %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("conductor %s: timed out\nstderr: %s", strings.Join(args, " "), o.stderr)
	}
	if strings.Contains(o.stderr, "WARNING: DATA RACE") {
		t.Errorf("the conductor binary reported a data race:\n%s", o.stderr)
	}
	if strings.TrimSpace(o.stdout) != "" && contains(args, "--json") {
		var r result
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("--json printed something that is not the result: %v\n%s", err, o.stdout)
		}
		o.res = &r
	}
	return o
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// mustSucceed fails the test unless the run exited 0 with a result.
func (o outcome) mustSucceed(t *testing.T) *result {
	t.Helper()
	if o.code != 0 || o.res == nil || !o.res.Success {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", o.code, o.stdout, o.stderr)
	}
	return o.res
}

// withEnv returns a copy of env with changes applied; an empty value
// removes the variable.
func withEnv(env map[string]string, changes ...string) map[string]string {
	out := make(map[string]string, len(env)+len(changes)/2)
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == "" {
			delete(out, changes[i])
		} else {
			out[changes[i]] = changes[i+1]
		}
	}
	return out
}
