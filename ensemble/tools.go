package ensemble

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	conductor "github.com/conductor-go/conductor"
)

// A member's tools, tool choice and response format. Tools are literal
// (they are sent as written); toolChoice and responseFormat may be
// ${...} expressions, so the same conversion (ToolChoiceOf,
// ResponseFormatOf) checks a literal at load and a computed value when the
// member runs.

var (
	toolKeys       = []string{"name", "description", "parameters", "strict"}
	toolChoiceKeys = []string{"name"}
	toolChoices    = []string{conductor.ToolChoiceAuto, conductor.ToolChoiceNone, conductor.ToolChoiceRequired}
	formatKeys     = []string{"type", "json_schema"}
	jsonSchemaKeys = []string{"name", "description", "schema", "strict"}
	formatTypes    = []string{conductor.FormatText, conductor.FormatJSONObject, conductor.FormatJSONSchema}
	// toolNameExpr is the tool name both OpenAI and Anthropic accept.
	toolNameExpr = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
)

// tools loads a member's tools: a list of {name, description, parameters,
// strict}, names unique, parameters a JSON Schema of an object.
func (l *loader) tools(v *yval) []conductor.Tool {
	if v.kind != KindList {
		l.c.addf(v.pos, "tools: expected a list of tools ({name, description, parameters}), got %s", describe(v))
		return nil
	}
	if hasTemplate(v) {
		l.c.add(v.pos, "tools: expressions are not allowed in tools (they are sent as written)")
		return nil
	}
	out := make([]conductor.Tool, 0, len(v.items))
	first := map[string]Pos{}
	for i, it := range v.items {
		o := l.object(it, fmt.Sprintf("tools[%d]", i), toolKeys)
		if o == nil {
			continue
		}
		var t conductor.Tool
		switch x := o.get("name"); {
		case x == nil:
			if o.absent("name") {
				l.c.addf(it.pos, `tools[%d]: missing required key "name" (the function's name)`, i)
			}
			continue
		default:
			name, ok := l.str(x, "name")
			if !ok {
				continue
			}
			if !toolNameExpr.MatchString(name) {
				l.c.addf(x.pos, "name: invalid tool name %q (expected 1 to 64 letters, digits, _ and -)", name)
				continue
			}
			if p, dup := first[name]; dup {
				l.c.addf(x.pos, "duplicate tool name %q (first at %d:%d)", name, p.Line, p.Col)
				continue
			}
			first[name] = x.pos
			t.Name = name
		}
		if x := o.get("description"); x != nil {
			t.Description, _ = l.str(x, "description")
		}
		if x := o.get("parameters"); x != nil {
			t.Parameters = l.parameters(x)
		}
		if x := o.get("strict"); x != nil {
			if b, ok := l.boolean(x, "strict"); ok {
				t.Strict = &b
			}
		}
		out = append(out, t)
	}
	return out
}

// parameters checks a tool's parameters: a JSON Schema whose type is
// object, as both OpenAI and Anthropic require. It returns the schema as
// JSON.
func (l *loader) parameters(x *yval) json.RawMessage {
	if x.kind != KindMap {
		l.c.addf(x.pos, "parameters: expected a JSON Schema object (type: object), got %s", describe(x))
		return nil
	}
	raw := plain(x)
	m, _ := raw.(map[string]any)
	if typ, ok := m["type"]; !ok {
		l.c.add(x.pos, `parameters: missing "type: object" (a tool's arguments are an object)`)
		return nil
	} else if typ != "object" {
		l.c.addf(x.pos, "parameters: expected type object (a tool's arguments are an object), got %s", describeValue(typ))
		return nil
	}
	_, b, err := compileJSONSchema(raw, "urn:conductor:tool.json")
	if err != nil {
		l.c.addf(x.pos, "parameters: %v", err)
		return nil
	}
	return b
}

