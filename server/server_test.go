package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/store/sqlite"
)

func TestNewChecksOptions(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tt := range []struct {
		name string
		opts Options
	}{
		{"no store", Options{}},
		{"empty token", Options{Store: st, Tokens: []Token{{Name: "x"}}}},
		{"model without routes", Options{Store: st, Models: map[string][]string{"fast": nil}}},
		{"model route not provider/model", Options{Store: st, Models: map[string][]string{"fast": {"gpt-4o"}}}},
	} {
		if _, err := New(tt.opts); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	get := func(p string) (int, string) {
		resp, err := http.Get(ts.url + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, b := get("/healthz"); s != 200 || !strings.Contains(b, "ok") {
		t.Errorf("healthz %d %s", s, b)
	}
	if s, b := get("/readyz"); s != 200 || !strings.Contains(b, "ready") {
		t.Errorf("readyz %d %s", s, b)
	}
	if s, _ := get("/nowhere"); s != 404 {
		t.Errorf("unknown path %d", s)
	}
	// The store going away makes the server not ready, still alive.
	ts.store.Close()
	if s, b := get("/readyz"); s != 503 {
		t.Errorf("readyz with a closed store: %d %s", s, b)
	}
	if s, _ := get("/healthz"); s != 200 {
		t.Errorf("healthz with a closed store: %d", s)
	}
}

// TestRunGracefulShutdown: once Run's context ends the server accepts no
// new connection, finishes the streams in flight, then writes the
// gateway's log rows.
func TestRunGracefulShutdown(t *testing.T) {
	f := newFakes(t)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "conductor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: st, Listener: ln, Env: config.MapEnv(f.env()), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	waitReady(t, url)

	release, entered := make(chan struct{}), make(chan struct{})
	f.push("openai", canned{file: "openai/stream.sse", block: release, entered: entered, streamThenBlock: true})
	streamed := make(chan string, 1)
	go func() {
		resp, err := http.Post(url+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`))
		if err != nil {
			streamed <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		streamed <- string(b)
	}()
	<-entered
	stop()
	// Shutting down: new connections are refused (poll until the listener
	// is closed; Run closes it first thing).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections")
		}
		time.Sleep(5 * time.Millisecond) // polling an external state change, not timing a result
	}
	select {
	case err := <-ran:
		t.Fatalf("Run returned before the stream in flight ended: %v", err)
	default:
	}
	close(release)
	if got := <-streamed; !strings.HasSuffix(got, "data: [DONE]\n\n") {
		t.Errorf("the stream in flight was cut: %q", got)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	rows, err := st.RecentLogs(context.Background(), 10)
	if err != nil || len(rows) != 1 || rows[0].Provider != "openai" {
		t.Errorf("log rows after shutdown: %+v %v", rows, err)
	}
}

// waitReady asks /readyz once: the listener is bound before Run, so the
// request waits in the backlog until the server serves it.
func waitReady(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A request that outlives the drain is cut, its upstream call canceled,
// and Run says so.
func TestRunDrainTimeout(t *testing.T) {
	f := newFakes(t)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "conductor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: st, Listener: ln, Env: config.MapEnv(f.env()), Logger: discardLogger(), ShutdownTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	c := canned{block: make(chan struct{}), entered: make(chan struct{}), canceled: make(chan struct{})}
	f.push("openai", c)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/v1/chat/completions", "application/json", strings.NewReader(chatBody))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-c.entered
	stop()
	if err := <-ran; err == nil || !strings.Contains(err.Error(), "drain") {
		t.Errorf("Run: %v", err)
	}
	select {
	case <-c.canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream call outlived the server")
	}
}

// Beyond loopback, Run refuses to serve while no token guards the server,
// and says how to configure one; on loopback, or with a token, it serves.
func TestRunRefusesAnUnguardedAddress(t *testing.T) {
	tests := []struct {
		addr   string
		tokens []Token
		ok     bool
	}{
		{"127.0.0.1:8787", nil, true},
		{"127.0.0.2:8787", nil, true},
		{"localhost:8787", nil, true},
		{"[::1]:8787", nil, true},
		{"0.0.0.0:8787", nil, false},
		{":8787", nil, false},
		{"192.168.1.10:8787", nil, false},
		{"0.0.0.0:8787", []Token{{Name: "a", Value: "tok"}}, true},
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			s, err := New(Options{Store: st, Addr: tt.addr, Tokens: tt.tokens, Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			err = s.checkBind(tt.addr)
			if (err == nil) != tt.ok {
				t.Fatalf("guard: %v", err)
			}
			if tt.ok {
				return
			}
			// Run refuses before it listens.
			err = s.Run(context.Background())
			if !errors.Is(err, ErrUnguarded) || !strings.Contains(err.Error(), "CONDUCTOR_TOKENS=name=token") ||
				!strings.Contains(err.Error(), "conductor keys create NAME") {
				t.Fatalf("Run: %v", err)
			}
		})
	}
	// A listener it is given is held to the same rule.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: st, Listener: ln, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.checkBind(ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	ln.Close()
}
