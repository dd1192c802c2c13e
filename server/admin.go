package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/control"
	"github.com/conductor-go/conductor/gateway"
)

// The admin API, under /admin/, JSON in and out, behind the admin token
// (Options.AdminToken: never a gateway token or a virtual key):
//
//	GET    /admin/keys                 every key: limits, status, spend today, last use (never a key)
//	POST   /admin/keys                 create one; the answer holds the key, once
//	GET    /admin/keys/{name}
//	PATCH  /admin/keys/{name}          change user, team, limits, models, gateways, expiry
//	DELETE /admin/keys/{name}
//	POST   /admin/keys/{name}/revoke
//	POST   /admin/keys/{name}/rotate   {"grace":"24h"}; the answer holds the new key
//	GET    /admin/{budgets|teams|rate-limits}          the config's and the store's, the store's winning
//	POST   /admin/{budgets|teams|rate-limits}          create (409 when the name is taken)
//	GET    /admin/{budgets|teams|rate-limits}/{name}
//	PUT    /admin/{budgets|teams|rate-limits}/{name}   create or replace (a config entry is overridden)
//	DELETE /admin/{budgets|teams|rate-limits}/{name}   the store's item; the config's entry returns
//	GET    /admin/gateways                             every gateway's cache TTL
//	PUT    /admin/gateways/{id}                        {"cache_ttl":"1h"}
//	DELETE /admin/gateways/{id}                        back to conductor.toml's
//	GET    /admin/audit?limit=100                      who changed what, when, before and after
//	POST   /admin/reload                               read conductor.toml again
//
// Every change is checked as the config file would be, stored with its
// audit row, and in force on this server at once and on every server
// sharing the store at its next poll.

// adminWho is the audit log's name for changes made through the API.
const adminWho = "admin-api"

