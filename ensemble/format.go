package ensemble

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format rewrites an ensemble file into standard YAML, as editors,
// yaml-language-server, js-yaml and ajv read it: every unquoted ${...}
// value that strict YAML would cut short (the page's `provider: ${a ? 'x' :
// 'y'}`, where ": " is a mapping indicator) becomes a double-quoted string.
// Nothing else changes — comments, order, blank lines and every other
// byte stay as written — and the file means exactly what it meant (checked:
// the rewritten file decodes to the same values). It returns data itself
// when there is nothing to rewrite, and a List when the file is not YAML
// Format can read.
func Format(file string, data []byte) ([]byte, error) {
	c := &collector{file: file}
	before := parseYAML(data, c)
	if err := c.err(); err != nil {
		return nil, err
	}
	src := string(data)
	_, holes, _ := quoteTemplates(src)
	if len(holes) == 0 {
		return data, nil
	}
	// Right to left on each line, so the columns of the holes still to
	// quote stay where they were.
	at := make([]Pos, 0, len(holes))
	for p := range holes {
		at = append(at, p)
	}
	sort.Slice(at, func(i, j int) bool {
		if at[i].Line != at[j].Line {
			return at[i].Line < at[j].Line
		}
		return at[i].Col > at[j].Col
	})
	lines := strings.SplitAfter(src, "\n")
	for _, p := range at {
		h := holes[p]
		line := []rune(lines[p.Line-1])
		start := p.Col - 1
		end := start + utf8.RuneCountInString(h.text)
		lines[p.Line-1] = string(line[:start]) + quoteYAML(h.text) + string(line[end:])
	}
	out := []byte(strings.Join(lines, ""))

	// The rewritten file must read as standard YAML (no value left to
	// patch) and mean the same.
	if _, left, _ := quoteTemplates(string(out)); len(left) > 0 {
		return nil, fmt.Errorf("%s: formatting left %d unquoted value(s) (please report it)", file, len(left))
	}
	c2 := &collector{file: file}
	after := parseYAML(out, c2)
	if err := c2.err(); err != nil {
		return nil, fmt.Errorf("%s: the formatted file does not parse (please report it): %w", file, err)
	}
	if !reflect.DeepEqual(plain(before), plain(after)) {
		return nil, fmt.Errorf("%s: formatting would change what the file means (please report it)", file)
	}
	return out, nil
}

// quoteYAML writes s as a YAML double-quoted scalar: backslash and double
// quote escaped, and control characters as escapes, so any text reads
// back the same.
func quoteYAML(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