// compileSchema compiles raw, a JSON Schema whose $ref may point only
// inside it, and returns it with its JSON text.
func compileJSONSchema(raw any, url string) (*jsonschema.Schema, json.RawMessage, error) {
	body, err := json.Marshal(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot be written as JSON: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	comp := jsonschema.NewCompiler()
	comp.UseLoader(refuseLoader{})
	if err := comp.AddResource(url, doc); err != nil {
		return nil, nil, err
	}
	sch, err := comp.Compile(url)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid schema: %s", schemaErr(err))
	}
	return sch, body, nil
}

// FieldError is a problem at a place inside a value: Path holds map keys
// (string) and list indexes (int) from the value's top; Key says the
// problem is the last key itself (an unknown key, which Msg names with its
// place), not its value.
type FieldError struct {
	Path []any
	Key  bool
	Msg  string
}

func (e *FieldError) Error() string {
	p := e.path()
	if p == "" || e.Key {
		return e.Msg
	}
	return p + ": " + e.Msg
}

func (e *FieldError) path() string {
	var b strings.Builder
	for _, p := range e.Path {
		switch p := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(p) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

func fieldErr(path []any, format string, args ...any) *FieldError {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Within prefixes the place of err, an error of ToolChoiceOf or
// ResponseFormatOf, with the config key, for a message that names it:
// "responseFormat.json_schema.name: …".
func Within(key string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Path: append([]any{key}, fe.Path...), Key: fe.Key, Msg: fe.Msg}
	}
	return fmt.Errorf("%s: %w", key, err)
}

// checkKeys reports the first key of m not among keys (in sorted order, so
// the message does not depend on map order).
func checkKeys(m map[string]any, keys []string, what string, path []any) error {
	var bad []string
	for k := range m {
		if !slices.Contains(keys, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return &FieldError{Path: append(slices.Clip(path), bad[0]), Key: true, Msg: unknown("key", bad[0], keys, what)}
}

// ToolChoiceOf converts a toolChoice value — auto, none, required, or
// {name: <tool>} — checking a named tool against tools. nil (and
// undefined, which the caller cleans to nil) is no choice.
func ToolChoiceOf(v any, tools []conductor.Tool) (*conductor.ToolChoice, error) {
	if v == nil {
		return nil, nil
	}
	if len(tools) == 0 {
		return nil, fieldErr(nil, "a tool choice needs tools (declare them under tools)")
	}
	switch x := v.(type) {
	case string:
		if !slices.Contains(toolChoices, x) {
			return nil, fieldErr(nil, "%s (or {name: <tool>})", unknown("tool choice", x, toolChoices, ""))
		}
		return &conductor.ToolChoice{Mode: x}, nil
	case map[string]any:
		if err := checkKeys(x, toolChoiceKeys, "toolChoice", nil); err != nil {
			return nil, err
		}
		name, ok := x["name"].(string)
		if !ok {
			return nil, fieldErr([]any{"name"}, "expected the name of one of the member's tools, got %s", describeValue(x["name"]))
		}
		names := make([]string, len(tools))
		for i, t := range tools {
			names[i] = t.Name
		}
		if !slices.Contains(names, name) {
			return nil, fieldErr([]any{"name"}, "%s", unknown("tool", name, names, ""))
		}
		return &conductor.ToolChoice{Mode: conductor.ToolChoiceTool, Name: name}, nil
	}
	return nil, fieldErr(nil, "expected auto, none, required or {name: <tool>}, got %s", describeValue(v))
}

// ResponseFormatOf converts a responseFormat value, OpenAI's
// response_format: {type: text | json_object} or {type: json_schema,
// json_schema: {name, description, schema, strict}}; a bare type name is
// short for {type: name}. nil is none.
func ResponseFormatOf(v any) (*conductor.ResponseFormat, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok {
		v = map[string]any{"type": s}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fieldErr(nil, "expected a map (e.g. {type: json_object}), got %s", describeValue(v))
	}
	if err := checkKeys(m, formatKeys, "responseFormat", nil); err != nil {
		return nil, err
	}
	typ, ok := m["type"].(string)
	switch {
	case m["type"] == nil:
		return nil, fieldErr(nil, `missing required key "type" (one of: %s)`, strings.Join(formatTypes, ", "))
	case !ok:
		return nil, fieldErr([]any{"type"}, "expected one of %s, got %s", strings.Join(formatTypes, ", "), describeValue(m["type"]))
	case !slices.Contains(formatTypes, typ):
		return nil, fieldErr([]any{"type"}, "%s", unknown("response format type", typ, formatTypes, ""))
	}
	rf := &conductor.ResponseFormat{Type: typ}
	js, has := m["json_schema"]
	if typ != conductor.FormatJSONSchema {
		if has && js != nil {
			return nil, fieldErr([]any{"json_schema"}, "only with type json_schema (type is %s)", typ)
		}
		return rf, nil
	}
	jm, ok := js.(map[string]any)
	if !ok {
		if js == nil {
			return nil, fieldErr(nil, `type json_schema needs "json_schema: {name, schema}"`)
		}
		return nil, fieldErr([]any{"json_schema"}, "expected a map {name, description, schema, strict}, got %s", describeValue(js))
	}
	path := []any{"json_schema"}
	if err := checkKeys(jm, jsonSchemaKeys, "responseFormat.json_schema", path); err != nil {
		return nil, err
	}
	if x, ok := jm["name"]; ok && x != nil {
		name, ok := x.(string)
		if !ok || !toolNameExpr.MatchString(name) {
			return nil, fieldErr([]any{"json_schema", "name"}, "expected 1 to 64 letters, digits, _ and -, got %s", describeValue(x))
		}
		rf.Name = name
	}
	if x, ok := jm["description"]; ok && x != nil {
		d, ok := x.(string)
		if !ok {
			return nil, fieldErr([]any{"json_schema", "description"}, "expected a string, got %s", describeValue(x))
		}
		rf.Description = d
	}
	if x, ok := jm["strict"]; ok && x != nil {
		b, ok := x.(bool)
		if !ok {
			return nil, fieldErr([]any{"json_schema", "strict"}, "expected true or false, got %s", describeValue(x))
		}
		rf.Strict = &b
	}
	switch x := jm["schema"].(type) {
	case nil:
		return nil, fieldErr(path, `missing required key "schema" (the JSON Schema the answer must match)`)
	case map[string]any:
		_, b, err := compileJSONSchema(x, "urn:conductor:response.json")
		if err != nil {
			return nil, fieldErr([]any{"json_schema", "schema"}, "%v", err)
		}
		rf.Schema = b
	default:
		return nil, fieldErr([]any{"json_schema", "schema"}, "expected a JSON Schema object, got %s", describeValue(x))
	}
	return rf, nil
}

// At returns the position of the value at path inside n (the key's
// position when key is set), or the nearest enclosing one that exists.
func (n *Node) At(path []any, key bool) Pos {
	pos := n.Pos
	for i, p := range path {
		last := i == len(path)-1
		var next *Node
		switch p := p.(type) {
		case string:
			if n.Kind != KindMap {
				return pos
			}
			for _, e := range n.Entries {
				if e.Key == p {
					if last && key {
						return e.KeyPos
					}
					next = e.Value
				}
			}
		case int:
			if n.Kind == KindList && p >= 0 && p < len(n.Items) {
				next = n.Items[p]
			}
		}
		if next == nil {
			return pos
		}
		n, pos = next, next.Pos
	}
	return pos
}

// describeValue says what a plain value is, for "expected X, got Y".
func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		if r := []rune(x); len(r) > 40 {
			x = string(r[:40]) + "…"
		}
		return fmt.Sprintf("a string (%q)", x)
	case bool:
		return fmt.Sprintf("a boolean (%t)", x)
	case int64:
		return fmt.Sprintf("an integer (%d)", x)
	case float64:
		return fmt.Sprintf("a number (%s)", fmtNum(x))
	}
	return typeName(v)
}
