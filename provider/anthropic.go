package provider

import (
	"context"
	"encoding/json"
	"net/http"

	conductor "github.com/conductor-go/conductor"
)

// The Anthropic Messages wire format: POST {BaseURL}/v1/messages with
// x-api-key and anthropic-version.

// AnthropicVersion is the API version every request names.
const AnthropicVersion = "2023-06-01"

// anthropicDefaultMaxTokens is sent when the request sets no limit: the API
// requires max_tokens, and 4096 is what every current Claude model accepts.
const anthropicDefaultMaxTokens = 4096

type anthropic struct{ caller }

// NewAnthropic returns the adapter for the Anthropic Messages API (or
// Cloudflare AI Gateway's /anthropic route to it).
func NewAnthropic(ep Endpoint) conductor.Provider {
	if ep.Name == "" {
		ep.Name = conductor.ProviderAnthropic
	}
	return &anthropic{newCaller(ep, "request-id", "x-request-id")}
}

func (a *anthropic) header() http.Header {
	h := make(http.Header, 7)
	if a.ep.APIKey != "" {
		h.Set("x-api-key", a.ep.APIKey)
	}
	h.Set("anthropic-version", AnthropicVersion)
	return h
}

func (a *anthropic) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	body, err := a.body(req, false)
	if err != nil {
		return nil, err
	}
	c, err := a.send(ctx, req, a.ep.BaseURL+"/v1/messages", body, a.header(), false)
	if err != nil {
		return nil, err
	}
	defer c.release()
	raw, err := a.readAll(c, maxAnswerBytes)
	if err != nil {
		return nil, err
	}
	rid := a.requestID(c.resp.Header)
	resp, hasUsage, err := decodeAnthropicResponse(a.ep.Name, raw)
	if err != nil {
		return nil, completeError(err, c.resp.StatusCode, rid)
	}
	if !hasUsage {
		resp.Usage = estimatedUsage(req, answerTokens(resp.Content))
	}
	resp.RequestID = rid
	resp.Meta = c.meta
	return resp, nil
}

func (a *anthropic) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	body, err := a.body(req, true)
	if err != nil {
		return nil, err
	}
	c, err := a.send(ctx, req, a.ep.BaseURL+"/v1/messages", body, a.header(), true)
	if err != nil {
		return nil, err
	}
	d := &AnthropicStreamDecoder{provider: a.ep.Name}
	return a.newSSEStream(c, req, d.Decode)
}

// body is the caller's own Anthropic body, or one encoded from req's fields.
func (a *anthropic) body(req *conductor.ChatRequest, stream bool) ([]byte, error) {
	if b := passThrough(req, FormatAnthropic, stream); b != nil {
		return b, nil
	}
	b, err := appendAnthropicRequest(make([]byte, 0, requestSize(req)+16), req, a.ep.Name, stream)
	return b, withProvider(err, a.ep.Name)
}

// withProvider fills the provider into an error made before any call.
func withProvider(err error, provider string) error {
	if err == nil {
		return nil
	}
	if e, ok := conductor.AsError(err); ok && e.Provider == "" {
		e.Provider = provider
	}
	return err
}

