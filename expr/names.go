package expr

import (
	"fmt"
	"sort"
	"strings"
)

// Names are the member names of a flow in order.
type Names struct {
	Members []string
	// Locals are further names some expressions may read (an evaluator
	// member's answer), bound by the caller in Vars.Locals in the same
	// order. A local shadows a member of the same name.
	Locals []string

	// index maps a name to its first position; nil when the Names was built
	// as a literal, in which case lookups scan Members.
	index map[string]int
	// byLen holds member indexes, longest name first, for longest-match
	// resolution of hyphenated names.
	byLen []int
}

// NewNames indexes members for fast lookup during compilation.
func NewNames(members []string) *Names {
	n := &Names{Members: members, index: make(map[string]int, len(members))}
	for i, m := range members {
		if _, dup := n.index[m]; !dup {
			n.index[m] = i
		}
	}
	n.byLen = longestFirst(members)
	return n
}

func longestFirst(members []string) []int {
	idx := make([]int, len(members))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return len(members[idx[a]]) > len(members[idx[b]]) })
	return idx
}

// WithLocals returns a copy of n (its member table shared) that also
// knows locals.
func (n *Names) WithLocals(locals ...string) *Names {
	c := &Names{}
	if n != nil {
		*c = *n
	}
	c.Locals = locals
	return c
}

// local returns the index of local name, or -1.
func (n *Names) local(name string) int {
	if n == nil {
		return -1
	}
	for i, l := range n.Locals {
		if l == name {
			return i
		}
	}
	return -1
}

// lookup returns the index of member name, or -1.
func (n *Names) lookup(name string) int {
	if n == nil {
		return -1
	}
	if n.index != nil {
		if i, ok := n.index[name]; ok {
			return i
		}
		return -1
	}
	for i, m := range n.Members {
		if m == name {
			return i
		}
	}
	return -1
}

// longestAt returns the index and length of the longest member name that src
// holds at offset pos and that ends at a name boundary, or (-1, 0).
func (n *Names) longestAt(src string, pos int) (int, int) {
	if n == nil {
		return -1, 0
	}
	order := n.byLen
	if order == nil {
		order = longestFirst(n.Members)
	}
	rest := src[pos:]
	for _, i := range order {
		m := n.Members[i]
		if m == "" || !strings.HasPrefix(rest, m) {
			continue
		}
		if len(rest) > len(m) && isIdentPart(rest[len(m)]) {
			continue
		}
		// Keep the first declared member when names repeat.
		return n.lookup(m), len(m)
	}
	return -1, 0
}

// Reserved reports whether name is a word of the expression language that
// shadows a member of that exact name, so a loader can reject such member
// names with a clear message.
func Reserved(name string) bool {
	switch name {
	case "input", "env", "true", "false", "null", "undefined", "NaN", "Infinity", "typeof", "JSON":
		return true
	}
	return false
}

// unknownName builds the error for a bare name that is neither a language
// name nor a member.
func (n *Names) unknownName(name string) string {
	var b strings.Builder
	known := []string{"input", "env"}
	var members []string
	if n != nil {
		known = append(known, n.Locals...)
		members = n.Members
	}
	fmt.Fprintf(&b, "unknown name %s; known: %s", name, strings.Join(known, ", "))
	if len(members) > 0 {
		b.WriteString(", and members ")
		b.WriteString(strings.Join(members, ", "))
	}
	if s := suggest(name, append(known, members...)); s != "" {
		fmt.Fprintf(&b, " (did you mean %s?)", s)
	}
	return b.String()
}

// suggest returns the candidate closest to name when it is close enough to be
// a likely typo.
func suggest(name string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(name, c)
		limit := max(1, min(len(name), len(c))/3)
		if d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance over bytes (edits
// and adjacent swaps, so "inptu" is one step from "input"); names are ASCII in
// practice and this only ranks suggestions.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return max(len(a), len(b))
	}
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