// admin returns the /admin/ handler.
func (s *Server) admin() http.Handler {
	if s.opts.AdminToken == "" || s.opts.Control == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			why := "set the admin token (CONDUCTOR_ADMIN_TOKEN, or [server] admin_token_env / admin_token_file)"
			if s.opts.Control == nil {
				why = "the store keeps no control items"
			}
			adminError(w, http.StatusNotFound, "admin_off", "the admin API is off: "+why)
		})
	}
	sum := sha256.Sum256([]byte(s.opts.AdminToken))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/keys", s.adminKeys)
	mux.HandleFunc("POST /admin/keys", s.adminCreateKey)
	mux.HandleFunc("GET /admin/keys/{name}", s.adminKey)
	mux.HandleFunc("PATCH /admin/keys/{name}", s.adminPatchKey)
	mux.HandleFunc("DELETE /admin/keys/{name}", s.adminDeleteKey)
	mux.HandleFunc("POST /admin/keys/{name}/revoke", s.adminRevokeKey)
	mux.HandleFunc("POST /admin/keys/{name}/rotate", s.adminRotateKey)
	adminItems(s, mux, "budgets", itemKind[config.Budget]{
		kind: control.KindBudget, what: "budget",
		name:   func(b config.Budget) string { return b.Name },
		config: func(c *config.Config) []config.Budget { return c.Budgets },
		set:    func(c *config.Config, l []config.Budget) { c.Budgets = l },
		items:  func(sn *control.Snapshot) []config.Budget { return sn.Budgets },
	})
	adminItems(s, mux, "teams", itemKind[config.Team]{
		kind: control.KindTeam, what: "team",
		name:   func(t config.Team) string { return t.Name },
		config: func(c *config.Config) []config.Team { return c.Teams },
		set:    func(c *config.Config, l []config.Team) { c.Teams = l },
		items:  func(sn *control.Snapshot) []config.Team { return sn.Teams },
	})
	adminItems(s, mux, "rate-limits", itemKind[config.RateLimit]{
		kind: control.KindRateLimit, what: "rate limit",
		name:   func(r config.RateLimit) string { return r.Name },
		config: func(c *config.Config) []config.RateLimit { return c.RateLimits },
		set:    func(c *config.Config, l []config.RateLimit) { c.RateLimits = l },
		items:  func(sn *control.Snapshot) []config.RateLimit { return sn.Rates },
	})
	mux.HandleFunc("GET /admin/gateways", s.adminGateways)
	mux.HandleFunc("PUT /admin/gateways/{id}", s.adminPutGateway)
	mux.HandleFunc("DELETE /admin/gateways/{id}", s.adminDeleteGateway)
	mux.HandleFunc("GET /admin/audit", s.adminAudit)
	mux.HandleFunc("POST /admin/reload", s.adminReload)
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		adminError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no admin endpoint %s %.200s", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(bearer(r.Header.Get("Authorization"))))
		if subtle.ConstantTimeCompare(got[:], sum[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="conductor-admin"`)
			adminError(w, http.StatusUnauthorized, "invalid_admin_token", "the admin API wants the admin token as Authorization: Bearer <token> (gateway tokens and keys are not admin tokens)")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		mux.ServeHTTP(w, r)
	})
}

func adminError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"message": msg, "code": code}})
	writeJSON(w, status, b)
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		adminError(w, http.StatusInternalServerError, "encode", err.Error())
		return
	}
	writeJSON(w, status, append(b, '\n'))
}

// adminFail answers a failed change: 404 for what does not exist, 409 for
// a name taken, 400 for what the checks refused, 500 for the store.
func adminFail(w http.ResponseWriter, err error) {
	var bad *badInput
	switch {
	case errors.As(err, &bad):
		adminError(w, http.StatusBadRequest, "invalid", bad.msg)
	case errors.Is(err, conductor.ErrNotFound):
		adminError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, control.ErrExists), errors.Is(err, conductor.ErrConflict):
		adminError(w, http.StatusConflict, "exists", err.Error())
	default:
		adminError(w, http.StatusInternalServerError, "store", "the change could not be stored: "+err.Error())
	}
}

// badInput is a refused request body.
type badInput struct{ msg string }

func (b *badInput) Error() string { return b.msg }

func invalid(format string, args ...any) error { return &badInput{fmt.Sprintf(format, args...)} }

// decodeBody reads a JSON object into v, refusing unknown fields.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return invalid("the body is empty: expected a JSON object")
		}
		return invalid("the body: %v", err)
	}
	return nil
}

// changed puts a change in force here at once; other servers sharing the
// store take it at their next poll.
func (s *Server) changed(ctx context.Context) {
	if err := s.refreshControl(ctx); err != nil {
		s.log.Warn("admin API: the change is stored but not reloaded yet", "err", err)
	}
}

// --- keys ---

// adminKeyView is a key as the admin API shows it.
type adminKeyView struct {
	control.Key
	Status        string    `json:"status"`
	SpentTodayUSD float64   `json:"spent_today_usd"`
	LastUsed      time.Time `json:"last_used,omitzero"`
	// Secret is the key itself: in the answer of a creation or a rotation
	// only.
	Secret string `json:"key,omitempty"`
}

func (s *Server) keyView(ctx context.Context, k control.Key, used map[string]time.Time) adminKeyView {
	now := time.Now()
	v := adminKeyView{Key: k.Public(), Status: cmpOr(k.Status(now), "active"), LastUsed: used[k.Name]}
	spent, err := s.opts.Store.Spent(ctx, gateway.SpendKey(gateway.ScopeKey, k.Name)+"/day:"+now.UTC().Format("2006-01-02"))
	if err == nil {
		v.SpentTodayUSD = float64(spent) / 1e9
	}
	return v
}

func (s *Server) adminKeys(w http.ResponseWriter, r *http.Request) {
	a := &control.Admin{Store: s.opts.Control}
	keys, err := a.Keys(r.Context())
	if err != nil {
		adminFail(w, err)
		return
	}
	used := s.keysUsed(r.Context())
	out := make([]adminKeyView, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.keyView(r.Context(), k, used))
	}
	adminJSON(w, http.StatusOK, out)
}

// keysUsed is every key's last use, this server's latest included.
func (s *Server) keysUsed(ctx context.Context) map[string]time.Time {
	if s.ctl != nil {
		if err := s.ctl.Flush(ctx); err != nil {
			s.log.Warn("admin API: keys' last use not written", "err", err)
		}
	}
	used, err := s.opts.Control.KeysUsed(ctx)
	if err != nil {
		s.log.Warn("admin API: keys' last use not read", "err", err)
	}
	return used
}

func (s *Server) findKey(ctx context.Context, name string) (control.Key, error) {
	keys, err := (&control.Admin{Store: s.opts.Control}).Keys(ctx)
	if err != nil {
		return control.Key{}, err
	}
	i := slices.IndexFunc(keys, func(k control.Key) bool { return k.Name == name })
	if i < 0 {
		return control.Key{}, fmt.Errorf("no key %q: %w", name, conductor.ErrNotFound)
	}
	return keys[i], nil
}

func (s *Server) adminKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.findKey(r.Context(), r.PathValue("name"))
	if err != nil {
		adminFail(w, err)
		return
	}
	adminJSON(w, http.StatusOK, s.keyView(r.Context(), k, s.keysUsed(r.Context())))
}

// keyChange is what a key's creation or change may say.
type keyChange struct {
	Name       *string    `json:"name"`
	User       *string    `json:"user"`
	Team       *string    `json:"team"`
	DailyUSD   *float64   `json:"daily_usd"`
	MonthlyUSD *float64   `json:"monthly_usd"`
	RPM        *int64     `json:"rpm"`
	TPM        *int64     `json:"tpm"`
	Models     *[]string  `json:"models"`
	Gateways   *[]string  `json:"gateways"`
	Expires    *time.Time `json:"expires"`    // an instant, RFC 3339
	ExpiresIn  *string    `json:"expires_in"` // or a lifetime from now: 90m, 12h, 30d
}

func (c *keyChange) apply(k *control.Key, now time.Time) error {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&k.User, c.User)
	set(&k.Team, c.Team)
	if c.DailyUSD != nil {
		k.DailyUSD = *c.DailyUSD
	}
	if c.MonthlyUSD != nil {
		k.MonthlyUSD = *c.MonthlyUSD
	}
	if c.RPM != nil {
		k.RPM = *c.RPM
	}
	if c.TPM != nil {
		k.TPM = *c.TPM
	}
	if c.Models != nil {
		k.Models = *c.Models
	}
	if c.Gateways != nil {
		k.Gateways = *c.Gateways
	}
	switch {
	case c.Expires != nil && c.ExpiresIn != nil:
		return invalid("expires and expires_in: give one")
	case c.Expires != nil:
		k.Expires = c.Expires.UTC()
	case c.ExpiresIn != nil && *c.ExpiresIn == "":
		k.Expires = time.Time{}
	case c.ExpiresIn != nil:
		d, err := control.ParseLifetime(*c.ExpiresIn)
		if err != nil {
			return invalid("expires_in: %v", err)
		}
		k.Expires = now.Add(d).UTC()
	}
	if err := k.Check(); err != nil {
		return invalid("%v", err)
	}
	return nil
}

func (s *Server) adminCreateKey(w http.ResponseWriter, r *http.Request) {
	var c keyChange
	if err := decodeBody(r, &c); err != nil {
		adminFail(w, err)
		return
	}
	if c.Name == nil {
		adminFail(w, invalid("name: required"))
		return
	}
	k := control.Key{Name: *c.Name}
	if err := c.apply(&k, time.Now()); err != nil {
		adminFail(w, err)
		return
	}
	secret, err := (&control.Admin{Store: s.opts.Control}).CreateKey(r.Context(), k, adminWho)
	if err != nil {
		adminFail(w, err)
		return
	}
	s.changed(r.Context())
	stored, err := s.findKey(r.Context(), k.Name)
	if err != nil {
		adminFail(w, err)
		return
	}
	v := s.keyView(r.Context(), stored, nil)
	v.Secret = secret
	adminJSON(w, http.StatusCreated, v)
}

func (s *Server) adminPatchKey(w http.ResponseWriter, r *http.Request) {
	var c keyChange
	if err := decodeBody(r, &c); err != nil {
		adminFail(w, err)
		return
	}
	name := r.PathValue("name")
	if c.Name != nil && *c.Name != name {
		adminFail(w, invalid("name: a key cannot be renamed (create another, revoke this one)"))
		return
	}
	k, err := (&control.Admin{Store: s.opts.Control}).UpdateKey(r.Context(), name, adminWho, "update", func(k *control.Key, now time.Time) error {
		return c.apply(k, now)
	})
	if err != nil {
		adminFail(w, err)
		return
	}
	s.changed(r.Context())
	adminJSON(w, http.StatusOK, s.keyView(r.Context(), k, nil))
}

func (s *Server) adminDeleteKey(w http.ResponseWriter, r *http.Request) {
	if err := (&control.Admin{Store: s.opts.Control}).DeleteKey(r.Context(), r.PathValue("name"), adminWho); err != nil {
		adminFail(w, err)
		return
	}
	s.changed(r.Context())
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminRevokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := (&control.Admin{Store: s.opts.Control}).RevokeKey(r.Context(), r.PathValue("name"), adminWho)
	if err != nil {
		if !errors.Is(err, conductor.ErrNotFound) && !strings.Contains(err.Error(), "store") {
			err = invalid("%v", err)
		}
		adminFail(w, err)
		return
	}
	s.changed(r.Context())
	adminJSON(w, http.StatusOK, s.keyView(r.Context(), k, nil))
}

func (s *Server) adminRotateKey(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Grace string `json:"grace"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &body); err != nil {
			adminFail(w, err)
			return
		}
	}
	var grace time.Duration
	if body.Grace != "" {
		var err error
		if grace, err = control.ParseLifetime(body.Grace); err != nil {
			adminFail(w, invalid("grace: %v", err))
			return
		}
	}
	name := r.PathValue("name")
	secret, err := (&control.Admin{Store: s.opts.Control}).RotateKey(r.Context(), name, grace, adminWho)
	if err != nil {
		if !errors.Is(err, conductor.ErrNotFound) {
			err = invalid("%v", err)
		}
		adminFail(w, err)
		return
	}
	s.changed(r.Context())
	k, err := s.findKey(r.Context(), name)
	if err != nil {
		adminFail(w, err)
		return
	}
	v := s.keyView(r.Context(), k, nil)
	v.Secret = secret
	adminJSON(w, http.StatusOK, v)
}

