package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"

	conductor "github.com/conductor-go/conductor"
)

// The answer side shared by every wire format: tool-call arguments between
// their text form (OpenAI) and their object form (Anthropic, Workers AI),
// ids for calls that came without one, and the Anthropic spelling of ids.

// argumentsText is the domain's ToolCall.Arguments for a wire value: a
// JSON string is the arguments text itself (OpenAI); an object or any other
// value (Anthropic input, Workers AI arguments, a compatible server that
// sent an object where OpenAI sends a string) is its compact JSON text;
// null or nothing is "".
func ArgumentsText(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || string(v) == "null":
		return ""
	case v[0] == '"':
		// The decoder that handed v over validated it: unquote in place,
		// leaving only surrogates and invalid UTF-8 to the JSON library.
		if len(v) >= 2 && v[len(v)-1] == '"' {
			inner := v[1 : len(v)-1]
			if s, ok := unquote(inner, bytes.IndexByte(inner, '\\') >= 0); ok {
				return s
			}
		}
		var s string
		if Unmarshal(v, &s) == nil {
			return s
		}
		return ""
	}
	var b bytes.Buffer
	if Compact(&b, v) != nil {
		return string(v)
	}
	return b.String()
}

// appendToolInput appends a call's arguments as the JSON object that
// Anthropic's tool_use.input and Workers AI's arguments hold: "" is {}, an
// object goes compact, and anything else (OpenAI does not promise valid
// JSON) is refused (ok false) rather than sent as a string or guessed at.
func AppendToolInput(dst []byte, args string) ([]byte, bool) {
	a, ok := ToolInput(args)
	if !ok {
		return dst, false
	}
	b := bytes.NewBuffer(dst)
	if Compact(b, a) != nil {
		return dst, false
	}
	return b.Bytes(), true
}

// notAnObject is the error for an answer whose tool call cannot be written
// in a format that wants its arguments as an object. It is the upstream's
// answer that is wrong, so the call failed (502), naming the call.
func NotAnObject(i int, name, target string) *conductor.Error {
	return &conductor.Error{Class: conductor.ClassProviderFail, Code: "invalid_tool_arguments",
		Message: "tool call " + strconv.Itoa(i) + " (" + name + ") of the answer has arguments that are not a JSON object; " +
			target + " carries them only as an object"}
}

// synthToolID is the id of a call that came without one (Workers AI's
// native tool_calls): derived from the call itself, so that the same answer
// (replayed from the cache, or asked again) names its calls the same way.
func SynthToolID(i int, name, args string) string {
	h := sha256.New()
	h.Write(strconv.AppendInt(nil, int64(i), 10))
	h.Write([]byte{0})
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(args))
	return "call_" + hex.EncodeToString(h.Sum(nil)[:12])
}

// toolCallBlock is a tool-call content block.
func ToolCallBlock(id, name, args string) conductor.Block {
	return conductor.Block{Type: conductor.BlockToolCall, ToolCall: &conductor.ToolCall{ID: id, Name: name, Arguments: args}}
}

// answerSize guesses the encoded size of an answer's content.
func AnswerSize(content []conductor.Block) int {
	n := 0
	for _, b := range content {
		n += len(b.Text) + len(b.Text)/16
		if c := b.ToolCall; c != nil {
			n += len(c.ID) + len(c.Name) + len(c.Arguments) + len(c.Arguments)/8 + 80
		}
		if o := b.Opaque; o != nil {
			n += len(o.Raw)
		}
	}
	return n
}

// answerTokens estimates the output tokens of an answer that came without
// a count: its text and its tool calls' names and arguments, which the
// model wrote too.
func AnswerTokens(content []conductor.Block) int {
	var c TokenCounter
	for _, b := range content {
		switch {
		case b.Type == conductor.BlockText:
			c.Add(b.Text)
		case b.ToolCall != nil:
			c.Add(b.ToolCall.Name)
			c.Add(b.ToolCall.Arguments)
		}
		c.flush() // blocks do not run into each other
	}
	return c.Total()
}
