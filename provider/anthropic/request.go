package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// The request side of the Anthropic Messages format.

// EncodeRequest returns the Messages body for req: model,
// max_tokens (4096 when unset: the API requires it), the system and
// developer messages joined as top-level system, the other messages as
// user and assistant turns (consecutive same-role messages merged, as the
// API wants them alternating; any role but assistant is sent as user),
// temperature, top_p, stop as stop_sequences (whitespace-only ones
// dropped, as Anthropic's own OpenAI layer does: the API refuses them),
// tools, tool_choice, thinking and output_config, stream when req.Stream,
// then req.Extra in key order (those of another wire format only where
// Portable says they travel; OpenAI's user becomes metadata.user_id).
//
// Translated, not refused: in a user turn the tool results come first, as
// the API requires; tool-call ids outside ^[a-zA-Z0-9_-]+$ are rewritten by
// AnthropicToolID on both the call and its result; a call's arguments are
// sent as the input object ("" as {}); an image's OpenAI detail has no
// place and is dropped; parallel_tool_calls false becomes
// disable_parallel_tool_use on the tool choice (auto when none is given);
// a json_object response format becomes output_config.format with the
// schema {"type":"object"}, the nearest the API has to "any JSON object",
// and a json_schema's name and strict have no place there; reasoning
// follows the policy in request.go (a thinking budget, or adaptive
// thinking with an effort on the models that take it, see
// anthropicAdaptive). Refused with a 400 naming the field: n > 1, seed,
// arguments that are not a JSON object, an image type the API does not
// take, and another format's blocks other than reasoning (a document, a
// file, audio).
func EncodeRequest(req *conductor.ChatRequest) ([]byte, error) {
	prov := req.Provider
	if prov == "" {
		prov = conductor.ProviderAnthropic
	}
	return AppendRequest(make([]byte, 0, wire.RequestSize(req)), req, prov, req.Stream)
}

func AppendRequest(dst []byte, req *conductor.ChatRequest, prov string, stream bool) ([]byte, error) {
	if req.N > 1 {
		return nil, provider.Unsupported("n", prov, provider.FormatAnthropic)
	}
	if req.Seed != nil {
		return nil, provider.Unsupported("seed", prov, provider.FormatAnthropic)
	}
	extra, err := provider.ExtrasFor(req, provider.FormatAnthropic, prov)
	if err != nil {
		return nil, err
	}
	var w wire.KeyWriter
	w.Init(append(dst, '{'))
	w.Str("model", req.Model)
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = wire.AnthropicDefaultMaxTokens
	}
	w.Int("max_tokens", int64(maxTokens))
	if err := appendAnthropicSystem(&w, req.Messages, prov); err != nil {
		return nil, err
	}
	w.Key("messages")
	if w.Buf, err = appendAnthropicMessages(w.Buf, req.Messages, prov); err != nil {
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
	appendStopSequences(&w, req.Stop)
	if err := appendAnthropicTools(&w, req, extra, prov); err != nil {
		return nil, err
	}
	if err := appendAnthropicReasoning(&w, req, maxTokens, extra, prov); err != nil {
		return nil, err
	}
	if req.ExtraFormat == provider.FormatOpenAI {
		// OpenAI's user (or safety_identifier) is metadata.user_id here.
		if u := openAIUser(req.Extra); u != "" {
			w.Key("metadata")
			w.Buf = append(w.Buf, `{"user_id":`...)
			w.Buf = wire.AppendString(w.Buf, u)
			w.Buf = append(w.Buf, '}')
		}
	}
	if stream {
		w.Key("stream")
		w.Buf = append(w.Buf, "true"...)
	}
	if err := w.Extras(extra, func(k string) bool { return k == "stream" }); err != nil {
		return nil, err
	}
	return append(w.Buf, '}'), nil
}

func isSystemRole(role string) bool { return role == "system" || role == "developer" }

// openAIUser is the end user an OpenAI body names: user, else
// safety_identifier.
func openAIUser(extra map[string]json.RawMessage) string {
	for _, k := range [...]string{"user", "safety_identifier"} {
		if v := extra[k]; len(v) > 0 {
			var s string
			if wire.Unmarshal(v, &s) == nil && s != "" {
				return s
			}
		}
	}
	return ""
}

// appendStopSequences writes stop as stop_sequences without the
// whitespace-only ones, which the API refuses.
func appendStopSequences(w *wire.KeyWriter, stop []string) {
	n := 0
	for _, s := range stop {
		if strings.TrimSpace(s) != "" {
			if n == 0 {
				w.Key("stop_sequences")
				w.Buf = append(w.Buf, '[')
			} else {
				w.Buf = append(w.Buf, ',')
			}
			w.Buf = wire.AppendString(w.Buf, s)
			n++
		}
	}
	if n > 0 {
		w.Buf = append(w.Buf, ']')
	}
}

