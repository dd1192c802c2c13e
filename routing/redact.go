package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/provider"
	"github.com/conductor-go/conductor/provider/aig"
)

// redacted replaces a secret found in an upstream's error.
const redacted = "[redacted]"

// minSecretLen keeps a test's or a placeholder's one-letter "key" from
// blanking every such letter of a message; real keys are far longer.
const minSecretLen = 6

// secretSet is what redaction hides: every key and token a config holds.
// The zero value hides nothing.
type secretSet struct{ list []string }

// add adds v (trimmed) unless it is too short to be a real secret.
func (s *secretSet) add(v string) {
	if v = strings.TrimSpace(v); len(v) >= minSecretLen && !slices.Contains(s.list, v) {
		s.list = append(s.list, v)
	}
}

// configuredSecrets gathers every secret cfg and env hold: each provider's
// key (the Cloudflare API token among them), each [[ai.gateway]] token and
// the server's gateway tokens (a "name=token" entry both whole and as its
// token). An upstream may echo any of them — a proxy or a misconfigured
// gateway quoting the headers it got — and one provider's error must not
// show another's key either. Unreadable key files are skipped: the route
// that needs one reports it.
func configuredSecrets(cfg *config.Config, env config.LookupEnv) secretSet {
	var s secretSet
	for _, name := range conductor.Providers() {
		if k, err := cfg.APIKey(name, env); err == nil {
			s.add(k.Value())
		}
	}
	// Every [[model.deployment]]'s own key (key_env, keys_env, key_file).
	for _, m := range cfg.Models {
		for _, d := range m.Expand() {
			if k, err := cfg.DeploymentKey(m.Name, d, env); err == nil {
				s.add(k.Value())
			}
		}
	}
	for _, g := range cfg.AI.Gateways {
		if t, err := cfg.GatewayToken(g, env); err == nil {
			s.add(t.Value())
		}
	}
	if toks, err := cfg.ServerTokens(env); err == nil {
		for _, t := range toks {
			s.add(t.Value())
			if _, tok, ok := strings.Cut(t.Value(), "="); ok {
				s.add(tok)
			}
		}
	}
	return s
}

// redacting wraps an adapter so that its errors (and the request id of
// its answers) show none of secrets nor the caller's own key of the call
// (CallOptions.CallerKey). Most providers mask a key they quote, but a
// proxy, a local server or a misconfigured gateway may echo a header
// verbatim, and that message would otherwise reach the caller, the log
// lines and the gateway's stored rows. It belongs right around an adapter,
// so that every layer above only ever sees the scrubbed error. Answers
// pass through untouched: only the error path pays, plus one look at the
// request id.
type redacting struct {
	next    conductor.Provider
	secrets secretSet
}

// withRedaction wraps the adapter of a route: the configured secrets plus
// the route's own key and gateway token (read when the route was planned).
func withRedaction(p conductor.Provider, ep provider.Endpoint, configured secretSet) conductor.Provider {
	s := secretSet{list: slices.Clone(configured.list)}
	s.add(ep.APIKey)
	for name, vals := range ep.Header {
		if strings.EqualFold(name, aig.HeaderAuthorization) {
			for _, v := range vals {
				s.add(strings.TrimPrefix(v, "Bearer "))
			}
		}
	}
	return &redacting{next: p, secrets: s}
}

func (p *redacting) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	resp, err := p.next.Chat(ctx, req)
	own := req.Options.CallerKey.Value
	if err != nil {
		return resp, p.secrets.scrub(err, own)
	}
	if resp != nil && resp.RequestID != "" && p.secrets.leaks(resp.RequestID, own) {
		// An upstream that echoes credentials in its request-id header:
		// the id is cached and shown with errors.
		resp.RequestID = p.secrets.clean(resp.RequestID, own)
	}
	return resp, nil
}

func (p *redacting) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	own := req.Options.CallerKey.Value
	s, err := p.next.Stream(ctx, req)
	if err != nil {
		return nil, p.secrets.scrub(err, own)
	}
	return &redactingStream{Stream: s, secrets: p.secrets, own: own}, nil
}

// Embed scrubs an embedding upstream's errors as Chat does a chat
// upstream's (the adapters of OpenAI-style servers and Workers AI embed).
func (p *redacting) Embed(ctx context.Context, req *conductor.EmbedRequest) (*conductor.EmbedResponse, error) {
	e, ok := p.next.(conductor.Embedder)
	if !ok {
		return nil, &conductor.Error{Provider: req.Provider, Class: conductor.ClassBadRequest, Code: "unsupported_model",
			Message: fmt.Sprintf("%s serves no embeddings", req.Provider)}
	}
	own := req.Options.CallerKey.Value
	resp, err := e.Embed(ctx, req)
	if err != nil {
		return resp, p.secrets.scrub(err, own)
	}
	if resp != nil && resp.RequestID != "" && p.secrets.leaks(resp.RequestID, own) {
		resp.RequestID = p.secrets.clean(resp.RequestID, own)
	}
	return resp, nil
}

type redactingStream struct {
	conductor.Stream
	secrets secretSet
	own     string // the call's caller key
}

// Buffered passes the wrapped stream's answer through (conductor.BufferedStream).
func (s *redactingStream) Buffered() bool { return conductor.StreamBuffered(s.Stream) }

func (s *redactingStream) Next() (conductor.Chunk, error) {
	c, err := s.Stream.Next()
	if err != nil && err != io.EOF {
		err = s.secrets.scrub(err, s.own)
	}
	return c, err
}

// clean replaces every secret in text, and own (a caller's key) when it
// is long enough to be one.
func (s secretSet) clean(text, own string) string {
	for _, sec := range s.list {
		text = strings.ReplaceAll(text, sec, redacted)
	}
	if len(own) >= minSecretLen {
		text = strings.ReplaceAll(text, own, redacted)
	}
	return text
}

func (s secretSet) leaks(text, own string) bool {
	for _, sec := range s.list {
		if strings.Contains(text, sec) {
			return true
		}
	}
	return len(own) >= minSecretLen && strings.Contains(text, own)
}

// scrub returns err unchanged when it holds no secret (the usual case, so
// errors.Is on causes keeps working); otherwise a copy of its
// *conductor.Error with every secret replaced, keeping class, status and
// retry hints (text wrapped around it is dropped), or, for any other error,
// its scrubbed text.
func (s secretSet) scrub(err error, own string) error {
	if err == nil {
		return nil
	}
	e, ok := conductor.AsError(err)
	if !ok {
		if s.leaks(err.Error(), own) {
			return errors.New(s.clean(err.Error(), own))
		}
		return err
	}
	// Error() leaves out the code, and the cause when there is a message:
	// both still reach callers (an error body's code) and logs (Unwrap).
	if !s.leaks(err.Error(), own) && !s.leaks(e.Code, own) && (e.Err == nil || !s.leaks(e.Err.Error(), own)) {
		return err
	}
	c := *e
	c.Message, c.Code, c.RequestID = s.clean(c.Message, own), s.clean(c.Code, own), s.clean(c.RequestID, own)
	if c.Err != nil && s.leaks(c.Err.Error(), own) {
		c.Err = errors.New(s.clean(c.Err.Error(), own))
	}
	return &c
}
