package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
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
	want := []string{"start", "member_started", "member_finished", "member_started", "member_finished", "result"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("events %v, want %v", names, want)
	}
	if m := jsonOf(t, []byte(events[1].Data)); m["member"] != "classify" || m["index"] != 0.0 {
		t.Errorf("member_started %s", events[1].Data)
	}
	if m := jsonOf(t, []byte(events[4].Data)); m["member"] != "reply" || m["index"] != 1.0 || m["status"] != "succeeded" || m["output"] != "Hello to you too!" {
		t.Errorf("member_finished %s", events[4].Data)
	}
	if r := jsonOf(t, []byte(events[5].Data)); r["success"] != true || path(r, "output", "answer") != "Hello to you too!" {
		t.Errorf("result event %s", events[5].Data)
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

// heldProvider answers each call once the test releases it.
type heldProvider struct{ release chan struct{} }

func (p heldProvider) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	select {
	case <-p.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &conductor.ChatResponse{Content: conductor.Texts("done: " + req.Messages[len(req.Messages)-1].Text()), Meta: conductor.ResponseMeta{Provider: req.Provider}}, nil
}

func (p heldProvider) Stream(context.Context, *conductor.ChatRequest) (conductor.Stream, error) {
	return nil, errors.New("no streams here")
}

type resolverFunc func() conductor.Provider

func (f resolverFunc) Provider(context.Context, string, string, string) (conductor.Provider, error) {
	return f(), nil
}

// The member events arrive while the run is going, not after it.
func TestRunEnsembleEventsAreLive(t *testing.T) {
	held := heldProvider{release: make(chan struct{})}
	ts := newTestServer(t, serverSetup{opts: func(o *Options) {
		o.Engine.Resolver = resolverFunc(func() conductor.Provider { return held })
	}})
	req, _ := http.NewRequest("POST", ts.url+"/v1/ensembles/two-step/run", strings.NewReader(`{"text":"hi"}`))
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	next := func() string {
		t.Helper()
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended: %v", err)
			}
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "event: "); ok {
				return name
			}
		}
	}
	if got := next(); got != "start" {
		t.Fatalf("first event %s", got)
	}
	// The draft member is waiting on its model: its start is already out.
	if got := next(); got != "member_started" {
		t.Fatalf("second event %s", got)
	}
	close(held.release)
	var rest []string
	for ev := next(); ; ev = next() {
		rest = append(rest, ev)
		if ev == "result" || ev == "error" {
			break
		}
	}
	if want := []string{"member_finished", "member_started", "member_finished", "result"}; !reflect.DeepEqual(rest, want) {
		t.Errorf("events %v, want %v", rest, want)
	}
}