// appendAnthropicSystem writes the system and developer messages as the
// top-level system: their texts joined by blank lines. The field holds
// text alone.
func appendAnthropicSystem(w *wire.KeyWriter, msgs []conductor.Message, prov string) error {
	n := 0
	for i, m := range msgs {
		if !isSystemRole(m.Role) {
			continue
		}
		for j, b := range m.Content {
			switch {
			case b.Type == conductor.BlockText:
				if b.Text == "" {
					continue
				}
				if n == 0 {
					w.Key("system")
					w.Buf = append(w.Buf, '"')
				} else {
					w.Buf = append(w.Buf, `\n\n`...)
				}
				w.Buf = wire.AppendStringBody(w.Buf, b.Text)
				n++
			case b.Type == conductor.BlockOpaque && b.Opaque != nil && b.Opaque.Format != provider.FormatAnthropic:
				if _, err := wire.OpaqueFor(b.Opaque, provider.FormatAnthropic, prov, wire.BlockPath{I: i, J: j, K: -1, Call: -1}); err != nil {
					return err
				}
			default:
				return wire.Untranslatable(fmt.Sprintf("messages[%d].content[%d]", i, j), wire.Article(b.Type)+" "+b.Type+" block in a "+m.Role+" message", prov,
					"its system prompt holds text only")
			}
		}
	}
	if n > 0 {
		w.Buf = append(w.Buf, '"')
	}
	return nil
}

// appendAnthropicMessages writes the turns: consecutive messages of one
// role (system and developer ones, hoisted, do not count) merge into one
// turn; in a user turn the tool results come first. A turn of one text
// block is written as a string.
func appendAnthropicMessages(dst []byte, msgs []conductor.Message, prov string) ([]byte, error) {
	dst = append(dst, '[')
	turns := 0
	var err error
	for i := 0; i < len(msgs); {
		if isSystemRole(msgs[i].Role) {
			i++
			continue
		}
		role := anthropicRole(msgs[i].Role)
		// The turn runs to the next message of the other role.
		end := i + 1
		for end < len(msgs) && (isSystemRole(msgs[end].Role) || anthropicRole(msgs[end].Role) == role) {
			end++
		}
		if turns > 0 {
			dst = append(dst, ',')
		}
		turns++
		dst = append(dst, `{"role":"`...)
		dst = append(dst, role...)
		dst = append(dst, `","content":`...)
		if dst, err = appendAnthropicTurn(dst, msgs, i, end, role, prov); err != nil {
			return nil, err
		}
		dst = append(dst, '}')
		i = end
	}
	return append(dst, ']'), nil
}

func anthropicRole(role string) string {
	if role == "assistant" {
		return "assistant"
	}
	return "user"
}

// appendAnthropicTurn writes the content of the turn msgs[from:to].
func appendAnthropicTurn(dst []byte, msgs []conductor.Message, from, to int, role, prov string) ([]byte, error) {
	start := len(dst)
	dst = append(dst, '[')
	parts := 0
	var single *conductor.Block
	var err error
	// Tool results first (a user turn), then everything else, in order.
	for pass := 0; pass < 2; pass++ {
		if pass == 0 && role != "user" {
			continue
		}
		for i := from; i < to; i++ {
			if isSystemRole(msgs[i].Role) {
				continue
			}
			calls := 0
			for j := range msgs[i].Content {
				b := &msgs[i].Content[j]
				isResult := b.Type == conductor.BlockToolResult
				if role == "user" && isResult != (pass == 0) {
					continue
				}
				n := len(dst)
				if parts > 0 {
					dst = append(dst, ',')
				}
				at := wire.BlockPath{Msgs: msgs, I: i, J: j, K: -1, Call: -1}
				if b.Type == conductor.BlockToolCall && b.ToolCall != nil {
					at.Call = calls
					calls++
				}
				var wrote bool
				if dst, wrote, err = appendAnthropicBlock(dst, b, at, prov); err != nil {
					return nil, err
				}
				if !wrote {
					dst = dst[:n]
					continue
				}
				parts++
				single = b
			}
		}
	}
	switch {
	case parts == 0:
		return append(dst[:start], `""`...), nil
	case parts == 1 && single.Type == conductor.BlockText:
		return wire.AppendString(dst[:start], single.Text), nil
	}
	return append(dst, ']'), nil
}

