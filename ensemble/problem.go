package ensemble

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Problem is one thing wrong with an ensemble file.
type Problem struct {
	File string
	Pos  Pos // zero when the problem has no place in the file
	Msg  string
}

// String formats p as "file:line:col: message", the form editors jump to.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Pos.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", p.Pos.Line, p.Pos.Col)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// List is every problem found in one file, in file order. Load and Parse
// return it (as error) when there is at least one.
type List []Problem

// Error prints one problem per line.
func (l List) Error() string {
	lines := make([]string, len(l))
	for i, p := range l {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// collector gathers problems while loading goes on past each one.
type collector struct {
	file string
	list List
}

func (c *collector) add(pos Pos, msg string) {
	c.list = append(c.list, Problem{File: c.file, Pos: pos, Msg: msg})
}

func (c *collector) addf(pos Pos, format string, args ...any) {
	c.add(pos, fmt.Sprintf(format, args...))
}

// has reports whether a problem was found at pos.
func (c *collector) has(pos Pos) bool {
	for _, p := range c.list {
		if p.Pos == pos {
			return true
		}
	}
	return false
}

// err returns the problems sorted by position (stable: problems at one
// place keep the order they were found in), or nil.
func (c *collector) err() error {
	if len(c.list) == 0 {
		return nil
	}
	slices.SortStableFunc(c.list, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return c.list
}

// suggest returns the candidate closest to s when it is close enough to be
// a likely typo: the same letters ignoring case, "_" and "-", within an
// edit distance of about a third of the word, or one part of a single
// hyphenated candidate.
func suggest(s string, candidates []string) (string, bool) {
	norm := func(x string) string {
		return strings.Map(func(r rune) rune {
			if r == '_' || r == '-' {
				return -1
			}
			return unicode.ToLower(r)
		}, x)
	}
	best, bestD := "", -1
	for _, c := range candidates {
		if norm(c) == norm(s) {
			return c, true
		}
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(1, min(3, len([]rune(s))/3))
	if bestD >= 0 && bestD <= limit {
		return best, true
	}
	// One part of a hyphenated name: "gateway" for cloudflare-gateway,
	// "workers" for workers-ai. Only when a single candidate fits.
	part := ""
	for _, c := range candidates {
		if len(s) >= 3 && (strings.HasSuffix(c, "-"+s) || strings.HasPrefix(c, s+"-")) {
			if part != "" {
				return "", false
			}
			part = c
		}
	}
	return part, part != ""
}

// editDistance is the optimal string alignment distance: Levenshtein plus
// transpositions ("tempreature" is one edit from "temperature").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows are enough for the transposition look-back.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// unknown formats "unknown <what> "x"[ in <where>] (did you mean "y"?)"
// or, with no close candidate, lists the candidates.
func unknown(what, got string, candidates []string, where string) string {
	if where != "" {
		where = " in " + where
	}
	if s, ok := suggest(got, candidates); ok {
		return fmt.Sprintf("unknown %s %q%s (did you mean %q?)", what, got, where, s)
	}
	return fmt.Sprintf("unknown %s %q%s (expected one of: %s)", what, got, where, strings.Join(candidates, ", "))
}
