package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// ErrUnknownReservation is returned by SettleSpend for an id ReserveSpend
// never returned (or one pruned after its budgets reset).
var ErrUnknownReservation = errors.New("unknown spend reservation")

// TakeRate counts n against key if the window's total stays within limit,
// in one write transaction, so concurrent takes from every process sharing
// the file are counted exactly.
func (s *Store) TakeRate(ctx context.Context, key string, n, limit int64, window time.Duration, kind string, now time.Time) (conductor.RateDecision, error) {
	t := conductor.RateTake{Key: key, N: n, Limit: limit, Window: window, Kind: kind}
	if err := checkTake(t); err != nil {
		return conductor.RateDecision{}, err
	}
	var d conductor.RateDecision
	err := s.writeTx(ctx, "take rate", func(tx wtx) error {
		var err error
		d, err = take(tx, t, now)
		return err
	})
	return d, err
}

// errRefused rolls back a TakeRates transaction that a take refused.
var errRefused = errors.New("take refused")

// TakeRates makes every take in one write transaction, or none: a refused
// take rolls the transaction back. One transaction instead of one per
// take is most of the saving: BEGIN and COMMIT cost more than the
// statements between them.
func (s *Store) TakeRates(ctx context.Context, takes []conductor.RateTake, now time.Time) ([]conductor.RateDecision, error) {
	for _, t := range takes {
		if err := checkTake(t); err != nil {
			return nil, err
		}
	}
	ds := make([]conductor.RateDecision, len(takes))
	if len(takes) == 0 {
		return ds, nil
	}
	err := s.writeTx(ctx, "take rates", func(tx wtx) error {
		for i, t := range takes {
			d, err := take(tx, t, now)
			if err != nil {
				return err
			}
			ds[i] = d
			if !d.Allowed {
				return errRefused
			}
		}
		return nil
	})
	if errors.Is(err, errRefused) {
		err = nil
	}
	return ds, err
}

func checkTake(t conductor.RateTake) error {
	if t.N < 0 || t.Limit < 0 || t.Window <= 0 {
		return fmt.Errorf("sqlite store: take rate %q: need n >= 0, limit >= 0 and window > 0 (got %d, %d, %v)", t.Key, t.N, t.Limit, t.Window)
	}
	if t.Kind != conductor.WindowFixed && t.Kind != conductor.WindowSliding {
		return fmt.Errorf("sqlite store: take rate %q: unknown window kind %q (want %q or %q)", t.Key, t.Kind, conductor.WindowFixed, conductor.WindowSliding)
	}
	return nil
}

func take(tx wtx, t conductor.RateTake, now time.Time) (conductor.RateDecision, error) {
	if t.Kind == conductor.WindowSliding {
		return takeSliding(tx, t.Key, t.N, t.Limit, t.Window, now)
	}
	return takeFixed(tx, t.Key, t.N, t.Limit, t.Window, now)
}

// floorDiv rounds a/b toward minus infinity, so that instants before 1970
// still fall in the window that contains them.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func takeFixed(tx wtx, key string, n, limit int64, window time.Duration, now time.Time) (conductor.RateDecision, error) {
	w := int64(window)
	start := floorDiv(now.UnixNano(), w) * w
	end := start + w
	// A take of nothing only reads: an UPSERT adding 0 would still rewrite
	// the row's page and cost a WAL frame at commit.
	if n > 0 && n <= limit {
		// One statement counts the take only if it fits, and returns the
		// new count: no row back means it did not fit.
		var count int64
		err := tx.queryRow(qFixedTake, key, start, n, end, limit).Scan(&count)
		switch {
		case err == nil:
			if count == n {
				// A new window for the key: its earlier ones can never
				// count again.
				if _, err := tx.exec(qFixedDrop, key, start); err != nil {
					return conductor.RateDecision{}, fmt.Errorf("sqlite store: take rate %q: %w", key, err)
				}
			}
			return conductor.RateDecision{Allowed: true, Count: count}, nil
		case !errors.Is(err, sql.ErrNoRows):
			return conductor.RateDecision{}, fmt.Errorf("sqlite store: take rate %q: %w", key, err)
		}
	}
	var count int64
	err := tx.queryRow(qFixedGet, key, start).Scan(&count)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return conductor.RateDecision{}, fmt.Errorf("sqlite store: take rate %q: %w", key, err)
	}
	if n == 0 && count <= limit {
		return conductor.RateDecision{Allowed: true, Count: count}, nil
	}
	d := conductor.RateDecision{Count: count, RetryAfter: time.Duration(end - now.UnixNano())}
	if n > limit {
		// Never fits: say "a window from now" rather than promise a retry
		// that will fail too.
		d.RetryAfter = window
	}
	return d, nil
}