// appendAnthropicBlock writes one content block; wrote is false for a
// block that has no place and is dropped (empty text, another format's
// reasoning).
func appendAnthropicBlock(dst []byte, b *conductor.Block, at wire.BlockPath, prov string) (out []byte, wrote bool, err error) {
	switch b.Type {
	case conductor.BlockText:
		if b.Text == "" {
			return dst, false, nil // the API refuses empty text blocks
		}
		dst = append(dst, `{"type":"text","text":`...)
		dst = wire.AppendString(dst, b.Text)
		return append(dst, '}'), true, nil
	case conductor.BlockImage:
		if b.Image == nil {
			return dst, false, nil
		}
		dst, err = appendAnthropicImage(dst, b.Image, at, prov)
		return dst, err == nil, err
	case conductor.BlockToolCall:
		tc := b.ToolCall
		if tc == nil {
			return dst, false, nil
		}
		input, ok := wire.ToolInput(tc.Arguments)
		if !ok {
			return nil, false, wire.InvalidField(at.String()+".function.arguments", "not a JSON object ("+prov+" takes a tool call's input as an object)", prov)
		}
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = wire.AppendString(dst, wire.AnthropicToolID(tc.ID))
		dst = append(dst, `,"name":`...)
		dst = wire.AppendString(dst, tc.Name)
		dst = append(dst, `,"input":`...)
		dst = append(dst, input...)
		return append(dst, '}'), true, nil
	case conductor.BlockToolResult:
		r := b.ToolResult
		if r == nil {
			return dst, false, nil
		}
		dst = append(dst, `{"type":"tool_result","tool_use_id":`...)
		dst = wire.AppendString(dst, wire.AnthropicToolID(r.CallID))
		if len(r.Content) > 0 {
			mark := len(dst)
			dst = append(dst, `,"content":[`...)
			parts := 0
			var single *conductor.Block
			for k := range r.Content {
				c := &r.Content[k]
				n := len(dst)
				if parts > 0 {
					dst = append(dst, ',')
				}
				var ok bool
				in := at
				in.K, in.Call = k, -1
				if dst, ok, err = appendAnthropicBlock(dst, c, in, prov); err != nil {
					return nil, false, err
				}
				if !ok {
					dst = dst[:n]
					continue
				}
				parts++
				single = c
			}
			switch {
			case parts == 0:
				dst = dst[:mark]
			case parts == 1 && single.Type == conductor.BlockText:
				dst = append(dst[:mark], `,"content":`...)
				dst = wire.AppendString(dst, single.Text)
			default:
				dst = append(dst, ']')
			}
		}
		if r.IsError {
			dst = append(dst, `,"is_error":true`...)
		}
		return append(dst, '}'), true, nil
	case conductor.BlockOpaque:
		if b.Opaque == nil {
			return dst, false, nil
		}
		keep, err := wire.OpaqueFor(b.Opaque, provider.FormatAnthropic, prov, at)
		if err != nil || !keep {
			return dst, false, err
		}
		return append(dst, b.Opaque.Raw...), true, nil
	}
	return dst, false, nil
}

// appendAnthropicImage writes an image block: by URL, or base64 data of a
// media type the API takes (a data: URL is read as data).
func appendAnthropicImage(dst []byte, img *conductor.Image, at wire.BlockPath, prov string) ([]byte, error) {
	mt, data := img.MediaType, img.Data
	if data == "" {
		if strings.HasPrefix(strings.ToLower(img.URL), "data:") {
			var ok bool
			if mt, data, ok = wire.ParseDataURL(img.URL); !ok {
				return nil, wire.InvalidField(at.String(), "the image's data: URL does not parse (data:<media type>;base64,<data>)", prov)
			}
		} else {
			dst = append(dst, `{"type":"image","source":{"type":"url","url":`...)
			dst = wire.AppendString(dst, img.URL)
			return append(dst, "}}"...), nil
		}
	}
	amt, ok := wire.AnthropicMediaType(mt)
	if !ok {
		return nil, wire.Untranslatable(at.String(), "an image of type "+strconv.Quote(mt), prov, "it takes image/jpeg, image/png, image/gif and image/webp")
	}
	dst = append(dst, `{"type":"image","source":{"type":"base64","media_type":`...)
	dst = wire.AppendString(dst, amt)
	dst = append(dst, `,"data":`...)
	dst = wire.AppendString(dst, data)
	return append(dst, "}}"...), nil
}

