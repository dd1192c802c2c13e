package server

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/conductor-go/conductor/provider"
)

// appendJSONString appends s as a JSON string (the wire adapters' encoder).
func appendJSONString(dst []byte, s string) []byte { return provider.AppendJSONString(dst, s) }

var errNotObject = errors.New("the request body is not a JSON object")

// rewriteModel returns body with the value of every top-level "model" key
// replaced by model, every other byte as it was: the caller's request passes
// through without being re-encoded. body must be valid JSON (the request
// decoder has checked it). Without a top-level "model" key body is
// returned unchanged.
func rewriteModel(body []byte, model string) ([]byte, error) {
	spans, err := topLevelValues(body, "model")
	if err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return body, nil
	}
	out := make([]byte, 0, len(body)+len(model)+2)
	last := 0
	for _, sp := range spans {
		out = append(out, body[last:sp[0]]...)
		out = appendJSONString(out, model)
		last = sp[1]
	}
	return append(out, body[last:]...), nil
}

// addField returns body, a JSON object without key, with "key":value
// added last; every other byte is kept. value must be valid JSON.
func addField(body []byte, key string, value []byte) ([]byte, error) {
	spans, err := topLevelValues(body, key)
	switch {
	case err != nil:
		return nil, err
	case len(spans) > 0:
		return body, nil
	}
	end := len(body) - 1
	for end >= 0 && body[end] != '}' {
		end--
	}
	if end < 0 {
		return nil, errNotObject
	}
	// Empty object: no comma before the new field.
	inner := skipSpace(body, 0) + 1
	empty := skipSpace(body, inner) == end
	out := make([]byte, 0, len(body)+len(key)+len(value)+4)
	out = append(out, body[:end]...)
	if !empty {
		out = append(out, ',')
	}
	out = appendJSONString(out, key)
	out = append(out, ':')
	out = append(out, value...)
	return append(out, body[end:]...), nil
}

// topLevelValues returns the [start, end) byte spans of the values of key in
// the JSON object body, scanning without decoding.
func topLevelValues(body []byte, key string) ([][2]int, error) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, errNotObject
	}
	i = skipSpace(body, i+1)
	var spans [][2]int
	if i < len(body) && body[i] == '}' {
		return nil, nil
	}
	for i < len(body) {
		if body[i] != '"' {
			return nil, errNotObject
		}
		ks := i
		ke, err := skipString(body, i)
		if err != nil {
			return nil, err
		}
		i = skipSpace(body, ke)
		if i >= len(body) || body[i] != ':' {
			return nil, errNotObject
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
			return nil, errNotObject
		}
	}
	return nil, errNotObject
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
			return 0, errNotObject
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
		return 0, errNotObject
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
		return 0, errNotObject
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, errNotObject
	}
	return j, nil
}
