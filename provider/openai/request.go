package openai

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// The request side of the OpenAI Chat Completions format: encoding a
// ChatRequest for an upstream, decoding a caller's body.

// EncodeRequest returns the Chat Completions body for req: model,
// messages, temperature (omitted when nil, sent when 0), top_p,
// max_completion_tokens for provider "openai" or max_tokens for any other,
// stop, seed, n, tools, tool_choice, parallel_tool_calls, response_format,
// reasoning_effort, stream with stream_options.include_usage when
// req.Stream, then req.Extra in key order (those of another wire format
// only where Portable says they travel). Extra never overrides a field
// written from req's own fields.
//
// Messages: a user message's tool results become one tool message each, in
// order, and the rest of it a user message after them (with the images of
// the tool results, which a tool message cannot hold); an error result's
// text is prefixed "Error: " (OpenAI has no is_error). An assistant
// message's tool calls become its tool_calls. Another format's thinking
// blocks are dropped (OpenAI has no slot for them; their tokens stay in the
// usage); any other block of another format is refused by name.
func EncodeRequest(req *conductor.ChatRequest) ([]byte, error) {
	prov := cmp.Or(req.Provider, conductor.ProviderOpenAI)
	return appendOpenAIRequest(make([]byte, 0, wire.RequestSize(req)), req, prov, openAIMaxField(req.Provider), req.Stream)
}

func appendOpenAIRequest(dst []byte, req *conductor.ChatRequest, prov, maxField string, stream bool) ([]byte, error) {
	extra, err := provider.ExtrasFor(req, provider.FormatOpenAI, prov)
	if err != nil {
		return nil, err
	}
	var w wire.KeyWriter
	w.Init(append(dst, '{'))
	w.Str("model", req.Model)
	w.Key("messages")
	d := Dialect{Format: provider.FormatOpenAI, Provider: prov}
	if w.Buf, err = d.AppendMessages(w.Buf, req.Messages); err != nil {
		return nil, err
	}
	if req.Temperature != nil {
		if err := w.Float("temperature", *req.Temperature); err != nil {
			return nil, err
		}
	}
	if req.TopP != nil {
		if err := w.Float("top_p", *req.TopP); err != nil {
			return nil, err
		}
	}
	if req.MaxTokens > 0 {
		w.Int(maxField, int64(req.MaxTokens))
		// Never both: OpenAI rejects a request carrying the two.
		w.Mark("max_tokens")
		w.Mark("max_completion_tokens")
	}
	if len(req.Stop) > 0 {
		w.Strings("stop", req.Stop)
	}
	if req.Seed != nil {
		w.Int("seed", *req.Seed)
	}
	if req.N > 0 {
		w.Int("n", int64(req.N))
	}
	if err := d.Tools(&w, req); err != nil {
		return nil, err
	}
	if req.ResponseFormat != nil {
		w.Key("response_format")
		w.Buf = AppendResponseFormat(w.Buf, req.ResponseFormat)
	}
	if effort := wire.ReasoningEffort(req); effort != "" {
		w.Str("reasoning_effort", effort)
	}
	if req.ExtraFormat == provider.FormatAnthropic {
		// Anthropic's metadata.user_id is OpenAI's user.
		if u := anthropicUserID(req.Extra["metadata"]); u != "" {
			w.Str("user", u)
		}
	}
	if stream {
		w.Key("stream")
		w.Buf = append(w.Buf, "true"...)
		w.Key("stream_options")
		w.Buf = append(w.Buf, `{"include_usage":true}`...)
	}
	err = w.Extras(extra, func(k string) bool {
		// We decide whether the call streams; stream_options is only valid
		// with stream.
		return k == "stream" || k == "stream_options"
	})
	if err != nil {
		return nil, err
	}
	return append(w.Buf, '}'), nil
}

// anthropicUserID reads metadata.user_id out of Anthropic's metadata.
func anthropicUserID(md json.RawMessage) string {
	if len(md) == 0 {
		return ""
	}
	var m struct {
		UserID string `json:"user_id"`
	}
	_ = wire.Unmarshal(md, &m)
	return m.UserID
}

// Dialect writes the messages and tools of the OpenAI-style formats:
// OpenAI's own, and Workers AI's native run body, which takes the same
// shapes with a few limits.
type Dialect struct {
	Format   string // whose opaque blocks are written back
	Provider string
	// workersAI: no developer role (sent as system), images only as data:
	// URLs, no detail, text content as one string.
	WorkersAI bool
}

// Tools writes tools, tool_choice and parallel_tool_calls.
func (d *Dialect) Tools(w *wire.KeyWriter, req *conductor.ChatRequest) error {
	if len(req.Tools) > 0 {
		w.Key("tools")
		var err error
		// Workers AI's legacy models document parameters as required.
		if w.Buf, err = wire.AppendToolsOpenAI(w.Buf, req.Tools, d.WorkersAI); err != nil {
			return err
		}
	}
	if tc := req.ToolChoice; tc != nil {
		w.Key("tool_choice")
		var err error
		if w.Buf, err = wire.AppendToolChoiceOpenAI(w.Buf, tc, d.Provider); err != nil {
			return err
		}
	}
	if p := req.ParallelToolCalls; p != nil {
		w.Key("parallel_tool_calls")
		w.Buf = wire.AppendBool(w.Buf, *p)
	}
	return nil
}

