package provider

import "github.com/conductor-go/conductor/provider/internal/wire"

// The codec helper that the server's hand-written answers share with the
// adapters, from the wire formats' common package.

// AppendJSONString appends s as a JSON string, quotes included, for the
// server's hand-written wire answers: quote, backslash and control
// characters escaped, U+2028 and U+2029 too, invalid UTF-8 replaced by
// U+FFFD.
func AppendJSONString(dst []byte, s string) []byte { return wire.AppendString(dst, s) }