// appendAnthropicTools writes tools ({name, description, input_schema,
// strict}; a function without parameters gets the empty object schema the
// API requires) and tool_choice, with disable_parallel_tool_use when
// parallel calls are off.
func appendAnthropicTools(w *wire.KeyWriter, req *conductor.ChatRequest, extra map[string]json.RawMessage, prov string) error {
	if len(req.Tools) > 0 {
		w.Key("tools")
		w.Buf = append(w.Buf, '[')
		for i, t := range req.Tools {
			if i > 0 {
				w.Buf = append(w.Buf, ',')
			}
			w.Buf = append(w.Buf, `{"name":`...)
			w.Buf = wire.AppendString(w.Buf, t.Name)
			if t.Description != "" {
				w.Buf = append(w.Buf, `,"description":`...)
				w.Buf = wire.AppendString(w.Buf, t.Description)
			}
			w.Buf = append(w.Buf, `,"input_schema":`...)
			if wire.IsNull(t.Parameters) {
				w.Buf = append(w.Buf, wire.EmptyObjectSchema...)
			} else {
				if !wire.Valid(t.Parameters) {
					return wire.BadRequest("tools[%d].function.parameters is not valid JSON", i)
				}
				w.Buf = append(w.Buf, t.Parameters...)
			}
			if t.Strict != nil {
				w.Buf = append(w.Buf, `,"strict":`...)
				w.Buf = wire.AppendBool(w.Buf, *t.Strict)
			}
			w.Buf = append(w.Buf, '}')
		}
		w.Buf = append(w.Buf, ']')
	}
	hasTools := len(req.Tools) > 0 || len(extra["tools"]) > 0
	noParallel := req.ParallelToolCalls != nil && !*req.ParallelToolCalls
	tc := req.ToolChoice
	if tc == nil && !(noParallel && hasTools) {
		return nil
	}
	mode, name := conductor.ToolChoiceAuto, ""
	if tc != nil {
		mode, name = tc.Mode, tc.Name
	}
	w.Key("tool_choice")
	switch mode {
	case conductor.ToolChoiceAuto:
		w.Buf = append(w.Buf, `{"type":"auto"`...)
	case conductor.ToolChoiceNone:
		// No call, so nothing to run in parallel.
		w.Buf = append(w.Buf, `{"type":"none"}`...)
		return nil
	case conductor.ToolChoiceRequired:
		w.Buf = append(w.Buf, `{"type":"any"`...)
	case conductor.ToolChoiceTool:
		w.Buf = append(w.Buf, `{"type":"tool","name":`...)
		w.Buf = wire.AppendString(w.Buf, name)
	default:
		return wire.InvalidField("tool_choice", fmt.Sprintf("unknown mode %q (auto, none, required or tool)", mode), prov)
	}
	if noParallel {
		w.Buf = append(w.Buf, `,"disable_parallel_tool_use":true`...)
	}
	w.Buf = append(w.Buf, '}')
	return nil
}

// anthropicAdaptive reports whether model thinks adaptively (thinking
// {"type":"adaptive"} with output_config.effort) rather than with a
// budget: Claude 4.6 and later, whose newest releases refuse a budget.
// Older names (claude-3-…, claude-sonnet-4-5…) and names that are not
// Claude's get a budget, which every older model takes.
func anthropicAdaptive(model string) bool {
	rest, ok := strings.CutPrefix(model, "claude-")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "-")
	if len(parts) == 0 || parts[0] == "" || parts[0][0] >= '0' && parts[0][0] <= '9' || parts[0] == "instant" {
		return false // claude-3-5-sonnet-…, claude-2.1, claude-instant-1.2
	}
	if len(parts) < 2 {
		return true
	}
	major, err := strconv.Atoi(parts[1])
	if err != nil {
		return true // a family without a version number: a new one
	}
	minor := 0
	if len(parts) > 2 && len(parts[2]) <= 2 {
		minor, _ = strconv.Atoi(parts[2])
	}
	return major > 4 || major == 4 && minor >= 6
}

