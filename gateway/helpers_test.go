package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/store/sqlite"
)

// openStore opens the real SQLite store in path (a file in t.TempDir()).
func openStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return st
}

func tempDB(t testing.TB) string { return filepath.Join(t.TempDir(), "conductor.db") }

// start returns a gateway over a fresh store, with the test's price table,
// and a function that closes the gateway (flushing its log). Both are
// closed when the test ends.
func start(t testing.TB, cfg Config, opts ...Option) (*Gateway, *sqlite.Store, func()) {
	t.Helper()
	st := openStore(t, tempDB(t))
	if cfg.ID == "" {
		cfg.ID = "gw"
	}
	if cfg.Prices == nil {
		cfg.Prices = testPrices{}
	}
	g, err := New(cfg, st, opts...)
	if err != nil {
		st.Close()
		t.Fatalf("new gateway: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := g.Close(context.Background()); err != nil {
				t.Errorf("close gateway: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return g, st, stop
}

// testPrices is a price table with round numbers: known models cost 1,000
// nano-USD per input token and 2,000 per output token ($1 and $2 per
// million); "unknown" models are priced the same but flagged.
type testPrices struct{}

const testIn, testOut = 1000, 2000

func (testPrices) Cost(provider, model string, u conductor.Usage) (int64, bool) {
	return int64(u.InputTokens)*testIn + int64(u.OutputTokens)*testOut, model != "unknown-model"
}

func (testPrices) MaxCost(provider, model string, in, out int) int64 {
	return int64(in)*testIn + int64(out)*testOut
}

// double stands for a provider: it counts calls and answers with reply.
type double struct {
	calls  atomic.Int64
	mu     sync.Mutex
	seen   []*conductor.ChatRequest
	reply  func(ctx context.Context, req *conductor.ChatRequest, n int) (*conductor.ChatResponse, error)
	stream func(ctx context.Context, req *conductor.ChatRequest, n int) (conductor.Stream, error)
}

func (d *double) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	n := int(d.calls.Add(1))
	d.mu.Lock()
	d.seen = append(d.seen, req)
	d.mu.Unlock()
	if d.reply == nil {
		return answer("hello", 10, 5), nil
	}
	return d.reply(ctx, req, n)
}

func (d *double) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	n := int(d.calls.Add(1))
	d.mu.Lock()
	d.seen = append(d.seen, req)
	d.mu.Unlock()
	if d.stream == nil {
		return newChunks(nil, testChunks()...), nil
	}
	return d.stream(ctx, req, n)
}

func (d *double) requests() []*conductor.ChatRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*conductor.ChatRequest(nil), d.seen...)
}

func answer(content string, in, out int) *conductor.ChatResponse {
	return &conductor.ChatResponse{
		ID: "chatcmpl-1", Model: "gpt-4o-mini", Content: conductor.Texts(content), FinishReason: "stop",
		Usage: conductor.Usage{InputTokens: in, OutputTokens: out},
		Raw:   []byte(`{"id":"chatcmpl-1","choices":[{"message":{"content":"` + content + `"}}]}`),
		Meta:  conductor.ResponseMeta{Provider: conductor.ProviderOpenAI},
	}
}

func testChunks() []conductor.Chunk {
	return []conductor.Chunk{
		{Delta: "Hel", Raw: []byte(`{"choices":[{"delta":{"content":"Hel"}}]}`)},
		{Delta: "lo", Raw: []byte(`{"choices":[{"delta":{"content":"lo"}}]}`)},
		{FinishReason: "stop", Raw: []byte(`{"choices":[{"delta":{},"finish_reason":"stop"}]}`)},
		{Usage: &conductor.Usage{InputTokens: 7, OutputTokens: 2}, Raw: []byte(`{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}`)},
	}
}

// chunks is a stream double: it serves its chunks, then end (io.EOF when
// nil). gate, when set, is received from before each chunk.
type chunks struct {
	list   []conductor.Chunk
	end    error
	gate   chan struct{}
	i      int
	closed atomic.Bool
}

func newChunks(end error, list ...conductor.Chunk) *chunks { return &chunks{list: list, end: end} }

func (c *chunks) Next() (conductor.Chunk, error) {
	if c.gate != nil {
		<-c.gate
	}
	if c.i >= len(c.list) {
		if c.end != nil {
			return conductor.Chunk{}, c.end
		}
		return conductor.Chunk{}, io.EOF
	}
	ch := c.list[c.i]
	c.i++
	return ch, nil
}

func (c *chunks) Meta() conductor.ResponseMeta {
	return conductor.ResponseMeta{Provider: conductor.ProviderOpenAI}
}
func (c *chunks) Close() error { c.closed.Store(true); return nil }

func readAll(t testing.TB, s conductor.Stream) ([]conductor.Chunk, error) {
	t.Helper()
	defer s.Close()
	var out []conductor.Chunk
	for {
		ch, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ch)
	}
}

func chatReq(content string) *conductor.ChatRequest {
	return &conductor.ChatRequest{
		Provider: conductor.ProviderOpenAI, Model: "gpt-4o-mini",
		Messages: []conductor.Message{conductor.TextMessage("user", content)},
	}
}

func logs(t testing.TB, st *sqlite.Store) []conductor.LogRow {
	t.Helper()
	rows, err := st.RecentLogs(context.Background(), 100000)
	if err != nil {
		t.Fatalf("recent logs: %v", err)
	}
	return rows
}

func class(err error) conductor.ErrorClass {
	if e, ok := conductor.AsError(err); ok {
		return e.Class
	}
	return ""
}

// pipeNet is an in-memory network for HTTP fakes inside a synctest bubble:
// net.Pipe connections block durably, so fake time can advance while a
// server waits, which real sockets do not allow.
type pipeNet struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeNet() *pipeNet {
	return &pipeNet{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeNet) Close() error { p.closeOnce.Do(func() { close(p.done) }); return nil }

func (p *pipeNet) Addr() net.Addr { return pipeAddr{} }

func (p *pipeNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.done:
		return nil, errors.New("pipe network closed")
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// serve runs h on a pipe network and returns a client that reaches it at
// any URL, and a stop function to call before the bubble ends.
func serve(h http.Handler) (*http.Client, func()) {
	p := newPipeNet()
	srv := &http.Server{Handler: h}
	go srv.Serve(p)
	tr := &http.Transport{DialContext: p.DialContext, DisableKeepAlives: true}
	return &http.Client{Transport: tr}, func() {
		tr.CloseIdleConnections()
		srv.Close()
		p.Close()
	}
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bare is a gateway with cfg and no background work, for tests of its
// decisions alone.
func bare(cfg Config) *Gateway {
	g := &Gateway{id: cfg.ID}
	own, err := compileLimits(ownLimits(&cfg), cfg.ID)
	if err != nil {
		panic(err)
	}
	g.live.Store(&settings{cfg: cfg, own: own})
	return g
}
