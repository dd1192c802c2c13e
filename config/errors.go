package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Error is one problem in a config file, at a place in it. Callers print it
// as is and exit with status 2.
type Error struct {
	File   string
	Line   int // 0 when the problem has no single place
	Column int
	Msg    string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem found in one file, in document order.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.As find the first *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) sorted() Errors {
	slices.SortStableFunc(es, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return es
}

// isSecretKeyName reports key names people use for a literal secret. Each
// gets a message saying where the secret belongs instead of "unknown key".
func isSecretKeyName(name string) bool {
	switch strings.ToLower(name) {
	case "api_key", "apikey", "key", "token", "tokens", "api_token", "secret", "password",
		"authorization", "access_token", "auth_token", "account_token", "gateway_token":
		return true
	}
	return false
}

// decodeErrors maps go-toml's errors to positioned *Errors. Go type names
// never reach the message, and neither does any value from the document:
// go-toml's "human" context would print the offending line, which may hold
// a secret.
func decodeErrors(file string, data []byte, ix *docIndex, err error, wrangler bool) Errors {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var out Errors
		for i := range strict.Errors {
			de := &strict.Errors[i]
			key := []string(de.Key())
			if wrangler && (len(key) == 0 || key[0] != "ai") {
				continue // wrangler's own keys: name, main, [vars], …
			}
			line, col := de.Position()
			out = append(out, &Error{File: file, Line: line, Column: col, Msg: unknownKeyMsg(key, wrangler)})
		}
		return out
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		return Errors{{File: file, Line: line, Column: col, Msg: decodeMsg(de)}}
	}
	// go-toml returns a text unmarshaler's error without a position when the
	// value was not a string (cache_ttl = true); find the key ourselves.
	for _, e := range ix.entries {
		if e.kind == unstable.String || e.kind == unstable.Table || e.kind == unstable.InlineTable || e.kind == unstable.Array {
			continue
		}
		t, ok := typeAt(reflect.TypeFor[Config](), e.path, wrangler)
		if !ok || t != reflect.TypeFor[Duration]() {
			continue
		}
		msg := errDuration.Error()
		if e.kind == unstable.Integer || e.kind == unstable.Float {
			_, perr := parseDuration(e.data)
			if perr == nil {
				continue
			}
			msg = perr.Error()
		}
		return Errors{{File: file, Line: e.line, Column: e.col, Msg: dotted(e.path) + ": " + msg}}
	}
	return Errors{{File: file, Msg: strings.TrimPrefix(err.Error(), "toml: ")}}
}

func unknownKeyMsg(key []string, wrangler bool) string {
	if len(key) == 0 {
		return "unknown key"
	}
	leaf := key[len(key)-1]
	parent := key[:len(key)-1]
	if isSecretKeyName(leaf) {
		return fmt.Sprintf("%s: secrets are never read from the config file; %s", dotted(key), secretAdvice(parent))
	}
	where := "at the top level"
	if len(parent) > 0 {
		where = "in " + tableName(parent)
	}
	msg := fmt.Sprintf("unknown key %q %s", leaf, where)
	if t, ok := typeAt(reflect.TypeFor[Config](), parent, wrangler); ok {
		if known := tomlKeys(t); len(known) > 0 {
			msg += " (expected one of: " + strings.Join(known, ", ") + ")"
		}
	}
	return msg
}

// secretAdvice says where a secret goes for the table it was written in.
func secretAdvice(parent []string) string {
	switch {
	case len(parent) >= 2 && parent[0] == "ai" && parent[1] == "gateway":
		return `export the gateway token and name its variable: token_env = "CF_AIG_TOKEN" (or token_file = "path")`
	case len(parent) >= 1 && parent[0] == "ai":
		return `export the Cloudflare API token and name its variable: api_token_env = "CLOUDFLARE_API_TOKEN" (or api_token_file = "path")`
	case len(parent) >= 1 && parent[0] == "server":
		return `export the gateway tokens and name their variable: tokens_env = "CONDUCTOR_TOKENS" (or tokens_file = "path")`
	case len(parent) >= 1 && parent[0] == "budget":
		return `put a secret webhook URL in a variable and name it: webhook_env = "BUDGET_WEBHOOK_URL"`
	}
	return `export the key and name its variable: api_key_env = "OPENAI_API_KEY" (or api_key_file = "path")`
}

var typeMismatch = regexp.MustCompile(`^cannot decode TOML (\w+) into .* of type (.+)$`)

func decodeMsg(de *toml.DecodeError) string {
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	key := dotted(de.Key())
	if m := typeMismatch.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("expected %s, got %s %s", goTypeWord(m[2]), article(m[1]), m[1])
	}
	if key != "" {
		return key + ": " + msg
	}
	return msg
}

func goTypeWord(t string) string {
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float") || t == "*float64":
		return "a number"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map["):
		return "a table"
	case strings.HasSuffix(t, "config.Duration"):
		return `a duration such as "30s" or a number of seconds`
	}
	return "a table"
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

func dotted(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if isIndex(p) {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		if strings.ContainsAny(p, ". \"'") || p == "" {
			fmt.Fprintf(&b, "%q", p)
		} else {
			b.WriteString(p)
		}
	}
	return b.String()
}

func tableName(path []string) string {
	var clean []string
	for _, p := range path {
		if !isIndex(p) {
			clean = append(clean, p)
		}
	}
	name := dotted(clean)
	switch name {
	case "ai.gateway", "budget", "pricing.model", "split", "split.variant", "model":
		return "[[" + name + "]]"
	}
	return "[" + name + "]"
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// typeAt follows path (TOML key parts; array indices optional) through the
// Config type and returns the Go type found there.
func typeAt(t reflect.Type, path []string, wrangler bool) (reflect.Type, bool) {
	if wrangler && len(path) > 0 && path[0] != "ai" {
		return nil, false
	}
	for _, part := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Slice:
			t = t.Elem()
			if isIndex(part) {
				continue
			}
			fallthrough
		case reflect.Struct:
			f, ok := fieldByTag(t, part)
			if !ok {
				return nil, false
			}
			t = f.Type
		case reflect.Map:
			t = t.Elem()
		default:
			return nil, false
		}
	}
	for t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		t = t.Elem()
	}
	return t, true
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := strings.Split(f.Tag.Get("toml"), ",")[0]; tag == name && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// tomlKeys lists the keys a table of type t accepts, in declaration order.
func tomlKeys(t reflect.Type) []string {
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if tag := strings.Split(t.Field(i).Tag.Get("toml"), ",")[0]; tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}
