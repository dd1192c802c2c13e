package server

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/control"
)

// Token is one gateway token a caller may present. Name is who the caller
// is for per-user rate limits and budgets, and in the request log; the
// value never reaches a log line.
type Token struct {
	Name  string
	Value string
	// Gateways are the gateway ids the token may use (403 elsewhere);
	// none: every gateway.
	Gateways []string
}

// TokensFromSecrets names the tokens of `[server] tokens_env`/`tokens_file`:
// an entry written "name=token" is called name, any other "token-N" (its
// position from 1), so that logs can tell callers apart without the secret.
func TokensFromSecrets(secrets []config.Secret) []Token {
	out := make([]Token, 0, len(secrets))
	for i, s := range secrets {
		v := s.Value()
		name, tok, ok := strings.Cut(v, "=")
		if !ok || name == "" || tok == "" || strings.ContainsAny(name, " \t") {
			name, tok = "token-"+strconv.Itoa(i+1), v
		}
		out = append(out, Token{Name: name, Value: tok})
	}
	return out
}

// auth checks gateway tokens and virtual keys and picks out a caller's
// own provider key.
type auth struct {
	// tokens are the gateway tokens; Reload replaces them.
	tokens     atomic.Pointer[[]hashedToken]
	callerKeys bool
	userHeader string
	// keys is the latest snapshot of the virtual keys (nil: none); used
	// notes a key's use, for `conductor keys list`.
	keys func() *control.Snapshot
	used func(name string, at time.Time)
	now  func() time.Time
}

// hashedToken keeps a token's SHA-256: comparing fixed-size digests in
// constant time leaks neither the token nor its length.
type hashedToken struct {
	name     string
	sum      [sha256.Size]byte
	gateways []string
}

func newAuth(tokens []Token, callerKeys bool, userHeader string) (*auth, error) {
	a := &auth{callerKeys: callerKeys, userHeader: userHeader}
	if err := a.setTokens(tokens); err != nil {
		return nil, err
	}
	return a, nil
}

// setTokens puts tokens in force for the next request.
func (a *auth) setTokens(tokens []Token) error {
	hashed := make([]hashedToken, 0, len(tokens))
	for i, t := range tokens {
		if t.Value == "" {
			return fmt.Errorf("server: token %d (%s) is empty", i+1, t.Name)
		}
		hashed = append(hashed, hashedToken{name: t.Name, sum: sha256.Sum256([]byte(t.Value)), gateways: t.Gateways})
	}
	a.tokens.Store(&hashed)
	return nil
}

// toks are the gateway tokens in force.
func (a *auth) toks() []hashedToken { return *a.tokens.Load() }

// caller is who sent a request, as its headers say.
type caller struct {
	// token is the name of the gateway token presented ("" when the
	// server has none).
	token string
	// key is the caller's own provider key to forward (only when caller
	// keys are allowed), with the header it came in.
	key       string
	keyHeader string // "authorization" or "x-api-key"
	// header is the request's headers: options copies the few provider
	// headers a caller may set (anthropic-beta, OpenAI-Organization…).
	header http.Header
	// userHeader is the configured user header's value.
	userHeader string
	// gateways are the gateways the caller's token may use; nil: all.
	gateways []string
	// vkey is the virtual key the caller presented, nil for none.
	vkey *control.Key
}

// mayUse reports whether the caller may call through gateway id.
func (c *caller) mayUse(id string) bool {
	return (c.gateways == nil || slices.Contains(c.gateways, id)) && (c.vkey == nil || c.vkey.AllowsGateway(id))
}

// who names the caller for a refusal: its key, or its token.
func (c *caller) who() string {
	if c.vkey != nil {
		return fmt.Sprintf("key %q", c.vkey.Name)
	}
	return "this token"
}

// identify fills the call's user, key and team.
func (c *caller) identify(o *conductor.CallOptions, bodyUser string) {
	o.User = c.user(o.Metadata, bodyUser)
	if c.vkey != nil {
		o.Key, o.Team = c.vkey.Name, c.vkey.Team
	}
}

// allowModel refuses (403) a call of a key to a model its patterns do not
// allow, before any limit counts it: requested is the name the caller
// wrote, routes where it goes (nil when a Resolve hook serves the name).
func (c *caller) allowModel(requested string, routes []route) error {
	k := c.vkey
	if k == nil || len(k.Models) == 0 || k.AllowsName(requested) {
		return nil
	}
	for _, r := range routes {
		if !k.AllowsModel(r.provider, r.model) {
			return modelRefused(k.Name, r.provider+"/"+r.model)
		}
	}
	if routes == nil {
		return modelRefused(k.Name, requested)
	}
	return nil
}

func modelRefused(key, model string) error {
	return &conductor.Error{Class: conductor.ClassAuth, Status: http.StatusForbidden, Code: "model_not_allowed",
		Message: fmt.Sprintf("key %q may not call model %s", key, model)}
}

var errNoToken = errors.New("a gateway token or key is required: send it as Authorization: Bearer <token>, cf-aig-authorization: Bearer <token> or x-api-key")
var errBadToken = errors.New("the gateway token or key is not valid")

