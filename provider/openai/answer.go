package openai

import (
	"bytes"
	"cmp"
	"encoding/json"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// The answer side of Chat Completions beyond plain text: the assistant
// message's tool calls and refusal, whole and streamed, and the usage
// details (cached, cache-write and reasoning tokens).
//
// Decoding: message.content is a text block, message.refusal a text block
// too (the model's words are the answer) with the finish reason
// content_filter, so that a caller of another format learns that the model
// refused; each tool_calls entry, in order, a tool-call block with its
// arguments text as sent (an object from a lenient compatible server is
// made its JSON text; a call without an id gets one, see synthToolID). A
// custom tool call ({"type":"custom"}) has no equivalent elsewhere: it is
// an opaque block of format openai, kind custom, written back only to
// OpenAI.
//
// Encoding: the text blocks joined as content (null when the answer is
// tool calls alone, as OpenAI sends it), refusal null, the tool calls in
// order. Opaque blocks of another format (Anthropic thinking and
// redacted_thinking, server tool blocks) have no slot in a Chat
// Completions message and are dropped; reasoning tokens stay in usage.

// MessageWire is an answer's message, or a chunk's delta.
type MessageWire struct {
	Content   TextContent          `json:"content"`
	Refusal   TextContent          `json:"refusal"`
	ToolCalls []openAIToolCallWire `json:"tool_calls"`
}

// openAIToolCallWire is one entry of tool_calls; Index is set in chunks.
type openAIToolCallWire struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function *struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
	Custom json.RawMessage `json:"custom"`
}

// customRaw is a custom tool call as its own JSON object.
func (c *openAIToolCallWire) customRaw() json.RawMessage {
	b := append(make([]byte, 0, len(c.ID)+len(c.Custom)+40), `{"id":`...)
	b = wire.AppendString(b, c.ID)
	b = append(b, `,"type":"custom","custom":`...)
	if wire.IsJSONNull(c.Custom) {
		b = append(b, "null"...)
	} else {
		b = append(b, bytes.TrimSpace(c.Custom)...)
	}
	return append(b, '}')
}

// Blocks is the message's content in order: text, refusal, tool calls.
func (m *MessageWire) Blocks() []conductor.Block {
	var out []conductor.Block
	if len(m.ToolCalls) > 0 {
		out = make([]conductor.Block, 0, len(m.ToolCalls)+1)
	}
	if m.Content != "" {
		out = append(out, conductor.TextBlock(string(m.Content)))
	}
	if m.Refusal != "" {
		out = append(out, conductor.TextBlock(string(m.Refusal)))
	}
	for i := range m.ToolCalls {
		c := &m.ToolCalls[i]
		if c.Type == "custom" {
			out = append(out, conductor.Block{Type: conductor.BlockOpaque,
				Opaque: &conductor.Opaque{Format: provider.FormatOpenAI, Kind: "custom", Raw: c.customRaw()}})
			continue
		}
		var name, args string
		if c.Function != nil {
			name, args = c.Function.Name, wire.ArgumentsText(c.Function.Arguments)
		}
		id := c.ID
		if id == "" {
			id = wire.SynthToolID(i, name, args)
		}
		out = append(out, wire.ToolCallBlock(id, name, args))
	}
	return out
}

// FinishReason is the domain's finish reason for a choice: a refusal is
// content_filter; an answer of tool calls whose server named no reason is
// tool_calls.
func FinishReason(finish string, m *MessageWire) string {
	switch {
	case m.Refusal != "" && (finish == conductor.FinishStop || finish == ""):
		return conductor.FinishContentFilter
	case finish == "" && len(m.ToolCalls) > 0:
		return conductor.FinishToolCalls
	}
	return finish
}

// ToolDeltas reads a chunk's delta.tool_calls: index, and on a call's
// first piece its id and name; arguments fragments as sent.
func (m *MessageWire) ToolDeltas() []conductor.ToolCallDelta {
	var out []conductor.ToolCallDelta
	for i := range m.ToolCalls {
		c := &m.ToolCalls[i]
		if c.Type == "custom" || !wire.IsJSONNull(c.Custom) || c.Function == nil && c.ID == "" {
			// A custom call's pieces (only its first names the type): no
			// other format has them, and Raw carries them to OpenAI callers.
			continue
		}
		d := conductor.ToolCallDelta{Index: i, ID: c.ID}
		if c.Index != nil {
			d.Index = *c.Index
		}
		if c.Function != nil {
			d.Name, d.Arguments = c.Function.Name, wire.ArgumentsText(c.Function.Arguments)
		}
		out = append(out, d)
	}
	return out
}

// StreamDecoder decodes the events of one Chat Completions stream
// (see DecodeStreamEvent). It remembers a refusal (delta.refusal) so
// that the finish reason says content_filter, as for a whole answer. The
// zero value is ready to use.
type StreamDecoder struct {
	provider string
	refused  bool
	// scratch is decoded into for every chunk, so that its choices slice
	// is allocated once a stream instead of once a chunk.
	scratch Chunk
}

