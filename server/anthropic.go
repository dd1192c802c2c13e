package server

import (
	"cmp"
	"encoding/json"
	"net/http"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/anthropic"
)

// The Anthropic Messages wire format, as callers speak it: POST
// /v1/messages, whole and streamed answers (the event sequence
// message_start … message_stop), errors.

// messages is POST /v1/messages. model names provider/model, a declared
// name or a bare id (a Claude id, as Anthropic's SDKs send it, goes to
// Anthropic: names.go).
func (s *Server) messages(w http.ResponseWriter, r *http.Request, c *caller) {
	body, err := readBody(r)
	if err != nil {
		s.failEarly(w, r, fmtAnthropic, err)
		return
	}
	x, err := anthropicExchange(body, "")
	if err != nil {
		s.failEarly(w, r, fmtAnthropic, err)
		return
	}
	x.routes, x.p, err = s.resolve(x.requested)
	if err != nil {
		s.failEarly(w, r, fmtAnthropic, err)
		return
	}
	if err := s.prepare(x, c, r.Header.Get); err != nil {
		s.failEarly(w, r, fmtAnthropic, err)
		return
	}
	noteCall(r, x)
	s.serve(w, r, x)
}

func anthropicExchange(body []byte, gw string) (*exchange, error) {
	req, err := anthropic.DecodeRequest(body)
	if err != nil {
		return nil, err
	}
	x := &exchange{in: fmtAnthropic, gateway: gw, body: body, req: req, requested: req.Model}
	if md := req.Extra["metadata"]; len(md) > 0 {
		var m struct {
			UserID string `json:"user_id"`
		}
		_ = json.Unmarshal(md, &m)
		x.bodyUser = m.UserID
	}
	return x, nil
}

func encodeAnthropicAnswer(resp *conductor.ChatResponse) ([]byte, error) {
	return anthropic.EncodeResponse(resp)
}

// anthropicStream writes a stream as Anthropic's event sequence.
// Passing through, each upstream event goes out as received, named by its
// type; translating, message_start comes first (input_tokens 0: an
// OpenAI-style upstream counts only at the end), text goes to a text block
// opened on the first text, each tool call to a tool_use block
// (content_block_start with id, name and input {}, then input_json_delta
// fragments, then content_block_stop), and message_delta carries the stop
// reason and the whole usage before message_stop.
//
// Anthropic clients expect one open block at a time, and an OpenAI-style
// upstream does not promise that a call's pieces end before the next call
// starts. So a call that starts while another call's block is open is held
// back, with its fragments, until the open call is known to be complete
// (the finish reason, text after the calls, or the end) and then written
// whole, in index order; the first call streams as it comes.
type anthropicStream struct {
	*sse
	passthrough bool
	model       string
	finish      string
	usage       conductor.Usage

	next    int             // the Anthropic index of the next block
	open    int             // blockNone, blockText, or 1 + the tool index whose block is open
	tools   []anthropicTool // by tool index
	started bool            // a block was written
	broken  *conductor.Error
	buf     []byte // scratch for one event (event copies it)
	block   []byte // scratch for a content_block_start
}

const (
	blockNone = 0
	blockText = -1
)

var textBlockStart = []byte(`{"type":"text","text":""}`)

// anthropicTool is one tool call of a translated stream.
type anthropicTool struct {
	state    uint8 // toolUnseen, toolHeld, toolOpen, toolClosed
	id, name string
	held     []string // fragments of a held call
}

const (
	toolUnseen uint8 = iota
	toolHeld
	toolOpen
	toolClosed
)