// anthropicUsage is the usage object of answers and of message_start and
// message_delta events. input_tokens excludes cache reads and writes.
type anthropicUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	OutputTokensDetails      *struct {
		ThinkingTokens *int `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
}

// merge takes the counts u carries into n. usage() normalises them as
// OpenAI counts: InputTokens includes the cache reads and writes,
// CachedInputTokens holds the reads, CacheWriteInputTokens the writes,
// ReasoningTokens the thinking tokens (part of OutputTokens).
func (u *anthropicUsage) merge(n *anthropicCounts) {
	if u.InputTokens != nil {
		n.input = *u.InputTokens
	}
	if u.OutputTokens != nil {
		n.output = *u.OutputTokens
	}
	if u.CacheCreationInputTokens != nil {
		n.cacheWrite = *u.CacheCreationInputTokens
	}
	if u.CacheReadInputTokens != nil {
		n.cacheRead = *u.CacheReadInputTokens
	}
	if u.OutputTokensDetails != nil && u.OutputTokensDetails.ThinkingTokens != nil {
		n.thinking = *u.OutputTokensDetails.ThinkingTokens
	}
}

type anthropicCounts struct{ input, output, cacheWrite, cacheRead, thinking int }

func (n anthropicCounts) usage() conductor.Usage {
	return conductor.Usage{
		InputTokens:           n.input + n.cacheWrite + n.cacheRead,
		OutputTokens:          n.output,
		CachedInputTokens:     n.cacheRead,
		CacheWriteInputTokens: n.cacheWrite,
		ReasoningTokens:       n.thinking,
	}
}

// anthropicFinish maps stop_reason to the OpenAI-style finish reason that
// ChatResponse carries for every provider; unknown reasons pass as they are.
func anthropicFinish(reason string) string {
	switch reason {
	case "end_turn", "stop_sequence", "pause_turn":
		return "stop"
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return reason
}

// AnthropicStopReason maps a finish reason back to Anthropic's stop_reason,
// for a server answering in the Anthropic format.
func AnthropicStopReason(finish string) string {
	switch finish {
	case "stop", "":
		return "end_turn"
	case "length":
		return "max_tokens"
	case "tool_calls":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return finish
}

type anthropicAnswer struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Model      string            `json:"model"`
	Content    []json.RawMessage `json:"content"`
	StopReason string            `json:"stop_reason"`
	Usage      *anthropicUsage   `json:"usage"`
}

// DecodeAnthropicResponse parses a whole Messages answer: its content
// blocks in order (text, tool_use as tool calls, the rest opaque: see
// anthropic_answer.go), stop_reason as an OpenAI-style finish reason
// (end_turn → stop, max_tokens → length, tool_use → tool_calls, refusal →
// content_filter), usage (InputTokens including cache reads and writes,
// CachedInputTokens the reads, ReasoningTokens the thinking tokens), id and
// model. An error body gives a *conductor.Error.
func DecodeAnthropicResponse(body []byte) (*conductor.ChatResponse, error) {
	resp, _, err := decodeAnthropicResponse(conductor.ProviderAnthropic, body)
	return resp, err
}

func decodeAnthropicResponse(provider string, body []byte) (*conductor.ChatResponse, bool, error) {
	if resp, hasUsage, ok := scanAnthropicAnswer(body); ok {
		return resp, hasUsage, nil
	}
	return decodeAnthropicResponseJSON(provider, body)
}

// decodeAnthropicResponseJSON is decodeAnthropicResponse through
// encoding/json, for every answer the fast path does not take.
func decodeAnthropicResponseJSON(provider string, body []byte) (*conductor.ChatResponse, bool, error) {
	var a anthropicAnswer
	if err := unmarshal(body, &a); err != nil {
		return nil, false, malformed(provider, 0, "", "unreadable answer", err)
	}
	if a.Type == "error" {
		return nil, false, answerError(provider, body)
	}
	if a.Type != "message" && a.Content == nil {
		return nil, false, malformed(provider, 0, "", "answer is not a message", nil)
	}
	content, err := anthropicBlocks(a.Content)
	if err != nil {
		return nil, false, malformed(provider, 0, "", "unreadable content block", err)
	}
	resp := &conductor.ChatResponse{ID: a.ID, Model: a.Model, Content: content, FinishReason: anthropicFinish(a.StopReason), Raw: body}
	if a.Usage == nil || a.Usage.InputTokens == nil && a.Usage.OutputTokens == nil {
		return resp, false, nil
	}
	var n anthropicCounts
	a.Usage.merge(&n)
	resp.Usage = n.usage()
	return resp, true, nil
}

// AnthropicStreamDecoder decodes the events of one Messages stream. It keeps
// the input usage of message_start to report it with the output usage of
// message_delta, and which blocks are tool_use blocks. The zero value is
// ready to use.
type AnthropicStreamDecoder struct {
	provider string
	counts   anthropicCounts
	tools    int   // tool_use blocks started so far
	toolOf   []int // by Anthropic block index: its tool index, or -1
}

type anthropicEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message *struct {
		Usage *anthropicUsage `json:"usage"`
	} `json:"message"`
	ContentBlock *struct {
		Type string `json:"type"`
		Text string `json:"text"`
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"content_block"`
	Delta *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *anthropicUsage `json:"usage"`
}

