package gateway

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Issue 11, item 7: a stream larger than the cache's entry bound was held
// whole in the flight's buffer (a 50 MB answer took the server to 602 MB).
// It now passes through chunk by chunk: while its only reader reads, the
// buffer holds at most the chunk being read, every chunk reaches the
// caller, and nothing is cached — the next call goes upstream.
func TestOversizedStreamPassesThroughUncached(t *testing.T) {
	const chunkBytes, n = 1 << 10, 200 // 200 KiB, above the 64 KiB bound below
	text := strings.Repeat("x", chunkBytes)
	list := make([]conductor.Chunk, 0, n+1)
	for range n {
		list = append(list, conductor.Chunk{Delta: text, Raw: []byte(`{"choices":[{"delta":{"content":"` + text + `"}}]}`)})
	}
	list = append(list, conductor.Chunk{FinishReason: "stop", Raw: []byte(`{"choices":[{"delta":{},"finish_reason":"stop"}]}`)})
	up := &double{stream: func(ctx context.Context, req *conductor.ChatRequest, _ int) (conductor.Stream, error) {
		return newChunks(nil, list...), nil
	}}
	g, _, stop := start(t, Config{CacheTTL: time.Hour, MaxEntryBytes: 64 << 10})
	p := g.Wrap(up)
	req := chatReq("a long story")
	req.Stream = true
	for call := range 2 {
		s, err := p.Stream(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		got, most := 0, 0
		for {
			ch, err := s.Next()
			if err != nil {
				break
			}
			got += len(ch.Delta)
			g.flights.mu.Lock()
			for _, f := range g.flights.m {
				if f.s != nil {
					f.s.mu.Lock()
					most = max(most, len(f.s.chunks))
					f.s.mu.Unlock()
				}
			}
			g.flights.mu.Unlock()
		}
		s.Close()
		if got != n*chunkBytes {
			t.Errorf("call %d: %d bytes of text reached the caller, want %d", call, got, n*chunkBytes)
		}
		// Below the bound every chunk is kept (it may be cached): 64 of
		// them here, then none beyond the one being read.
		if most > 70 {
			t.Errorf("call %d: the flight held %d chunks at once, want at most the bound's worth", call, most)
		}
	}
	stop()
	if c := up.calls.Load(); c != 2 {
		t.Errorf("%d upstream calls, want 2: a stream too large to cache is not cached", c)
	}
}

// A reader whose caller went away may still find chunks buffered; once
// the one reader left has dropped them (the stream is too large to
// cache), it stops with the caller's cancellation — never an index out
// of range (found by BenchmarkMemory in package server).
func TestOversizedStreamReaderLeftBehind(t *testing.T) {
	gate := make(chan struct{})
	list := []conductor.Chunk{}
	for range 40 {
		list = append(list, conductor.Chunk{Delta: strings.Repeat("y", 1<<10), Raw: []byte(`{}`)})
	}
	list = append(list, conductor.Chunk{FinishReason: "stop", Raw: []byte(`{}`)})
	up := &double{stream: func(ctx context.Context, req *conductor.ChatRequest, _ int) (conductor.Stream, error) {
		c := newChunks(nil, list...)
		c.gate = gate
		return c, nil
	}}
	g, _, _ := start(t, Config{CacheTTL: time.Hour, MaxEntryBytes: 8 << 10})
	p := g.Wrap(up)
	req := chatReq("the same question")
	req.Stream = true
	a, err := p.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancelB := context.WithCancel(context.Background())
	b, err := p.Stream(bctx, req) // joins a's flight: not yet too large
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		gate <- struct{}{}
	}
	cancelB() // b's caller goes away with 20 chunks unread
	go func() {
		for {
			select {
			case gate <- struct{}{}:
			case <-t.Context().Done():
				return
			}
		}
	}()
	if _, err := readAll(t, a); err != nil {
		t.Fatalf("the reader left: %v", err)
	}
	_, err = readAll(t, b)
	if class(err) != conductor.ClassCanceled {
		t.Errorf("the reader whose caller left: %v, want canceled", err)
	}
}

// A fast upstream and a slow caller: the pump of a stream too large to
// cache reads at most maxAhead chunks ahead of its reader, and a reader
// that closes once the answer is complete frees the pump all the same.
func TestOversizedStreamBackpressure(t *testing.T) {
	list := make([]conductor.Chunk, 0, 501)
	for range 500 {
		list = append(list, conductor.Chunk{Delta: strings.Repeat("z", 512), Raw: []byte(`{}`)})
	}
	list = append(list, conductor.Chunk{FinishReason: "stop", Raw: []byte(`{}`)})
	synctest.Test(t, func(t *testing.T) {
		var pulled atomic.Int64 // chunks the pump took from the upstream
		up := &double{stream: func(ctx context.Context, req *conductor.ChatRequest, _ int) (conductor.Stream, error) {
			return &counted{Stream: newChunks(nil, list...), n: &pulled}, nil
		}}
		g, _, stop := start(t, Config{CacheTTL: time.Hour, MaxEntryBytes: 4 << 10})
		defer stop()
		req := chatReq("fast upstream")
		req.Stream = true
		s, err := g.Wrap(up).Stream(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		ahead := int64(0)
		for read := int64(0); read < 100; read++ {
			synctest.Wait() // the pump has run as far as it may
			ahead = max(ahead, pulled.Load()-read)
			if _, err := s.Next(); err != nil {
				t.Fatal(err)
			}
		}
		if ahead > 8+maxAhead+2 {
			t.Errorf("the pump read %d chunks ahead of a slow reader, want at most the bound's and %d", ahead, maxAhead)
		}
		s.Close()
		synctest.Wait() // the pump ended: no goroutine is left blocked
	})
}

// counted counts the chunks taken from a stream.
type counted struct {
	conductor.Stream
	n *atomic.Int64
}

func (c *counted) Next() (conductor.Chunk, error) {
	ch, err := c.Stream.Next()
	if err == nil {
		c.n.Add(1)
	}
	return ch, err
}