// appendAnthropicReasoning writes thinking and output_config (the
// structured-output format and the effort), following the reasoning policy
// of request.go.
func appendAnthropicReasoning(w *wire.KeyWriter, req *conductor.ChatRequest, maxTokens int, extra map[string]json.RawMessage, prov string) error {
	var (
		budget int
		effort string
	)
	adaptive := anthropicAdaptive(req.Model)
	switch {
	case req.ThinkingBudget > 0 && !adaptive:
		budget = req.ThinkingBudget
		effort = req.ReasoningEffort // an effort beside a budget: as the caller sent it
	case req.ReasoningEffort != "" && adaptive:
		share, ok := wire.EffortShare(req.ReasoningEffort)
		if !ok {
			return wire.InvalidField("reasoning_effort", fmt.Sprintf("%q is not one of none, minimal, low, medium, high, xhigh, max", req.ReasoningEffort), prov)
		}
		if share > 0 {
			effort = req.ReasoningEffort
		}
	case req.ThinkingBudget > 0: // adaptive
		effort = wire.BudgetEffort(req.ThinkingBudget, maxTokens)
	case req.ReasoningEffort != "":
		var err error
		if budget, err = wire.ThinkingBudget(req.ReasoningEffort, maxTokens, prov); err != nil {
			return err
		}
	}
	switch {
	case budget > 0:
		w.Key("thinking")
		w.Buf = append(w.Buf, `{"type":"enabled","budget_tokens":`...)
		w.Buf = strconv.AppendInt(w.Buf, int64(budget), 10)
		w.Buf = append(w.Buf, '}')
	case effort != "":
		w.Key("thinking")
		w.Buf = append(w.Buf, `{"type":"adaptive"}`...)
	}
	rf := req.ResponseFormat
	if rf != nil && rf.Type == conductor.FormatText {
		rf = nil // the default
	}
	if (rf == nil && effort == "") || len(extra["output_config"]) > 0 {
		return nil // the caller's own output_config, in Extra, goes as it came
	}
	w.Key("output_config")
	w.Buf = append(w.Buf, '{')
	if rf != nil {
		switch rf.Type {
		case conductor.FormatJSONSchema, conductor.FormatJSONObject:
		default:
			return wire.InvalidField("response_format", fmt.Sprintf("unknown type %q (text, json_object or json_schema)", rf.Type), prov)
		}
		w.Buf = append(w.Buf, `"format":{"type":"json_schema","schema":`...)
		if rf.Type == conductor.FormatJSONSchema && !wire.IsNull(rf.Schema) {
			if !wire.Valid(rf.Schema) {
				return wire.BadRequest("response_format.json_schema.schema is not valid JSON")
			}
			w.Buf = append(w.Buf, rf.Schema...)
		} else {
			// JSON mode: any JSON object.
			w.Buf = append(w.Buf, `{"type":"object"}`...)
		}
		w.Buf = append(w.Buf, '}')
	}
	if effort != "" {
		if rf != nil {
			w.Buf = append(w.Buf, ',')
		}
		w.Buf = append(w.Buf, `"effort":`...)
		w.Buf = wire.AppendString(w.Buf, effort)
	}
	w.Buf = append(w.Buf, '}')
	return nil
}

// DecodeRequest reads a Messages request body into the domain:
// model, max_tokens (required, as the API requires it), system (a string
// or text blocks) as a leading system message, messages, temperature,
// top_p, stop_sequences, tools, tool_choice (disable_parallel_tool_use as
// ParallelToolCalls), thinking (budget_tokens as ThinkingBudget; adaptive
// as ReasoningEffort, "high" — the API's default — unless
// output_config.effort says otherwise), output_config.format (or the older
// top-level output_format) as ResponseFormat, output_config.effort as
// ReasoningEffort, and stream; every other field goes to Extra as sent.
//
// Content blocks: text, image (a base64 or url source), tool_use (its input
// as compact JSON text), tool_result (string or block content, is_error);
// any other block (thinking, redacted_thinking, document, search_result,
// server tool blocks, an image from the Files API…) is an opaque block.
// What only Anthropic means and the domain does not carry — cache_control,
// citations on text, thinking's display — is not read: the caller's own
// bytes go to an Anthropic upstream.
//
// What the domain cannot model is kept, not refused: a tools list with
// server tools, a tool choice, thinking or output_config of another form
// stays in Extra as sent. A body that is not a request gives a
// ClassBadRequest *conductor.Error naming the field.
//
// The schemas and the Extra values may be slices of body, which the caller
// keeps unchanged (the server sends it on as the request's Body).
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

