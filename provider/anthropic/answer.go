package anthropic

import (
	"encoding/json"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// The answer side of Messages beyond plain text: content blocks in order,
// tool use whole and streamed, thinking, and the usage details.
//
// Decoding: a text block is a text block (an empty one adds nothing); a
// tool_use block a tool-call block whose arguments are the compact JSON
// text of its input; every other block (thinking, redacted_thinking,
// server_tool_use, web_search_tool_result, …) an opaque block of format
// anthropic, its kind the block's type and Raw the block as received, so
// that it goes back unchanged to an Anthropic caller. Streamed, the k-th
// tool_use block (counting tool_use blocks alone, not Anthropic's block
// index) gives ToolCallDelta{Index: k, ID, Name} at its start and one
// {Index: k, Arguments} per non-empty input_json_delta; thinking and
// signature deltas carry only Raw.
//
// Encoding: the blocks in order, a tool call's id made to fit Anthropic's
// pattern (AnthropicToolID) and its arguments written as the input object
// ("" is {}; text that is not a JSON object fails the answer: Anthropic
// carries input only as an object, and guessing would hand the caller
// arguments the model never wrote). Opaque blocks of another format have
// no Anthropic slot and are dropped.

// BlockWire is a content block as the answer decoder reads it.
type BlockWire struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// anthropicBlocks reads an answer's content list.
func anthropicBlocks(content []json.RawMessage) ([]conductor.Block, error) {
	out := make([]conductor.Block, 0, len(content))
	for _, raw := range content {
		var b BlockWire
		if err := wire.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		switch b.Type {
		case "":
			// A null block (or one without a type) holds nothing we can read.
		case "text":
			if b.Text != "" {
				out = append(out, conductor.TextBlock(b.Text))
			}
		case "tool_use":
			out = append(out, wire.ToolCallBlock(b.ID, b.Name, wire.ArgumentsText(b.Input)))
		default:
			out = append(out, conductor.Block{Type: conductor.BlockOpaque,
				Opaque: &conductor.Opaque{Format: provider.FormatAnthropic, Kind: b.Type, Raw: raw}})
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// appendAnthropicContent writes an answer's content list; an answer with
// no block of its own gets one empty text block, which clients reading
// content[0] expect.
func appendAnthropicContent(dst []byte, content []conductor.Block) ([]byte, error) {
	dst = append(dst, '[')
	n, tools := 0, 0
	for _, b := range content {
		start := len(dst)
		if n > 0 {
			dst = append(dst, ',')
		}
		switch {
		case b.Type == conductor.BlockText && b.Text != "":
			dst = append(dst, `{"type":"text","text":`...)
			dst = wire.AppendString(dst, b.Text)
			dst = append(dst, '}')
		case b.Type == conductor.BlockToolCall && b.ToolCall != nil:
			c := b.ToolCall
			dst = append(dst, `{"type":"tool_use","id":`...)
			dst = wire.AppendString(dst, wire.AnthropicToolID(c.ID))
			dst = append(dst, `,"name":`...)
			dst = wire.AppendString(dst, c.Name)
			dst = append(dst, `,"input":`...)
			var ok bool
			if dst, ok = wire.AppendToolInput(dst, c.Arguments); !ok {
				return nil, wire.NotAnObject(tools, c.Name, "Anthropic tool_use")
			}
			dst = append(dst, '}')
			tools++
		case b.Type == conductor.BlockOpaque && b.Opaque != nil && b.Opaque.Format == provider.FormatAnthropic && wire.Valid(b.Opaque.Raw):
			dst = append(dst, b.Opaque.Raw...)
		default:
			dst = dst[:start] // nothing Anthropic can hold
			continue
		}
		n++
	}
	if n == 0 {
		dst = append(dst, `{"type":"text","text":""}`...)
	}
	return append(dst, ']'), nil
}

// AppendUsage appends u as a Messages usage object: input_tokens
// without the cache reads and writes, which come apart as
// cache_read_input_tokens and cache_creation_input_tokens, output_tokens,
// and output_tokens_details.thinking_tokens when there were any.
func AppendUsage(dst []byte, u conductor.Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(max(0, u.InputTokens-u.CachedInputTokens-u.CacheWriteInputTokens)), 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.OutputTokens), 10)
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CacheWriteInputTokens), 10)
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedInputTokens), 10)
	if u.ReasoningTokens > 0 {
		dst = append(dst, `,"output_tokens_details":{"thinking_tokens":`...)
		dst = strconv.AppendInt(dst, int64(u.ReasoningTokens), 10)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// toolBlock records that Anthropic block index is the stream's k-th
// tool_use block.
func (d *StreamDecoder) toolBlock(index int) int {
	k := d.tools
	d.tools++
	for len(d.toolOf) <= index {
		d.toolOf = append(d.toolOf, -1)
	}
	d.toolOf[index] = k
	return k
}

// toolAt is the tool index of Anthropic block index, or -1 when it is no
// tool_use block the stream started.
func (d *StreamDecoder) toolAt(index int) int {
	if index < 0 || index >= len(d.toolOf) {
		return -1
	}
	return d.toolOf[index]
}
