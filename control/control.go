// Package control is what operators change while the gateway runs:
// virtual keys (`conductor keys`), teams, budgets, rate limits and
// gateways' cache TTLs, kept as items of a conductor.ControlStore with an
// audit row per change. Admin makes the changes; a Watcher polls the store
// and hands every process sharing it a new Snapshot within a poll
// interval; Snapshot.Apply lays the store's items over conductor.toml's.
package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/gateway"
)

// Kinds of control items.
const (
	KindKey       = "key"
	KindTeam      = "team"
	KindBudget    = "budget"
	KindRateLimit = "rate_limit"
	KindGateway   = "gateway"
)

// GatewaySettings are a gateway's settings changed at run time: its cache
// TTL (nil leaves conductor.toml's).
type GatewaySettings struct {
	ID       string           `json:"id"`
	CacheTTL *config.Duration `json:"cache_ttl,omitempty"`
}

// Snapshot is the store's control items at one version.
type Snapshot struct {
	Version  int64
	Keys     []Key
	Teams    []config.Team
	Budgets  []config.Budget
	Rates    []config.RateLimit
	Gateways []GatewaySettings

	byDigest map[[sha256.Size]byte]keyRef
}

type keyRef struct {
	key   *Key
	until time.Time // a rotated-out secret's end; zero: current
}

// Load reads every control item of cs. An item that does not decode is
// left out and reported in the error, with the rest of the snapshot.
func Load(ctx context.Context, cs conductor.ControlStore) (*Snapshot, error) {
	v, err := cs.ControlVersion(ctx)
	if err != nil {
		return nil, err
	}
	items, err := cs.ControlItems(ctx, "")
	if err != nil {
		return nil, err
	}
	sn := &Snapshot{Version: v, byDigest: map[[sha256.Size]byte]keyRef{}}
	var errs []error
	for _, it := range items {
		var err error
		switch it.Kind {
		case KindKey:
			var k Key
			if err = json.Unmarshal(it.Body, &k); err == nil {
				sn.Keys = append(sn.Keys, k)
			}
		case KindTeam:
			var t config.Team
			if err = json.Unmarshal(it.Body, &t); err == nil {
				sn.Teams = append(sn.Teams, t)
			}
		case KindBudget:
			var b config.Budget
			if err = json.Unmarshal(it.Body, &b); err == nil {
				sn.Budgets = append(sn.Budgets, b)
			}
		case KindRateLimit:
			var r config.RateLimit
			if err = json.Unmarshal(it.Body, &r); err == nil {
				sn.Rates = append(sn.Rates, r)
			}
		case KindGateway:
			var g GatewaySettings
			if err = json.Unmarshal(it.Body, &g); err == nil {
				sn.Gateways = append(sn.Gateways, g)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("control item %s %q: %w", it.Kind, it.Name, err))
		}
	}
	for i := range sn.Keys {
		k := &sn.Keys[i]
		for _, s := range k.Secrets {
			var d [sha256.Size]byte
			if b, err := hex.DecodeString(s.SHA256); err == nil && len(b) == len(d) {
				copy(d[:], b)
				sn.byDigest[d] = keyRef{key: k, until: s.Until}
			}
		}
	}
	return sn, errors.Join(errs...)
}

// Errors of Lookup, for a secret that was a key.
var (
	ErrKeyRevoked = errors.New("the key was revoked")
	ErrKeyExpired = errors.New("the key has expired")
)

// Lookup returns the key whose secret is secret at now; nil, nil when no
// key has it (or its rotation grace ended); a revoked or expired key with
// ErrKeyRevoked or ErrKeyExpired. The secret is found by its SHA-256 (a
// map lookup cannot leak the secret: an attacker controls no digest) and
// the digest found is compared again in constant time.
func (sn *Snapshot) Lookup(secret string, now time.Time) (*Key, error) {
	if sn == nil || len(sn.byDigest) == 0 {
		return nil, nil
	}
	d := sha256.Sum256([]byte(secret))
	ref, ok := sn.byDigest[d]
	if !ok {
		return nil, nil
	}
	var want []byte
	for _, s := range ref.key.Secrets {
		if b, err := hex.DecodeString(s.SHA256); err == nil && subtle.ConstantTimeCompare(b, d[:]) == 1 {
			want = b
		}
	}
	if want == nil || (!ref.until.IsZero() && !now.Before(ref.until)) {
		return nil, nil
	}
	switch ref.key.Status(now) {
	case "revoked":
		return ref.key, ErrKeyRevoked
	case "expired":
		return ref.key, ErrKeyExpired
	}
	return ref.key, nil
}

