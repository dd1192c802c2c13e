package routing

import (
	"context"
	"errors"
	"io"
	"strings"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider"
)

// redacted replaces a secret found in an upstream's error.
const redacted = "[redacted]"

// minSecretLen keeps a test's or a placeholder's one-letter "key" from
// blanking every such letter of a message; real keys are far longer.
const minSecretLen = 6

// redacting hides a route's own secrets (the provider key, the gateway
// token) in the errors of the adapter it wraps. Most providers mask a key
// they quote, but a proxy, a local server or a misconfigured gateway may
// echo a header verbatim, and that message would otherwise reach the user's
// terminal, the log and the gateway's stored rows. It sits right around the
// adapter, so every layer above only ever sees the scrubbed error. Answers
// pass through untouched: only the error path pays.
type redacting struct {
	next    conductor.Provider
	secrets []string
}

// withRedaction wraps p when ep carries secrets.
func withRedaction(p conductor.Provider, ep provider.Endpoint) conductor.Provider {
	var secrets []string
	add := func(s string) {
		if s = strings.TrimSpace(s); len(s) >= minSecretLen {
			secrets = append(secrets, s)
		}
	}
	add(ep.APIKey)
	for name, vals := range ep.Header {
		if strings.EqualFold(name, HeaderAuthorization) {
			for _, v := range vals {
				add(strings.TrimPrefix(v, "Bearer "))
			}
		}
	}
	if len(secrets) == 0 {
		return p
	}
	return &redacting{next: p, secrets: secrets}
}

func (p *redacting) Chat(ctx context.Context, req *conductor.ChatRequest) (*conductor.ChatResponse, error) {
	resp, err := p.next.Chat(ctx, req)
	return resp, p.scrub(err)
}

func (p *redacting) Stream(ctx context.Context, req *conductor.ChatRequest) (conductor.Stream, error) {
	s, err := p.next.Stream(ctx, req)
	if err != nil {
		return nil, p.scrub(err)
	}
	return &redactingStream{Stream: s, p: p}, nil
}

type redactingStream struct {
	conductor.Stream
	p *redacting
}

func (s *redactingStream) Next() (conductor.Chunk, error) {
	c, err := s.Stream.Next()
	if err != nil && err != io.EOF {
		err = s.p.scrub(err)
	}
	return c, err
}

func (p *redacting) clean(s string) string {
	for _, sec := range p.secrets {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}

func (p *redacting) leaks(s string) bool {
	for _, sec := range p.secrets {
		if strings.Contains(s, sec) {
			return true
		}
	}
	return false
}

// scrub returns err unchanged when it holds no secret (the usual case, so
// errors.Is on causes keeps working); otherwise a copy of its
// *conductor.Error with every secret replaced, keeping class, status and
// retry hints (text wrapped around it is dropped), or, for any other error,
// its scrubbed text.
func (p *redacting) scrub(err error) error {
	if err == nil || !p.leaks(err.Error()) {
		return err
	}
	e, ok := conductor.AsError(err)
	if !ok {
		return errors.New(p.clean(err.Error()))
	}
	c := *e
	c.Message, c.Code, c.RequestID = p.clean(c.Message), p.clean(c.Code), p.clean(c.RequestID)
	if c.Err != nil && p.leaks(c.Err.Error()) {
		c.Err = errors.New(p.clean(c.Err.Error()))
	}
	return &c
}