func (a *anthropicStream) begin(conductor.ResponseMeta) {
	if a.passthrough {
		return
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"type":"message_start","message":{"id":`...)
	b = appendJSONString(b, newID("msg_"))
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = appendJSONString(b, a.model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`...)
	a.event("message_start", b)
}

func (a *anthropicStream) chunk(ch conductor.Chunk) {
	if a.passthrough {
		if len(ch.Raw) == 0 {
			return // an estimated usage: it has no wire form
		}
		a.event(eventType(ch.Raw), ch.Raw)
		return
	}
	if a.broken != nil {
		return
	}
	if ch.Delta != "" {
		if a.open != blockText {
			a.closeBlocks()
			a.startBlock(textBlockStart)
			a.open = blockText
		}
		b := append(a.buf[:0], `{"type":"content_block_delta","index":`...)
		b = strconv.AppendInt(b, int64(a.next-1), 10)
		b = append(b, `,"delta":{"type":"text_delta","text":`...)
		b = appendJSONString(b, ch.Delta)
		a.buf = append(b, "}}"...)
		a.event("content_block_delta", a.buf)
	}
	for _, d := range ch.ToolCalls {
		a.toolDelta(d)
	}
	if ch.FinishReason != "" {
		a.finish = ch.FinishReason
		// Nothing follows the finish reason but usage: every call is whole.
		a.closeBlocks()
	}
	if ch.Usage != nil {
		a.usage = *ch.Usage
	}
}

// toolDelta writes, or holds back, one piece of a tool call.
func (a *anthropicStream) toolDelta(d conductor.ToolCallDelta) {
	if d.Index < 0 || d.Index > 1<<16 {
		a.broken = &conductor.Error{Class: conductor.ClassMalformed, Message: "the upstream streamed a tool call with index " + strconv.Itoa(d.Index)}
		return
	}
	for len(a.tools) <= d.Index {
		a.tools = append(a.tools, anthropicTool{})
	}
	t := &a.tools[d.Index]
	switch t.state {
	case toolUnseen:
		t.id, t.name = d.ID, d.Name
		if a.open > 0 {
			// Another call's block is open: hold this one back.
			t.state = toolHeld
			if d.Arguments != "" {
				t.held = append(t.held, d.Arguments)
			}
			return
		}
		a.closeBlocks()
		a.startTool(d.Index)
		a.toolArguments(d.Arguments)
	case toolHeld:
		t.id, t.name = cmp.Or(t.id, d.ID), cmp.Or(t.name, d.Name)
		if d.Arguments != "" {
			t.held = append(t.held, d.Arguments)
		}
	case toolOpen:
		a.toolArguments(d.Arguments)
	case toolClosed:
		// Its block was stopped (text or the finish came between): an
		// Anthropic client has read its input already.
		a.broken = &conductor.Error{Class: conductor.ClassMalformed,
			Message: "the upstream streamed more arguments for tool call " + strconv.Itoa(d.Index) + " after it ended"}
	}
}

// startTool opens the block of tool call k.
func (a *anthropicStream) startTool(k int) {
	t := &a.tools[k]
	id := t.id
	if id == "" {
		id = "toolu_conductor_" + strconv.Itoa(k) // Anthropic requires one
	}
	b := append(a.buf[:0], `{"type":"tool_use","id":`...)
	b = appendJSONString(b, provider.AnthropicToolID(id))
	b = append(b, `,"name":`...)
	b = appendJSONString(b, t.name)
	a.buf = append(b, `,"input":{}}`...)
	a.startBlock(a.buf)
	t.state = toolOpen
	a.open = k + 1
}

func (a *anthropicStream) toolArguments(frag string) {
	if frag == "" {
		return
	}
	b := append(a.buf[:0], `{"type":"content_block_delta","index":`...)
	b = strconv.AppendInt(b, int64(a.next-1), 10)
	b = append(b, `,"delta":{"type":"input_json_delta","partial_json":`...)
	b = appendJSONString(b, frag)
	a.buf = append(b, "}}"...)
	a.event("content_block_delta", a.buf)
}

// startBlock writes content_block_start for the next index.
func (a *anthropicStream) startBlock(block []byte) {
	b := append(a.block[:0], `{"type":"content_block_start","index":`...)
	b = strconv.AppendInt(b, int64(a.next), 10)
	b = append(b, `,"content_block":`...)
	b = append(b, block...)
	a.block = append(b, '}')
	a.event("content_block_start", a.block)
	a.next++
	a.started = true
}

// stopBlock writes content_block_stop for the open block.
func (a *anthropicStream) stopBlock() {
	if a.open == blockNone {
		return
	}
	b := append(a.buf[:0], `{"type":"content_block_stop","index":`...)
	b = strconv.AppendInt(b, int64(a.next-1), 10)
	a.buf = append(b, '}')
	a.event("content_block_stop", a.buf)
	if a.open > 0 {
		a.tools[a.open-1].state = toolClosed
	}
	a.open = blockNone
}

// closeBlocks stops the open block, then writes every held call whole, in
// index order.
func (a *anthropicStream) closeBlocks() {
	a.stopBlock()
	for k := range a.tools {
		if a.tools[k].state != toolHeld {
			continue
		}
		a.startTool(k)
		for _, f := range a.tools[k].held {
			a.toolArguments(f)
		}
		a.tools[k].held = nil
		a.stopBlock()
	}
}

func (a *anthropicStream) end() {
	if a.passthrough {
		return // message_stop went through
	}
	if a.broken != nil {
		a.fail(a.broken)
		return
	}
	a.closeBlocks()
	if !a.started {
		// An empty answer still has its one (empty) text block.
		a.startBlock(textBlockStart)
		a.open = blockText
		a.stopBlock()
	}
	finish := a.finish
	if finish == "" && len(a.tools) > 0 {
		finish = conductor.FinishToolCalls
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"type":"message_delta","delta":{"stop_reason":`...)
	b = appendJSONString(b, anthropic.StopReason(finish))
	b = append(b, `,"stop_sequence":null},"usage":`...)
	b = anthropic.AppendUsage(b, a.usage)
	a.event("message_delta", append(b, '}'))
	a.event("message_stop", []byte(`{"type":"message_stop"}`))
}

func (a *anthropicStream) fail(e *conductor.Error) {
	a.event("error", anthropic.EncodeError(e))
}

// eventType reads the "type" an Anthropic event's data repeats, which names
// the event.
func eventType(raw []byte) string {
	spans, err := topLevelValues(raw, "type")
	if err != nil || len(spans) == 0 {
		return ""
	}
	var t string
	if json.Unmarshal(raw[spans[0][0]:spans[0][1]], &t) != nil {
		return ""
	}
	return t
}
