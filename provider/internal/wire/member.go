package wire

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Edits of a caller's JSON body that keep every byte they do not change:
// a body that passes through is never re-encoded (DESIGN.md), yet the
// gateway must sometimes name another model, ask for a stream's usage or
// set the output limit a budget's reservation assumed. Each scans the
// top-level object without decoding it; the body must be valid JSON (the
// request decoder has checked it), and anything that is not an object is
// ErrNotObject.

// ErrNotObject is the error of a body that is not a JSON object.
var ErrNotObject = errors.New("the request body is not a JSON object")

// TopLevelValues returns the [start, end) byte spans of the values of key
// in the JSON object body (none when it has no such key), scanning without
// decoding. Keys with escapes are compared unescaped.
func TopLevelValues(body []byte, key string) ([][2]int, error) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, ErrNotObject
	}
	i = skipSpace(body, i+1)
	var spans [][2]int
	if i < len(body) && body[i] == '}' {
		return nil, nil
	}
	for i < len(body) {
		if body[i] != '"' {
			return nil, ErrNotObject
		}
		ks := i
		ke, err := skipString(body, i)
		if err != nil {
			return nil, err
		}
		i = skipSpace(body, ke)
		if i >= len(body) || body[i] != ':' {
			return nil, ErrNotObject
		}
		vs := skipSpace(body, i+1)
		ve, err := skipValue(body, vs)
		if err != nil {
			return nil, err
		}
		if keyEquals(body[ks:ke], key) {
			spans = append(spans, [2]int{vs, ve})
		}
		i = skipSpace(body, ve)
		if i >= len(body) {
			break
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case '}':
			return spans, nil
		default:
			return nil, ErrNotObject
		}
	}
	return nil, ErrNotObject
}

// ReplaceMember returns body with the value of every top-level key
// replaced by value (valid JSON), every other byte as it was; a body
// without key is returned unchanged.
func ReplaceMember(body []byte, key string, value []byte) ([]byte, error) {
	spans, err := TopLevelValues(body, key)
	if err != nil || len(spans) == 0 {
		return body, err
	}
	return replaceSpans(body, spans, value), nil
}

func replaceSpans(body []byte, spans [][2]int, value []byte) []byte {
	out := make([]byte, 0, len(body)+len(spans)*len(value))
	last := 0
	for _, sp := range spans {
		out = append(out, body[last:sp[0]]...)
		out = append(out, value...)
		last = sp[1]
	}
	return append(out, body[last:]...)
}

// AddMember returns body with "key":value added as its last member, unless
// it has key already (then body as it is); every other byte is kept.
func AddMember(body []byte, key string, value []byte) ([]byte, error) {
	spans, err := TopLevelValues(body, key)
	switch {
	case err != nil:
		return nil, err
	case len(spans) > 0:
		return body, nil
	}
	return appendMember(body, key, value)
}

// SetMember returns body with key's value set to value: replaced where
// body has key, else added as its last member; every other byte is kept.
func SetMember(body []byte, key string, value []byte) ([]byte, error) {
	spans, err := TopLevelValues(body, key)
	switch {
	case err != nil:
		return nil, err
	case len(spans) > 0:
		return replaceSpans(body, spans, value), nil
	}
	return appendMember(body, key, value)
}

// appendMember adds "key":value before the object's closing brace.
func appendMember(body []byte, key string, value []byte) ([]byte, error) {
	end := len(body) - 1
	for end >= 0 && body[end] != '}' {
		end--
	}
	if end < 0 {
		return nil, ErrNotObject
	}
	// Empty object: no comma before the new member.
	inner := skipSpace(body, 0) + 1
	empty := skipSpace(body, inner) == end
	out := make([]byte, 0, len(body)+len(key)+len(value)+4)
	out = append(out, body[:end]...)
	if !empty {
		out = append(out, ',')
	}
	out = AppendString(out, key)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, body[end:]...), nil
}

// keyEquals compares a quoted JSON key with key, escapes decoded.
func keyEquals(quoted []byte, key string) bool {
	if len(quoted) == len(key)+2 && string(quoted[1:len(quoted)-1]) == key {
		return true
	}
	for _, c := range quoted {
		if c == '\\' {
			var s string
			return json.Unmarshal(quoted, &s) == nil && s == key
		}
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	// The next quote by IndexByte (vectorised), not byte by byte: a prompt
	// is most of a body. A quote ends the string unless an odd run of
	// backslashes stands before it.
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, ErrNotObject
		}
		q := j + k
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		j = q + 1
	}
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, ErrNotObject
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, ErrNotObject
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, ErrNotObject
	}
	return j, nil
}
