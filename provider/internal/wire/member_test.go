package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzSetMember: the edited body is the same JSON object with only key
// set to the value, replaced where it was, added last where it was not.
func FuzzSetMember(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"max_tokens":null,"messages":[]}`,
		`{"messages":[{"role":"user","content":"\"max_tokens\": 5"}]}`,
		`{"max_tok\u0065ns":3}`, `{"a":{"max_tokens":1}}` + "\n", `[]`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var before map[string]any
		if json.Unmarshal(body, &before) != nil || before == nil {
			_, _ = SetMember(body, "max_tokens", []byte(`4096`)) // must not panic
			return
		}
		out, err := SetMember(body, "max_tokens", []byte(`4096`))
		if err != nil {
			t.Fatalf("valid object refused: %v: %s", err, body)
		}
		var after map[string]any
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("broke the JSON: %v\n%s\n%s", err, body, out)
		}
		before["max_tokens"] = float64(4096)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("changed more than the member:\n%s\n%s", body, out)
		}
	})
}

func TestSetMemberKeepsBytes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"model":"m" , "messages":[]}`, `{"model":"m" , "messages":[],"max_tokens":7}`},
		{` {} `, ` {"max_tokens":7} `},
		{`{"max_tokens":null,"n":1}`, `{"max_tokens":7,"n":1}`},
	} {
		out, err := SetMember([]byte(tt.in), "max_tokens", []byte("7"))
		if err != nil || string(out) != tt.want {
			t.Errorf("%s: %s %v, want %s", tt.in, out, err, tt.want)
		}
	}
}