// The kinds of the opaque OpenAI blocks that stand for a message or a
// message field rather than a content part (whose kind is the part's own
// type): a deprecated function message, an assistant's audio or deprecated
// function_call, and a tool call of a type the domain lacks (custom).
const (
	kindFunctionMessage = "message:function"
	kindAudio           = "message:audio"
	kindFunctionCall    = "message:function_call"
	kindToolCallPrefix  = "tool_call:"
)

// openAIMessageLevel reports whether an opaque OpenAI block of kind stands
// for a message field rather than a content part.
func openAIMessageLevel(kind string) bool {
	return strings.HasPrefix(kind, "message:") || strings.HasPrefix(kind, kindToolCallPrefix)
}

// AppendMessages writes a request's messages as the dialect's messages
// array.
func (d *Dialect) AppendMessages(dst []byte, msgs []conductor.Message) ([]byte, error) {
	dst = append(dst, '[')
	n := 0
	next := func() {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
	}
	var err error
	for i := range msgs {
		m := &msgs[i]
		switch m.Role {
		case "user":
			// A deprecated function message, kept whole.
			if len(m.Content) == 1 && m.Content[0].Type == conductor.BlockOpaque && m.Content[0].Opaque != nil &&
				m.Content[0].Opaque.Format == d.Format && m.Content[0].Opaque.Kind == kindFunctionMessage {
				next()
				dst = append(dst, m.Content[0].Opaque.Raw...)
				continue
			}
			results, rest := 0, 0
			for _, b := range m.Content {
				if b.Type == conductor.BlockToolResult && b.ToolResult != nil {
					results++
				} else {
					rest++
				}
			}
			var moved []conductor.Block // the images of tool results
			for j, b := range m.Content {
				if b.Type != conductor.BlockToolResult || b.ToolResult == nil {
					continue
				}
				next()
				if dst, moved, err = d.appendToolMessage(dst, b.ToolResult, i, j, moved); err != nil {
					return nil, err
				}
			}
			if rest > 0 || len(moved) > 0 || results == 0 {
				next()
				dst = append(dst, `{"role":"user","content":`...)
				if dst, err = d.appendContent(dst, wire.BlockPath{I: i, K: -1, Call: -1}, moved, m.Content, contentOpts{}); err != nil {
					return nil, err
				}
				dst = append(dst, '}')
			}
		case "assistant":
			next()
			if dst, err = d.appendAssistant(dst, i, m); err != nil {
				return nil, err
			}
		default:
			next()
			role := m.Role
			if role == "developer" && d.WorkersAI {
				role = "system" // Workers AI's models know no developer role
			}
			dst = append(dst, `{"role":`...)
			dst = wire.AppendString(dst, role)
			dst = append(dst, `,"content":`...)
			if dst, err = d.appendContent(dst, wire.BlockPath{I: i, K: -1, Call: -1}, nil, m.Content, contentOpts{}); err != nil {
				return nil, err
			}
			dst = append(dst, '}')
		}
	}
	return append(dst, ']'), nil
}

func (d *Dialect) appendAssistant(dst []byte, i int, m *conductor.Message) ([]byte, error) {
	calls, fields := 0, 0
	for _, b := range m.Content {
		switch {
		case b.Type == conductor.BlockToolCall && b.ToolCall != nil:
			calls++
		case b.Type == conductor.BlockOpaque && b.Opaque != nil && b.Opaque.Format == d.Format && openAIMessageLevel(b.Opaque.Kind):
			if strings.HasPrefix(b.Opaque.Kind, kindToolCallPrefix) {
				calls++
			} else {
				fields++
			}
		}
	}
	dst = append(dst, `{"role":"assistant","content":`...)
	var err error
	if dst, err = d.appendContent(dst, wire.BlockPath{I: i, K: -1, Call: -1}, nil, m.Content, contentOpts{nullIfEmpty: calls+fields > 0}); err != nil {
		return nil, err
	}
	if calls > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		k := 0
		for _, b := range m.Content {
			switch {
			case b.Type == conductor.BlockToolCall && b.ToolCall != nil:
				if k > 0 {
					dst = append(dst, ',')
				}
				k++
				tc := b.ToolCall
				dst = append(dst, `{"id":`...)
				dst = wire.AppendString(dst, tc.ID)
				dst = append(dst, `,"type":"function","function":{"name":`...)
				dst = wire.AppendString(dst, tc.Name)
				dst = append(dst, `,"arguments":`...)
				dst = wire.AppendString(dst, tc.Arguments)
				dst = append(dst, "}}"...)
			case b.Type == conductor.BlockOpaque && b.Opaque != nil && b.Opaque.Format == d.Format && strings.HasPrefix(b.Opaque.Kind, kindToolCallPrefix):
				if k > 0 {
					dst = append(dst, ',')
				}
				k++
				dst = append(dst, b.Opaque.Raw...)
			}
		}
		dst = append(dst, ']')
	}
	for _, b := range m.Content {
		if b.Type == conductor.BlockOpaque && b.Opaque != nil && b.Opaque.Format == d.Format &&
			(b.Opaque.Kind == kindAudio || b.Opaque.Kind == kindFunctionCall) {
			dst = append(dst, ',')
			dst = wire.AppendString(dst, strings.TrimPrefix(b.Opaque.Kind, "message:"))
			dst = append(dst, ':')
			dst = append(dst, b.Opaque.Raw...)
		}
	}
	return append(dst, '}'), nil
}