func takeSliding(tx wtx, key string, n, limit int64, window time.Duration, now time.Time) (conductor.RateDecision, error) {
	at := now.UnixNano()
	from := at - int64(window) // exclusive: the window is (now-window, now]
	// Takes that left the window can never count again at a later now.
	if _, err := tx.exec(qEventsDrop, key, from); err != nil {
		return conductor.RateDecision{}, fmt.Errorf("sqlite store: take rate %q: %w", key, err)
	}
	// Takes stamped after now count too: concurrent callers (or another
	// process with a clock slightly ahead) took them, and leaving them out
	// would admit more than the limit.
	var count int64
	if err := tx.queryRow(qEventsSum, key, from).Scan(&count); err != nil {
		return conductor.RateDecision{}, fmt.Errorf("sqlite store: take rate %q: %w", key, err)
	}
	if count+n > limit {
		d := conductor.RateDecision{Count: count, RetryAfter: window}
		if n <= limit {
			// The take fits once enough of the oldest takes have left the
			// window: a take at t leaves it when now reaches t+window.
			var oldest int64
			if err := tx.queryRow(qEventsFreeAt, key, from, count+n-limit).Scan(&oldest); err != nil {
				return conductor.RateDecision{}, fmt.Errorf("sqlite store: take rate %q: retry after: %w", key, err)
			}
			d.RetryAfter = time.Duration(oldest + int64(window) - at)
		}
		return d, nil
	}
	if n > 0 {
		if _, err := tx.exec(qEventsAdd, key, at, n, at+int64(window)); err != nil {
			return conductor.RateDecision{}, fmt.Errorf("sqlite store: take rate %q: %w", key, err)
		}
	}
	return conductor.RateDecision{Allowed: true, Count: count + n}, nil
}