// Decode decodes one event: every event is emitted (so a stream can pass
// through unchanged) with the text of text_delta and text blocks as Delta,
// tool_use blocks and their input_json_delta as ToolCalls (see
// anthropic_answer.go), message_delta carries the finish reason and the
// usage so far, and message_stop is the terminator (emitted, done).
// Thinking blocks and their deltas carry only Raw. An error event is
// returned as a *conductor.Error classed by its error type.
func (d *AnthropicStreamDecoder) Decode(ev Event) (ch conductor.Chunk, emit, done bool, err error) {
	if ch, done, ok := d.scan(ev); ok {
		return ch, true, done, nil
	}
	return d.decodeJSON(ev)
}

// decodeJSON is Decode through encoding/json, for every event the fast
// path does not take.
func (d *AnthropicStreamDecoder) decodeJSON(ev Event) (ch conductor.Chunk, emit, done bool, err error) {
	provider := d.provider
	if provider == "" {
		provider = conductor.ProviderAnthropic
	}
	var e anthropicEvent
	if err := unmarshal(ev.Data, &e); err != nil {
		return conductor.Chunk{}, false, false, malformed(provider, 0, "", "unreadable stream event", err)
	}
	typ := e.Type
	if typ == "" {
		typ = ev.Name
	}
	ch = conductor.Chunk{Raw: ev.Data}
	switch typ {
	case "error":
		return conductor.Chunk{}, false, false, answerError(provider, ev.Data)
	case "message_start":
		if e.Message != nil && e.Message.Usage != nil {
			e.Message.Usage.merge(&d.counts)
		}
	case "content_block_start":
		switch b := e.ContentBlock; {
		case b == nil:
		case b.Type == "text":
			ch.Delta = b.Text
		case b.Type == "tool_use":
			k := d.toolBlock(e.Index)
			ch.ToolCalls = []conductor.ToolCallDelta{{Index: k, ID: b.ID, Name: b.Name}}
		}
	case "content_block_delta":
		switch dl := e.Delta; {
		case dl == nil:
		case dl.Type == "text_delta":
			ch.Delta = dl.Text
		case dl.Type == "input_json_delta" && dl.PartialJSON != "":
			if k := d.toolAt(e.Index); k >= 0 {
				ch.ToolCalls = []conductor.ToolCallDelta{{Index: k, Arguments: dl.PartialJSON}}
			}
		}
	case "message_delta":
		if e.Delta != nil && e.Delta.StopReason != "" {
			ch.FinishReason = anthropicFinish(e.Delta.StopReason)
		}
		if e.Usage != nil {
			// Cumulative: the latest counts replace the earlier ones.
			e.Usage.merge(&d.counts)
			u := d.counts.usage()
			ch.Usage = &u
		}
	case "message_stop":
		return ch, true, true, nil
	}
	return ch, true, false, nil
}

// Serving the format: what a server speaking the Anthropic wire format to
// its callers needs to read their requests and answer them.