// appendToolMessage writes a tool result as a tool message; its images,
// which a tool message cannot hold, are appended to moved.
func (d *Dialect) appendToolMessage(dst []byte, r *conductor.ToolResult, i, j int, moved []conductor.Block) ([]byte, []conductor.Block, error) {
	dst = append(dst, `{"role":"tool","tool_call_id":`...)
	dst = wire.AppendString(dst, r.CallID)
	dst = append(dst, `,"content":`...)
	for k, b := range r.Content {
		if b.Type == conductor.BlockImage && b.Image != nil {
			if err := d.checkImage(b.Image, wire.BlockPath{I: i, J: j, K: k, Call: -1}); err != nil {
				return nil, nil, err
			}
			moved = append(moved, b)
		}
	}
	var err error
	if dst, err = d.appendContent(dst, wire.BlockPath{I: i, J: j, Call: -1}, nil, r.Content, contentOpts{toolResult: true, isError: r.IsError}); err != nil {
		return nil, nil, err
	}
	return append(dst, '}'), moved, nil
}

// checkImage refuses an image the format cannot take.
func (d *Dialect) checkImage(img *conductor.Image, at wire.BlockPath) error {
	if d.WorkersAI && img.Data == "" && !strings.HasPrefix(strings.ToLower(img.URL), "data:") {
		return wire.Untranslatable(at.String(), "an image by URL ("+shortURL(img.URL)+")", d.Provider, "its models take images only as data: URLs")
	}
	return nil
}

// shortURL is a URL as an error message quotes it: scheme and host.
func shortURL(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Scheme + "://" + p.Host + "/…"
	}
	if len(u) > 40 {
		return u[:40] + "…"
	}
	return u
}

// contentOpts say how appendContent writes one content.
type contentOpts struct {
	// nullIfEmpty: null when nothing is left (an assistant message with
	// tool calls), else "".
	nullIfEmpty bool
	// toolResult: the content of a tool message, whose images the caller
	// moves to the next user message; isError prefixes its text with
	// "Error: " (OpenAI cannot mark a failed call).
	toolResult, isError bool
}

// appendContent writes a message's "content": the text alone when it is
// one text block (or, for Workers AI, text blocks only, joined), else a list
// of parts — text, image_url, and this format's own opaque parts. pre are
// image parts that go first (moved out of tool results). Tool calls, tool
// results and message-level blocks are not content. base locates the
// blocks for errors.
func (d *Dialect) appendContent(dst []byte, base wire.BlockPath, pre, blocks []conductor.Block, o contentOpts) ([]byte, error) {
	start := len(dst)
	dst = append(dst, '[')
	parts, texts := 0, 0
	sep := func() {
		if parts > 0 {
			dst = append(dst, ',')
		}
		parts++
	}
	for _, b := range pre {
		sep()
		dst = d.appendImagePart(dst, b.Image)
	}
	at := func(n int) wire.BlockPath {
		p := base
		if o.toolResult {
			p.K = n
		} else {
			p.J = n
		}
		return p
	}
	for n := range blocks {
		b := &blocks[n]
		switch b.Type {
		case conductor.BlockText:
			sep()
			texts++
			dst = append(dst, `{"type":"text","text":"`...)
			if o.isError && texts == 1 {
				dst = append(dst, "Error: "...)
			}
			dst = wire.AppendStringBody(dst, b.Text)
			dst = append(dst, `"}`...)
		case conductor.BlockImage:
			if b.Image == nil || o.toolResult {
				continue
			}
			if err := d.checkImage(b.Image, at(n)); err != nil {
				return nil, err
			}
			sep()
			dst = d.appendImagePart(dst, b.Image)
		case conductor.BlockOpaque:
			if b.Opaque == nil {
				continue
			}
			keep, err := wire.OpaqueFor(b.Opaque, d.Format, d.Provider, at(n))
			if err != nil {
				return nil, err
			}
			if !keep || openAIMessageLevel(b.Opaque.Kind) {
				continue
			}
			sep()
			dst = append(dst, b.Opaque.Raw...)
		}
	}
	switch {
	case parts == 0:
		dst = dst[:start]
		switch {
		case o.isError:
			return append(dst, `"Error"`...), nil
		case o.nullIfEmpty:
			return append(dst, "null"...), nil
		}
		return append(dst, `""`...), nil
	case parts == texts && (parts == 1 || d.WorkersAI):
		// Text alone: the plain string form every server takes.
		dst = append(dst[:start], '"')
		if o.isError {
			dst = append(dst, "Error: "...)
		}
		for _, b := range blocks {
			if b.Type == conductor.BlockText {
				dst = wire.AppendStringBody(dst, b.Text)
			}
		}
		return append(dst, '"'), nil
	}
	return append(dst, ']'), nil
}

