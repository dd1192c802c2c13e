package gateway

import (
	"encoding/binary"
	"encoding/json"
	"errors"

	conductor "github.com/conductor-go/conductor"
)

// A cached answer's bytes: a magic and version, then length-prefixed
// fields. A hand-written binary form, because a cache hit decodes one on
// the request path and encoding/json cost several times more.
const answerMagic = "cgw2"

const flagStream = 1

func encodeAnswer(a *cachedAnswer) []byte {
	content := encodeContent(a.Content)
	n := 64 + len(a.Provider) + len(a.Routing) + len(a.ID) + len(a.Model) + len(content) + len(a.FinishReason) + len(a.RequestID) + len(a.Raw)
	for _, c := range a.Chunks {
		n += 48 + len(c.Delta) + len(c.FinishReason) + len(c.Raw)
	}
	b := make([]byte, 0, n)
	b = append(b, answerMagic...)
	var flags byte
	if a.Stream {
		flags |= flagStream
	}
	b = append(b, flags)
	for _, s := range []string{a.Provider, a.Routing, a.ID, a.Model} {
		b = appendBytes(b, s)
	}
	b = appendBytes(b, content)
	for _, s := range []string{a.FinishReason, a.RequestID} {
		b = appendBytes(b, s)
	}
	b = appendBytes(b, a.Raw)
	b = appendUsage(b, a.Usage)
	b = binary.AppendUvarint(b, uint64(len(a.Chunks)))
	for _, c := range a.Chunks {
		b = appendBytes(b, c.Delta)
		b = appendBytes(b, c.FinishReason)
		b = appendBytes(b, c.Raw)
		b = binary.AppendUvarint(b, uint64(len(c.ToolCalls)))
		for _, t := range c.ToolCalls {
			b = binary.AppendUvarint(b, uint64(t.Index))
			b = appendBytes(b, t.ID)
			b = appendBytes(b, t.Name)
			b = appendBytes(b, t.Arguments)
		}
		if c.Usage == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = appendUsage(b, *c.Usage)
		}
	}
	return b
}

func appendBytes[S string | []byte](b []byte, s S) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendUsage(b []byte, u conductor.Usage) []byte {
	for _, n := range []int{u.InputTokens, u.OutputTokens, u.CachedInputTokens, u.CacheWriteInputTokens, u.ReasoningTokens} {
		b = binary.AppendVarint(b, int64(n))
	}
	if u.Estimated {
		return append(b, 1)
	}
	return append(b, 0)
}

var errBadAnswer = errors.New("cached answer: malformed")

// answerReader reads an encoded answer; the first error sticks and every
// read after it returns zero values.
type answerReader struct {
	b   []byte
	err error
}

func (r *answerReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errBadAnswer
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *answerReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadAnswer
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *answerReader) int() int {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 || v != int64(int(v)) {
		r.err = errBadAnswer
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *answerReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errBadAnswer
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *answerReader) string() string { return string(r.bytes()) }

func (r *answerReader) usage() conductor.Usage {
	u := conductor.Usage{InputTokens: r.int(), OutputTokens: r.int(), CachedInputTokens: r.int(), CacheWriteInputTokens: r.int(), ReasoningTokens: r.int()}
	u.Estimated = r.byte() == 1
	return u
}

// decodeAnswer reads what encodeAnswer wrote. The chunks' Raw slices share
// value's memory.
func decodeAnswer(value []byte) (cachedAnswer, error) {
	var a cachedAnswer
	if len(value) < len(answerMagic) || string(value[:len(answerMagic)]) != answerMagic {
		return a, errBadAnswer
	}
	r := answerReader{b: value[len(answerMagic):]}
	a.Stream = r.byte()&flagStream != 0
	a.Provider, a.Routing, a.ID, a.Model = r.string(), r.string(), r.string(), r.string()
	content := r.bytes()
	a.FinishReason, a.RequestID = r.string(), r.string()
	a.Raw = r.bytes()
	a.Usage = r.usage()
	n := r.uvarint()
	// Each chunk takes at least four bytes: a count beyond that is corrupt,
	// and must not size an allocation.
	if r.err != nil || n > uint64(len(r.b)/4) {
		return a, errBadAnswer
	}
	if n > 0 {
		a.Chunks = make([]cachedChunk, n)
	}
	for i := range a.Chunks {
		c := &a.Chunks[i]
		c.Delta, c.FinishReason, c.Raw = r.string(), r.string(), r.bytes()
		if nt := r.uvarint(); nt > 0 && nt <= uint64(len(r.b)/4) {
			c.ToolCalls = make([]conductor.ToolCallDelta, nt)
			for j := range c.ToolCalls {
				c.ToolCalls[j] = conductor.ToolCallDelta{Index: int(r.uvarint()), ID: r.string(), Name: r.string(), Arguments: r.string()}
			}
		} else if nt > 0 {
			return a, errBadAnswer
		}
		if r.byte() == 1 {
			u := r.usage()
			c.Usage = &u
		}
	}
	if r.err != nil {
		return a, r.err
	}
	var err error
	if a.Content, err = decodeContent(content); err != nil {
		return a, err
	}
	if len(r.b) != 0 {
		return a, errBadAnswer
	}
	return a, nil
}

// A whole answer's content: kind 't' and the text of an answer that is one
// text block (the common case, no JSON), kind 'j' and the blocks as JSON
// otherwise, nothing for no content.
func encodeContent(content []conductor.Block) []byte {
	switch {
	case len(content) == 0:
		return nil
	case len(content) == 1 && content[0].Type == conductor.BlockText:
		return append([]byte{'t'}, content[0].Text...)
	}
	j, err := json.Marshal(content)
	if err != nil {
		return nil // blocks are plain data: cannot fail
	}
	return append([]byte{'j'}, j...)
}

func decodeContent(b []byte) ([]conductor.Block, error) {
	switch {
	case len(b) == 0:
		return nil, nil
	case b[0] == 't':
		return conductor.Texts(string(b[1:])), nil
	case b[0] == 'j':
		var content []conductor.Block
		if err := json.Unmarshal(b[1:], &content); err != nil {
			return nil, errBadAnswer
		}
		return content, nil
	}
	return nil, errBadAnswer
}