// EncodeAnthropicResponse writes resp as a Messages answer: its blocks in
// order (see anthropic_answer.go), the finish reason as stop_reason, and
// usage split back the Anthropic way (AppendAnthropicUsage). A tool call
// whose arguments are not a JSON object fails with a ClassProviderFail
// *conductor.Error naming the call: Anthropic has no way to carry them.
func EncodeAnthropicResponse(resp *conductor.ChatResponse) ([]byte, error) {
	var w keyWriter
	w.init(append(make([]byte, 0, answerSize(resp.Content)+360), '{'))
	w.str("id", resp.ID)
	w.str("type", "message")
	w.str("role", "assistant")
	w.str("model", resp.Model)
	w.key("content")
	var err error
	if w.buf, err = appendAnthropicContent(w.buf, resp.Content); err != nil {
		return nil, err
	}
	finish := resp.FinishReason
	if finish == "" && len(conductor.ToolCalls(resp.Content)) > 0 {
		finish = conductor.FinishToolCalls
	}
	w.str("stop_reason", AnthropicStopReason(finish))
	w.key("stop_sequence")
	w.buf = append(w.buf, "null"...)
	w.key("usage")
	w.buf = AppendAnthropicUsage(w.buf, resp.Usage)
	return append(w.buf, '}'), nil
}

// EncodeAnthropicError writes e as an Anthropic error body:
// {"type":"error","error":{"type","message"}}, the type following the
// error's class as the API names its errors.
func EncodeAnthropicError(e *conductor.Error) []byte {
	typ := "api_error"
	switch e.Class {
	case conductor.ClassBadRequest, conductor.ClassConfig:
		typ = "invalid_request_error"
	case conductor.ClassAuth:
		typ = "authentication_error"
		if e.Status == http.StatusForbidden {
			typ = "permission_error"
		}
	case conductor.ClassNotFound:
		typ = "not_found_error"
	case conductor.ClassTooLarge:
		typ = "request_too_large"
	case conductor.ClassRateLimited, conductor.ClassLimited:
		typ = "rate_limit_error"
	case conductor.ClassQuota, conductor.ClassBudget:
		typ = "billing_error"
	case conductor.ClassTimeout:
		typ = "timeout_error"
	case conductor.ClassServer:
		if e.Code == "overloaded_error" {
			typ = "overloaded_error"
		}
	}
	var w keyWriter
	w.init(append(make([]byte, 0, len(e.Message)+120), '{'))
	w.str("type", "error")
	w.key("error")
	w.buf = append(w.buf, `{"type":`...)
	w.buf = appendString(w.buf, typ)
	w.buf = append(w.buf, `,"message":`...)
	w.buf = appendString(w.buf, e.Error())
	w.buf = append(w.buf, '}')
	return append(w.buf, '}')
}

// The fast paths of the decoders above (see scanner): the ordinary answer
// and event; ok=false for anything else, which encoding/json then reads.

var (
	anthropicAnswerKeys = [...]string{"id", "type", "model", "content", "stop_reason", "usage"}
	anthropicUsageKeys  = [...]string{"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens_details"}
	anthropicEventKeys  = [...]string{"type", "index", "message", "content_block", "delta", "usage"}
	anthropicBlockKeys  = [...]string{"type", "text", "id", "name"}
	anthropicDeltaKeys  = [...]string{"type", "text", "partial_json", "stop_reason"}
)

// anthropicScanned is an anthropicUsage as the scanner reads it: the counts
// and which of them came, without a pointer each.
type anthropicScanned struct {
	counts anthropicCounts
	has    uint8 // 1 input, 2 output, 4 cache write, 8 cache read, 16 thinking
}

func (u *anthropicScanned) merge(n *anthropicCounts) {
	if u.has&1 != 0 {
		n.input = u.counts.input
	}
	if u.has&2 != 0 {
		n.output = u.counts.output
	}
	if u.has&4 != 0 {
		n.cacheWrite = u.counts.cacheWrite
	}
	if u.has&8 != 0 {
		n.cacheRead = u.counts.cacheRead
	}
	if u.has&16 != 0 {
		n.thinking = u.counts.thinking
	}
}

