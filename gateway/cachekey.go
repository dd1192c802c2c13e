package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	conductor "github.com/conductor-go/conductor"
)

// keyVersion changes whenever the canonical form does, so that old entries
// simply stop matching instead of being misread.
const keyVersion = "conductor-cache-v1"

// Field tags of the canonical request; each field is written as tag, length,
// bytes, so no two requests can encode alike.
const (
	tagGateway byte = iota + 1
	tagKind
	tagCustom
	tagProvider
	tagModel
	tagRole
	tagContent
	tagTemperature
	tagTopP
	tagMaxTokens
	tagStop
	tagSeed
	tagResponseFormat
	tagExtraKey
	tagExtraValue
)

// cacheKey is the hex SHA-256 of the canonical request, scoped per gateway
// and per kind of answer (a stream's entry holds chunks, a chat's a body).
// A caller's cf-aig-cache-key replaces the request's fields but is hashed
// too, so no key is ever stored in clear.
//
// Fields that do not change the answer stay out: metadata, user,
// environment, and the gateway options (TTL, retries).
func cacheKey(gateway string, req *conductor.ChatRequest, stream bool) string {
	var b keyBuilder
	b.buf = make([]byte, 0, 256+messagesLen(req.Messages))
	b.buf = append(b.buf, keyVersion...)
	b.field(tagGateway, gateway)
	if stream {
		b.field(tagKind, "stream")
	} else {
		b.field(tagKind, "chat")
	}
	if req.Options.CacheKey != "" {
		b.field(tagCustom, req.Options.CacheKey)
		return b.sum()
	}
	b.field(tagProvider, req.Provider)
	b.field(tagModel, req.Model)
	for _, m := range req.Messages {
		b.field(tagRole, m.Role)
		b.field(tagContent, m.Content)
	}
	if req.Temperature != nil {
		b.field(tagTemperature, formatFloat(*req.Temperature))
	}
	if req.TopP != nil {
		b.field(tagTopP, formatFloat(*req.TopP))
	}
	if req.MaxTokens != 0 {
		b.field(tagMaxTokens, strconv.Itoa(req.MaxTokens))
	}
	for _, s := range req.Stop {
		b.field(tagStop, s)
	}
	if req.Seed != nil {
		b.field(tagSeed, strconv.FormatInt(*req.Seed, 10))
	}
	if len(req.ResponseFormat) > 0 {
		b.json(tagResponseFormat, req.ResponseFormat)
	}
	if len(req.Extra) > 0 {
		keys := make([]string, 0, len(req.Extra))
		for k := range req.Extra {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.field(tagExtraKey, k)
			b.json(tagExtraValue, req.Extra[k])
		}
	}
	return b.sum()
}

func messagesLen(ms []conductor.Message) int {
	n := 0
	for _, m := range ms {
		n += len(m.Role) + len(m.Content) + 2*binary.MaxVarintLen64
	}
	return n
}

type keyBuilder struct{ buf []byte }

func (b *keyBuilder) field(tag byte, s string) {
	b.buf = append(b.buf, tag)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(s)))
	b.buf = append(b.buf, s...)
}

// json writes raw JSON in canonical form; a value that is not JSON is
// written as given (the provider will refuse it; the key stays stable).
func (b *keyBuilder) json(tag byte, raw []byte) {
	canon, err := canonicalJSON(raw)
	if err != nil {
		canon = append([]byte("raw:"), raw...)
	}
	b.field(tag, string(canon))
}

func (b *keyBuilder) sum() string {
	h := sha256.Sum256(b.buf)
	return hex.EncodeToString(h[:])
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// maxJSONDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxJSONDepth = 200

var errJSONDepth = errors.New("json nested too deep")

// canonicalJSON re-encodes one JSON value with object keys sorted, no
// whitespace, strings re-escaped one way and numbers written one way
// (1, 1.0 and 1e0 alike), so that two encodings of the same value hash the
// same.
func canonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("json: data after the value")
	}
	return appendCanonical(make([]byte, 0, len(raw)), v, 0)
}

func appendCanonical(out []byte, v any, depth int) ([]byte, error) {
	if depth > maxJSONDepth {
		return nil, errJSONDepth
	}
	switch x := v.(type) {
	case nil:
		return append(out, "null"...), nil
	case bool:
		return strconv.AppendBool(out, x), nil
	case json.Number:
		return append(out, canonicalNumber(string(x))...), nil
	case string:
		return appendJSONString(out, x), nil
	case []any:
		out = append(out, '[')
		for i, e := range x {
			if i > 0 {
				out = append(out, ',')
			}
			var err error
			if out, err = appendCanonical(out, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(out, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out = append(out, '{')
		for i, k := range keys {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendJSONString(out, k)
			out = append(out, ':')
			var err error
			if out, err = appendCanonical(out, x[k], depth+1); err != nil {
				return nil, err
			}
		}
		return append(out, '}'), nil
	}
	return nil, errors.New("json: unexpected value")
}

// appendJSONString quotes s the one JSON way: only the quote, the
// backslash and control characters escaped. The decoder has already
// replaced invalid UTF-8.
func appendJSONString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

// canonicalNumber writes integers exactly (a seed may exceed 2^53) and
// every other number as the shortest float64 that reads back the same.
func canonicalNumber(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return s
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return formatFloat(f)
}
