package wire

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
)

// CheckText refuses a request body that the gateway and the provider could
// read differently (issue 11: two "model" fields let the gateway check one
// model against allowlists and budgets while the provider ran the other):
//
//   - a key that appears twice in one object, at any depth: JSON leaves
//     the meaning of a repeated name open (RFC 8259 §4), and the library
//     the decoders use keeps the last where others keep the first;
//   - invalid UTF-8: JSON text is UTF-8 (RFC 8259 §8.1), and decoders
//     differ in what they make of the rest (replaced, refused, kept);
//   - a number too large for a float64 (1e999), which decoders read as
//     infinity, as an error, or as a big number.
//
// Each is a 400 whose message names the field (messages[0].role). A body
// that is not JSON at all is left to the decoder, which says why. One pass,
// no allocation for bodies of common shapes: it runs on every request.
func CheckText(body []byte) *conductor.Error {
	if !utf8.Valid(body) {
		return BadRequest("the request body is not valid UTF-8 (at byte %d): JSON text must be UTF-8", invalidUTF8At(body))
	}
	var (
		stackBuf [16]checkFrame
		keysBuf  [48][]byte
	)
	stack, keys := stackBuf[:0], keysBuf[:0]
	expectKey := false
	for i := 0; i < len(body); {
		switch c := body[i]; c {
		case '"':
			end, escaped := stringEnd(body, i)
			if end < 0 {
				return nil // not JSON: the decoder says why
			}
			if top := len(stack) - 1; top >= 0 && stack[top].obj && expectKey {
				k := body[i+1 : end-1]
				if escaped {
					// Rare: compared unescaped, as a decoder reads it.
					var s string
					if Unmarshal(body[i:end], &s) != nil {
						return nil
					}
					k = []byte(s)
				}
				f := &stack[top]
				if f.seen != nil {
					if _, dup := f.seen[string(k)]; dup {
						return duplicateKey(stack, k)
					}
					f.seen[string(k)] = struct{}{}
				} else {
					for _, prev := range keys[f.keys:] {
						if string(prev) == string(k) {
							return duplicateKey(stack, k)
						}
					}
					if len(keys)-f.keys >= 32 {
						// A large object: a set instead of a scan per key.
						f.seen = make(map[string]struct{}, 64)
						for _, prev := range keys[f.keys:] {
							f.seen[string(prev)] = struct{}{}
						}
						f.seen[string(k)] = struct{}{}
					} else {
						keys = append(keys, k)
					}
				}
				f.key = k
				expectKey = false
			}
			i = end
		case '{', '[':
			stack = append(stack, checkFrame{obj: c == '{', keys: len(keys)})
			expectKey = c == '{'
			i++
		case '}', ']':
			if len(stack) == 0 {
				return nil
			}
			keys = keys[:stack[len(stack)-1].keys]
			stack = stack[:len(stack)-1]
			i++
		case ',':
			if top := len(stack) - 1; top >= 0 {
				if stack[top].obj {
					expectKey = true
				} else {
					stack[top].index++
				}
			}
			i++
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			j, exp := i, false
			for j < len(body) && strings.IndexByte("+-.0123456789eE", body[j]) >= 0 {
				exp = exp || body[j] == 'e' || body[j] == 'E'
				j++
			}
			// Only an exponent or hundreds of digits go past a float64.
			if exp || j-i > 300 {
				if f, err := strconv.ParseFloat(string(body[i:j]), 64); err != nil && math.IsInf(f, 0) {
					return BadRequest("%s: the number %.40s is too large (above 1.8e308)", fieldPath(stack, nil), body[i:j])
				}
			}
			i = j
		default:
			i++
		}
	}
	return nil
}

// checkFrame is an object or array CheckText is in: the keys it has seen
// (keys[keys:] of the shared list, or seen for a large object), the key
// or index of the value being read.
type checkFrame struct {
	obj   bool
	keys  int
	seen  map[string]struct{}
	key   []byte
	index int
}

func duplicateKey(stack []checkFrame, k []byte) *conductor.Error {
	return BadRequest("%s: the field appears twice; a body must name each field once (the gateway and the provider could read different values)", fieldPath(stack[:len(stack)-1], k))
}

// fieldPath names a value the way a caller writes it,
// messages[0].content[1].text: each frame of stack adds the key or index
// it is reading, then k, a key of the innermost object, when given.
func fieldPath(stack []checkFrame, k []byte) string {
	var b strings.Builder
	seg := func(key []byte) {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write(key)
	}
	for _, f := range stack {
		if f.obj {
			seg(f.key)
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	if k != nil {
		seg(k)
	}
	if b.Len() == 0 {
		return "the request body"
	}
	return b.String()
}

// stringEnd returns the index after the string starting at b[i] == '"'
// and whether it holds escapes; -1 when it does not end.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); {
		j = PlainRun(b, j)
		if j >= len(b) {
			break
		}
		switch b[j] {
		case '"':
			return j + 1, escaped
		case '\\':
			escaped = true
			j += 2
		default: // a control character: not JSON
			return -1, false
		}
	}
	return -1, false
}

// invalidUTF8At is the offset of the first byte of body that is not UTF-8.
func invalidUTF8At(body []byte) int {
	for i := 0; i < len(body); {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(body)
}
