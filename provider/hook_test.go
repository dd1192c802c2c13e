package provider_test

import (
	"context"
	"net/http"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/workersai"
)

// hook stands for the Cloudflare gateway route's per-call headers.
type hook struct{ before, after int }

func (h *hook) Before(r *http.Request, req *conductor.ChatRequest) {
	h.before++
	r.Header.Set("cf-aig-cache-ttl", "3600")
	r.Header.Set("cf-aig-metadata", `{"member":"`+req.Model+`"}`)
}

func (h *hook) After(r *http.Response, meta *conductor.ResponseMeta) {
	h.after++
	meta.CacheStatus = r.Header.Get("cf-aig-cache-status")
	meta.Cached = meta.CacheStatus == "HIT"
}

func TestHookSeesEveryCall(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				r := reply{File: k.answer, Header: map[string]string{"Content-Type": "application/json", "cf-aig-cache-status": "HIT"}}
				if stream {
					r = reply{File: k.stream, Stream: true, Header: map[string]string{"Content-Type": "text/event-stream", "cf-aig-cache-status": "HIT"}}
				}
				f := newFake(t, r)
				h := &hook{}
				p := k.new(provider.Endpoint{Name: k.name, BaseURL: f.URL, Hook: h, Header: http.Header{"Cf-Aig-Authorization": {"Bearer gw-token"}}})
				var meta conductor.ResponseMeta
				if stream {
					s, err := p.Stream(context.Background(), k.request())
					if err != nil {
						t.Fatal(err)
					}
					meta = s.Meta()
					drain(t, s)
				} else {
					resp, err := p.Chat(context.Background(), k.request())
					if err != nil {
						t.Fatal(err)
					}
					meta = resp.Meta
				}
				if h.before != 1 || h.after != 1 || !meta.Cached || meta.CacheStatus != "HIT" || meta.Provider != k.name {
					t.Errorf("stream=%v: hook %+v, meta %+v", stream, h, meta)
				}
				wantHeaders(t, f.Last(t).Header, map[string]string{"Cf-Aig-Cache-Ttl": "3600",
					"Cf-Aig-Metadata": `{"member":"` + k.model + `"}`, "Cf-Aig-Authorization": "Bearer gw-token"})
			}
		})
	}
}

// The hook also sees failed answers: the gateway's own 401 carries
// cf-aig-* headers too.
func TestHookSeesErrors(t *testing.T) {
	f := newFake(t, reply{Status: 401, File: "workersai/error_gateway_401.json", Header: map[string]string{"Content-Type": "application/json"}})
	h := &hook{}
	_, err := workersai.New(provider.Endpoint{BaseURL: f.URL, Hook: h}).Chat(context.Background(), &conductor.ChatRequest{Model: "@cf/x/y"})
	checkClass(t, err, "workers-ai", conductor.ClassAuth, false)
	if h.before != 1 || h.after != 1 {
		t.Errorf("hook %+v", h)
	}
}

// A caller's own body in the adapter's format passes through byte for byte;
// in another format, or asking for the other kind of answer, it does not.
func TestBodyPassThrough(t *testing.T) {
	for _, k := range kinds {
		format := map[string]string{"openai": provider.FormatOpenAI, "anthropic": provider.FormatAnthropic, "workers-ai": provider.FormatWorkersAI}[k.name]
		own := []byte(`{ "messages" : [ {"content":"Hi","role":"user"} ], "model":"` + k.model + `", "max_tokens": 9, "x_custom": [1,2] }`)
		tests := []struct {
			name       string
			bodyFormat string
			stream     bool
			passed     bool
		}{
			{"same format", format, false, true},
			{"same format, streamed", format, true, true},
			{"other format", "some-other-format", false, false},
		}
		for _, tt := range tests {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				r := reply{File: k.answer, Header: map[string]string{"Content-Type": "application/json"}}
				if tt.stream {
					r = reply{File: k.stream, Stream: true, Header: map[string]string{"Content-Type": "text/event-stream"}}
				}
				f := newFake(t, r)
				p := k.new(provider.Endpoint{Name: k.name, BaseURL: f.URL})
				req := k.request()
				req.Body, req.BodyFormat, req.Stream = own, tt.bodyFormat, tt.stream
				if tt.stream {
					s, err := p.Stream(context.Background(), req)
					if err != nil {
						t.Fatal(err)
					}
					drain(t, s)
				} else if _, err := p.Chat(context.Background(), req); err != nil {
					t.Fatal(err)
				}
				if got := f.Last(t).Body; (string(got) == string(own)) != tt.passed {
					t.Errorf("sent %s", got)
				}
				if !tt.stream {
					// Chat on a request whose own body streams: encoded instead.
					req.Stream = true
					if _, err := p.Chat(context.Background(), req); err != nil {
						t.Fatal(err)
					}
					if got := f.Last(t).Body; string(got) == string(own) {
						t.Errorf("a streaming body was sent for a whole answer")
					}
				}
			})
		}
	}
}