// DecodeRequestJSON is DecodeRequest through
// the JSON library, for every body the fast path does not take (every refused
// one among them).
func DecodeRequestJSON(body []byte) (*conductor.ChatRequest, error) {
	var fields map[string]json.RawMessage
	if err := wire.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, wire.BadRequest("the request body is not a JSON object")
	}
	req := &conductor.ChatRequest{}
	var (
		system        []conductor.Block
		msgs          []conductor.Message
		hasMax        bool
		adaptive      bool
		configEffort  string
		configFormat  *conductor.ResponseFormat
		legacyFormat  *conductor.ResponseFormat
		configOpaque  bool
		hasSystemText bool
	)
	keep := func(k string, v json.RawMessage) {
		if req.Extra == nil {
			req.Extra = make(map[string]json.RawMessage)
			req.ExtraFormat = provider.FormatAnthropic
		}
		req.Extra[k] = v
	}
	for k, v := range fields {
		var err error
		switch k {
		case "model":
			err = wire.Unmarshal(v, &req.Model)
		case "max_tokens":
			hasMax = true
			err = wire.Unmarshal(v, &req.MaxTokens)
		case "system":
			system, err = decodeAnthropicContent(v)
			hasSystemText = len(system) > 0
		case "messages":
			msgs, err = decodeAnthropicMessages(v)
		case "temperature":
			err = wire.Unmarshal(v, &req.Temperature)
		case "top_p":
			err = wire.Unmarshal(v, &req.TopP)
		case "stop_sequences":
			err = wire.Unmarshal(v, &req.Stop)
		case "tools":
			var typed bool
			if req.Tools, typed = decodeAnthropicTools(v); !typed {
				keep(k, v)
			}
		case "tool_choice":
			if !decodeAnthropicToolChoice(v, req) {
				keep(k, v)
			}
		case "thinking":
			var ok bool
			if adaptive, ok = decodeAnthropicThinking(v, req); !ok {
				keep(k, v)
			}
		case "output_config":
			var ok bool
			if configFormat, configEffort, ok = decodeAnthropicOutputConfig(v); !ok {
				keep(k, v)
				configOpaque = true
			}
		case "output_format":
			var ok bool
			if legacyFormat, ok = decodeAnthropicFormat(v); !ok {
				keep(k, v)
			}
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
	case req.Model == "":
		return nil, wire.BadRequest("model: required")
	case !hasMax:
		return nil, wire.BadRequest("max_tokens: required")
	case req.MaxTokens < 1:
		return nil, wire.BadRequest("max_tokens: must be at least 1")
	case len(msgs) == 0:
		return nil, wire.BadRequest("messages: at least one message is required")
	}
	req.ResponseFormat = configFormat
	if configFormat == nil {
		req.ResponseFormat = legacyFormat
	}
	switch {
	case configEffort != "":
		req.ReasoningEffort = configEffort
	case adaptive && configOpaque:
		// Its effort is in the output_config kept whole: thinking goes
		// with it, as sent.
		keep("thinking", fields["thinking"])
	case adaptive:
		req.ReasoningEffort = "high"
	}
	if hasSystemText {
		req.Messages = make([]conductor.Message, 0, len(msgs)+1)
		req.Messages = append(req.Messages, conductor.Message{Role: "system", Content: system})
	}
	req.Messages = append(req.Messages, msgs...)
	return req, nil
}

func decodeAnthropicMessages(v json.RawMessage) ([]conductor.Message, error) {
	var raw []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := wire.Unmarshal(v, &raw); err != nil {
		return nil, err
	}
	msgs := make([]conductor.Message, len(raw))
	for i, m := range raw {
		switch m.Role {
		case "user", "assistant", "system":
			// system: the SDK's mid-conversation system message.
		default:
			return nil, fmt.Errorf("message %d: role must be user or assistant, not %q", i, m.Role)
		}
		blocks, err := decodeAnthropicContent(m.Content)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		msgs[i] = conductor.Message{Role: m.Role, Content: blocks}
	}
	return msgs, nil
}

// RequestBlock is a content block, its values read by type.
type RequestBlock struct {
	Type      string          `json:"type"`
	Text      json.RawMessage `json:"text"`
	Source    json.RawMessage `json:"source"`
	ID        json.RawMessage `json:"id"`
	Name      json.RawMessage `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID json.RawMessage `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   json.RawMessage `json:"is_error"`
}

// decodeAnthropicContent reads a content: a string, null, or a list of
// blocks.
func decodeAnthropicContent(v json.RawMessage) ([]conductor.Block, error) {
	v = bytes.TrimSpace(v)
	switch {
	case wire.IsNull(v):
		return nil, nil
	case v[0] == '"':
		var s string
		err := wire.Unmarshal(v, &s)
		return conductor.Texts(s), err
	case v[0] != '[':
		return nil, fmt.Errorf("content must be a string or a list of content blocks")
	}
	var raw []json.RawMessage
	if err := wire.Unmarshal(v, &raw); err != nil {
		return nil, err
	}
	var blocks []conductor.Block
	for k, r := range raw {
		b, ok, err := decodeAnthropicBlock(r)
		if err != nil {
			return nil, fmt.Errorf("content[%d]: %w", k, err)
		}
		if ok {
			blocks = append(blocks, b)
		}
	}
	return blocks, nil
}