func (d *Dialect) appendImagePart(dst []byte, img *conductor.Image) []byte {
	dst = append(dst, `{"type":"image_url","image_url":{"url":`...)
	dst = wire.AppendImageURL(dst, img)
	if img.Detail != "" && !d.WorkersAI {
		dst = append(dst, `,"detail":`...)
		dst = wire.AppendString(dst, img.Detail)
	}
	return append(dst, "}}"...)
}

// DecodeRequest reads a Chat Completions request body into the
// domain: model, messages, temperature, top_p, max_completion_tokens or
// max_tokens (the former wins), stop (a string or a list), seed, n, tools,
// tool_choice, parallel_tool_calls, response_format, reasoning_effort and
// stream; every other field goes to Extra as sent.
//
// Messages: system, developer, user and assistant keep their role; a run
// of tool messages becomes one user message of tool_result blocks, in
// order. Content parts become blocks: text, image_url (a data: URL parsed
// into media type and data), and any other part (input_audio, file…) an
// opaque block of that kind; an assistant's tool_calls become tool_call
// blocks after its text (a refusal is kept as text). What stands for a
// message or a message field becomes an opaque block too, of kind
// message:audio, message:function_call (an assistant's), tool_call:custom
// (a custom tool call) or message:function (a deprecated function message,
// in a user message of its own); they go back unchanged to an OpenAI
// upstream and are refused by any other. A message's name has no place in
// the domain and is not read (a function message's aside).
//
// What the domain cannot model is kept, not refused: a tools list holding
// anything but function tools, a tool_choice of another form
// (allowed_tools, custom) or a response_format of an unknown type stays in
// Extra as sent. A body that is not a request (no model, no messages, a
// field of the wrong type, an unknown role) gives a ClassBadRequest
// *conductor.Error whose message names the field.
//
// ResponseFormat, the tools' schemas and the Extra values may be slices of
// body, which the caller keeps unchanged (the server sends it on as the
// request's Body).
func DecodeRequest(body []byte) (*conductor.ChatRequest, error) {
	if e := wire.CheckText(body); e != nil {
		// Ambiguous: fields twice, invalid UTF-8, an infinite number.
		return nil, e
	}
	if !wire.MentionsTools(body) {
		if req, ok := ScanRequest(body); ok {
			return req, nil
		}
	}
	return DecodeRequestJSON(body)
}

// DecodeRequestJSON is DecodeRequest through the JSON library, for
// every body the fast path does not take (every refused one among them).
func DecodeRequestJSON(body []byte) (*conductor.ChatRequest, error) {
	var fields map[string]json.RawMessage
	if err := wire.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, wire.BadRequest("the request body is not a JSON object")
	}
	req := &conductor.ChatRequest{}
	var maxTokens, maxCompletion, n *int
	keep := func(k string, v json.RawMessage) {
		if req.Extra == nil {
			req.Extra = make(map[string]json.RawMessage)
			req.ExtraFormat = provider.FormatOpenAI
		}
		req.Extra[k] = v
	}
	for k, v := range fields {
		var err error
		switch k {
		case "model":
			err = wire.Unmarshal(v, &req.Model)
		case "messages":
			req.Messages, err = DecodeMessages(v, provider.FormatOpenAI)
		case "temperature":
			err = wire.Unmarshal(v, &req.Temperature)
		case "top_p":
			err = wire.Unmarshal(v, &req.TopP)
		case "max_tokens":
			err = wire.Unmarshal(v, &maxTokens)
		case "max_completion_tokens":
			err = wire.Unmarshal(v, &maxCompletion)
		case "stop":
			req.Stop, err = decodeStop(v)
		case "seed":
			err = wire.Unmarshal(v, &req.Seed)
		case "n":
			err = wire.Unmarshal(v, &n)
		case "tools":
			var typed bool
			if req.Tools, typed, err = DecodeTools(v, false); err == nil && !typed {
				keep(k, v)
			}
		case "tool_choice":
			if req.ToolChoice = DecodeToolChoice(v); req.ToolChoice == nil && !wire.IsNull(v) {
				keep(k, v)
			}
		case "parallel_tool_calls":
			err = wire.Unmarshal(v, &req.ParallelToolCalls)
		case "response_format":
			var rf *conductor.ResponseFormat
			if rf, err = DecodeResponseFormat(v); err != nil {
				// A form the domain does not know: kept for an OpenAI
				// upstream, which judges it.
				keep(k, v)
				err = nil
			}
			req.ResponseFormat = rf
		case "reasoning_effort":
			req.ReasoningEffort, err = wire.OptString(v)
		case "stream":
			req.Stream, err = wire.Flag(v)
		default:
			keep(k, v)
		}
		if err != nil {
			return nil, wire.BadRequest("%s: %s", k, wire.ShortJSONError(err))
		}
	}
	switch {
	case maxCompletion != nil:
		req.MaxTokens = *maxCompletion
	case maxTokens != nil:
		req.MaxTokens = *maxTokens
	}
	if n != nil {
		req.N = *n
	}
	if req.MaxTokens < 0 {
		return nil, wire.BadRequest("max_tokens: must not be negative")
	}
	if req.Model == "" {
		return nil, wire.BadRequest("model: required")
	}
	if len(req.Messages) == 0 {
		return nil, wire.BadRequest("messages: at least one message is required")
	}
	return req, nil
}

