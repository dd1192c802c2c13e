package conductor

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store is the state a gateway keeps: cached answers, counters for rate and
// spend limits, and the request log. The embedded implementation is a SQLite
// file (store/sqlite); shared ones are Redis for the cache and counters and
// PostgreSQL for the log. One contract test suite (store/storetest) runs
// against every implementation.
type Store interface {
	CacheStore
	CounterStore
	LogStore
	io.Closer
}

// CacheEntry is one cached answer.
type CacheEntry struct {
	Key       string    // hash of the canonical request; never holds a secret
	Scope     string    // gateway id, or "step" for ensemble step caches
	Provider  string    // for stats
	Model     string    // for stats
	Value     []byte    // the encoded answer (a whole body, or a stream's chunks)
	CreatedAt time.Time //
	ExpiresAt time.Time // zero: never
}

// CacheStats describes a cache's content.
type CacheStats struct {
	Entries  int64            `json:"entries"`
	Bytes    int64            `json:"bytes"`
	Expired  int64            `json:"expired"` // entries past ExpiresAt not yet pruned
	ByScope  map[string]int64 `json:"byScope"` // entries per scope
	MaxBytes int64            `json:"maxBytes"`
}

// CacheStore keeps answers by key.
type CacheStore interface {
	// GetCache returns the live entry for key, or ok=false when there is none
	// or it expired at now. expired=true says an entry existed but had
	// expired (the MISS reason "expired").
	GetCache(ctx context.Context, key string, now time.Time) (e CacheEntry, ok, expired bool, err error)
	// PutCache stores e, replacing an entry with the same key, and evicts the
	// least recently used entries when the store is over its size bound.
	PutCache(ctx context.Context, e CacheEntry) error
	// PurgeCache deletes every entry of scope ("" for all) and returns how
	// many went.
	PurgeCache(ctx context.Context, scope string) (int64, error)
	// PruneCache deletes entries expired at now.
	PruneCache(ctx context.Context, now time.Time) (int64, error)
	CacheStats(ctx context.Context, now time.Time) (CacheStats, error)
}

// Window kinds for rate limits, as Cloudflare AI Gateway defines them.
const (
	WindowFixed   = "fixed"   // counts reset at each multiple of the window
	WindowSliding = "sliding" // counts what happened in the last window before now
)

// RateDecision is the answer to one rate-limit take.
type RateDecision struct {
	Allowed    bool
	Count      int64         // the amount counted in the window, this take included when allowed
	RetryAfter time.Duration // when refused: how long until the take could fit
}

// RateTake is one take of a TakeRates batch: TakeRate's arguments.
type RateTake struct {
	Key    string
	N      int64
	Limit  int64
	Window time.Duration
	Kind   string
}

// Settlement replaces a reservation's amount (ReserveSpend's id) with the
// actual one.
type Settlement struct {
	ID     string
	Actual int64
}

// Budget is one spend limit a call must fit in.
type Budget struct {
	Key    string // names the budget and its window, e.g. "env:production:day:2026-11-25"
	Limit  int64  // nano-USD
	Resets time.Time
}

// ErrBudgetExceeded is wrapped by ReserveSpend's error when a reservation
// does not fit; the *BudgetError says which budget.
var ErrBudgetExceeded = errors.New("budget exceeded")

// BudgetError says which budget refused a reservation.
type BudgetError struct {
	Budget Budget
	Spent  int64 // nano-USD spent and reserved in the budget's window
	Asked  int64 // nano-USD the call asked to reserve
}

func (e *BudgetError) Error() string { return "budget " + e.Budget.Key + " exceeded" }
func (e *BudgetError) Unwrap() error { return ErrBudgetExceeded }