// Guarding reports whether the snapshot holds a key, even a revoked or
// expired one: a server with keys wants a key or token from every caller,
// and does not fall open when its last key is revoked or expires (only
// deleting every key opens it again).
func (sn *Snapshot) Guarding() bool { return sn != nil && len(sn.Keys) > 0 }

// Key returns the key named name.
func (sn *Snapshot) Key(name string) (*Key, bool) {
	if sn == nil {
		return nil, false
	}
	for i := range sn.Keys {
		if sn.Keys[i].Name == name {
			return &sn.Keys[i], true
		}
	}
	return nil, false
}

// Apply lays the snapshot's teams, budgets, rate limits and gateway
// settings over cfg's: an item replaces cfg's entry of the same name (or
// gateway id) and adds one otherwise. cfg is not changed; the result
// shares nothing with it that Check would change.
func (sn *Snapshot) Apply(cfg *config.Config) *config.Config {
	out := *cfg
	out.Budgets = slices.Clone(cfg.Budgets)
	out.Teams = slices.Clone(cfg.Teams)
	out.RateLimits = slices.Clone(cfg.RateLimits)
	out.AI.Gateways = slices.Clone(cfg.AI.Gateways)
	out.Providers = maps.Clone(cfg.Providers) // Check fills it in: not the running config's map
	if sn == nil {
		return &out
	}
	for _, b := range sn.Budgets {
		out.Budgets = upsert(out.Budgets, b, func(x config.Budget) string { return x.Name })
	}
	for _, t := range sn.Teams {
		out.Teams = upsert(out.Teams, t, func(x config.Team) string { return x.Name })
	}
	for _, r := range sn.Rates {
		out.RateLimits = upsert(out.RateLimits, r, func(x config.RateLimit) string { return x.Name })
	}
	for _, g := range sn.Gateways {
		i := slices.IndexFunc(out.AI.Gateways, func(x config.Gateway) bool { return x.ID == g.ID })
		if i < 0 {
			out.AI.Gateways = append(out.AI.Gateways, config.Gateway{ID: g.ID, RateLimitingTechnique: conductor.WindowFixed})
			i = len(out.AI.Gateways) - 1
		}
		if g.CacheTTL != nil {
			out.AI.Gateways[i].CacheTTL = *g.CacheTTL
		}
	}
	return &out
}

func upsert[T any](list []T, x T, name func(T) string) []T {
	for i := range list {
		if name(list[i]) == name(x) {
			list[i] = x
			return list
		}
	}
	return append(list, x)
}

// KeyLimits are the limits of the keys that can be used at now: each
// key's spend limits and rate limits, and a count of every key's daily
// spend (what `conductor keys list` shows) whatever its limits.
func (sn *Snapshot) KeyLimits(now time.Time) gateway.Limits {
	var l gateway.Limits
	if sn == nil {
		return l
	}
	for i := range sn.Keys {
		k := &sn.Keys[i]
		if k.Status(now) == "revoked" {
			continue
		}
		name := "key " + k.Name
		l.Budgets = append(l.Budgets, gateway.Budget{Name: name, Scope: gateway.ScopeKey, Match: k.Name, Period: gateway.PeriodDay, Unlimited: true})
		if k.DailyUSD > 0 {
			l.Budgets = append(l.Budgets, gateway.Budget{Name: name, Scope: gateway.ScopeKey, Match: k.Name, Period: gateway.PeriodDay, LimitUSD: k.DailyUSD})
		}
		if k.MonthlyUSD > 0 {
			l.Budgets = append(l.Budgets, gateway.Budget{Name: name, Scope: gateway.ScopeKey, Match: k.Name, Period: gateway.PeriodMonth, LimitUSD: k.MonthlyUSD})
		}
		if k.RPM > 0 || k.TPM > 0 {
			l.Rates = append(l.Rates, gateway.RateRule{Name: name, Scope: gateway.ScopeKey, Match: k.Name, Requests: k.RPM, Tokens: k.TPM, Window: time.Minute})
		}
	}
	return l
}

