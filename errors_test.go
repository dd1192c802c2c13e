package conductor

import (
	"errors"
	"testing"
)

// A caller reads the message, named by the provider that failed, never
// the gateway's internal class and status prefixes (the body's type and
// the HTTP status carry them).
func TestCallerMessage(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{"budget refusal", Error{Provider: "openai", Class: ClassBudget, Status: 429, Message: "spend limit $1/day exceeded"}, "spend limit $1/day exceeded"},
		{"rate limit", Error{Provider: "openai", Class: ClassLimited, Status: 429, Message: "rate limit 60 requests/minute exceeded"}, "rate limit 60 requests/minute exceeded"},
		{"config", Error{Provider: "anthropic", Class: ClassConfig, Message: "export ANTHROPIC_API_KEY"}, "export ANTHROPIC_API_KEY"},
		{"upstream", Error{Provider: "openai", Class: ClassAuth, Status: 401, Message: "Incorrect API key", RequestID: "req_1"}, "openai: Incorrect API key (request id req_1)"},
		{"a cause only", Error{Provider: "groq", Class: ClassNetwork, Err: errors.New("connection refused")}, "groq: connection refused"},
		{"nothing but a class", Error{Class: ClassStreamCut}, "stream cut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.CallerMessage(); got != tt.want {
				t.Errorf("CallerMessage() = %q, want %q (Error() = %q)", got, tt.want, tt.err.Error())
			}
		})
	}
}
