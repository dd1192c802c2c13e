package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
)

// Request bodies are written by appending to one byte slice sized up front:
// the fields are few and known, and encoding/json's reflection and map
// sorting would cost several allocations per call on the hot path. The
// output is the same JSON encoding/json would produce for the same values
// (without its HTML escaping, which no upstream needs).

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, quotes included.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendStringBody(dst, s)
	return append(dst, '"')
}

// appendStringBody appends s escaped for the inside of a JSON string.
// Invalid UTF-8 becomes U+FFFD, as encoding/json does; U+2028 and U+2029 are
// escaped so the body stays valid JavaScript too.
func AppendStringBody(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Runs of plain ASCII, eight bytes at a time: most of any text.
		if i = AsciiRun(s, i); i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// asciiRun returns the index of the first byte from i that a JSON string
// cannot carry as it is (a quote, a backslash, a control character) or that
// starts a multi-byte sequence, or len(s).
func AsciiRun(s string, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		q := x ^ (ones * '"')
		bs := x ^ (ones * '\\')
		// As in plainRun, plus the high bit of every byte from 0x80, which
		// needs no borrow and so keeps the lowest flag exact.
		t := ((q-ones)&^q | (bs-ones)&^bs | (x-ones*0x20)&^x | x) & highs
		if t != 0 {
			return i + bits.TrailingZeros64(t)/8
		}
	}
	for i < len(s) {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return i
		}
		i++
	}
	return i
}

// appendFloat appends f as a JSON number, formatted as encoding/json does.
func appendFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, f, format, -1, 64)
}

// keyWriter writes the members of one JSON object, remembering which of the
// wire fields it wrote so that pass-through extras never duplicate one.
type KeyWriter struct {
	Buf     []byte
	written uint32 // bits of wireKeys
	n       int
}

// wireKeys are the fields an encoder writes from ChatRequest's own fields.
var wireKeys = [...]string{"model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens",
	"stop", "stop_sequences", "seed", "response_format", "stream", "stream_options", "system",
	"n", "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort", "thinking", "output_config",
	"metadata", "user"}

func keyBit(k string) uint32 {
	for i, w := range wireKeys {
		if w == k {
			return 1 << i
		}
	}
	return 0
}

func (w *KeyWriter) Init(buf []byte) { w.Buf = buf }

func (w *KeyWriter) Key(k string) {
	if w.n > 0 {
		w.Buf = append(w.Buf, ',')
	}
	w.n++
	w.Buf = AppendString(w.Buf, k)
	w.Buf = append(w.Buf, ':')
	w.written |= keyBit(k)
}

// mark records k as written without writing it.
func (w *KeyWriter) Mark(k string) { w.written |= keyBit(k) }

func (w *KeyWriter) has(k string) bool { return w.written&keyBit(k) != 0 }

func (w *KeyWriter) Str(k, v string) {
	w.Key(k)
	w.Buf = AppendString(w.Buf, v)
}

func (w *KeyWriter) Int(k string, v int64) {
	w.Key(k)
	w.Buf = strconv.AppendInt(w.Buf, v, 10)
}

func (w *KeyWriter) Float(k string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return BadRequest("%s must be a finite number", k)
	}
	w.Key(k)
	w.Buf = appendFloat(w.Buf, v)
	return nil
}

func (w *KeyWriter) Raw(k string, v json.RawMessage) error {
	if !Valid(v) {
		return BadRequest("%s is not valid JSON", k)
	}
	w.Key(k)
	w.Buf = append(w.Buf, v...)
	return nil
}

func (w *KeyWriter) Strings(k string, vs []string) {
	w.Key(k)
	w.Buf = append(w.Buf, '[')
	for i, v := range vs {
		if i > 0 {
			w.Buf = append(w.Buf, ',')
		}
		w.Buf = AppendString(w.Buf, v)
	}
	w.Buf = append(w.Buf, ']')
}

// extras writes the request's pass-through fields in key order (so equal
// requests give equal bytes), skipping keys already written, keys the
// adapter owns, and keys the wire format does not know.
func (w *KeyWriter) Extras(extra map[string]json.RawMessage, skip func(string) bool) error {
	if len(extra) == 0 {
		return nil
	}
	var arr [8]string
	keys := arr[:0]
	for k := range extra {
		if !w.has(k) && (skip == nil || !skip(k)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := w.Raw(k, extra[k]); err != nil {
			return err
		}
	}
	return nil
}

// requestSize guesses the encoded size of req so the body is allocated once.
func RequestSize(req *conductor.ChatRequest) int {
	n := 192 + len(req.Model)
	if rf := req.ResponseFormat; rf != nil {
		n += len(rf.Schema) + len(rf.Name) + len(rf.Description) + 64
	}
	for _, t := range req.Tools {
		n += len(t.Name) + len(t.Description) + len(t.Parameters) + 64
	}
	for _, m := range req.Messages {
		n += len(m.Role) + 32
		for _, c := range m.Content {
			n += len(c.Text) + len(c.Text)/16 + 16
			switch {
			case c.Image != nil:
				n += len(c.Image.URL) + len(c.Image.Data) + 64
			case c.ToolCall != nil:
				n += len(c.ToolCall.Arguments) + len(c.ToolCall.ID) + len(c.ToolCall.Name) + 64
			case c.ToolResult != nil:
				n += len(c.ToolResult.CallID) + len(conductor.BlocksText(c.ToolResult.Content, "")) + 64
			case c.Opaque != nil:
				n += len(c.Opaque.Raw)
			}
		}
	}
	for k, v := range req.Extra {
		n += len(k) + len(v) + 4
	}
	for _, s := range req.Stop {
		n += len(s) + 4
	}
	return n
}

// badRequest is the error for a request we refuse to send as it stands.
func BadRequest(format string, args ...any) *conductor.Error {
	return &conductor.Error{Class: conductor.ClassBadRequest, Message: fmt.Sprintf(format, args...)}
}