// CounterStore keeps counters for rate limits and spend limits, each
// operation atomic across every process that shares the store.
type CounterStore interface {
	// TakeRate counts n against key within window if the total stays within
	// limit. Fixed windows start at multiples of window since the Unix
	// epoch; sliding windows count what was taken in (now-window, now].
	TakeRate(ctx context.Context, key string, n, limit int64, window time.Duration, kind string, now time.Time) (RateDecision, error)
	// TakeRates makes every take at once, or none: the decisions follow
	// takes in order, and when one take is refused nothing is counted, the
	// refused decision says why, and the takes after it are not evaluated
	// (their decisions are zero). One atomic step admits a request against
	// all its limits, so a request refused by one limit uses up no other.
	TakeRates(ctx context.Context, takes []RateTake, now time.Time) ([]RateDecision, error)
	// ReserveSpend reserves amount (nano-USD) in every budget at once, or in
	// none: when one would go over its limit it returns a *BudgetError.
	// The returned id settles the reservation.
	ReserveSpend(ctx context.Context, budgets []Budget, amount int64, now time.Time) (id string, err error)
	// SettleSpend replaces the reserved amount with the actual one.
	SettleSpend(ctx context.Context, id string, actual int64) error
	// SettleAndCount is a call's after-call work in one atomic step: it
	// settles every reservation (as SettleSpend) and then makes every take
	// (as TakeRate, each on its own: a refused take is reported in its
	// decision, nothing is rolled back). An id the store does not know
	// fails the whole step, as SettleSpend would, and nothing is counted.
	SettleAndCount(ctx context.Context, settles []Settlement, takes []RateTake, now time.Time) ([]RateDecision, error)
	// Spent returns what a budget has spent and reserved.
	Spent(ctx context.Context, key string) (int64, error)
	// Once reports true the first time it is called for key (until expires),
	// false after: alerts fire once per window.
	Once(ctx context.Context, key string, expires time.Time) (bool, error)
}

// FlightStore is implemented by stores that several processes share: it
// lets identical requests arriving on different processes make one
// upstream call. The process whose LeadFlight leads calls upstream, puts
// the answer in the cache and ends the flight; the others wait for the
// flight to end and read the cache (a flight that ends without an entry —
// the call failed — sends them upstream themselves).
type FlightStore interface {
	// LeadFlight claims key's flight for at most ttl (a leader that dies
	// frees it then). lead=false: another process leads it.
	LeadFlight(ctx context.Context, key string, ttl time.Duration) (token string, lead bool, err error)
	// EndFlight ends the flight LeadFlight gave token for; a flight that
	// another process leads by now is left alone.
	EndFlight(ctx context.Context, key, token string) error
	// WaitFlight returns when key's flight has ended (or was never led),
	// or with ctx's error.
	WaitFlight(ctx context.Context, key string) error
}

// LogRow is one request through the gateway.
type LogRow struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Gateway     string    `json:"gateway"`
	Environment string    `json:"environment,omitempty"`
	User        string    `json:"user,omitempty"`
	Key         string    `json:"key,omitempty"`  // the virtual key's name, never the key
	Team        string    `json:"team,omitempty"` // the virtual key's team
	Provider    string    `json:"provider"`
	Model       string    `json:"model"`
	Route       string    `json:"route"` // routing mode, or the server endpoint
	Variant     string    `json:"variant,omitempty"`
	// Deployment is the [[model]] deployment that served (or last failed)
	// the call: its name, never its key. "" outside a pool.
	Deployment   string `json:"deployment,omitempty"`
	Status       int    `json:"status"`
	Success      bool   `json:"success"`
	Cached       bool   `json:"cached"`
	MissReason   string `json:"missReason,omitempty"`
	Attempts     int    `json:"attempts"`
	Step         int    `json:"step"`
	InputTokens  int    `json:"inputTokens"`
	OutputTokens int    `json:"outputTokens"`
	CostNanoUSD  int64  `json:"costNanoUsd"`
	CostFlagged  bool   `json:"costFlagged,omitempty"` // priced by the default: unknown model
	// SavedNanoUSD is what a cache hit would have cost at list price: what
	// the cache saved. 0 for a call that went upstream.
	SavedNanoUSD int64             `json:"savedNanoUsd,omitempty"`
	Latency      time.Duration     `json:"latency"`
	TTFB         time.Duration     `json:"ttfb"`
	ErrorClass   string            `json:"errorClass,omitempty"`
	Score        *float64          `json:"score,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"` // at most 5 entries
}

// StatsQuery selects rows to aggregate.
type StatsQuery struct {
	Since time.Time
	Until time.Time // zero: now
	By    string    // "", "provider", "model", "environment", "variant", "gateway", "user", "key", "team", "deployment"
}

