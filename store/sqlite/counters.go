package sqlite

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// ErrUnknownReservation is returned by SettleSpend for an id ReserveSpend
// never returned.
var ErrUnknownReservation = errors.New("unknown spend reservation")

// TakeRate counts n against key if the window's total stays within limit,
// in one journal step (journal.go), so concurrent takes from every process
// sharing the file are counted exactly.
func (s *Store) TakeRate(ctx context.Context, key string, n, limit int64, window time.Duration, kind string, now time.Time) (conductor.RateDecision, error) {
	ds, err := s.TakeRates(ctx, []conductor.RateTake{{Key: key, N: n, Limit: limit, Window: window, Kind: kind}}, now)
	if err != nil {
		return conductor.RateDecision{}, err
	}
	return ds[0], nil
}

// TakeRates makes every take in one journal step, or none: the takes are
// decided in order on the latest state, and only when all are admitted is
// their record written.
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
	at := now.UnixNano()
	err := s.withCounters(ctx, "take rates", func() error {
		var p []pending
		for i, t := range takes {
			d := s.c.decide(t, at, p)
			ds[i] = d
			if !d.Allowed {
				return nil
			}
			if t.N > 0 {
				p = append(p, pending{key: t.Key, kind: t.Kind, window: t.Window, n: t.N, at: at})
			}
		}
		return s.writeCount(at, nil, p)
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// writeCount appends and applies one record of settlements and takes; with
// neither, nothing is written.
func (s *Store) writeCount(at int64, settles []conductor.Settlement, p []pending) error {
	if len(settles) == 0 && len(p) == 0 {
		return nil
	}
	e := s.record(recCount)
	e.int(at)
	e.uint(uint64(len(settles)))
	for _, st := range settles {
		e.str(st.ID)
		e.int(st.Actual)
	}
	e.uint(uint64(len(p)))
	for _, q := range p {
		var kind byte
		if q.kind == conductor.WindowSliding {
			kind = 1
		}
		e.take(takeRec{key: q.key, kind: kind, window: int64(q.window), n: q.n})
	}
	return s.appendLocked()
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

// floorDiv rounds a/b toward minus infinity, so that instants before 1970
// still fall in the window that contains them.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// ReserveSpend reserves amount in every budget, or in none, in one journal
// step. A budget seen for the first time starts at zero with the given
// limit; a later call's Limit replaces the stored one (config may change
// while a window runs). Budgets and their reservations are pruned once the
// latest Resets has passed; a budget with a zero Resets is kept for ever.
func (s *Store) ReserveSpend(ctx context.Context, budgets []conductor.Budget, amount int64, now time.Time) (string, error) {
	if amount < 0 {
		return "", fmt.Errorf("sqlite store: reserve spend: negative amount %d", amount)
	}
	// The same budget named twice is reserved in once.
	uniq := budgets
	for i := 1; i < len(budgets) && len(uniq) == len(budgets); i++ {
		for j := range i {
			if budgets[j].Key == budgets[i].Key {
				uniq = nil
				break
			}
		}
	}
	if uniq == nil {
		seen := make(map[string]bool, len(budgets))
		for _, b := range budgets {
			if !seen[b.Key] {
				seen[b.Key] = true
				uniq = append(uniq, b)
			}
		}
	}
	var expires int64
	for i, b := range uniq {
		r := nanos(b.Resets)
		if i == 0 || (expires != 0 && (r == 0 || r > expires)) {
			expires = r
		}
	}
	if len(uniq) == 0 {
		// Nothing to reserve in; the reservation only lets the id settle,
		// so it need not outlive the call.
		expires = now.Add(24 * time.Hour).UnixNano()
	}
	var id string
	err := s.withCounters(ctx, "reserve spend", func() error {
		for _, b := range uniq {
			var spent int64
			if st := s.c.budgets[b.Key]; st != nil {
				spent = st.spent
			}
			if amount > b.Limit || spent+amount > b.Limit {
				return &conductor.BudgetError{Budget: b, Spent: spent, Asked: amount}
			}
		}
		s.seq++
		e := s.record(recReserve)
		e.uint(s.prefix)
		e.uint(s.seq)
		e.int(amount)
		e.int(expires)
		e.uint(uint64(len(uniq)))
		for _, b := range uniq {
			e.str(b.Key)
			e.int(b.Limit)
			e.int(nanos(b.Resets))
		}
		if err := s.appendLocked(); err != nil {
			return err
		}
		id = formatID(s.prefix, s.seq)
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
	_, err := s.SettleAndCount(ctx, []conductor.Settlement{{ID: id, Actual: actual}}, nil, time.Time{})
	return err
}

// SettleAndCount settles and takes in one journal step: one record for a
// call's whole after-call work.
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
	at := now.UnixNano()
	if now.IsZero() {
		at = 0
	}
	err := s.withCounters(ctx, "settle and count", func() error {
		// Settled ones are left out of the record: settling again is a
		// no-op.
		open := settles[:0:0]
		for _, st := range settles {
			if s.c.res[st.ID] != nil {
				open = append(open, st)
				continue
			}
			if !s.c.known(st.ID) {
				return fmt.Errorf("sqlite store: settle spend %s: %w", st.ID, ErrUnknownReservation)
			}
		}
		var p []pending
		for i, t := range takes {
			d := s.c.decide(t, at, p)
			ds[i] = d
			if d.Allowed && t.N > 0 {
				p = append(p, pending{key: t.Key, kind: t.Kind, window: t.Window, n: t.N, at: at})
			}
		}
		return s.writeCount(at, open, p)
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// Spent returns what the budget has spent and reserved; 0 for a budget
// never reserved in.
func (s *Store) Spent(ctx context.Context, key string) (int64, error) {
	var spent int64
	err := s.withCounters(ctx, "spent", func() error {
		if st := s.c.budgets[key]; st != nil {
			spent = st.spent
		}
		return nil
	})
	return spent, err
}

var _ conductor.SettledSpender = (*Store)(nil)

// SettledSpent is a budget's spend without the reservations in flight.
func (s *Store) SettledSpent(ctx context.Context, key string) (int64, error) {
	var spent int64
	err := s.withCounters(ctx, "settled spent", func() error {
		st := s.c.budgets[key]
		if st == nil {
			return nil
		}
		spent = st.spent
		for _, r := range s.c.res {
			if slices.Contains(r.keys, key) {
				spent -= r.amount
			}
		}
		spent = max(spent, 0)
		return nil
	})
	return spent, err
}

// Once reports true the first time it is called for key, and false until
// expires passes (by the store's clock); a zero expires never passes.
func (s *Store) Once(ctx context.Context, key string, expires time.Time) (bool, error) {
	first := false
	err := s.withCounters(ctx, "once", func() error {
		now := s.now().UnixNano()
		if until, ok := s.c.once[key]; ok && (until == 0 || until > now) {
			return nil
		}
		e := s.record(recOnce)
		e.str(key)
		e.int(nanos(expires))
		if err := s.appendLocked(); err != nil {
			return err
		}
		first = true
		return nil
	})
	return first, err
}

// PruneCounters drops the counters that can no longer count at now: rate
// windows that ended, takes that left their window, budgets past their
// reset with their reservations, and expired Once keys; then it
// checkpoints the counters into the file's tables.
func (s *Store) PruneCounters(ctx context.Context, now time.Time) error {
	return s.withCounters(ctx, "prune counters", func() error {
		e := s.record(recPrune)
		e.int(now.UnixNano())
		if err := s.appendLocked(); err != nil {
			return err
		}
		return s.checkpointLocked(ctx)
	})
}

// newPrefix draws the reservation id prefix of one Open.
func newPrefix() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("sqlite store: reservation id prefix: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}
