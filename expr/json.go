package expr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"unicode/utf8"
)

// maxJSONDepth stops JSON text of a cyclic Go value (JSON.stringify throws on
// cycles; Go maps can hold themselves).
const maxJSONDepth = 1000

var errCyclic = errors.New("value is nested too deeply or cyclic")

// appendJSON writes JSON.stringify(x): keys in sorted order (Go maps keep no
// insertion order), undefined members left out of objects and written as
// null in arrays, NaN and Infinity as null, no HTML escaping.
func appendJSON(b []byte, x any, depth int) ([]byte, error) {
	if depth > maxJSONDepth {
		return b, errCyclic
	}
	switch t := x.(type) {
	case nil, Undefined:
		return append(b, "null"...), nil
	case bool:
		if t {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case float64:
		return appendJSONNum(b, t), nil
	case string:
		return appendJSONString(b, t), nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k, v := range t {
			if !IsUndefined(v) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, t[k], depth+1); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e, depth+1); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case map[string]string:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, t[k])
		}
		return append(b, '}'), nil
	case []string:
		b = append(b, '[')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, e)
		}
		return append(b, ']'), nil
	case json.RawMessage:
		var buf bytes.Buffer
		if err := json.Compact(&buf, t); err != nil {
			return b, fmt.Errorf("raw JSON value: %w", err)
		}
		return append(b, buf.Bytes()...), nil
	}
	v := fromAny(x)
	switch v.k {
	case kUndef:
		return append(b, "null"...), nil
	case kNull, kBool, kNum:
		return appendJSON(b, toAny(v), depth)
	case kStr:
		return appendJSONString(b, v.s), nil
	}
	if rv := reflect.ValueOf(x); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		b = append(b, '[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, rv.Index(i).Interface(), depth+1); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	// Structs and other maps: encoding/json knows tags and omitempty.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return b, fmt.Errorf("JSON of %T: %w", x, err)
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

func appendJSONNum(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return append(b, numToString(f)...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as JSON.stringify does: only ", \ and control
// characters are escaped; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// stringify is JSON.stringify(v, null, indent); undefined stays undefined.
func stringify(v val, indent string) (val, error) {
	if v.k == kUndef {
		return val{}, nil
	}
	var x any
	if v.k >= kArr {
		x = v.x
	} else {
		x = toAny(v)
	}
	b, err := appendJSON(nil, x, 0)
	if err != nil {
		return val{}, err
	}
	if indent != "" && len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		var buf bytes.Buffer
		if err := json.Indent(&buf, b, "", indent); err != nil {
			return val{}, fmt.Errorf("indenting JSON: %w", err)
		}
		b = buf.Bytes()
	}
	return strVal(string(b)), nil
}

// jsonIndent is JSON.stringify's space argument: a number of spaces (at most
// 10) or a string (its first 10 characters).
func jsonIndent(v val) string {
	switch v.k {
	case kNum:
		if !(v.n >= 1) { // also NaN
			return ""
		}
		return "          "[:int(min(v.n, 10))]
	case kStr:
		if len(v.s) > 10 {
			return v.s[:10]
		}
		return v.s
	}
	return ""
}
