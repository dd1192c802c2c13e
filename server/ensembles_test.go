package server

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/conductor-go/conductor/engine"
	"github.com/conductor-go/conductor/ensemble"
)

func TestRunEnsemble(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	resp, got := ts.post(t, "/v1/ensembles/greet/run", `{"text":"hi there"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	// The same JSON as `conductor run --json`: the engine's Result.
	var res engine.Result
	if err := json.Unmarshal(got, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Success || len(res.Members) != 2 || res.Members[1].Output != "Hello to you too!" {
		t.Errorf("result %s", got)
	}
	ens, err := ensemble.Load(filepath.Join("testdata", "ensembles", "greet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := engine.New(engine.Options{}).Run(context.Background(), ens, map[string]any{"text": "hi there"})
	var a, b map[string]any
	dj, _ := json.Marshal(direct)
	_ = json.Unmarshal(dj, &a)
	_ = json.Unmarshal(got, &b)
	for _, m := range []map[string]any{a, b} {
		delete(m, "latencyMs")
		for _, mem := range m["members"].([]any) {
			delete(mem.(map[string]any), "latencyMs")
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("not the result `conductor run --json` gives:\n got %v\nwant %v", b, a)
	}
}

func TestRunEnsembleEvents(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	resp, got := ts.post(t, "/v1/ensembles/greet/run", `{"text":"hi"}`, "Accept", "text/event-stream")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	events := parseSSE(t, got)
	var names []string
	for _, e := range events {
		names = append(names, e.Name)
	}
	if want := []string{"start", "member", "member", "result"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("events %v, want %v", names, want)
	}
	if m := jsonOf(t, []byte(events[1].Data)); m["member"] != "classify" || m["status"] != "succeeded" {
		t.Errorf("member event %s", events[1].Data)
	}
	if r := jsonOf(t, []byte(events[3].Data)); r["success"] != true || path(r, "output", "answer") != "Hello to you too!" {
		t.Errorf("result event %s", events[3].Data)
	}
}

func TestRunEnsembleErrors(t *testing.T) {
	ts := newTestServer(t, serverSetup{})
	for _, tt := range []struct {
		name, path, body string
		want             int
	}{
		{"unknown", "/v1/ensembles/nope/run", `{}`, 404},
		{"a path, not a name", "/v1/ensembles/..%2F..%2Fetc%2Fpasswd/run", `{}`, 404},
		{"input not JSON", "/v1/ensembles/greet/run", `{"text":`, 400},
		{"broken file", "/v1/ensembles/broken/run", `{}`, 500},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, got := ts.post(t, tt.path, tt.body)
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.want, got)
			}
			if _, ok := jsonOf(t, got)["error"]; !ok {
				t.Errorf("no error body: %s", got)
			}
		})
	}
}
