package conductor

import (
	"encoding/json"
	"strings"
)

// Block types: what one piece of a message's content is.
const (
	BlockText       = "text"
	BlockImage      = "image"
	BlockToolCall   = "tool_call"
	BlockToolResult = "tool_result"
	// BlockOpaque is a provider's own block (Anthropic thinking and
	// redacted_thinking, citations, server tool blocks…): carried through
	// unchanged to its own format, dropped where the target cannot hold it
	// (each wire format documents which).
	BlockOpaque = "opaque"
)

// Block is one piece of a message's content. Type says which of the other
// fields is set: Text for text, Image, ToolCall, ToolResult or Opaque.
type Block struct {
	Type       string      `json:"type"`
	Text       string      `json:"text,omitempty"`
	Image      *Image      `json:"image,omitempty"`
	ToolCall   *ToolCall   `json:"toolCall,omitempty"`
	ToolResult *ToolResult `json:"toolResult,omitempty"`
	Opaque     *Opaque     `json:"opaque,omitempty"`
}

// Image is an image part: a URL the provider fetches, or base64 data with
// its media type.
type Image struct {
	URL       string `json:"url,omitempty"`
	MediaType string `json:"mediaType,omitempty"` // image/png, image/jpeg, image/gif, image/webp
	Data      string `json:"data,omitempty"`      // base64, no data: prefix
	Detail    string `json:"detail,omitempty"`    // OpenAI's auto | low | high
}

// ToolCall is a model's request to call a tool. Arguments is the JSON text
// the model wrote (an object; OpenAI does not promise it is valid).
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ToolResult answers the tool call with id CallID.
type ToolResult struct {
	CallID  string  `json:"callId"`
	Content []Block `json:"content,omitempty"`
	IsError bool    `json:"isError,omitempty"`
}

// Opaque is a block of one wire format kept as received: Format names the
// format ("anthropic", "openai"), Kind the block's own type there
// ("thinking", "redacted_thinking"…), Raw its JSON.
type Opaque struct {
	Format string          `json:"format"`
	Kind   string          `json:"kind"`
	Raw    json.RawMessage `json:"raw"`
}

// TextBlock is a text block.
func TextBlock(s string) Block { return Block{Type: BlockText, Text: s} }

// Texts is the content of a text-only message: one text block, or none for
// an empty string.
func Texts(s string) []Block {
	if s == "" {
		return nil
	}
	return []Block{TextBlock(s)}
}

// TextMessage is a message holding text alone.
func TextMessage(role, text string) Message { return Message{Role: role, Content: Texts(text)} }

// BlocksText joins the text blocks of content (sep between them); other
// blocks add nothing.
func BlocksText(content []Block, sep string) string {
	switch len(content) {
	case 0:
		return ""
	case 1:
		if content[0].Type == BlockText {
			return content[0].Text
		}
		return ""
	}
	var b strings.Builder
	n := 0
	for _, c := range content {
		if c.Type != BlockText {
			continue
		}
		if n > 0 {
			b.WriteString(sep)
		}
		b.WriteString(c.Text)
		n++
	}
	return b.String()
}

// ToolCalls lists the tool calls among content, in order.
func ToolCalls(content []Block) []ToolCall {
	var out []ToolCall
	for _, c := range content {
		if c.Type == BlockToolCall && c.ToolCall != nil {
			out = append(out, *c.ToolCall)
		}
	}
	return out
}

// OnlyText reports whether content holds text blocks alone.
func OnlyText(content []Block) bool {
	for _, c := range content {
		if c.Type != BlockText {
			return false
		}
	}
	return true
}

// Tool is a function the model may call.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is the JSON Schema of the arguments (an object schema);
	// nil for a function without parameters.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Strict     *bool           `json:"strict,omitempty"`
}

// Tool choice modes.
const (
	ToolChoiceAuto     = "auto"
	ToolChoiceNone     = "none"
	ToolChoiceRequired = "required" // Anthropic's "any"
	ToolChoiceTool     = "tool"     // the tool named Name
)

// ToolChoice says whether and which tool the model must call.
type ToolChoice struct {
	Mode string `json:"mode"`
	Name string `json:"name,omitempty"` // with ToolChoiceTool
}

// Response format types (structured output).
const (
	FormatText       = "text"
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// ResponseFormat asks for structured output: any JSON object, or JSON that
// matches Schema.
type ResponseFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolCallDelta is a streamed piece of a tool call: the first piece of a
// call carries its ID and Name, later ones only a fragment of Arguments.
// Index is the call's position among the answer's tool calls (0, 1, …).
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}
