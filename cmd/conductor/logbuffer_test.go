package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestLogBuffer(t *testing.T) {
	tests := []struct {
		name  string
		limit int
		lines []string
		// wantBefore is what the writer holds before the interval passes.
		wantBefore string
	}{
		{name: "lines wait for the interval", limit: 1024, lines: []string{"a\n", "b\n"}, wantBefore: ""},
		{name: "a full buffer is written at once, lines whole", limit: 4, lines: []string{"aa\n", "bb\n", "cc\n"}, wantBefore: "aa\nbb\n"},
		{name: "a line larger than the buffer goes straight through", limit: 4, lines: []string{"a\n", "longer than four\n"}, wantBefore: "a\nlonger than four\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var out lockedBuffer
				b := newLogBuffer(&out, tt.limit, 50*time.Millisecond)
				for _, l := range tt.lines {
					if n, err := b.Write([]byte(l)); err != nil || n != len(l) {
						t.Fatalf("Write(%q) = %d, %v", l, n, err)
					}
				}
				if got := out.String(); got != tt.wantBefore {
					t.Fatalf("before the interval: %q, want %q", got, tt.wantBefore)
				}
				time.Sleep(50 * time.Millisecond)
				synctest.Wait()
				if got, want := out.String(), strings.Join(tt.lines, ""); got != want {
					t.Fatalf("after the interval: %q, want %q", got, want)
				}
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestLogBufferClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		b := newLogBuffer(&out, 1024, time.Hour)
		_, _ = b.Write([]byte("kept\n"))
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); got != "kept\n" {
			t.Fatalf("after Close: %q, want the buffered line", got)
		}
		_, _ = b.Write([]byte("after\n"))
		if got := out.String(); got != "kept\nafter\n" {
			t.Fatalf("a write after Close: %q, want it written at once", got)
		}
	})
}

// BenchmarkLogLine is one access-log line as serve writes it, to a pipe
// drained by another process's worth of reader: written at once (one
// write system call a line) and through logBuffer.
//
//	go test ./cmd/conductor -run '^$' -bench LogLine -benchmem
func BenchmarkLogLine(b *testing.B) {
	for _, buffered := range []bool{false, true} {
		b.Run(map[bool]string{false: "direct", true: "buffered"}[buffered], func(b *testing.B) {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			drained := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, r); close(drained) }()
			var out io.Writer = w
			var lb *logBuffer
			if buffered {
				lb = newLogBuffer(w, 64<<10, 50*time.Millisecond)
				out = lb
			}
			log := slog.New(slog.NewJSONHandler(out, nil))
			b.ReportAllocs()
			for b.Loop() {
				log.LogAttrs(context.Background(), slog.LevelInfo, "request", slog.String("method", "POST"),
					slog.String("path", "/v1/chat/completions"), slog.Int("status", 200), slog.Duration("duration", time.Millisecond))
			}
			b.StopTimer()
			if lb != nil {
				_ = lb.Close()
			}
			w.Close()
			<-drained
			r.Close()
		})
	}
}
