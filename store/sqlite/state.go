package sqlite

import (
	"slices"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// counters is the state behind the CounterStore methods, held in memory by
// every process that opens the file. Every change to it is a journal
// record (journal.go), applied by the process that made it and replayed,
// in the same order, by every other process: all of them hold the same
// state, and each decision is taken on the latest one, under the journal's
// lock.
//
// apply must be deterministic: it reads nothing but the record and the
// state (no clock, no randomness), or the processes would drift apart.
type counters struct {
	fixed   map[string][]fixedWin // windows of a key, by start; usually one
	events  map[string][]event    // sliding takes of a key, by instant
	budgets map[string]*budgetState
	res     map[string]*resv  // reservations not yet settled
	seqs    map[uint64]uint64 // reservation id prefix → highest sequence issued
	once    map[string]int64  // Once keys → expiry (0: never)
}

type fixedWin struct{ start, end, count int64 }

type event struct{ at, n, expires int64 }

type budgetState struct{ spent, lim, resets int64 }

type resv struct {
	keys    []string
	amount  int64
	expires int64 // 0: never
}

func newCounters() *counters {
	return &counters{
		fixed:   map[string][]fixedWin{},
		events:  map[string][]event{},
		budgets: map[string]*budgetState{},
		res:     map[string]*resv{},
		seqs:    map[uint64]uint64{},
		once:    map[string]int64{},
	}
}

// pending is what earlier takes of one batch add to a later one on the
// same key: the batch's decisions are taken before any of it is applied.
type pending struct {
	key    string
	kind   string
	window time.Duration
	n      int64
	at     int64
}

func extraFor(p []pending, t conductor.RateTake) (n int64, evs []event) {
	for _, q := range p {
		if q.key == t.Key && q.kind == t.Kind && q.window == t.Window {
			n += q.n
			evs = append(evs, event{at: q.at, n: q.n})
		}
	}
	return n, evs
}

// decide answers a take as the state stands, with the batch's earlier
// admitted takes p counted in; it changes nothing.
func (c *counters) decide(t conductor.RateTake, at int64, p []pending) conductor.RateDecision {
	extra, extraEvents := extraFor(p, t)
	if t.Kind == conductor.WindowSliding {
		return c.decideSliding(t, at, extra, extraEvents)
	}
	w := int64(t.Window)
	start := floorDiv(at, w) * w
	end := start + w
	count := extra
	for _, fw := range c.fixed[t.Key] {
		if fw.start == start {
			count += fw.count
		}
	}
	if t.N <= t.Limit && count+t.N <= t.Limit {
		return conductor.RateDecision{Allowed: true, Count: count + t.N}
	}
	d := conductor.RateDecision{Count: count, RetryAfter: time.Duration(end - at)}
	if t.N > t.Limit {
		// Never fits: say "a window from now" rather than promise a retry
		// that will fail too.
		d.RetryAfter = t.Window
	}
	return d
}

func (c *counters) decideSliding(t conductor.RateTake, at, extra int64, extraEvents []event) conductor.RateDecision {
	from := at - int64(t.Window) // exclusive: the window is (now-window, now]
	evs := c.events[t.Key]
	// Takes stamped after now count too: concurrent callers (or another
	// process with a clock slightly ahead) took them, and leaving them out
	// would admit more than the limit.
	i := firstAfter(evs, from)
	count := extra
	for _, e := range evs[i:] {
		count += e.n
	}
	if count+t.N <= t.Limit {
		return conductor.RateDecision{Allowed: true, Count: count + t.N}
	}
	d := conductor.RateDecision{Count: count, RetryAfter: t.Window}
	if t.N <= t.Limit {
		// The take fits once enough of the oldest takes have left the
		// window: a take at t leaves it when now reaches t+window.
		in := append(slices.Clone(evs[i:]), extraEvents...)
		slices.SortStableFunc(in, func(a, b event) int { return cmpInt(a.at, b.at) })
		need, run := count+t.N-t.Limit, int64(0)
		for _, e := range in {
			run += e.n
			if run >= need {
				d.RetryAfter = time.Duration(e.at + int64(t.Window) - at)
				break
			}
		}
	}
	return d
}

// firstAfter is the index of the first event later than from (events are
// sorted by instant).
func firstAfter(evs []event, from int64) int {
	i, _ := slices.BinarySearchFunc(evs, from, func(e event, from int64) int {
		if e.at <= from {
			return -1
		}
		return 1
	})
	return i
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// applyTake counts an admitted take (n > 0).
func (c *counters) applyTake(key string, sliding bool, window, n, at int64) {
	if sliding {
		from := at - window
		evs := c.events[key]
		// Takes that left the window can never count again at a later now.
		if i := firstAfter(evs, from); i > 0 {
			evs = slices.Delete(evs, 0, i)
		}
		e := event{at: at, n: n, expires: at + window}
		j := len(evs)
		for j > 0 && evs[j-1].at > at {
			j--
		}
		c.events[key] = slices.Insert(evs, j, e)
		return
	}
	start := floorDiv(at, window) * window
	wins := c.fixed[key]
	for i := range wins {
		if wins[i].start == start {
			wins[i].count += n
			return
		}
	}
	// A new window for the key: its earlier ones can never count again.
	kept := wins[:0]
	for _, fw := range wins {
		if fw.start > start {
			kept = append(kept, fw)
		}
	}
	kept = append(kept, fixedWin{start: start, end: start + window, count: n})
	slices.SortFunc(kept, func(a, b fixedWin) int { return cmpInt(a.start, b.start) })
	c.fixed[key] = kept
}

// applyReserve adds amount to every budget and keeps the reservation.
func (c *counters) applyReserve(id string, prefix, seq uint64, amount, expires int64, budgets []conductor.Budget) {
	keys := make([]string, len(budgets))
	for i, b := range budgets {
		keys[i] = b.Key
		st := c.budgets[b.Key]
		if st == nil {
			st = &budgetState{}
			c.budgets[b.Key] = st
		}
		// A later call's limit replaces the stored one: config may change
		// while a window runs.
		st.spent += amount
		st.lim, st.resets = b.Limit, nanos(b.Resets)
	}
	c.res[id] = &resv{keys: keys, amount: amount, expires: expires}
	if seq > c.seqs[prefix] {
		c.seqs[prefix] = seq
	}
}

// applySettle replaces a reservation's amount by actual; a reservation
// already settled is left alone.
func (c *counters) applySettle(id string, actual int64) {
	r := c.res[id]
	if r == nil {
		return
	}
	for _, k := range r.keys {
		if st := c.budgets[k]; st != nil {
			st.spent = max(0, st.spent+actual-r.amount)
		}
	}
	delete(c.res, id)
}

// known reports whether id was issued (settled or not).
func (c *counters) known(id string) bool {
	if c.res[id] != nil {
		return true
	}
	prefix, seq, ok := parseID(id)
	return ok && seq <= c.seqs[prefix] && seq > 0
}

// prune drops what can no longer count at now.
func (c *counters) prune(now int64) {
	for k, wins := range c.fixed {
		kept := wins[:0]
		for _, fw := range wins {
			if fw.end > now {
				kept = append(kept, fw)
			}
		}
		if len(kept) == 0 {
			delete(c.fixed, k)
		} else {
			c.fixed[k] = kept
		}
	}
	for k, evs := range c.events {
		kept := evs[:0]
		for _, e := range evs {
			if e.expires > now {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			delete(c.events, k)
		} else {
			c.events[k] = kept
		}
	}
	for k, b := range c.budgets {
		if b.resets > 0 && b.resets <= now {
			delete(c.budgets, k)
		}
	}
	for id, r := range c.res {
		if r.expires > 0 && r.expires <= now {
			delete(c.res, id)
		}
	}
	for k, e := range c.once {
		if e > 0 && e <= now {
			delete(c.once, k)
		}
	}
}

// Reservation ids are a prefix drawn at Open and a sequence number, both
// in hex: whether an id was issued is known without keeping every settled
// one, so a settled reservation costs no memory.
func formatID(prefix, seq uint64) string {
	const digits = "0123456789abcdef"
	var b [32]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[prefix&15]
		prefix >>= 4
		b[16+i] = digits[seq&15]
		seq >>= 4
	}
	return string(b[:])
}

func parseID(id string) (prefix, seq uint64, ok bool) {
	if len(id) != 32 {
		return 0, 0, false
	}
	for i := 0; i < 32; i++ {
		c := id[i]
		var v uint64
		switch {
		case c >= '0' && c <= '9':
			v = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			v = uint64(c-'a') + 10
		default:
			return 0, 0, false
		}
		if i < 16 {
			prefix = prefix<<4 | v
		} else {
			seq = seq<<4 | v
		}
	}
	return prefix, seq, true
}
