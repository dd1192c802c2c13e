package gateway

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
	"github.com/conductor-go/conductor/provider/openai"
)

// A streamed tool-call answer is cached and replayed like any other: every
// chunk again, its tool-call pieces, finish reason, usage and raw event
// included, so that a caller of the same format gets the same bytes and a
// caller of another format the same translation (the server's
// TestToolCallStreamsTranslatedAndCached checks both through HTTP).
func TestCacheStreamReplaysToolCalls(t *testing.T) {
	for _, tt := range []struct {
		name  string
		file  string
		new   func(provider.Endpoint) conductor.Provider
		calls int // tool-call pieces in the stream
	}{
		{"openai parallel calls", "parallel-tool-calls.openai.sse", openai.New, 5},
		{"anthropic text and a call", "one-tool-call.anthropic.sse", anthropic.New, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sse, err := os.ReadFile(filepath.Join("..", "provider", "testdata", "conformance", "streams", tt.file))
				if err != nil {
					t.Fatal(err)
				}
				var hits atomic.Int64
				client, stopNet := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					w.Header().Set("Content-Type", "text/event-stream")
					w.Write(sse)
				}))
				defer stopNet()
				g, _, stop := start(t, Config{CacheTTL: time.Hour})
				defer stop()
				p := g.Wrap(tt.new(provider.Endpoint{BaseURL: "http://fake", APIKey: "k", Client: client}))
				req := chatReq("Weather in Paris?")
				req.Stream = true

				s1, err := p.Stream(t.Context(), req)
				if err != nil {
					t.Fatal(err)
				}
				first, err := readAll(t, s1)
				if err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				s2, err := p.Stream(t.Context(), req)
				if err != nil {
					t.Fatal(err)
				}
				second, err := readAll(t, s2)
				if err != nil {
					t.Fatal(err)
				}
				if s2.Meta().CacheStatus != CacheHit || hits.Load() != 1 {
					t.Fatalf("second stream %+v, %d upstream calls", s2.Meta(), hits.Load())
				}
				n := 0
				for _, ch := range first {
					n += len(ch.ToolCalls)
				}
				if n != tt.calls {
					t.Fatalf("%d tool-call pieces upstream, want %d", n, tt.calls)
				}
				if !reflect.DeepEqual(first, second) {
					t.Errorf("the replay differs:\n%+v\n%+v", first, second)
				}
			})
		})
	}
}
