package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/provider/aig"
)

// An upstream that quotes the credentials it was sent (a proxy, a local
// server, a misconfigured gateway) must not put them in the error the
// engine prints, logs and the gateway stores.
func TestErrorsNeverShowTheRouteSecrets(t *testing.T) {
	// echo answers with the request's credentials inside the provider's own
	// error shape: a whole 401, or a stream whose first event is an error.
	echo := func(t *testing.T, stream bool) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			creds := strings.Join([]string{r.Header.Get("Authorization"), r.Header.Get("x-api-key"), r.Header.Get(aig.HeaderAuthorization)}, " ")
			if stream {
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprintf(w, "data: {\"error\":{\"message\":\"upstream refused %s\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n", creds)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			if r.Header.Get("x-api-key") != "" {
				fmt.Fprintf(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key %s"}}`, creds)
				return
			}
			fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, creds)
		}))
		t.Cleanup(s.Close)
		return s
	}
	tests := []struct {
		name, provider, routing, cfg, baseVar, suffix string
		stream                                        bool
		class                                         conductor.ErrorClass
		status                                        int
	}{
		{"openai direct", "openai", "direct", "", "OPENAI_BASE_URL", "/v1", false, conductor.ClassAuth, 401},
		{"anthropic direct", "anthropic", "direct", "", "ANTHROPIC_BASE_URL", "", false, conductor.ClassAuth, 401},
		{"groq direct, stream error event", "groq", "direct", "", "GROQ_BASE_URL", "/openai/v1", true, conductor.ClassServer, 0},
		{"hosted gateway token and key", "openai", "cloudflare-gateway", hosted, "CLOUDFLARE_AI_GATEWAY_BASE_URL", "/v1", false, conductor.ClassAuth, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := keys()
			env[tt.baseVar] = echo(t, tt.stream).URL + tt.suffix
			r, err := New(parseConfig(t, tt.cfg), Options{Env: config.MapEnv(env)})
			if err != nil {
				t.Fatal(err)
			}
			p, err := r.Provider(context.Background(), tt.provider, "m", tt.routing)
			if err != nil {
				t.Fatal(err)
			}
			req := request(tt.provider, "m", tt.stream)
			if tt.stream {
				var s conductor.Stream
				if s, err = p.Stream(context.Background(), req); err == nil {
					defer s.Close()
					for err == nil {
						_, err = s.Next()
					}
				}
			} else {
				_, err = p.Chat(context.Background(), req)
			}
			e, ok := conductor.AsError(err)
			if !ok || e.Class != tt.class || e.Status != tt.status {
				t.Fatalf("err = %#v, want class %s status %d", err, tt.class, tt.status)
			}
			if !strings.Contains(err.Error(), redacted) {
				t.Errorf("the upstream's message lost its quoted credentials instead of showing %s: %v", redacted, err)
			}
			for name, v := range env {
				if strings.HasSuffix(name, "_KEY") || strings.HasSuffix(name, "TOKEN") {
					if strings.Contains(err.Error(), v) {
						t.Errorf("error shows %s: %v", name, err)
					}
				}
			}
		})
	}
}

// Every part of an error that reaches a caller or a log is scrubbed: the
// message, the code (an error body's "code"), the request id and the
// cause, and the call's own caller key with the configured secrets.
func TestScrub(t *testing.T) {
	var s secretSet
	s.add("sk-configured-1234")
	s.add("tok") // too short to be a key: left alone
	const own = "sk-caller-5678"
	cause := errors.New("dial: sk-configured-1234")
	tests := []struct {
		name string
		err  error
		own  string
		want string // the scrubbed error's Error(), code and cause
	}{
		{"message", &conductor.Error{Class: conductor.ClassAuth, Message: "bad key sk-configured-1234 tok"}, "",
			"auth: bad key [redacted] tok||"},
		{"code", &conductor.Error{Class: conductor.ClassAuth, Message: "bad key", Code: "sk-configured-1234"}, "",
			"auth: bad key|[redacted]|"},
		{"request id", &conductor.Error{Class: conductor.ClassAuth, RequestID: "req sk-caller-5678"}, own,
			"auth (request id req [redacted])||"},
		{"cause behind a message", &conductor.Error{Class: conductor.ClassNetwork, Message: "network", Err: cause}, "",
			"network: network||dial: [redacted]"},
		{"the caller's key", &conductor.Error{Class: conductor.ClassAuth, Message: "key sk-caller-5678"}, own,
			"auth: key [redacted]||"},
		{"a short caller key is no secret", &conductor.Error{Class: conductor.ClassAuth, Message: "key abc"}, "abc",
			"auth: key abc||"},
		{"another error", fmt.Errorf("wrapped: %w", errors.New("sk-caller-5678")), own, "wrapped: [redacted]||"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.scrub(tt.err, tt.own)
			got := err.Error() + "|"
			if e, ok := conductor.AsError(err); ok {
				got += e.Code + "|"
				if e.Err != nil {
					got += e.Err.Error()
				}
			} else {
				got += "|"
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if err := (&conductor.Error{Message: "clean"}); s.scrub(err, own) != error(err) {
		t.Error("an error without a secret was copied: errors.Is on it would break")
	}
}
