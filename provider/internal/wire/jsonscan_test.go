package wire

import (
	"bytes"
	"testing"
)

func TestPlainRun(t *testing.T) {
	stops := []byte{'"', '\\', 0x00, 0x1f, '\n'}
	for n := 0; n < 20; n++ {
		for at := 0; at <= n; at++ {
			for _, stop := range append(stops, 'x') {
				b := bytes.Repeat([]byte{'a'}, n)
				// Bytes that must not stop the run, among them those the
				// eight-byte test could confuse with a stop.
				for i := range b {
					b[i] = []byte{'a', ' ', '!', '#', 0x7f, 0x80, 0xff, 0x21, 0x5b, 0x5d}[i%10]
				}
				want := n
				if at < n && stop != 'x' {
					b[at] = stop
					want = at
				}
				if got := PlainRun(b, 0); got != want {
					t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
				}
			}
		}
	}
}

func FuzzPlainRun(f *testing.F) {
	f.Add([]byte("abcdefgh\"ijk\x01\\"), 0)
	f.Add([]byte("\x00\x00\"aaaaaaaaaaaaaaaa\\"), 3)
	f.Fuzz(func(t *testing.T, b []byte, from int) {
		if from < 0 || from > len(b) {
			return
		}
		want := from
		for want < len(b) && !StrStop[b[want]] {
			want++
		}
		if got := PlainRun(b, from); got != want {
			t.Fatalf("plainRun(%q, %d) = %d, want %d", b, from, got, want)
		}
	})
}

func FuzzASCIIRun(f *testing.F) {
	f.Add("abcdefgh\"ijk\x01\\é", 0)
	f.Add("\x00\x00\"aaaaaaaaaaaaaaaa\\\u2028", 3)
	f.Fuzz(func(t *testing.T, s string, from int) {
		if from < 0 || from > len(s) {
			return
		}
		want := from
		for want < len(s) && s[want] >= 0x20 && s[want] != '"' && s[want] != '\\' && s[want] < 0x80 {
			want++
		}
		if got := AsciiRun(s, from); got != want {
			t.Fatalf("asciiRun(%q, %d) = %d, want %d", s, from, got, want)
		}
	})
}