// --- budgets, teams, rate limits ---

// itemKind describes one kind of named config entry the admin API
// changes.
type itemKind[T any] struct {
	kind   string // the control item kind
	what   string // for messages
	name   func(T) string
	config func(*config.Config) []T
	set    func(*config.Config, []T)
	items  func(*control.Snapshot) []T
}

// itemView is an entry with where it comes from.
type itemView[T any] struct {
	Item   T      `json:"item"`
	Source string `json:"source"` // "config" or "store" (the store's overrides the config's)
}

// problemPrefix is what config.Check puts before a message: the entry's
// place in its list.
var problemPrefix = regexp.MustCompile(`^[a-z_.]+\[\d+\]\.?:? ?`)

// checkWith checks the config in force with the store's items and v laid
// over it, so that what the API stores is what conductor.toml would
// accept (and what the running gateways can take).
func checkWith[T any](s *Server, d itemKind[T], v T) error {
	merged := s.snapshot().Apply(s.config())
	list := d.config(merged)
	i := slices.IndexFunc(list, func(x T) bool { return d.name(x) == d.name(v) })
	if i >= 0 {
		list[i] = v
	} else {
		list = append(list, v)
	}
	d.set(merged, list)
	err := merged.Check()
	var errs config.Errors
	if !errors.As(err, &errs) {
		return err
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = problemPrefix.ReplaceAllString(e.Msg, "")
	}
	return invalid("%s %q: %s", d.what, d.name(v), strings.Join(msgs, "; "))
}

