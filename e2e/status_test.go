package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// attempts counts every upstream call the built-in gateway made for the
// member, its own retries included, when the member succeeds after them
// and when it fails after them; --trace names the gateway that served it.
func TestBuiltinGatewayAttempts(t *testing.T) {
	tests := []struct {
		name     string
		respond  Responder
		code     int
		attempts int
	}{
		{"retried then answered", Sequence(Fail(http.StatusServiceUnavailable), Fail(http.StatusServiceUnavailable), Text("")), 0, 3},
		{"every attempt failed", Fail(http.StatusServiceUnavailable), 1, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, configBuiltin+"max_attempts = 3\nretry_delay = \"1ms\"\n")
			w.openai.Respond(tc.respond)
			o := w.run(example("generate-article"), "--input", `"hi"`, "--trace")
			if o.code != tc.code || o.res == nil {
				t.Fatalf("exit %d, want %d\nstderr: %s", o.code, tc.code, o.stderr)
			}
			if n := len(w.openai.Requests()); n != 3 {
				t.Fatalf("openai got %d requests, want 3", n)
			}
			if m := o.res.member(t, "write-draft"); m.Attempts != tc.attempts {
				t.Errorf("attempts = %d, want %d (every upstream call)", m.Attempts, tc.attempts)
			}
			if !strings.Contains(o.stderr, "built-in gateway "+gatewayID) {
				t.Errorf("--trace does not name the built-in gateway %s:\n%s", gatewayID, o.stderr)
			}
		})
	}
}

// --trace names Cloudflare's hosted gateway and its id when the gateway
// has an account_id.
func TestTraceNamesHostedGateway(t *testing.T) {
	t.Parallel()
	w := newWorld(t, configHosted)
	o := w.run(example("generate-article"), "--input", `"hi"`, "--trace")
	o.mustSucceed(t)
	if !strings.Contains(o.stderr, "hosted gateway "+gatewayID) {
		t.Errorf("--trace does not name the hosted gateway %s:\n%s", gatewayID, o.stderr)
	}
}