// Limits are every limit of cfg with the snapshot applied, and the keys':
// what a gateway Set holds its calls to.
func (sn *Snapshot) Limits(cfg *config.Config, env config.LookupEnv, now time.Time) gateway.Limits {
	l := gateway.LimitsFromConfig(sn.Apply(cfg), env)
	k := sn.KeyLimits(now)
	l.Budgets = append(l.Budgets, k.Budgets...)
	l.Rates = append(l.Rates, k.Rates...)
	return l
}

// Watcher keeps the latest Snapshot of a store: it polls ControlVersion
// and reloads when it moves (any process's change), hands each new
// snapshot to its apply function, and writes keys' last use in batches.
type Watcher struct {
	cs    conductor.ControlStore
	log   *slog.Logger
	apply func(*Snapshot)
	now   func() time.Time

	cur atomic.Pointer[Snapshot]
	mu  sync.Mutex // serialises reloads
	um  sync.Mutex
	use map[string]time.Time
}

// DefaultPoll is how often a Watcher looks for changes: a change made by
// any process is in force everywhere within it.
const DefaultPoll = 250 * time.Millisecond

// NewWatcher loads cs's snapshot and applies it; Run keeps it current.
func NewWatcher(ctx context.Context, cs conductor.ControlStore, log *slog.Logger, apply func(*Snapshot)) (*Watcher, error) {
	if log == nil {
		log = slog.Default()
	}
	w := &Watcher{cs: cs, log: log, apply: apply, now: time.Now, use: map[string]time.Time{}}
	if err := w.Refresh(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// Snapshot returns the latest snapshot.
func (w *Watcher) Snapshot() *Snapshot { return w.cur.Load() }

// Refresh reloads the snapshot now and applies it (the admin API does
// after its own change, so that the next request sees it).
func (w *Watcher) Refresh(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reload(ctx)
}

func (w *Watcher) reload(ctx context.Context) error {
	sn, err := Load(ctx, w.cs)
	if sn == nil {
		return fmt.Errorf("control: %w", err)
	}
	if err != nil {
		w.log.Warn("control items left out", "err", err)
	}
	w.cur.Store(sn)
	if w.apply != nil {
		w.apply(sn)
	}
	return nil
}

// Poll reloads when the store's version moved since the snapshot; it is
// one step of Run.
func (w *Watcher) Poll(ctx context.Context) error {
	v, err := w.cs.ControlVersion(ctx)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if cur := w.cur.Load(); cur != nil && cur.Version == v {
		return nil
	}
	return w.reload(ctx)
}

// Run polls every interval (DefaultPoll when 0) until ctx ends, and writes
// keys' last use every few seconds and when it ends.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultPoll
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	flushEvery := max(1, int(5*time.Second/interval))
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			if err := w.Flush(context.WithoutCancel(ctx)); err != nil {
				w.log.Warn("control: keys' last use not written", "err", err)
			}
			return
		case <-t.C:
		}
		if err := w.Poll(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("control: the store does not answer; keeping the current keys and limits", "err", err)
		}
		if n%flushEvery == 0 {
			if err := w.Flush(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("control: keys' last use not written", "err", err)
			}
		}
	}
}

// Used records that key name was used at t; Flush writes it.
func (w *Watcher) Used(name string, t time.Time) {
	w.um.Lock()
	if t.After(w.use[name]) {
		w.use[name] = t
	}
	w.um.Unlock()
}

// Flush writes the last uses recorded since the previous Flush.
func (w *Watcher) Flush(ctx context.Context) error {
	w.um.Lock()
	use := w.use
	w.use = map[string]time.Time{}
	w.um.Unlock()
	if len(use) == 0 {
		return nil
	}
	if err := w.cs.TouchKeys(ctx, use); err != nil {
		// Kept for the next flush.
		w.um.Lock()
		for k, t := range use {
			if t.After(w.use[k]) {
				w.use[k] = t
			}
		}
		w.um.Unlock()
		return err
	}
	return nil
}
