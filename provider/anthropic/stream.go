package anthropic

import (
	"cmp"
	"strconv"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// StreamWriter writes a translated stream to an Anthropic caller as
// Anthropic's event sequence: message_start comes first (input_tokens 0: an
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
type StreamWriter struct {
	w      provider.EventWriter
	id     string
	model  string
	finish string
	usage  conductor.Usage

	next    int          // the Anthropic index of the next block
	open    int          // blockNone, blockText, or 1 + the tool index whose block is open
	tools   []streamTool // by tool index
	started bool         // a block was written
	broken  *conductor.Error
	buf     []byte // scratch for one event (event copies it)
	block   []byte // scratch for a content_block_start
}

// ToolID is the tool_use id Anthropic accepts for a tool-call id (it
// requires ^[a-zA-Z0-9_-]+$): the id itself when it matches, else the id
// with every other byte replaced by '_' and a hash of the original appended,
// so that distinct ids stay distinct.
func ToolID(id string) string { return wire.AnthropicToolID(id) }

// NewStreamWriter returns the writer of one stream: id is the message id
// ("msg_…"), model the model message_start names.
func NewStreamWriter(w provider.EventWriter, id, model string) *StreamWriter {
	return &StreamWriter{w: w, id: id, model: model, buf: make([]byte, 0, 256)}
}

const (
	blockNone = 0
	blockText = -1
)

// Event data passed to an EventWriter escapes: package variables, not
// literals allocated per stream.
var (
	textBlockStart = []byte(`{"type":"text","text":""}`)
	messageStop    = []byte(`{"type":"message_stop"}`)
)

// streamTool is one tool call of a translated stream.
type streamTool struct {
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

// Begin writes message_start.
func (a *StreamWriter) Begin(conductor.ResponseMeta) {
	b := a.buf[:0]
	b = append(b, `{"type":"message_start","message":{"id":`...)
	b = wire.AppendString(b, a.id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = wire.AppendString(b, a.model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`...)
	a.buf = b
	a.w.Event("message_start", a.buf)
}

// Chunk writes one upstream chunk's text and tool-call pieces (or holds a
// call back), and keeps its finish reason and usage for End.
func (a *StreamWriter) Chunk(ch conductor.Chunk) {
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
		b = wire.AppendString(b, ch.Delta)
		a.buf = append(b, "}}"...)
		a.w.Event("content_block_delta", a.buf)
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
func (a *StreamWriter) toolDelta(d conductor.ToolCallDelta) {
	if d.Index < 0 || d.Index > 1<<16 {
		a.broken = &conductor.Error{Class: conductor.ClassMalformed, Message: "the upstream streamed a tool call with index " + strconv.Itoa(d.Index)}
		return
	}
	for len(a.tools) <= d.Index {
		a.tools = append(a.tools, streamTool{})
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
func (a *StreamWriter) startTool(k int) {
	t := &a.tools[k]
	id := t.id
	if id == "" {
		id = "toolu_conductor_" + strconv.Itoa(k) // Anthropic requires one
	}
	b := append(a.buf[:0], `{"type":"tool_use","id":`...)
	b = wire.AppendString(b, wire.AnthropicToolID(id))
	b = append(b, `,"name":`...)
	b = wire.AppendString(b, t.name)
	a.buf = append(b, `,"input":{}}`...)
	a.startBlock(a.buf)
	t.state = toolOpen
	a.open = k + 1
}

func (a *StreamWriter) toolArguments(frag string) {
	if frag == "" {
		return
	}
	b := append(a.buf[:0], `{"type":"content_block_delta","index":`...)
	b = strconv.AppendInt(b, int64(a.next-1), 10)
	b = append(b, `,"delta":{"type":"input_json_delta","partial_json":`...)
	b = wire.AppendString(b, frag)
	a.buf = append(b, "}}"...)
	a.w.Event("content_block_delta", a.buf)
}

// startBlock writes content_block_start for the next index.
func (a *StreamWriter) startBlock(block []byte) {
	b := append(a.block[:0], `{"type":"content_block_start","index":`...)
	b = strconv.AppendInt(b, int64(a.next), 10)
	b = append(b, `,"content_block":`...)
	b = append(b, block...)
	a.block = append(b, '}')
	a.w.Event("content_block_start", a.block)
	a.next++
	a.started = true
}

// stopBlock writes content_block_stop for the open block.
func (a *StreamWriter) stopBlock() {
	if a.open == blockNone {
		return
	}
	b := append(a.buf[:0], `{"type":"content_block_stop","index":`...)
	b = strconv.AppendInt(b, int64(a.next-1), 10)
	a.buf = append(b, '}')
	a.w.Event("content_block_stop", a.buf)
	if a.open > 0 {
		a.tools[a.open-1].state = toolClosed
	}
	a.open = blockNone
}

// closeBlocks stops the open block, then writes every held call whole, in
// index order.
func (a *StreamWriter) closeBlocks() {
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

// End closes the open blocks, writes the held calls, then message_delta
// and message_stop; or the error a broken tool-call stream left.
func (a *StreamWriter) End() {
	if a.broken != nil {
		a.Fail(a.broken)
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
	b := a.buf[:0]
	b = append(b, `{"type":"message_delta","delta":{"stop_reason":`...)
	b = wire.AppendString(b, StopReason(finish))
	b = append(b, `,"stop_sequence":null},"usage":`...)
	b = AppendUsage(b, a.usage)
	a.buf = append(b, '}')
	a.w.Event("message_delta", a.buf)
	a.w.Event("message_stop", messageStop)
}

// Fail writes a failure after the stream began: an error event.
func (a *StreamWriter) Fail(e *conductor.Error) {
	a.w.Event("error", EncodeError(e))
}