// decodeAnthropicBlock reads one content block; ok is false for an empty
// text, which carries nothing.
func decodeAnthropicBlock(r json.RawMessage) (conductor.Block, bool, error) {
	var b RequestBlock
	if err := wire.Unmarshal(r, &b); err != nil || wire.IsNull(r) {
		return conductor.Block{}, false, fmt.Errorf("not a content block")
	}
	str := func(v json.RawMessage, name string) (string, error) {
		var s string
		if wire.IsNull(v) {
			return "", nil
		}
		if err := wire.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("%s: %s", name, wire.ShortJSONError(err))
		}
		return s, nil
	}
	opaque := conductor.Block{Type: conductor.BlockOpaque, Opaque: &conductor.Opaque{Format: provider.FormatAnthropic, Kind: b.Type, Raw: r}}
	switch b.Type {
	case "text":
		s, err := str(b.Text, "text")
		return conductor.TextBlock(s), s != "", err
	case "image":
		var src struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
			URL       string `json:"url"`
		}
		if wire.Unmarshal(b.Source, &src) != nil {
			return opaque, true, nil
		}
		switch src.Type {
		case "base64":
			return conductor.Block{Type: conductor.BlockImage, Image: &conductor.Image{MediaType: src.MediaType, Data: src.Data}}, true, nil
		case "url":
			return conductor.Block{Type: conductor.BlockImage, Image: &conductor.Image{URL: src.URL}}, true, nil
		}
		return opaque, true, nil // a Files API image: only Anthropic can read it
	case "tool_use":
		id, err := str(b.ID, "id")
		if err != nil {
			return conductor.Block{}, false, err
		}
		name, err := str(b.Name, "name")
		if err != nil {
			return conductor.Block{}, false, err
		}
		args := wire.CompactJSON(b.Input)
		if args == "" {
			args = "{}"
		}
		return conductor.Block{Type: conductor.BlockToolCall, ToolCall: &conductor.ToolCall{ID: id, Name: name, Arguments: args}}, true, nil
	case "tool_result":
		id, err := str(b.ToolUseID, "tool_use_id")
		if err != nil {
			return conductor.Block{}, false, err
		}
		content, err := decodeAnthropicContent(b.Content)
		if err != nil {
			return conductor.Block{}, false, err
		}
		var isErr *bool
		if !wire.IsNull(b.IsError) {
			if err := wire.Unmarshal(b.IsError, &isErr); err != nil {
				return conductor.Block{}, false, fmt.Errorf("is_error: %s", wire.ShortJSONError(err))
			}
		}
		return conductor.Block{Type: conductor.BlockToolResult, ToolResult: &conductor.ToolResult{CallID: id, Content: content,
			IsError: isErr != nil && *isErr}}, true, nil
	}
	return opaque, true, nil
}

// decodeAnthropicTools reads tools into the domain when every one is a
// custom (client) tool of the fields the domain models (cache_control, a
// caching hint, aside); typed is false for a list the caller keeps whole
// (server tools such as web_search or bash, input_examples…).
func decodeAnthropicTools(v json.RawMessage) (tools []conductor.Tool, typed bool) {
	if wire.IsNull(v) {
		return nil, true
	}
	var list []*struct {
		Type         *string         `json:"type"`
		Name         string          `json:"name"`
		Description  string          `json:"description"`
		InputSchema  json.RawMessage `json:"input_schema"`
		Strict       *bool           `json:"strict"`
		CacheControl json.RawMessage `json:"cache_control"`
	}
	if !wire.DecodeKnown(v, &list) {
		return nil, false
	}
	tools = make([]conductor.Tool, 0, len(list))
	for _, t := range list {
		if t == nil || t.Name == "" || t.Type != nil && *t.Type != "custom" {
			return nil, false
		}
		tool := conductor.Tool{Name: t.Name, Description: t.Description, Strict: t.Strict}
		if !wire.IsNull(t.InputSchema) {
			tool.Parameters = t.InputSchema
		}
		tools = append(tools, tool)
	}
	return tools, true
}

// decodeAnthropicToolChoice reads {"type":"auto"|"any"|"tool"|"none",
// "name", "disable_parallel_tool_use"} into req; false for another form.
func decodeAnthropicToolChoice(v json.RawMessage, req *conductor.ChatRequest) bool {
	if wire.IsNull(v) {
		return true
	}
	var c struct {
		Type    string `json:"type"`
		Name    string `json:"name"`
		Disable *bool  `json:"disable_parallel_tool_use"`
	}
	if !wire.DecodeKnown(v, &c) {
		return false
	}
	tc := &conductor.ToolChoice{}
	switch c.Type {
	case "auto":
		tc.Mode = conductor.ToolChoiceAuto
	case "any":
		tc.Mode = conductor.ToolChoiceRequired
	case "none":
		tc.Mode = conductor.ToolChoiceNone
	case "tool":
		if c.Name == "" {
			return false
		}
		tc.Mode, tc.Name = conductor.ToolChoiceTool, c.Name
	default:
		return false
	}
	req.ToolChoice = tc
	if c.Disable != nil {
		req.ParallelToolCalls = new(!*c.Disable)
	}
	return true
}