// Message is one element of messages, its values read by role.
type Message struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	ToolCalls    json.RawMessage `json:"tool_calls"`
	ToolCallID   string          `json:"tool_call_id"`
	Refusal      json.RawMessage `json:"refusal"`
	Audio        json.RawMessage `json:"audio"`
	FunctionCall json.RawMessage `json:"function_call"`
	Name         json.RawMessage `json:"name"` // a function message's: its name has no place elsewhere
}

// DecodeMessages reads the messages of an OpenAI-style body; format
// names the opaque blocks it makes (FormatOpenAI, or FormatWorkersAI for
// the Workers AI native body, which shares the shapes). Each level is
// decoded once, its contents kept raw until read.
func DecodeMessages(v json.RawMessage, format string) ([]conductor.Message, error) {
	var raw []*Message
	if err := wire.Unmarshal(v, &raw); err != nil {
		return nil, err
	}
	msgs := make([]conductor.Message, 0, len(raw))
	prevTool := false
	for i, m := range raw {
		if m == nil {
			return nil, fmt.Errorf("message %d: null", i)
		}
		wasTool := prevTool
		prevTool = m.Role == "tool"
		switch m.Role {
		case "system", "developer", "user":
			blocks, err := decodeOpenAIContent(m.Content, format)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			msgs = append(msgs, conductor.Message{Role: m.Role, Content: blocks})
		case "assistant":
			blocks, err := decodeOpenAIAssistant(m, format)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			msgs = append(msgs, conductor.Message{Role: m.Role, Content: blocks})
		case "tool":
			content, err := decodeOpenAIContent(m.Content, format)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			b := conductor.Block{Type: conductor.BlockToolResult, ToolResult: &conductor.ToolResult{CallID: m.ToolCallID, Content: content}}
			// A run of tool messages answers one turn: one user message.
			if last := len(msgs) - 1; wasTool && last >= 0 {
				msgs[last].Content = append(msgs[last].Content, b)
			} else {
				msgs = append(msgs, conductor.Message{Role: "user", Content: []conductor.Block{b}})
			}
		case "function":
			if format != provider.FormatOpenAI {
				return nil, fmt.Errorf("message %d: unknown role %q", i, m.Role)
			}
			// The deprecated answer of a function call: no call id to
			// pair it with, so kept whole for OpenAI.
			raw, err := wire.Marshal(struct {
				Role    string          `json:"role"`
				Name    json.RawMessage `json:"name,omitempty"`
				Content json.RawMessage `json:"content,omitempty"`
			}{m.Role, m.Name, m.Content})
			if err != nil {
				return nil, fmt.Errorf("message %d: %s", i, wire.ShortJSONError(err))
			}
			msgs = append(msgs, conductor.Message{Role: "user", Content: []conductor.Block{
				{Type: conductor.BlockOpaque, Opaque: &conductor.Opaque{Format: format, Kind: kindFunctionMessage, Raw: raw}}}})
		default:
			return nil, fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
	}
	return msgs, nil
}

// ToolCall is an element of tool_calls: OpenAI's
// {id, type, function:{name, arguments}}, or the {name, arguments} of
// Workers AI's older models (no id, arguments an object).
type ToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function *struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// decodeOpenAIAssistant reads an assistant message: its content, refusal,
// tool calls, audio and deprecated function_call, in that order.
func decodeOpenAIAssistant(m *Message, format string) ([]conductor.Block, error) {
	blocks, err := decodeOpenAIContent(m.Content, format)
	if err != nil {
		return nil, err
	}
	if !wire.IsNull(m.Refusal) {
		var r string
		if err := wire.Unmarshal(m.Refusal, &r); err != nil {
			return nil, fmt.Errorf("refusal: %s", wire.ShortJSONError(err))
		}
		if r != "" {
			blocks = append(blocks, conductor.TextBlock(r))
		}
	}
	if !wire.IsNull(m.ToolCalls) {
		var calls []*ToolCall
		if err := wire.Unmarshal(m.ToolCalls, &calls); err != nil {
			return nil, fmt.Errorf("tool_calls: %s", wire.ShortJSONError(err))
		}
		var raws []json.RawMessage // the calls as sent, for one of a type the domain lacks
		for k, c := range calls {
			if c == nil {
				return nil, fmt.Errorf("tool_calls[%d]: null", k)
			}
			if c.Type != "" && c.Type != "function" {
				if raws == nil {
					_ = wire.Unmarshal(m.ToolCalls, &raws) // valid: decoded above
				}
				blocks = append(blocks, conductor.Block{Type: conductor.BlockOpaque, Opaque: &conductor.Opaque{Format: format, Kind: kindToolCallPrefix + c.Type, Raw: raws[k]}})
				continue
			}
			name, args := c.Name, c.Arguments
			if c.Function != nil {
				name, args = c.Function.Name, c.Function.Arguments
			}
			text, err := wire.JsonText(args)
			if err != nil {
				return nil, fmt.Errorf("tool_calls[%d].function.arguments: %s", k, wire.ShortJSONError(err))
			}
			blocks = append(blocks, conductor.Block{Type: conductor.BlockToolCall, ToolCall: &conductor.ToolCall{ID: c.ID, Name: name, Arguments: text}})
		}
	}
	if !wire.IsNull(m.Audio) {
		blocks = append(blocks, conductor.Block{Type: conductor.BlockOpaque, Opaque: &conductor.Opaque{Format: format, Kind: kindAudio, Raw: m.Audio}})
	}
	if !wire.IsNull(m.FunctionCall) {
		blocks = append(blocks, conductor.Block{Type: conductor.BlockOpaque, Opaque: &conductor.Opaque{Format: format, Kind: kindFunctionCall, Raw: m.FunctionCall}})
	}
	return blocks, nil
}

// Part is a content part, its values read by type.
type Part struct {
	Type     string          `json:"type"`
	Text     json.RawMessage `json:"text"`
	Refusal  json.RawMessage `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"`
}

// decodeOpenAIContent reads a content: a string, null, or a list of parts.
// Text parts become text blocks (empty ones none), image_url parts images,
// refusal parts text, any other part an opaque block of format.
func decodeOpenAIContent(v json.RawMessage, format string) ([]conductor.Block, error) {
	v = bytes.TrimSpace(v)
	switch {
	case wire.IsNull(v):
		return nil, nil
	case v[0] == '"':
		s, err := wire.JsonString(v)
		return conductor.Texts(s), err
	case v[0] != '[':
		return nil, errors.New("content must be a string or a list of parts")
	}
	var parts []*Part
	if err := wire.Unmarshal(v, &parts); err != nil {
		return nil, fmt.Errorf("content: %s", wire.ShortJSONError(err))
	}
	blocks := make([]conductor.Block, 0, len(parts))
	var raws []json.RawMessage // the parts as sent, for one of a type the domain lacks
	for k, p := range parts {
		if p == nil {
			return nil, fmt.Errorf("content[%d]: not a content part", k)
		}
		switch p.Type {
		case "text", "refusal":
			field := p.Text
			if p.Type == "refusal" {
				field = p.Refusal
			}
			s, err := wire.JsonString(field)
			if err != nil {
				return nil, fmt.Errorf("content[%d].%s: %s", k, p.Type, wire.ShortJSONError(err))
			}
			if s != "" {
				blocks = append(blocks, conductor.TextBlock(s))
			}
		case "image_url":
			img, err := decodeOpenAIImageURL(p.ImageURL)
			if err != nil {
				return nil, fmt.Errorf("content[%d].image_url: %w", k, err)
			}
			blocks = append(blocks, conductor.Block{Type: conductor.BlockImage, Image: img})
		default:
			if raws == nil {
				_ = wire.Unmarshal(v, &raws) // valid: decoded above
			}
			blocks = append(blocks, conductor.Block{Type: conductor.BlockOpaque, Opaque: &conductor.Opaque{Format: format, Kind: p.Type, Raw: raws[k]}})
		}
	}
	if len(blocks) == 0 {
		return nil, nil
	}
	return blocks, nil
}

// decodeOpenAIImageURL reads image_url: {"url","detail"}, or the URL as a
// string, which some compatible servers take.
func decodeOpenAIImageURL(v json.RawMessage) (*conductor.Image, error) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		u, err := wire.JsonString(v)
		if err != nil {
			return nil, err
		}
		return wire.ImageFromURL(u, ""), nil
	}
	var iu struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	}
	if err := wire.Unmarshal(v, &iu); err != nil {
		return nil, errors.New(wire.ShortJSONError(err))
	}
	return wire.ImageFromURL(iu.URL, iu.Detail), nil
}