// ReserveSpend reserves amount in every budget, or in none, in one write
// transaction. A budget seen for the first time starts at zero with the
// given limit; a later call's Limit replaces the stored one (config may
// change while a window runs). Budgets and their reservations are pruned
// once the latest Resets has passed; a budget with a zero Resets is kept
// for ever.
func (s *Store) ReserveSpend(ctx context.Context, budgets []conductor.Budget, amount int64, now time.Time) (string, error) {
	if amount < 0 {
		return "", fmt.Errorf("sqlite store: reserve spend: negative amount %d", amount)
	}
	// The same budget named twice is reserved in once.
	uniq := make([]conductor.Budget, 0, len(budgets))
	seen := make(map[string]bool, len(budgets))
	var expires int64
	for _, b := range budgets {
		if seen[b.Key] {
			continue
		}
		seen[b.Key] = true
		uniq = append(uniq, b)
	}
	keys := make([]string, len(uniq))
	for i, b := range uniq {
		keys[i] = b.Key
		r := nanos(b.Resets)
		if i == 0 || (expires != 0 && (r == 0 || r > expires)) {
			expires = r
		}
	}
	if len(uniq) == 0 {
		// Nothing to reserve in; the row only lets the id settle, so it
		// need not outlive the call.
		expires = now.Add(24 * time.Hour).UnixNano()
	}
	keysJSON, err := json.Marshal(keys)
	if err != nil {
		return "", fmt.Errorf("sqlite store: reserve spend: %w", err)
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	err = s.writeTx(ctx, "reserve spend", func(tx wtx) error {
		// One statement per budget adds the amount only if it fits; a
		// budget it does not fit in returns no row, and the returned error
		// rolls back what the budgets before it took.
		for _, b := range uniq {
			var spent int64
			err := sql.ErrNoRows
			if amount <= b.Limit {
				err = tx.queryRow(qBudgetTake, b.Key, amount, b.Limit, nanos(b.Resets)).Scan(&spent)
			}
			if err == nil {
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlite store: reserve spend in %q: %w", b.Key, err)
			}
			if err := tx.queryRow(qSpent, b.Key).Scan(&spent); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlite store: reserve spend in %q: %w", b.Key, err)
			}
			return &conductor.BudgetError{Budget: b, Spent: spent, Asked: amount}
		}
		if _, err := tx.exec(qReserveAdd,
			id, string(keysJSON), amount, now.UnixNano(), expires); err != nil {
			return fmt.Errorf("sqlite store: reserve spend: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// SettleSpend replaces a reservation's amount with actual in every budget
// it touched. Settling again is a no-op: a retried settle must not count
// twice.
func (s *Store) SettleSpend(ctx context.Context, id string, actual int64) error {
	if actual < 0 {
		return fmt.Errorf("sqlite store: settle spend %s: negative amount %d", id, actual)
	}
	return s.writeTx(ctx, "settle spend", func(tx wtx) error { return settle(tx, id, actual) })
}

// SettleAndCount settles and takes in one write transaction: one BEGIN and
// COMMIT for a call's whole after-call work.
func (s *Store) SettleAndCount(ctx context.Context, settles []conductor.Settlement, takes []conductor.RateTake, now time.Time) ([]conductor.RateDecision, error) {
	for _, st := range settles {
		if st.Actual < 0 {
			return nil, fmt.Errorf("sqlite store: settle spend %s: negative amount %d", st.ID, st.Actual)
		}
	}
	for _, t := range takes {
		if err := checkTake(t); err != nil {
			return nil, err
		}
	}
	ds := make([]conductor.RateDecision, len(takes))
	if len(settles) == 0 && len(takes) == 0 {
		return ds, nil
	}
	err := s.writeTx(ctx, "settle and count", func(tx wtx) error {
		for _, st := range settles {
			if err := settle(tx, st.ID, st.Actual); err != nil {
				return err
			}
		}
		for i, t := range takes {
			d, err := take(tx, t, now)
			if err != nil {
				return err
			}
			ds[i] = d
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

func settle(tx wtx, id string, actual int64) error {
	var (
		keysJSON string
		amount   int64
		settled  sql.NullInt64
	)
	err := tx.queryRow(qReserveGet, id).Scan(&keysJSON, &amount, &settled)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite store: settle spend %s: %w", id, ErrUnknownReservation)
	}
	if err != nil {
		return fmt.Errorf("sqlite store: settle spend %s: %w", id, err)
	}
	if settled.Valid {
		return nil
	}
	var keys []string
	if err := json.Unmarshal([]byte(keysJSON), &keys); err != nil {
		return fmt.Errorf("sqlite store: settle spend %s: stored budget keys: %w", id, err)
	}
	for _, k := range keys {
		if _, err := tx.exec(qBudgetAdjust, actual-amount, k); err != nil {
			return fmt.Errorf("sqlite store: settle spend %s in %q: %w", id, k, err)
		}
	}
	if _, err := tx.exec(qReserveSettle, actual, id); err != nil {
		return fmt.Errorf("sqlite store: settle spend %s: %w", id, err)
	}
	return nil
}

// Spent returns what the budget has spent and reserved; 0 for a budget
// never reserved in.
func (s *Store) Spent(ctx context.Context, key string) (int64, error) {
	var spent int64
	err := s.spent.QueryRowContext(ctx, key).Scan(&spent)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite store: spent %q: %w", key, err)
	}
	return spent, nil
}

// Once reports true the first time it is called for key, and false until
// expires passes (by the store's clock); a zero expires never passes.
func (s *Store) Once(ctx context.Context, key string, expires time.Time) (bool, error) {
	first := false
	err := s.writeTx(ctx, "once", func(tx wtx) error {
		now := s.now().UnixNano()
		var until int64
		err := tx.queryRow(qOnceGet, key).Scan(&until)
		switch {
		case err == nil && (until == 0 || until > now):
			return nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite store: once %q: %w", key, err)
		}
		if _, err := tx.exec(qOnceSet, key, nanos(expires)); err != nil {
			return fmt.Errorf("sqlite store: once %q: %w", key, err)
		}
		first = true
		return nil
	})
	return first, err
}

// PruneCounters deletes counters that can no longer count at now: rate
// windows that ended, takes that left their window, budgets past their
// reset with their reservations, and expired Once keys. TakeRate already
// drops a key's old windows; this catches keys no longer used.
func (s *Store) PruneCounters(ctx context.Context, now time.Time) error {
	at := now.UnixNano()
	return s.writeTx(ctx, "prune counters", func(tx wtx) error {
		for _, q := range []string{
			`DELETE FROM rate_fixed WHERE expires_at <= ?`,
			`DELETE FROM rate_events WHERE expires_at <= ?`,
			`DELETE FROM budgets WHERE resets > 0 AND resets <= ?`,
			`DELETE FROM reservations WHERE expires_at > 0 AND expires_at <= ?`,
			`DELETE FROM once_keys WHERE expires_at > 0 AND expires_at <= ?`,
		} {
			if _, err := tx.exec(q, at); err != nil {
				return fmt.Errorf("sqlite store: prune counters: %w", err)
			}
		}
		return nil
	})
}

// newID returns a random reservation id.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sqlite store: reservation id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