// anthropicUsage reads a usage object; present is false for null.
func (s *scanner) anthropicUsage() (u anthropicScanned, present bool) {
	if !s.open('{') {
		return u, false
	}
	count := func(bit uint8, dst *int) {
		if u.has&bit != 0 {
			s.fail() // repeated
		}
		if !s.null() {
			s.int(dst)
			u.has |= bit
		}
	}
	for n := 0; s.more(&n, '}'); {
		switch k := s.key(); string(k) {
		case "input_tokens":
			count(1, &u.counts.input)
		case "output_tokens":
			count(2, &u.counts.output)
		case "cache_creation_input_tokens":
			count(4, &u.counts.cacheWrite)
		case "cache_read_input_tokens":
			count(8, &u.counts.cacheRead)
		case "output_tokens_details":
			if u.has&32 != 0 {
				s.fail() // repeated
			}
			u.has |= 32
			if !s.open('{') {
				break
			}
			for m := 0; s.more(&m, '}'); {
				switch k := s.key(); string(k) {
				case "thinking_tokens":
					count(16, &u.counts.thinking)
				default:
					s.unknown(k, "thinking_tokens")
				}
			}
		default:
			s.unknown(k, anthropicUsageKeys[:]...)
		}
	}
	u.has &^= 32
	return u, true
}

// plainStr validates a string or null it does not need, as encoding/json
// would check it for a string field; anything else fails.
func (s *scanner) plainStr() {
	if !s.null() {
		s.rawString()
	}
}

// word reads a string or null without allocating, for values only
// compared; escapes fail.
func (s *scanner) word() []byte {
	if s.null() {
		return nil
	}
	raw, esc := s.rawString()
	if esc {
		s.fail()
	}
	return raw
}

// scanAnthropicAnswer is decodeAnthropicResponse for a message of text
// blocks; any other block (tool_use, thinking…) goes to encoding/json.
func scanAnthropicAnswer(body []byte) (resp *conductor.ChatResponse, hasUsage, ok bool) {
	s := scanner{b: body}
	var (
		id, model, stop string
		typ             []byte
		content         []conductor.Block
		hasContent      bool
		usage           anthropicScanned
		set             fieldSet
	)
	if !s.open('{') {
		return nil, false, false
	}
	for n := 0; s.more(&n, '}'); {
		switch k := s.key(); string(k) {
		case "id":
			s.seen(&set, 1<<0)
			s.str(&id)
		case "type":
			s.seen(&set, 1<<1)
			typ = s.word()
		case "model":
			s.seen(&set, 1<<2)
			s.str(&model)
		case "content":
			s.seen(&set, 1<<3)
			if hasContent = s.open('['); !hasContent {
				break
			}
			for m := 0; s.more(&m, ']'); {
				if !s.open('{') {
					continue // a null block: no text
				}
				var (
					btyp  []byte
					btext string
					bset  fieldSet
				)
				for b := 0; s.more(&b, '}'); {
					switch k := s.key(); string(k) {
					case "type":
						s.seen(&bset, 1)
						btyp = s.word()
					case "text":
						s.seen(&bset, 2)
						s.str(&btext)
					case "id", "name":
						s.plainStr() // a text block has neither; encoding/json checks the type
					default:
						s.unknown(k, anthropicBlockKeys[:]...)
					}
				}
				switch string(btyp) {
				case "":
					// No type: nothing to read (encoding/json's path skips it too).
				case "text":
					if btext != "" {
						content = append(content, conductor.TextBlock(btext))
					}
				default:
					s.fail()
				}
			}
		case "stop_reason":
			s.seen(&set, 1<<4)
			s.oneOf(&stop, "end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn")
		case "usage":
			s.seen(&set, 1<<5)
			var present bool
			usage, present = s.anthropicUsage()
			hasUsage = present && usage.has&3 != 0
		default:
			s.unknown(k, anthropicAnswerKeys[:]...)
		}
	}
	if !s.end() || string(typ) == "error" || (string(typ) != "message" && !hasContent) {
		return nil, false, false
	}
	resp = &conductor.ChatResponse{ID: id, Model: model, FinishReason: anthropicFinish(stop), Content: content, Raw: body}
	if hasUsage {
		var n anthropicCounts
		usage.merge(&n)
		resp.Usage = n.usage()
	}
	return resp, hasUsage, true
}

