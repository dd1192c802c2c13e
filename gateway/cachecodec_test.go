package gateway

import (
	"reflect"
	"testing"

	conductor "github.com/conductor-go/conductor"
)

func TestAnswerCodecRoundTrip(t *testing.T) {
	tests := []cachedAnswer{
		{},
		chatEntry(answer("Hello! How can I assist you today?", 19, 10)),
		{Stream: true, Provider: "anthropic", Routing: "cloudflare-gateway", Usage: conductor.Usage{InputTokens: -1, Estimated: true},
			Chunks: []cachedChunk{
				{Delta: "Hel", Raw: []byte(`{"type":"content_block_delta"}`)},
				{FinishReason: "stop", Usage: &conductor.Usage{InputTokens: 25, OutputTokens: 15, CachedInputTokens: 3, CacheWriteInputTokens: 4}},
				{},
			}},
	}
	for i, a := range tests {
		b := encodeAnswer(&a)
		got, err := decodeAnswer(b)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		// Empty and nil byte slices read back alike.
		norm := func(a *cachedAnswer) {
			if len(a.Raw) == 0 {
				a.Raw = nil
			}
			for j := range a.Chunks {
				if len(a.Chunks[j].Raw) == 0 {
					a.Chunks[j].Raw = nil
				}
			}
		}
		norm(&a)
		norm(&got)
		if !reflect.DeepEqual(got, a) {
			t.Fatalf("case %d:\n got %+v\nwant %+v", i, got, a)
		}
		for cut := range len(b) {
			if _, err := decodeAnswer(b[:cut]); err == nil {
				t.Fatalf("case %d: a value cut at %d decoded", i, cut)
			}
		}
	}
}

// Cached values come back from a file another process may have written:
// decoding garbage fails cleanly, and whatever decodes re-encodes the same.
func FuzzDecodeAnswer(f *testing.F) {
	a := chatEntry(answer("hi", 1, 2))
	f.Add(encodeAnswer(&a))
	s := cachedAnswer{Stream: true, Chunks: []cachedChunk{{Delta: "x", Usage: &conductor.Usage{OutputTokens: 1}}}}
	f.Add(encodeAnswer(&s))
	f.Add([]byte("cgw1\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAnswer(b)
		if err != nil {
			return
		}
		if again := encodeAnswer(&a); string(again) != string(b) {
			// Varints have one shortest form; a longer one decodes too.
			if _, err := decodeAnswer(again); err != nil {
				t.Fatalf("re-encoded answer does not decode: %v", err)
			}
		}
	})
}