// Tool is an element of tools: {type:"function", function:{…}}, or
// Workers AI's flat {name, description, parameters}.
type Tool struct {
	Type     string          `json:"type"`
	Function *openAIFunction `json:"function"`
	openAIFunction
}

type openAIFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

// DecodeTools reads an OpenAI-style tools list into the domain when
// every tool is a function tool of the known fields (typed); any other list
// — custom tools, or fields the domain does not model — is left for the
// caller to keep whole. flat also takes Workers AI's {name, description,
// parameters}.
func DecodeTools(v json.RawMessage, flat bool) (tools []conductor.Tool, typed bool, err error) {
	if wire.IsNull(v) {
		return nil, true, nil
	}
	var list []Tool
	if !wire.DecodeKnown(v, &list) {
		if err := wire.Unmarshal(v, &list); err != nil && !isList(v) {
			return nil, false, errors.New("must be a list of tools")
		}
		return nil, false, nil
	}
	tools = make([]conductor.Tool, 0, len(list))
	for _, t := range list {
		f := t.Function
		switch {
		case t.Type == "function" && f != nil && t.Name == "" && t.Description == "" && t.Parameters == nil && t.Strict == nil:
		case flat && t.Type == "" && f == nil:
			f = &t.openAIFunction
		default:
			return nil, false, nil
		}
		if f.Name == "" {
			return nil, false, nil
		}
		tool := conductor.Tool{Name: f.Name, Description: f.Description, Strict: f.Strict}
		if !wire.IsNull(f.Parameters) {
			tool.Parameters = f.Parameters
		}
		tools = append(tools, tool)
	}
	return tools, true, nil
}

