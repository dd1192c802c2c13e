package wire

import (
	"bytes"
	"errors"
	"io"

	gojson "github.com/goccy/go-json"
)

// The JSON library of the wire codecs, chosen here and nowhere else.
// goccy/go-json decodes as encoding/json does (the same values, the same
// type errors; its RawMessage is encoding/json's, so the signatures keep
// encoding/json's types) and several times faster on the bodies the
// gateway reads per call: a tool conversation in 6 µs rather than 27.
// BENCHMARKS.md has the figures. The tests keep encoding/json as the
// oracle: FuzzJSONLibrary decodes every shape the codecs use with both.

// unmarshal is json.Unmarshal.
func Unmarshal(data []byte, v any) error { return gojson.Unmarshal(data, v) }

// marshal is json.Marshal.
func Marshal(v any) ([]byte, error) { return gojson.Marshal(v) }

// compact is json.Compact.
func Compact(dst *bytes.Buffer, src []byte) error { return gojson.Compact(dst, src) }

// valid is json.Valid.
func Valid(data []byte) bool { return gojson.Valid(data) }

// decodeKnown decodes v into dst, reporting false when v does not decode
// or holds a key dst has no field for: what a decoder can model in full,
// and so types rather than keeping as it came.
func DecodeKnown(v []byte, dst any) bool {
	d := gojson.NewDecoder(bytes.NewReader(v))
	d.DisallowUnknownFields()
	if d.Decode(dst) != nil {
		return false
	}
	_, err := d.Token()
	return err == io.EOF
}

// shortJSONError says what was wrong with a field without echoing Go types.
func ShortJSONError(err error) string {
	var te *gojson.UnmarshalTypeError
	if errors.As(err, &te) {
		return "expected a value of another type, got " + te.Value
	}
	return err.Error()
}

// Flag reads a JSON boolean that may be null or absent (false).
func Flag(v []byte) (bool, error) {
	var b *bool
	err := Unmarshal(v, &b)
	return b != nil && *b, err
}

// OptString reads a JSON string that may be null ("").
func OptString(v []byte) (string, error) {
	var s *string
	err := Unmarshal(v, &s)
	if s == nil {
		return "", err
	}
	return *s, err
}
