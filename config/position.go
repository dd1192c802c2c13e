package config

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// docIndex knows where each key of a document is written, so that problems
// found after decoding (a bad backoff name, a secret where an env var name
// belongs) are reported at their line and column like parse errors are.
//
// Paths are key parts with array-of-tables indices as decimal parts:
// ai, gateway, 0, cache_ttl.
type docIndex struct {
	entries []docEntry
	byPath  map[string]int
}

type docEntry struct {
	path      []string
	line, col int
	kind      unstable.Kind // of the value; Table for table headers
	data      string        // a scalar's value, strings unescaped
}

func pathKey(parts []string) string { return strings.Join(parts, "\x00") }

// at returns the position of path, or of its nearest written ancestor (a
// default value has no place of its own, its table does); 0, 0 when none.
func (ix *docIndex) at(path ...string) (line, col int) {
	for n := len(path); n > 0; n-- {
		if i, ok := ix.byPath[pathKey(path[:n])]; ok {
			return ix.entries[i].line, ix.entries[i].col
		}
	}
	return 0, 0
}

func (ix *docIndex) add(e docEntry) {
	k := pathKey(e.path)
	if _, dup := ix.byPath[k]; dup {
		return
	}
	ix.byPath[k] = len(ix.entries)
	ix.entries = append(ix.entries, e)
}

// indexDocument walks the document with go-toml's parser. It stops quietly
// at a syntax error: the decoder reports that one with its position.
func indexDocument(data []byte) *docIndex {
	ix := &docIndex{byPath: map[string]int{}}
	var p unstable.Parser
	p.Reset(data)
	arrays := map[string]int{} // array-of-tables path -> elements so far
	var table []string
	pos := func(n *unstable.Node) (int, int) {
		if n == nil || int(n.Raw.Offset)+int(n.Raw.Length) > len(data) {
			return 0, 0
		}
		s := p.Shape(n.Raw)
		return s.Start.Line, s.Start.Column
	}
	// resolve inserts the index of the current element after every prefix
	// that is an array of tables, as TOML does for [a.b] under [[a]].
	resolve := func(parts []string) []string {
		out := make([]string, 0, len(parts)+2)
		for _, part := range parts {
			out = append(out, part)
			if n, ok := arrays[pathKey(out)]; ok {
				out = append(out, strconv.Itoa(n-1))
			}
		}
		return out
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys, first := keyParts(e.Key())
			line, col := pos(first)
			if e.Kind == unstable.ArrayTable {
				parent := resolve(keys[:len(keys)-1])
				full := append(parent, keys[len(keys)-1])
				k := pathKey(full)
				arrays[k]++
				ix.add(docEntry{path: clone(full), line: line, col: col, kind: unstable.Table})
				table = append(full, strconv.Itoa(arrays[k]-1))
			} else {
				table = resolve(keys)
			}
			ix.add(docEntry{path: clone(table), line: line, col: col, kind: unstable.Table})
		case unstable.KeyValue:
			ix.keyValue(table, e, pos)
		}
	}
	return ix
}

func (ix *docIndex) keyValue(table []string, e *unstable.Node, pos func(*unstable.Node) (int, int)) {
	keys, first := keyParts(e.Key())
	line, col := pos(first)
	full := append(clone(table), keys...)
	// Dotted keys (a.b = 1) create their intermediate tables at the key.
	for n := len(table) + 1; n < len(full); n++ {
		ix.add(docEntry{path: clone(full[:n]), line: line, col: col, kind: unstable.Table})
	}
	ix.value(full, e.Value(), line, col, pos)
}

func (ix *docIndex) value(path []string, v *unstable.Node, line, col int, pos func(*unstable.Node) (int, int)) {
	ent := docEntry{path: clone(path), line: line, col: col, kind: v.Kind}
	switch v.Kind {
	case unstable.InlineTable:
		ix.add(ent)
		it := v.Children()
		for it.Next() {
			if kv := it.Node(); kv.Kind == unstable.KeyValue {
				ix.keyValue(path, kv, pos)
			}
		}
		return
	case unstable.Array:
		ix.add(ent)
		it := v.Children()
		for i := 0; it.Next(); i++ {
			el := it.Node()
			l, c := pos(el)
			ix.value(append(clone(path), strconv.Itoa(i)), el, l, c, pos)
		}
		return
	}
	ent.data = string(v.Data)
	ix.add(ent)
}

func keyParts(it unstable.Iterator) ([]string, *unstable.Node) {
	var parts []string
	var first *unstable.Node
	for it.Next() {
		n := it.Node()
		if first == nil {
			first = n
		}
		parts = append(parts, string(n.Data))
	}
	return parts, first
}

func clone(s []string) []string { return append([]string(nil), s...) }