// Decode decodes one event.
func (d *StreamDecoder) Decode(ev provider.Event) (ch conductor.Chunk, emit, done bool, err error) {
	prov := cmp.Or(d.provider, conductor.ProviderOpenAI)
	ch, emit, done, err = DataEvent(prov, ev, d.decodeChunk)
	if d.refused && ch.FinishReason == conductor.FinishStop {
		ch.FinishReason = conductor.FinishContentFilter
	}
	return ch, emit, done, err
}

func (d *StreamDecoder) decodeChunk(prov, name string, data, raw []byte) (conductor.Chunk, bool, bool, error) {
	choices := d.scratch.Choices[:cap(d.scratch.Choices)]
	clear(choices)
	d.scratch = Chunk{Choices: choices[:0]}
	ch, refused, emit, err := decodeOpenAIChunkInto(&d.scratch, prov, name, data, raw)
	if refused {
		d.refused = true
	}
	return ch, emit, false, err
}

// appendOpenAIAnswerMessage writes the message of an answer's choice.
func appendOpenAIAnswerMessage(dst []byte, content []conductor.Block) []byte {
	dst = append(dst, `{"role":"assistant","content":`...)
	text := conductor.BlocksText(content, "")
	calls := 0
	for _, b := range content {
		if b.Type == conductor.BlockToolCall && b.ToolCall != nil || isOpenAIOpaque(b, "custom") {
			calls++
		}
	}
	if text == "" && calls > 0 {
		dst = append(dst, "null"...)
	} else {
		dst = wire.AppendString(dst, text)
	}
	dst = append(dst, `,"refusal":null`...)
	if calls > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		n := 0
		for _, b := range content {
			switch {
			case b.Type == conductor.BlockToolCall && b.ToolCall != nil:
				if n > 0 {
					dst = append(dst, ',')
				}
				dst = appendOpenAIToolCall(dst, -1, b.ToolCall.ID, b.ToolCall.Name, b.ToolCall.Arguments)
				n++
			case isOpenAIOpaque(b, "custom"):
				if n > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, b.Opaque.Raw...)
				n++
			}
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func isOpenAIOpaque(b conductor.Block, kind string) bool {
	return b.Type == conductor.BlockOpaque && b.Opaque != nil && b.Opaque.Format == provider.FormatOpenAI &&
		b.Opaque.Kind == kind && wire.Valid(b.Opaque.Raw)
}

// appendOpenAIToolCall writes one tool_calls entry:
// {"index"?,"id","type":"function","function":{"name","arguments"}};
// index < 0 leaves index out (answers have none).
func appendOpenAIToolCall(dst []byte, index int, id, name, args string) []byte {
	dst = append(dst, '{')
	if index >= 0 {
		dst = append(dst, `"index":`...)
		dst = strconv.AppendInt(dst, int64(index), 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"id":`...)
	dst = wire.AppendString(dst, id)
	dst = append(dst, `,"type":"function","function":{"name":`...)
	dst = wire.AppendString(dst, name)
	dst = append(dst, `,"arguments":`...)
	dst = wire.AppendString(dst, args)
	return append(dst, "}}"...)
}

// AppendToolCallDeltas appends a chunk delta's tool_calls array for
// ds: a call's first piece (it has an id or a name) as
// {index,id,type:"function",function:{name,arguments}}, a later piece as
// {index,function:{arguments}}.
func AppendToolCallDeltas(dst []byte, ds []conductor.ToolCallDelta) []byte {
	dst = append(dst, '[')
	for i, d := range ds {
		if i > 0 {
			dst = append(dst, ',')
		}
		if d.ID != "" || d.Name != "" {
			dst = appendOpenAIToolCall(dst, d.Index, d.ID, d.Name, d.Arguments)
			continue
		}
		dst = append(dst, `{"index":`...)
		dst = strconv.AppendInt(dst, int64(d.Index), 10)
		dst = append(dst, `,"function":{"arguments":`...)
		dst = wire.AppendString(dst, d.Arguments)
		dst = append(dst, "}}"...)
	}
	return append(dst, ']')
}

// AppendUsage appends u as a Chat Completions usage object:
// prompt_tokens (cache reads and writes included), completion_tokens
// (reasoning included), total_tokens, prompt_tokens_details.cached_tokens
// (and cache_write_tokens when there were any), and
// completion_tokens_details.reasoning_tokens when there were any.
func AppendUsage(dst []byte, u conductor.Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.InputTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.OutputTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.InputTokens+u.OutputTokens), 10)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedInputTokens), 10)
	if u.CacheWriteInputTokens > 0 {
		dst = append(dst, `,"cache_write_tokens":`...)
		dst = strconv.AppendInt(dst, int64(u.CacheWriteInputTokens), 10)
	}
	dst = append(dst, '}')
	if u.ReasoningTokens > 0 {
		dst = append(dst, `,"completion_tokens_details":{"reasoning_tokens":`...)
		dst = strconv.AppendInt(dst, int64(u.ReasoningTokens), 10)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}
