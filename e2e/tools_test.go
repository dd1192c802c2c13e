package e2e

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestToolExtractExample runs examples/tool-extract.yaml through the
// binary: offline on the mock provider, the tool call's decoded arguments
// reach the output, and --json prints the member's toolCalls.
func TestToolExtractExample(t *testing.T) {
	w := newWorld(t, configBuiltin)
	o := w.run(example("tool-extract"), "--input", `{"question": "Is it cold in Oslo?"}`)
	res := o.mustSucceed(t)
	want := map[string]any{"tool": "get_weather", "city": "Oslo", "unit": "celsius", "forecast": "Sunny with a light breeze", "high": 24.0}
	if !reflect.DeepEqual(res.Output, want) {
		t.Errorf("output = %#v", res.Output)
	}
	var raw struct {
		Members []struct {
			Member    string          `json:"member"`
			ToolCalls json.RawMessage `json:"toolCalls"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(o.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	if got := string(raw.Members[0].ToolCalls); !jsonEqual(got, `[{"id":"call_mock_get_weather","name":"get_weather","arguments":{"city":"Oslo","unit":"celsius"}}]`) {
		t.Errorf("toolCalls = %s", got)
	}
	if raw.Members[1].ToolCalls != nil {
		t.Errorf("forecast printed toolCalls %s", raw.Members[1].ToolCalls)
	}
	for _, n := range fakeNames {
		if len(w.fake(n).Requests()) != 0 {
			t.Errorf("the offline example reached a provider: %s", w.requestCounts())
			break
		}
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}
