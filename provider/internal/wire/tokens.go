package wire

import (
	"unicode"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
)

// Local token estimates, for answers that come without usage (a stream
// without its usage chunk, a local server that counts nothing). Real
// tokenizers are per model and megabytes of tables; this approximates the
// BPE tokenizers of GPT, Llama and Claude closely enough for budgets and
// analytics, and the answer is marked Usage.Estimated.
//
// The rules, calibrated on English where BPE vocabularies hold most common
// words whole:
//   - a run of letters is one token up to 9 letters, plus one per further 4
//     (long and rare words split into pieces);
//   - a run of digits is one token per 3 digits (numbers split in groups of
//     three);
//   - each CJK, kana or Hangul character is one token;
//   - every other visible symbol (punctuation, emoji) is one token;
//   - spaces are free (BPE merges a space into the next word); a run of
//     newlines is one token.
//
// Per message, chat formats add about 4 tokens (role and separators) and the
// answer's priming 3, as OpenAI documents for its chat models.

const (
	tokensPerMessage = 4
	tokensPerReply   = 3
)

// EstimateTokens estimates how many tokens s holds.
func EstimateTokens(s string) int {
	var c TokenCounter
	c.Add(s)
	return c.Total()
}

// EstimateInputTokens estimates the prompt tokens of req: its messages with
// their per-message overhead.
func EstimateInputTokens(req *conductor.ChatRequest) int {
	var c TokenCounter
	n := tokensPerReply
	for _, m := range req.Messages {
		c.Add(m.Role)
		c.flush()
		c.Add(m.Text())
		c.flush()
		n += tokensPerMessage
	}
	return n + c.Total()
}

// estimatedUsage is the usage to report for req when the provider sent none.
func EstimatedUsage(req *conductor.ChatRequest, outputTokens int) conductor.Usage {
	return conductor.Usage{InputTokens: EstimateInputTokens(req), OutputTokens: outputTokens, Estimated: true}
}

// tokenCounter counts incrementally, so a stream's text can be fed delta by
// delta without keeping it, and a word split across two deltas still counts
// once.
type TokenCounter struct {
	n         int
	run       int  // length in runes of the current letter or digit run
	digits    bool // the current run is digits
	inNewline bool
}

func (c *TokenCounter) Add(s string) {
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		switch {
		case r == '\n' || r == '\r':
			c.flush()
			if !c.inNewline {
				c.n++
				c.inNewline = true
			}
			continue
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'), r >= utf8.RuneSelf && unicode.IsLetter(r) && !isIdeographic(r):
			if c.run > 0 && c.digits {
				c.flush()
			}
			c.run++
		case r >= '0' && r <= '9':
			if c.run > 0 && !c.digits {
				c.flush()
			}
			c.digits = true
			c.run++
		case r == ' ' || r == '\t' || r >= utf8.RuneSelf && unicode.IsSpace(r):
			c.flush()
		case c.run > 0 && r >= utf8.RuneSelf && unicode.Is(unicode.Mn, r):
			// Combining marks belong to the letter before them.
		default:
			c.flush()
			c.n++
		}
		c.inNewline = false
	}
}

// flush ends the current letter or digit run.
func (c *TokenCounter) flush() {
	if c.run == 0 {
		return
	}
	if c.digits {
		c.n += (c.run + 2) / 3
	} else {
		c.n += 1 + max(0, c.run-6)/4
	}
	c.run, c.digits = 0, false
}

func (c *TokenCounter) Total() int {
	c.flush()
	return c.n
}

// isIdeographic reports scripts whose characters BPE vocabularies keep as
// about one token each.
func isIdeographic(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}