// decodeAnthropicThinking reads thinking: enabled with budget_tokens into
// req.ThinkingBudget, disabled as nothing, adaptive (reported, for the
// effort); false for another form. display (whether thinking is shown)
// has no place in the domain.
func decodeAnthropicThinking(v json.RawMessage, req *conductor.ChatRequest) (adaptive, ok bool) {
	if wire.IsNull(v) {
		return false, true
	}
	var t struct {
		Type    string          `json:"type"`
		Budget  *int            `json:"budget_tokens"`
		Display json.RawMessage `json:"display"`
	}
	if !wire.DecodeKnown(v, &t) {
		return false, false
	}
	switch t.Type {
	case "enabled":
		if t.Budget == nil || *t.Budget <= 0 {
			return false, false
		}
		req.ThinkingBudget = *t.Budget
		return false, true
	case "disabled":
		return false, true
	case "adaptive":
		return true, true
	}
	return false, false
}

// decodeAnthropicOutputConfig reads output_config: format and effort; false
// for another form.
func decodeAnthropicOutputConfig(v json.RawMessage) (*conductor.ResponseFormat, string, bool) {
	if wire.IsNull(v) {
		return nil, "", true
	}
	var c struct {
		Format json.RawMessage `json:"format"`
		Effort *string         `json:"effort"`
	}
	if !wire.DecodeKnown(v, &c) {
		return nil, "", false
	}
	rf, ok := decodeAnthropicFormat(c.Format)
	if !ok {
		return nil, "", false
	}
	effort := ""
	if c.Effort != nil {
		effort = *c.Effort
	}
	return rf, effort, true
}

// decodeAnthropicFormat reads an output format: {"type":"json_schema",
// "schema"}; false for another form.
func decodeAnthropicFormat(v json.RawMessage) (*conductor.ResponseFormat, bool) {
	if wire.IsNull(v) {
		return nil, true
	}
	var f struct {
		Type   string          `json:"type"`
		Schema json.RawMessage `json:"schema"`
	}
	if !wire.DecodeKnown(v, &f) || f.Type != "json_schema" || wire.IsNull(f.Schema) {
		return nil, false
	}
	return &conductor.ResponseFormat{Type: conductor.FormatJSONSchema, Schema: f.Schema}, true
}

// ScanRequest is DecodeRequest for a request it accepts,
// read in one pass: the top level like encoding/json's map, messages like
// its structs.
func ScanRequest(body []byte) (*conductor.ChatRequest, bool) {
	s := wire.Scanner{B: body}
	req := &conductor.ChatRequest{}
	var (
		system []conductor.Block
		msgs   []conductor.Message
		hasMax bool
		stream bool
		set    wire.FieldSet
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
		case "max_tokens":
			s.Seen(&set, 1<<1)
			hasMax = true
			s.Int(&req.MaxTokens)
		case "system":
			s.Seen(&set, 1<<2)
			system = s.TextBlocks()
		case "messages":
			s.Seen(&set, 1<<3)
			msgs = scanAnthropicMessages(&s)
		case "temperature":
			s.Seen(&set, 1<<4)
			s.Float(&req.Temperature)
		case "top_p":
			s.Seen(&set, 1<<5)
			s.Float(&req.TopP)
		case "stop_sequences":
			s.Seen(&set, 1<<6)
			switch s.Peek() {
			case '[':
				req.Stop = s.Stop()
			case 'n':
				s.Literal("null")
			default:
				s.Fail() // a lone string is not a list here
			}
		case "stream":
			s.Seen(&set, 1<<7)
			s.Boolean(&stream)
		case "tools", "tool_choice", "thinking", "output_config", "output_format":
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
				req.ExtraFormat = provider.FormatAnthropic
			}
			req.Extra[string(k)] = v
		}
	}
	if !s.End() || req.Model == "" || !hasMax || req.MaxTokens < 1 || len(msgs) == 0 {
		return nil, false // refused: the JSON path says why
	}
	req.Stream = stream
	if len(system) > 0 {
		req.Messages = make([]conductor.Message, 0, len(msgs)+1)
		req.Messages = append(req.Messages, conductor.Message{Role: "system", Content: system})
	}
	req.Messages = append(req.Messages, msgs...)
	return req, true
}

// anthropicMessages reads user, assistant and system messages of text
// content; any other block fails.
func scanAnthropicMessages(s *wire.Scanner) []conductor.Message {
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
				// The roles as constants: no string per message.
				switch raw := s.Word(); string(raw) {
				case "user":
					m.Role = "user"
				case "assistant":
					m.Role = "assistant"
				case "system":
					m.Role = "system"
				default:
					s.Fail()
				}
			case "content":
				s.Seen(&set, 2)
				m.Content = s.TextBlocks()
			default:
				s.Unknown(key, "role", "content")
			}
		}
		if m.Role == "" {
			s.Fail()
		}
		msgs = append(msgs, m)
	}
	return msgs
}
