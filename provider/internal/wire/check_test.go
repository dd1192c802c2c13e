package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckText(t *testing.T) {
	for _, tt := range []struct {
		body, want string // want: "" passes, else in the message
	}{
		{`{"model":"a","messages":[]}`, ""},
		{`{"model":"a","model":"b"}`, "model: the field appears twice"},
		{`{"a":{"b":[{"c":1},{"c":1,"c":2}]}}`, "a.b[1].c: the field appears twice"},
		{`{"a":{"x":1},"b":{"x":1}}`, ""},
		{`{"mod\u0065l":"a","model":"b"}`, "model: the field appears twice"},
		{`{"t":1e308,"u":-2.5E-400}`, ""},
		{`{"t":[1,1e309]}`, "t[1]: the number 1e309 is too large"},
		{"{\"a\":\"\xff\"}", "not valid UTF-8 (at byte 6)"},
		{`{"a":"\ud800"}`, ""}, // an escape, not UTF-8: the decoders' business
		{`{"a":`, ""},          // not JSON: the decoder's error
		{`[{"p":1,"p":2}]`, "[0].p: the field appears twice"},
		{big(40, false), ""},
		{big(40, true), "k39: the field appears twice"},
	} {
		err := CheckText([]byte(tt.body))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%.60s: %v, want none", tt.body, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Message, tt.want)):
			t.Errorf("%.60s: %v, want %q", tt.body, err, tt.want)
		}
	}
}

// big is an object of n keys, the last repeating the first when dup.
func big(n int, dup bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	if dup {
		b.WriteString(`"k39":0`)
	} else {
		b.WriteString(`"last":0`)
	}
	b.WriteString("}")
	return b.String()
}

// FuzzCheckText: on JSON text, CheckText refuses exactly the bodies an
// oracle built on encoding/json's tokenizer finds ambiguous — invalid
// UTF-8, a key twice in an object, a number beyond float64; on anything
// else it does not panic.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{`{"model":"a","model":"b"}`, `{"a":[{"b":1,"c":{"b":2}}]}`, `{"x":1e999}`, "{\"a\":\"\xc3\"}", `{"\u0061":1,"a":2}`, `[]`, `{"a":"\\\""}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := CheckText(body)
		if !json.Valid(body) {
			if err != nil && utf8.Valid(body) && !strings.Contains(err.Message, "appears twice") && !strings.Contains(err.Message, "too large") {
				t.Fatalf("not JSON, refused for %v", err)
			}
			return
		}
		want := oracle(body)
		switch {
		case want == "" && err != nil:
			t.Fatalf("%q: refused (%v), the oracle finds nothing", body, err)
		case want != "" && err == nil:
			t.Fatalf("%q: passed, the oracle finds %s", body, want)
		}
	})
}

// oracle says what makes body ambiguous ("" for nothing): utf8, dup or inf.
func oracle(body []byte) string {
	if !utf8.Valid(body) {
		return "utf8"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var walk func() (string, error)
	walk = func() (string, error) {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				seen := map[string]bool{}
				found := ""
				for dec.More() {
					k, err := dec.Token()
					if err != nil {
						return "", err
					}
					if seen[k.(string)] && found == "" {
						found = "dup"
					}
					seen[k.(string)] = true
					if w, err := walk(); err != nil {
						return "", err
					} else if found == "" {
						found = w
					}
				}
				_, err := dec.Token()
				return found, err
			case '[':
				found := ""
				for dec.More() {
					if w, err := walk(); err != nil {
						return "", err
					} else if found == "" {
						found = w
					}
				}
				_, err := dec.Token()
				return found, err
			}
		case json.Number:
			if f, err := strconv.ParseFloat(string(v), 64); err != nil && math.IsInf(f, 0) {
				return "inf", nil
			}
		}
		return "", nil
	}
	w, err := walk()
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return w
}

func BenchmarkCheckText(b *testing.B) {
	body := []byte(`{"model":"gpt-4o-mini","temperature":0.2,"max_tokens":256,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"What is the capital of France? Answer in one word, please, and nothing else."}],"metadata":{"user":"alice","team":"red"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := CheckText(body); err != nil {
			b.Fatal(err)
		}
	}
}