// StatsRow aggregates the rows of one group.
type StatsRow struct {
	Group        string        `json:"group"`
	Requests     int64         `json:"requests"`
	CacheHits    int64         `json:"cacheHits"`
	Errors       int64         `json:"errors"`
	InputTokens  int64         `json:"inputTokens"`
	OutputTokens int64         `json:"outputTokens"`
	CostNanoUSD  int64         `json:"costNanoUsd"`
	SavedNanoUSD int64         `json:"savedNanoUsd"` // what cache hits would have cost
	P50          time.Duration `json:"p50"`
	P95          time.Duration `json:"p95"`
	P99          time.Duration `json:"p99"`
	MeanScore    *float64      `json:"meanScore,omitempty"`
}

// LogStore keeps the request log.
type LogStore interface {
	AppendLogs(ctx context.Context, rows []LogRow) error
	Stats(ctx context.Context, q StatsQuery) ([]StatsRow, error)
	RecentLogs(ctx context.Context, limit int) ([]LogRow, error)
	PruneLogs(ctx context.Context, before time.Time) (int64, error)
	// ScoreLog sets the score of the row with id (an answer's
	// ResponseMeta.LogID), replacing any score it had. Rows reach the store
	// through a batched writer, so the row may not be stored yet: the score
	// is then kept and applied when the row arrives (a score whose row never
	// comes is pruned with the log). A score must be a finite number.
	ScoreLog(ctx context.Context, id string, score float64) error
}

// ControlStore keeps what operators change while gateways run — virtual
// keys, teams, budgets, rate limits, gateway settings — as named JSON
// documents of a kind, each change with its audit row, and when each key
// was last used. Every process sharing the store sees a change as soon as
// ControlVersion moves (package control polls it). It is not part of
// Store: a store that keeps no control items serves without keys or
// run-time changes.
type ControlStore interface {
	// ControlVersion changes whenever an item is put or deleted, by any
	// process sharing the store; it is cheap to read.
	ControlVersion(ctx context.Context) (int64, error)
	// ControlItems returns every item of kind ("" for every kind), by kind
	// then name.
	ControlItems(ctx context.Context, kind string) ([]ControlItem, error)
	// PutControl stores it if the item's current revision is rev (0: the
	// item must not exist; AnyRev: whatever it is), and a in the audit log,
	// in one atomic step; it returns the item's new revision. Another
	// revision: ErrConflict.
	PutControl(ctx context.Context, it ControlItem, rev int64, a Audit) (int64, error)
	// DeleteControl deletes an item at revision rev (AnyRev: any) and
	// writes a, atomically: ErrNotFound when there is none, ErrConflict
	// for another revision.
	DeleteControl(ctx context.Context, kind, name string, rev int64, a Audit) error
	// AuditLog returns the newest audit rows first, at most limit.
	AuditLog(ctx context.Context, limit int) ([]Audit, error)
	// TouchKeys records when keys were last used: for each name, the
	// later of the time given and the one stored.
	TouchKeys(ctx context.Context, used map[string]time.Time) error
	// KeysUsed returns when each key was last used.
	KeysUsed(ctx context.Context) (map[string]time.Time, error)
}

// AnyRev is the revision of PutControl and DeleteControl that matches
// whatever the item's is.
const AnyRev int64 = -1

// Errors of ControlStore.
var (
	ErrConflict = errors.New("the item changed meanwhile")
	ErrNotFound = errors.New("no such item")
)

// ControlItem is one document of a ControlStore.
type ControlItem struct {
	Kind    string    `json:"kind"` // key, team, budget, rate_limit, gateway
	Name    string    `json:"name"`
	Body    []byte    `json:"-"` // JSON; a key's holds its SHA-256 digests, never the key
	Rev     int64     `json:"rev"`
	Updated time.Time `json:"updated"`
}

// Audit is one change of a control item: who made it, what it was before
// and after. Bodies never hold a secret (a key's digests are left out).
type Audit struct {
	Time   time.Time `json:"time"`
	Who    string    `json:"who"`    // "cli:alice", "admin", "dashboard"
	Action string    `json:"action"` // create, update, delete, revoke, rotate
	Kind   string    `json:"kind"`
	Name   string    `json:"name"`
	Before []byte    `json:"-"` // JSON; nil when the item did not exist
	After  []byte    `json:"-"` // JSON; nil when it was deleted
}

// SettledSpender is implemented by counter stores that tell settled spend
// from what reservations in flight hold: budget alerts then fire when
// settled spend crosses a threshold, not when calls in flight would.
type SettledSpender interface {
	// SettledSpent is Spent less the reservations not settled yet.
	SettledSpent(ctx context.Context, key string) (int64, error)
}
