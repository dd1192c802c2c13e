package provider

import "github.com/conductor-go/conductor/provider/internal/wire"

// The codec helpers that the server's hand-written answers share with the
// adapters, from the wire formats' common package.

// AppendJSONString appends s as a JSON string, quotes included, for the
// server's hand-written wire answers: quote, backslash and control
// characters escaped, U+2028 and U+2029 too, invalid UTF-8 replaced by
// U+FFFD.
func AppendJSONString(dst []byte, s string) []byte { return wire.AppendString(dst, s) }

// AnthropicToolID is the tool_use id Anthropic accepts for a tool-call id
// (it requires ^[a-zA-Z0-9_-]+$): the id itself when it matches, else the id
// with every other byte replaced by '_' and a hash of the original appended,
// so that distinct ids stay distinct.
func AnthropicToolID(id string) string { return wire.AnthropicToolID(id) }
