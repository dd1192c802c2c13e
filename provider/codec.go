package provider

import "github.com/conductor-go/conductor/provider/internal/wire"

// The codec helper that the server's hand-written answers share with the
// adapters, from the wire formats' common package.

// AppendJSONString appends s as a JSON string, quotes included, for the
// server's hand-written wire answers: quote, backslash and control
// characters escaped, U+2028 and U+2029 too, invalid UTF-8 replaced by
// U+FFFD.
func AppendJSONString(dst []byte, s string) []byte { return wire.AppendString(dst, s) }

// The edits of a caller's body that passes through (wire/member.go): every
// byte they do not change is kept.

// ErrNotObject is the error of a body that is not a JSON object.
var ErrNotObject = wire.ErrNotObject

// TopLevelValues returns the [start, end) spans of key's values in the
// JSON object body.
func TopLevelValues(body []byte, key string) ([][2]int, error) { return wire.TopLevelValues(body, key) }

// ReplaceMember replaces the value of every top-level key by value.
func ReplaceMember(body []byte, key string, value []byte) ([]byte, error) {
	return wire.ReplaceMember(body, key, value)
}

// AddMember adds "key":value last unless body has key.
func AddMember(body []byte, key string, value []byte) ([]byte, error) {
	return wire.AddMember(body, key, value)
}

// CheckText refuses a body the gateway and a provider could read
// differently: a key twice in one object, invalid UTF-8, a number beyond
// a float64 (wire/check.go). The request decoders call it; so does
// whatever reads a caller's JSON otherwise.
func CheckText(body []byte) error {
	if e := wire.CheckText(body); e != nil {
		return e
	}
	return nil
}