// isList reports whether v is a JSON array.
func isList(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '['
}

// DecodeToolChoice reads tool_choice: "auto", "none", "required", or
// {"type":"function","function":{"name"}}; nil for any other form
// (allowed_tools, custom), which the caller keeps whole.
func DecodeToolChoice(v json.RawMessage) *conductor.ToolChoice {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		s, _ := wire.JsonString(v)
		switch s {
		case conductor.ToolChoiceAuto, conductor.ToolChoiceNone, conductor.ToolChoiceRequired:
			return &conductor.ToolChoice{Mode: s}
		}
		return nil
	}
	var c struct {
		Type     string `json:"type"`
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if !wire.DecodeKnown(v, &c) || c.Type != "function" || c.Function == nil || c.Function.Name == "" {
		return nil
	}
	return &conductor.ToolChoice{Mode: conductor.ToolChoiceTool, Name: c.Function.Name}
}

func decodeStop(v json.RawMessage) ([]string, error) {
	v = bytes.TrimSpace(v)
	switch {
	case wire.IsNull(v):
		return nil, nil
	case v[0] == '"':
		var s string
		err := wire.Unmarshal(v, &s)
		return []string{s}, err
	}
	var list []string
	err := wire.Unmarshal(v, &list)
	return list, err
}

// ScanRequest is DecodeRequest for a request it accepts, read
// in one pass. The top level is read like encoding/json's map (exact keys,
// the last of repeated unknown keys wins); messages like its structs.
func ScanRequest(body []byte) (*conductor.ChatRequest, bool) {
	s := wire.Scanner{B: body}
	req := &conductor.ChatRequest{}
	var (
		maxTokens, maxCompletion *int
		stream                   bool
		set                      wire.FieldSet
	)
	if !s.Open('{') {
		return nil, false
	}
	for n := 0; s.More(&n, '}'); {
		k := s.Key()
		switch string(k) {
		case "model":
			s.Seen(&set, 1<<0)
			s.Str(&req.Model)
		case "messages":
			s.Seen(&set, 1<<1)
			req.Messages = scanOpenAIMessages(&s)
		case "temperature":
			s.Seen(&set, 1<<2)
			s.Float(&req.Temperature)
		case "top_p":
			s.Seen(&set, 1<<3)
			s.Float(&req.TopP)
		case "max_tokens":
			s.Seen(&set, 1<<4)
			s.OptInt(&maxTokens)
		case "max_completion_tokens":
			s.Seen(&set, 1<<5)
			s.OptInt(&maxCompletion)
		case "stop":
			s.Seen(&set, 1<<6)
			req.Stop = s.Stop()
		case "seed":
			s.Seen(&set, 1<<7)
			var seed *int
			if s.OptInt(&seed); seed != nil {
				req.Seed = new(int64(*seed))
			}
		case "response_format":
			s.Seen(&set, 1<<8)
			if v := s.RawValue(); string(v) != "null" {
				rf, err := DecodeResponseFormat(v)
				if err != nil {
					s.Fail() // the JSON path says why
				}
				req.ResponseFormat = rf
			}
		case "stream":
			s.Seen(&set, 1<<9)
			s.Boolean(&stream)
		case "tools", "tool_choice", "parallel_tool_calls", "n", "reasoning_effort":
			// Typed fields the fast path does not model: the JSON
			// path reads them.
			s.Fail()
		default:
			if !utf8.Valid(k) {
				s.Fail() // the JSON path would mend the key
			}
			v := s.RawValue()
			if s.Failed {
				break
			}
			if req.Extra == nil {
				req.Extra = make(map[string]json.RawMessage, 4)
				req.ExtraFormat = provider.FormatOpenAI
			}
			req.Extra[string(k)] = v
		}
	}
	if !s.End() {
		return nil, false
	}
	req.Stream = stream
	switch {
	case maxCompletion != nil:
		req.MaxTokens = *maxCompletion
	case maxTokens != nil:
		req.MaxTokens = *maxTokens
	}
	if req.MaxTokens < 0 || req.Model == "" || len(req.Messages) == 0 {
		return nil, false // refused: the JSON path says why
	}
	return req, true
}

