package workersai

import (
	"cmp"
	"encoding/json"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
	"github.com/conductor-go/conductor/provider/openai"
)

// The answer side of Workers AI's native run format beyond plain text.
//
// Models with function calling answer in one of two shapes inside the
// envelope's result: the legacy {response, tool_calls:[{name, arguments}],
// usage}, whose arguments are an object and whose calls have no id (each
// gets a stable one from synthToolID; the finish reason, which the answer
// does not name, is tool_calls), or an OpenAI chat.completion (newer
// models: glm, kimi, gemma…), read as Chat Completions reads it. Streamed,
// OpenAI-shaped chunks carry delta.tool_calls; a legacy chunk with
// tool_calls (undocumented) gives each call whole, indexed across the
// stream.

// workersAIToolCallWire is one legacy tool call; a model that writes the
// OpenAI form {id, function:{name, arguments}} is read too.
type workersAIToolCallWire struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Function  *struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// call is the tool call as the domain holds it; i is its index in the
// answer.
func (c *workersAIToolCallWire) call(i int) (id, name, args string) {
	name, raw := c.Name, c.Arguments
	if c.Function != nil {
		name = cmp.Or(name, c.Function.Name)
		if wire.IsJSONNull(raw) {
			raw = c.Function.Arguments
		}
	}
	args = wire.ArgumentsText(raw)
	id = c.ID
	if id == "" {
		id = wire.SynthToolID(i, name, args)
	}
	return id, name, args
}

// workersAIResult is an answer's result, in either shape.
type workersAIResult struct {
	Response  json.RawMessage         `json:"response"`
	ToolCalls []workersAIToolCallWire `json:"tool_calls"`
	Usage     *openai.Usage           `json:"usage"`
	// The chat.completion shape.
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message      openai.MessageWire `json:"message"`
		FinishReason string             `json:"finish_reason"`
	} `json:"choices"`
}

// answer fills resp from the result.
func (r *workersAIResult) answer(resp *conductor.ChatResponse) error {
	if len(r.Choices) > 0 {
		ch := &r.Choices[0]
		resp.ID, resp.Model, resp.Content = r.ID, r.Model, ch.Message.Blocks()
		resp.FinishReason = openai.FinishReason(ch.FinishReason, &ch.Message)
		return nil
	}
	text, err := responseText(r.Response)
	if err != nil {
		return err
	}
	resp.Content = conductor.Texts(text)
	for i := range r.ToolCalls {
		resp.Content = append(resp.Content, wire.ToolCallBlock(r.ToolCalls[i].call(i)))
	}
	if len(r.ToolCalls) > 0 {
		resp.FinishReason = conductor.FinishToolCalls
	}
	return nil
}

// StreamDecoder decodes the events of one native run stream (see
// DecodeStreamEvent): it numbers legacy tool calls across chunks
// and carries a refusal over to the finish reason. The zero value is ready
// to use.
type StreamDecoder struct {
	provider string
	tools    int
	refused  bool
}

// Decode decodes one event.
func (d *StreamDecoder) Decode(ev provider.Event) (ch conductor.Chunk, emit, done bool, err error) {
	prov := cmp.Or(d.provider, conductor.ProviderWorkersAI)
	ch, emit, done, err = openai.DataEvent(prov, ev, d.decodeChunk)
	if d.refused && ch.FinishReason == conductor.FinishStop {
		ch.FinishReason = conductor.FinishContentFilter
	}
	return ch, emit, done, err
}

func (d *StreamDecoder) decodeChunk(prov, name string, data, raw []byte) (conductor.Chunk, bool, bool, error) {
	ch, c, err := decodeWorkersAIChunk(prov, name, data, raw)
	if err != nil {
		return conductor.Chunk{}, false, false, err
	}
	for i := range c.ToolCalls {
		k := d.tools
		d.tools++
		id, name, args := c.ToolCalls[i].call(k)
		ch.ToolCalls = append(ch.ToolCalls, conductor.ToolCallDelta{Index: k, ID: id, Name: name, Arguments: args})
	}
	if len(c.ToolCalls) > 0 && ch.FinishReason == "" {
		// The legacy shape names no finish reason; its calls end the turn.
		ch.FinishReason = conductor.FinishToolCalls
	}
	if len(c.Choices) > 0 && c.Choices[0].Delta.Refusal != "" {
		d.refused = true
	}
	return ch, true, false, nil
}

// EncodeResponse writes resp as a native run answer in the
// Cloudflare API envelope: result.response (the text blocks joined),
// result.tool_calls in the legacy shape [{name, arguments}] with arguments
// as an object (a call whose arguments are not a JSON object fails with a
// ClassProviderFail *conductor.Error: the shape has no other way to carry
// them; ids have no place there), and result.usage (AppendUsage).
// Opaque blocks have no slot and are dropped.
func EncodeResponse(resp *conductor.ChatResponse) ([]byte, error) {
	b := make([]byte, 0, wire.AnswerSize(resp.Content)+200)
	b = append(b, `{"result":{"response":`...)
	b = wire.AppendString(b, resp.Text())
	calls := conductor.ToolCalls(resp.Content)
	var ok bool
	if b, ok = AppendToolCalls(b, calls); !ok {
		i := firstNonObject(calls)
		return nil, wire.NotAnObject(i, calls[i].Name, "Workers AI tool_calls")
	}
	b = append(b, `,"usage":`...)
	b = AppendUsage(b, resp.Usage)
	return append(b, `},"success":true,"errors":[],"messages":[]}`...), nil
}

// AppendToolCalls appends `,"tool_calls":[{name, arguments}…]`
// for calls (nothing for none); ok is false when a call's arguments are
// not a JSON object.
func AppendToolCalls(dst []byte, calls []conductor.ToolCall) ([]byte, bool) {
	if len(calls) == 0 {
		return dst, true
	}
	dst = append(dst, `,"tool_calls":[`...)
	for i, c := range calls {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = wire.AppendString(dst, c.Name)
		dst = append(dst, `,"arguments":`...)
		var ok bool
		if dst, ok = wire.AppendToolInput(dst, c.Arguments); !ok {
			return dst, false
		}
		dst = append(dst, '}')
	}
	return append(dst, ']'), true
}

// firstNonObject is the index of the first call whose arguments
// appendToolInput refuses.
func firstNonObject(calls []conductor.ToolCall) int {
	for i, c := range calls {
		if _, ok := wire.AppendToolInput(nil, c.Arguments); !ok {
			return i
		}
	}
	return 0
}

// AppendUsage appends u as Workers AI's usage object:
// prompt_tokens, completion_tokens, total_tokens.
func AppendUsage(dst []byte, u conductor.Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.InputTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.OutputTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.InputTokens+u.OutputTokens), 10)
	return append(dst, '}')
}