// check authenticates r. With tokens or virtual keys configured, one of
// cf-aig-authorization, Authorization (Bearer) or x-api-key must hold a
// valid token or key; a header that holds something else may be the
// caller's provider key.
func (a *auth) check(r *http.Request) (*caller, error) {
	c := &caller{header: r.Header}
	if a.userHeader != "" {
		c.userHeader = r.Header.Get(a.userHeader)
	}
	aig := bearer(r.Header.Get("cf-aig-authorization"))
	authz := r.Header.Get("Authorization")
	apiKey := r.Header.Get("x-api-key")
	var keys *control.Snapshot
	if a.keys != nil {
		keys = a.keys()
	}
	if len(a.toks()) > 0 || keys.Guarding() {
		matched := ""
		var err error
		ok := func(v string) bool {
			if err != nil {
				return false
			}
			var m bool
			m, err = a.admits(v, c, keys)
			return m
		}
		switch {
		case aig != "":
			// The Cloudflare way: the gateway token has its own header, and a
			// wrong one is wrong even if another header holds a good one.
			if !ok(aig) {
				return nil, cmp.Or(err, errBadToken)
			}
			matched = "cf-aig-authorization"
		case authz != "" && ok(bearer(authz)):
			matched = "authorization"
		case apiKey != "" && ok(apiKey):
			matched = "x-api-key"
		case err != nil:
			return nil, err
		case authz == "" && apiKey == "":
			return nil, errNoToken
		default:
			return nil, errBadToken
		}
		if c.vkey != nil && a.used != nil {
			a.used(c.vkey.Name, a.now())
		}
		if a.callerKeys {
			// Whatever header did not carry the token may carry the key.
			switch {
			case matched != "authorization" && bearer(authz) != "":
				c.key, c.keyHeader = bearer(authz), "authorization"
			case matched != "x-api-key" && apiKey != "":
				c.key, c.keyHeader = apiKey, "x-api-key"
			}
		}
		return c, nil
	}
	if a.callerKeys {
		switch {
		case bearer(authz) != "":
			c.key, c.keyHeader = bearer(authz), "authorization"
		case apiKey != "":
			c.key, c.keyHeader = apiKey, "x-api-key"
		}
	}
	return c, nil
}

// admits reports whether v is a gateway token or a virtual key, and
// makes c its caller; a key revoked or expired is an error saying so.
func (a *auth) admits(v string, c *caller, keys *control.Snapshot) (bool, error) {
	if a.matches(v, c) {
		return true, nil
	}
	if !strings.HasPrefix(v, control.KeyPrefix) {
		return false, nil
	}
	k, err := keys.Lookup(v, a.now())
	if err != nil {
		return false, err
	}
	if k == nil {
		return false, nil
	}
	c.vkey = k
	return true, nil
}

// matches reports whether v is a token, and makes c its caller.
func (a *auth) matches(v string, c *caller) bool {
	t, ok := a.match(v)
	if ok {
		c.token, c.gateways = t.name, t.gateways
	}
	return ok
}

// match compares v with every token, all of them every time, so that the
// time taken says nothing about which token or how much of it matched.
func (a *auth) match(v string) (*hashedToken, bool) {
	sum := sha256.Sum256([]byte(v))
	tokens := a.toks()
	found := -1
	for i := range tokens {
		if subtle.ConstantTimeCompare(sum[:], tokens[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, false
	}
	return &tokens[found], true
}

// bearer returns the credentials of "Bearer <x>" (any case), or "".
func bearer(h string) string {
	const p = "bearer "
	if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
		return strings.TrimSpace(h[len(p):])
	}
	return ""
}

// providerHeaders forwards a caller may choose, by the names an
// http.Header keeps them under.
var providerHeaders = []string{"Anthropic-Version", "Anthropic-Beta", "Openai-Organization", "Openai-Project"}

// options puts the caller's own key and chosen provider headers in the
// call's options: the route sends them (routing's caller hook) and redacts the
// key from what comes back.
func (c *caller) options(o *conductor.CallOptions) {
	o.CallerKey = conductor.CallerKey{Value: c.key, Header: c.keyHeader}
	o.ProviderHeader = nil
	for _, name := range providerHeaders {
		if v := c.header[name]; len(v) > 0 {
			if o.ProviderHeader == nil {
				o.ProviderHeader = make(map[string][]string, len(providerHeaders))
			}
			o.ProviderHeader[name] = v
		}
	}
}

// user is who a call is for: the gateway token's name, else the virtual
// key's user, else the user in cf-aig-metadata, else the body's user
// field, else the configured header.
func (c *caller) user(metadata map[string]string, bodyUser string) string {
	switch {
	case c.token != "":
		return c.token
	case c.vkey != nil && c.vkey.User != "":
		return c.vkey.User
	case metadata["user"] != "":
		return metadata["user"]
	case bodyUser != "":
		return bodyUser
	}
	return c.userHeader
}