// scan is Decode for an ordinary event (not an error) of a text answer;
// tool_use and thinking blocks and their deltas go to encoding/json.
// ok=false leaves the decoder unchanged.
func (d *AnthropicStreamDecoder) scan(ev Event) (ch conductor.Chunk, done, ok bool) {
	s := scanner{b: ev.Data}
	var (
		typ, blockType, deltaType []byte
		blockText, deltaText      string
		stop                      string
		msgUsage, usage           anthropicScanned
		hasMsgUsage, hasUsage     bool
		set                       fieldSet
	)
	if !s.open('{') {
		return ch, false, false
	}
	for n := 0; s.more(&n, '}'); {
		switch k := s.key(); string(k) {
		case "type":
			s.seen(&set, 1<<0)
			typ = s.word()
		case "message":
			s.seen(&set, 1<<1)
			if !s.open('{') {
				break
			}
			var mset fieldSet
			for m := 0; s.more(&m, '}'); {
				switch k := s.key(); string(k) {
				case "usage":
					s.seen(&mset, 1)
					msgUsage, hasMsgUsage = s.anthropicUsage()
				default:
					s.unknown(k, "usage")
				}
			}
		case "content_block":
			s.seen(&set, 1<<2)
			if !s.open('{') {
				break
			}
			var bset fieldSet
			for m := 0; s.more(&m, '}'); {
				switch k := s.key(); string(k) {
				case "type":
					s.seen(&bset, 1)
					blockType = s.word()
				case "text":
					s.seen(&bset, 2)
					s.str(&blockText)
				case "id", "name":
					s.plainStr()
				default:
					s.unknown(k, anthropicBlockKeys[:]...)
				}
			}
		case "delta":
			s.seen(&set, 1<<3)
			if !s.open('{') {
				break
			}
			var dset fieldSet
			for m := 0; s.more(&m, '}'); {
				switch k := s.key(); string(k) {
				case "type":
					s.seen(&dset, 1)
					deltaType = s.word()
				case "text":
					s.seen(&dset, 2)
					s.str(&deltaText)
				case "stop_reason":
					s.seen(&dset, 4)
					s.oneOf(&stop, "end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn")
				case "partial_json":
					s.plainStr()
				default:
					s.unknown(k, anthropicDeltaKeys[:]...)
				}
			}
		case "usage":
			s.seen(&set, 1<<4)
			usage, hasUsage = s.anthropicUsage()
		case "index":
			var index int
			s.int(&index) // only checked: text events do not need it
		default:
			s.unknown(k, anthropicEventKeys[:]...)
		}
	}
	if !s.end() {
		return ch, false, false
	}
	name := string(typ)
	if name == "" {
		name = ev.Name
	}
	ch = conductor.Chunk{Raw: ev.Data}
	switch name {
	case "error":
		return ch, false, false
	case "message_start":
		if hasMsgUsage {
			msgUsage.merge(&d.counts)
		}
	case "content_block_start":
		if string(blockType) != "text" {
			return ch, false, false
		}
		ch.Delta = blockText
	case "content_block_delta":
		if string(deltaType) != "text_delta" {
			return ch, false, false
		}
		ch.Delta = deltaText
	case "message_delta":
		if stop != "" {
			ch.FinishReason = anthropicFinish(stop)
		}
		if hasUsage {
			usage.merge(&d.counts)
			u := d.counts.usage()
			ch.Usage = &u
		}
	case "message_stop":
		return ch, true, true
	}
	return ch, false, true
}