func adminItems[T any](s *Server, mux *http.ServeMux, path string, d itemKind[T]) {
	list := func() []itemView[T] {
		var out []itemView[T]
		stored := d.items(s.snapshot())
		for _, c := range d.config(s.config()) {
			if !slices.ContainsFunc(stored, func(x T) bool { return d.name(x) == d.name(c) }) {
				out = append(out, itemView[T]{c, "config"})
			}
		}
		for _, x := range stored {
			out = append(out, itemView[T]{x, "store"})
		}
		return out
	}
	find := func(name string) (itemView[T], bool) {
		for _, v := range list() {
			if d.name(v.Item) == name {
				return v, true
			}
		}
		return itemView[T]{}, false
	}
	put := func(w http.ResponseWriter, r *http.Request, name string, create bool) {
		var v T
		if err := decodeBody(r, &v); err != nil {
			adminFail(w, err)
			return
		}
		if name == "" {
			name = d.name(v)
		}
		if d.name(v) != name {
			adminFail(w, invalid("name %q: the path names %s %q", d.name(v), d.what, name))
			return
		}
		if _, ok := find(name); ok && create {
			adminFail(w, fmt.Errorf("%s %q %w (PUT /admin/%s/%s replaces it)", d.what, name, control.ErrExists, path, name))
			return
		}
		if err := checkWith(s, d, v); err != nil {
			adminFail(w, err)
			return
		}
		if err := (&control.Admin{Store: s.opts.Control}).Put(r.Context(), d.kind, name, v, false, adminWho); err != nil {
			adminFail(w, err)
			return
		}
		s.changed(r.Context())
		got, _ := find(name)
		status := http.StatusOK
		if create {
			status = http.StatusCreated
		}
		adminJSON(w, status, got)
	}
	mux.HandleFunc("GET /admin/"+path, func(w http.ResponseWriter, r *http.Request) { adminJSON(w, http.StatusOK, list()) })
	mux.HandleFunc("POST /admin/"+path, func(w http.ResponseWriter, r *http.Request) { put(w, r, "", true) })
	mux.HandleFunc("GET /admin/"+path+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := find(r.PathValue("name"))
		if !ok {
			adminFail(w, fmt.Errorf("no %s %q: %w", d.what, r.PathValue("name"), conductor.ErrNotFound))
			return
		}
		adminJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("PUT /admin/"+path+"/{name}", func(w http.ResponseWriter, r *http.Request) { put(w, r, r.PathValue("name"), false) })
	mux.HandleFunc("DELETE /admin/"+path+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		err := (&control.Admin{Store: s.opts.Control}).Delete(r.Context(), d.kind, name, adminWho)
		if errors.Is(err, conductor.ErrNotFound) {
			if v, ok := find(name); ok && v.Source == "config" {
				err = invalid("%s %q is in %s: edit the file (and reload), or PUT an override", d.what, name, cmpOr(s.config().File, "the config"))
			}
		}
		if err != nil {
			adminFail(w, err)
			return
		}
		s.changed(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
}

// --- gateways ---

type gatewayView struct {
	ID       string `json:"id"`
	CacheTTL string `json:"cache_ttl"` // in force
	Source   string `json:"source"`    // "config" or "store"
}

func (s *Server) adminGateways(w http.ResponseWriter, r *http.Request) {
	sn := s.snapshot()
	merged := sn.Apply(s.config())
	ids := []string{gateway.DefaultID}
	for _, g := range merged.AI.Gateways {
		if !slices.Contains(ids, g.ID) {
			ids = append(ids, g.ID)
		}
	}
	var out []gatewayView
	for _, id := range ids {
		v := gatewayView{ID: id, CacheTTL: "0s", Source: "config"}
		if g, ok := merged.GatewayByID(id); ok {
			v.CacheTTL = g.CacheTTL.String()
		}
		if slices.ContainsFunc(sn.Gateways, func(g control.GatewaySettings) bool { return g.ID == id }) {
			v.Source = "store"
		}
		out = append(out, v)
	}
	adminJSON(w, http.StatusOK, out)
}

func (s *Server) adminPutGateway(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.configuredGateway(id) {
		adminFail(w, fmt.Errorf("no gateway %q in %s: %w", id, cmpOr(s.config().File, "the config"), conductor.ErrNotFound))
		return
	}
	var body struct {
		CacheTTL *config.Duration `json:"cache_ttl"`
	}
	if err := decodeBody(r, &body); err != nil {
		adminFail(w, err)
		return
	}
	if body.CacheTTL == nil {
		adminFail(w, invalid("cache_ttl: required (\"1h\", 3600, or 0 to turn caching off)"))
		return
	}
	g := control.GatewaySettings{ID: id, CacheTTL: body.CacheTTL}
	if err := (&control.Admin{Store: s.opts.Control}).Put(r.Context(), control.KindGateway, id, g, false, adminWho); err != nil {
		adminFail(w, err)
		return
	}
	s.changed(r.Context())
	adminJSON(w, http.StatusOK, gatewayView{ID: id, CacheTTL: body.CacheTTL.String(), Source: "store"})
}

func (s *Server) adminDeleteGateway(w http.ResponseWriter, r *http.Request) {
	if err := (&control.Admin{Store: s.opts.Control}).Delete(r.Context(), control.KindGateway, r.PathValue("id"), adminWho); err != nil {
		adminFail(w, err)
		return
	}
	s.changed(r.Context())
	w.WriteHeader(http.StatusNoContent)
}

// --- audit, reload ---

type auditView struct {
	Time   time.Time       `json:"time"`
	Who    string          `json:"who"`
	Action string          `json:"action"`
	Kind   string          `json:"kind"`
	Name   string          `json:"name"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 10000 {
			adminFail(w, invalid("limit %q: expected 1 to 10000", v))
			return
		}
		limit = n
	}
	rows, err := s.opts.Control.AuditLog(r.Context(), limit)
	if err != nil {
		adminFail(w, err)
		return
	}
	out := make([]auditView, len(rows))
	for i, a := range rows {
		out[i] = auditView{a.Time, a.Who, a.Action, a.Kind, a.Name, rawOrNil(a.Before), rawOrNil(a.After)}
	}
	adminJSON(w, http.StatusOK, out)
}

func rawOrNil(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}

func (s *Server) adminReload(w http.ResponseWriter, r *http.Request) {
	if err := s.Reload(r.Context()); err != nil {
		adminError(w, http.StatusBadRequest, "reload_failed", err.Error())
		return
	}
	adminJSON(w, http.StatusOK, map[string]any{"reloaded": s.config().File})
}