// openAIRequestMessageKeys are the fields of Message: a key that
// matches one only case-insensitively is left to the JSON path.
var openAIRequestMessageKeys = [...]string{"role", "content", "tool_calls", "tool_call_id", "refusal", "audio", "function_call"}

// openAIMessages reads messages of the system, developer, user and
// assistant roles with text content; tool calls, tool messages, non-text
// parts, refusals and audio fail (the JSON path reads them).
func scanOpenAIMessages(s *wire.Scanner) []conductor.Message {
	if !s.Open('[') {
		return nil
	}
	msgs := make([]conductor.Message, 0, 8)
	for n := 0; s.More(&n, ']'); {
		if !s.Open('{') {
			s.Fail() // a null message has no role
			return nil
		}
		var (
			m   conductor.Message
			set wire.FieldSet
		)
		for k := 0; s.More(&k, '}'); {
			switch key := s.Key(); string(key) {
			case "role":
				s.Seen(&set, 1)
				raw, esc := s.RawString()
				// The roles as constants: no string per message.
				switch {
				case esc:
					s.Fail()
				case string(raw) == "system":
					m.Role = "system"
				case string(raw) == "developer":
					m.Role = "developer"
				case string(raw) == "user":
					m.Role = "user"
				case string(raw) == "assistant":
					m.Role = "assistant"
				default:
					s.Fail()
				}
			case "content":
				s.Seen(&set, 2)
				m.Content = s.TextBlocks()
			case "tool_calls":
				s.Seen(&set, 4)
				if !s.Null() {
					s.Fail()
				}
			case "tool_call_id":
				s.Seen(&set, 8)
				var id string
				s.Str(&id)
			case "refusal", "audio", "function_call":
				s.Fail()
			default:
				s.Unknown(key, openAIRequestMessageKeys[:]...)
			}
		}
		if m.Role == "" {
			s.Fail()
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// DecodeResponseFormat reads OpenAI's response_format: {"type":"text"},
// {"type":"json_object"} or {"type":"json_schema","json_schema":{name,
// description, schema, strict}}; null is none.
func DecodeResponseFormat(v json.RawMessage) (*conductor.ResponseFormat, error) {
	if wire.IsNull(v) {
		return nil, nil
	}
	var f struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict"`
		} `json:"json_schema"`
	}
	if err := wire.Unmarshal(v, &f); err != nil {
		return nil, err
	}
	rf := &conductor.ResponseFormat{Type: f.Type}
	switch f.Type {
	case conductor.FormatText, conductor.FormatJSONObject:
	case conductor.FormatJSONSchema:
		if f.JSONSchema == nil {
			return nil, errors.New("json_schema: required with type json_schema")
		}
		js := f.JSONSchema
		rf.Name, rf.Description, rf.Strict = js.Name, js.Description, js.Strict
		if !wire.IsNull(js.Schema) {
			rf.Schema = js.Schema
		}
	default:
		return nil, fmt.Errorf("type must be text, json_object or json_schema, not %q", f.Type)
	}
	return rf, nil
}

// AppendResponseFormat writes rf as OpenAI's response_format.
func AppendResponseFormat(dst []byte, rf *conductor.ResponseFormat) []byte {
	dst = append(dst, `{"type":`...)
	dst = wire.AppendString(dst, cmp.Or(rf.Type, conductor.FormatText))
	if rf.Type != conductor.FormatJSONSchema {
		return append(dst, '}')
	}
	dst = append(dst, `,"json_schema":{"name":`...)
	dst = wire.AppendString(dst, cmp.Or(rf.Name, "response"))
	if rf.Description != "" {
		dst = append(dst, `,"description":`...)
		dst = wire.AppendString(dst, rf.Description)
	}
	if len(rf.Schema) > 0 {
		dst = append(dst, `,"schema":`...)
		dst = append(dst, rf.Schema...)
	}
	if rf.Strict != nil {
		dst = append(dst, `,"strict":`...)
		dst = strconv.AppendBool(dst, *rf.Strict)
	}
	return append(dst, "}}"...)
}
