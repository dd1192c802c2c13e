package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	conductor "github.com/conductor-go/conductor"
)

// The counters' keys, under the prefix:
//
//	rf:KEY:START  a fixed window's count
//	rs:KEY        a sliding window's takes: sorted set "N:ID" by instant (µs)
//	rs:KEY:t      the sum of their N
//	b:KEY         a budget: hash spent, lim, resets (ns)
//	res:ID        a reservation not yet settled: hash amount, n, k1…kn (budget keys)
//	resid         the last reservation id issued (ids are 1, 2, …)
//	o:KEY         a Once mark
//	fl:KEY        a flight's leader token

// ErrUnknownReservation is returned by SettleSpend for an id ReserveSpend
// never returned.
var ErrUnknownReservation = errors.New("unknown spend reservation")

// luaCmp compares decimal integer strings exactly (Lua's numbers are
// doubles: 2^53 nano-USD is only $9M).
const luaCmp = `
local function cmp(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then if na then return -1 else return 1 end end
  if na then a, b = string.sub(b, 2), string.sub(a, 2) end
  if #a ~= #b then if #a < #b then return -1 else return 1 end end
  if a < b then return -1 elseif a > b then return 1 end
  return 0
end
`

// luaTakes makes takes: KEYS[ko+i] is take i's key, ARGV[ao+7(i-1)+1…7]
// its n, limit, kind (f|s), from µs, at µs, TTL ms and member id. all:
// the first refusal undoes the takes before it and stops. Returns per
// evaluated take: allowed (1|0), count, and for a refused sliding take the
// instant (µs) of the take whose leaving frees enough ("" if none).
const luaTakes = luaCmp + `
local function run_takes(ko, ao, nt, all)
  local out, applied = {}, {}
  for i = 1, nt do
    local key = KEYS[ko + i]
    local a = ao + (i - 1) * 7
    local n, limit, kind, from, at, ttl, member = ARGV[a+1], ARGV[a+2], ARGV[a+3], ARGV[a+4], ARGV[a+5], ARGV[a+6], ARGV[a+7]
    local count, allowed, free = '0', false, ''
    if kind == 's' then
      local tk = key .. ':t'
      local old = redis.call('ZRANGEBYSCORE', key, '-inf', from)
      if #old > 0 then
        for _, m in ipairs(old) do redis.call('DECRBY', tk, string.match(m, '^(%d+):')) end
        redis.call('ZREMRANGEBYSCORE', key, '-inf', from)
      end
      count = redis.call('GET', tk) or '0'
      if n == '0' then
        allowed = cmp(count, limit) <= 0
      elseif cmp(n, limit) <= 0 then
        local m = n .. ':' .. member
        redis.call('ZADD', key, at, m)
        redis.call('INCRBY', tk, n)
        redis.call('PEXPIRE', key, ttl)
        redis.call('PEXPIRE', tk, ttl)
        local c2 = redis.call('GET', tk)
        if cmp(c2, limit) <= 0 then
          allowed, count = true, c2
          applied[#applied + 1] = {key, n, m}
        else
          redis.call('ZREM', key, m)
          redis.call('DECRBY', tk, n)
          local need = tonumber(count) + tonumber(n) - tonumber(limit)
          local run = 0
          local evs = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
          for j = 1, #evs, 2 do
            run = run + tonumber(string.match(evs[j], '^(%d+):'))
            if run >= need then free = evs[j + 1]; break end
          end
        end
      end
    else
      count = redis.call('GET', key) or '0'
      if n == '0' then
        allowed = cmp(count, limit) <= 0
      elseif cmp(n, limit) <= 0 then
        redis.call('INCRBY', key, n)
        redis.call('PEXPIRE', key, ttl)
        local c2 = redis.call('GET', key)
        if cmp(c2, limit) <= 0 then
          allowed, count = true, c2
          applied[#applied + 1] = {key, n}
        else
          redis.call('DECRBY', key, n)
        end
      end
    end
    out[#out + 1] = allowed and 1 or 0
    out[#out + 1] = count
    out[#out + 1] = free
    if all and not allowed then
      for j = #applied, 1, -1 do
        local x = applied[j]
        if x[3] then
          redis.call('ZREM', x[1], x[3])
          redis.call('DECRBY', x[1] .. ':t', x[2])
        else
          redis.call('DECRBY', x[1], x[2])
        end
      end
      return out
    end
  end
  return out
end
`

// ARGV: the takes from 1. KEYS: the takes'.
var takesScript = goredis.NewScript(luaTakes + `
return run_takes(0, 0, #KEYS, true)
`)

// KEYS: resid, the reservations, the takes. ARGV: ns, nt, then per
// settlement id and actual, then the takes. Returns {-1, i} when
// settlement i names an id never issued (nothing done), else {1, takes…}.
var settleScript = goredis.NewScript(luaTakes + `
local ns, nt = tonumber(ARGV[1]), tonumber(ARGV[2])
local maxid = tonumber(redis.call('GET', KEYS[1]) or '0')
for i = 1, ns do
  if redis.call('EXISTS', KEYS[1 + i]) == 0 then
    local id = tonumber(ARGV[2 + (i - 1) * 2 + 1])
    if id == nil or id < 1 or id > maxid then return {-1, i} end
  end
end
for i = 1, ns do
  local rk = KEYS[1 + i]
  local h = redis.call('HGETALL', rk)
  if #h > 0 then
    local f = {}
    for j = 1, #h, 2 do f[h[j]] = h[j + 1] end
    local actual = ARGV[2 + (i - 1) * 2 + 2]
    for j = 1, tonumber(f.n) do
      local bk = f['k' .. j]
      if redis.call('EXISTS', bk) == 1 then
        redis.call('HINCRBY', bk, 'spent', actual)
        if f.amount ~= '0' then redis.call('HINCRBY', bk, 'spent', '-' .. f.amount) end
        if string.sub(redis.call('HGET', bk, 'spent'), 1, 1) == '-' then redis.call('HSET', bk, 'spent', '0') end
      end
    end
    redis.call('DEL', rk)
  end
end
local out = run_takes(1 + ns, 2 + 2 * ns, nt, false)
table.insert(out, 1, 1)
return out
`)

// KEYS: resid, the budgets. ARGV: prefix, amount, nb, reservation TTL ms
// (0: none), then per budget limit, resets (ns), TTL ms (0: none).
// Returns {1, id}, or {0, i, spent} when budget i refused (nothing done).
var reserveScript = goredis.NewScript(luaCmp + `
local amount, nb = ARGV[2], tonumber(ARGV[3])
local created = {}
for i = 1, nb do
  local bk = KEYS[1 + i]
  local limit = ARGV[4 + (i - 1) * 3 + 1]
  created[i] = redis.call('EXISTS', bk) == 0
  local spent = redis.call('HGET', bk, 'spent') or '0'
  local ok = cmp(amount, limit) <= 0
  if ok then
    redis.call('HINCRBY', bk, 'spent', amount)
    if cmp(redis.call('HGET', bk, 'spent'), limit) > 0 then ok = false end
  end
  if not ok then
    for j = 1, i do
      if created[j] then
        redis.call('DEL', KEYS[1 + j])
      elseif amount ~= '0' and (j < i or cmp(amount, limit) <= 0) then
        redis.call('HINCRBY', KEYS[1 + j], 'spent', '-' .. amount)
      end
    end
    return {0, i, spent}
  end
end
local id = redis.call('INCR', KEYS[1])
local fields = {'amount', amount, 'n', ARGV[3]}
for i = 1, nb do
  local a = 4 + (i - 1) * 3
  redis.call('HSET', KEYS[1 + i], 'lim', ARGV[a + 1], 'resets', ARGV[a + 2])
  if ARGV[a + 3] ~= '0' then redis.call('PEXPIRE', KEYS[1 + i], ARGV[a + 3]) else redis.call('PERSIST', KEYS[1 + i]) end
  fields[#fields + 1] = 'k' .. i
  fields[#fields + 1] = KEYS[1 + i]
end
local rk = ARGV[1] .. 'res:' .. string.format('%d', id)
redis.call('HSET', rk, unpack(fields))
if ARGV[4] ~= '0' then redis.call('PEXPIRE', rk, ARGV[4]) end
return {1, id}
`)

// windowSlack keeps a rate window's key a little past its end.
const windowSlack = time.Minute

var memberSeq atomic.Uint64

var memberPrefix = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

func checkTake(t conductor.RateTake) error {
	if t.N < 0 || t.Limit < 0 || t.Window <= 0 {
		return fmt.Errorf("redis store: take rate %q: need n >= 0, limit >= 0 and window > 0 (got %d, %d, %v)", t.Key, t.N, t.Limit, t.Window)
	}
	if t.Kind != conductor.WindowFixed && t.Kind != conductor.WindowSliding {
		return fmt.Errorf("redis store: take rate %q: unknown window kind %q (want %q or %q)", t.Key, t.Kind, conductor.WindowFixed, conductor.WindowSliding)
	}
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// takeArgs appends a take's key and arguments.
func (s *Store) takeArgs(keys []string, args []any, t conductor.RateTake, now time.Time) ([]string, []any) {
	at := now.UnixNano()
	if t.Kind == conductor.WindowSliding {
		keys = append(keys, s.key("rs", t.Key))
		atUS := now.UnixMicro()
		args = append(args, itoa(t.N), itoa(t.Limit), "s", itoa(atUS-t.Window.Microseconds()), itoa(atUS),
			ms(t.Window+windowSlack), memberPrefix+strconv.FormatUint(memberSeq.Add(1), 36))
		return keys, args
	}
	w := int64(t.Window)
	start := floorDiv(at, w) * w
	keys = append(keys, s.key("rf", t.Key, itoa(start)))
	args = append(args, itoa(t.N), itoa(t.Limit), "f", "0", "0", ms(time.Duration(start+w-at)+windowSlack), "")
	return keys, args
}

// decisions reads the script's per-take triples.
func decisions(out []any, takes []conductor.RateTake, now time.Time) ([]conductor.RateDecision, error) {
	ds := make([]conductor.RateDecision, len(takes))
	for i := 0; i+2 < len(out) && i/3 < len(takes); i += 3 {
		t := takes[i/3]
		allowed, _ := out[i].(int64)
		countS, _ := out[i+1].(string)
		count, err := strconv.ParseInt(countS, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redis store: take rate %q: count %q: %w", t.Key, countS, err)
		}
		d := conductor.RateDecision{Allowed: allowed == 1, Count: count}
		if !d.Allowed {
			d.RetryAfter = t.Window
			if t.N <= t.Limit {
				if t.Kind == conductor.WindowSliding {
					if free, _ := out[i+2].(string); free != "" {
						f, err := strconv.ParseFloat(free, 64)
						if err == nil {
							// The take at free (µs) leaves the window at free+window.
							d.RetryAfter = time.Duration(int64(f)*1000 + int64(t.Window) - now.UnixNano())
						}
					}
				} else {
					w := int64(t.Window)
					at := now.UnixNano()
					d.RetryAfter = time.Duration(floorDiv(at, w)*w + w - at)
				}
			}
		}
		ds[i/3] = d
	}
	return ds, nil
}

// TakeRate counts n against key if the window's total stays within limit:
// one script.
func (s *Store) TakeRate(ctx context.Context, key string, n, limit int64, window time.Duration, kind string, now time.Time) (conductor.RateDecision, error) {
	ds, err := s.TakeRates(ctx, []conductor.RateTake{{Key: key, N: n, Limit: limit, Window: window, Kind: kind}}, now)
	if err != nil {
		return conductor.RateDecision{}, err
	}
	return ds[0], nil
}

// TakeRates makes every take or none, in one script (one round trip).
func (s *Store) TakeRates(ctx context.Context, takes []conductor.RateTake, now time.Time) ([]conductor.RateDecision, error) {
	for _, t := range takes {
		if err := checkTake(t); err != nil {
			return nil, err
		}
	}
	if len(takes) == 0 {
		return []conductor.RateDecision{}, nil
	}
	keys := make([]string, 0, len(takes))
	args := make([]any, 0, 7*len(takes))
	for _, t := range takes {
		keys, args = s.takeArgs(keys, args, t, now)
	}
	out, err := takesScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return nil, wrap("take rates", err)
	}
	return decisions(out, takes, now)
}

// ReserveSpend reserves amount in every budget or none: one script.
func (s *Store) ReserveSpend(ctx context.Context, budgets []conductor.Budget, amount int64, now time.Time) (string, error) {
	if amount < 0 {
		return "", fmt.Errorf("redis store: reserve spend: negative amount %d", amount)
	}
	uniq := make([]conductor.Budget, 0, len(budgets))
	seen := make(map[string]bool, len(budgets))
	for _, b := range budgets {
		if !seen[b.Key] {
			seen[b.Key] = true
			uniq = append(uniq, b)
		}
	}
	// The reservation lives as long as its longest-lived budget.
	var expires time.Time
	forever := false
	for _, b := range uniq {
		if b.Resets.IsZero() {
			forever = true
		} else if b.Resets.After(expires) {
			expires = b.Resets
		}
	}
	resTTL := "0"
	switch {
	case len(uniq) == 0:
		resTTL = ms(24 * time.Hour)
	case !forever:
		resTTL = ms(max(expires.Sub(now), 0) + grace)
	}
	keys := make([]string, 0, 1+len(uniq))
	keys = append(keys, s.key("resid"))
	args := make([]any, 0, 4+3*len(uniq))
	args = append(args, s.p, itoa(amount), itoa(int64(len(uniq))), resTTL)
	for _, b := range uniq {
		keys = append(keys, s.key("b", b.Key))
		ttl := "0"
		if !b.Resets.IsZero() {
			ttl = ms(max(b.Resets.Sub(now), 0) + grace)
		}
		args = append(args, itoa(b.Limit), itoa(nanos(b.Resets)), ttl)
	}
	out, err := reserveScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return "", wrap("reserve spend", err)
	}
	if len(out) >= 2 {
		if ok, _ := out[0].(int64); ok == 1 {
			id, _ := out[1].(int64)
			return strconv.FormatInt(id, 10), nil
		}
	}
	if len(out) == 3 {
		i, _ := out[1].(int64)
		spentS, _ := out[2].(string)
		spent, _ := strconv.ParseInt(spentS, 10, 64)
		if i >= 1 && int(i) <= len(uniq) {
			return "", &conductor.BudgetError{Budget: uniq[i-1], Spent: spent, Asked: amount}
		}
	}
	return "", fmt.Errorf("redis store: reserve spend: unexpected reply %v", out)
}

// SettleSpend replaces a reservation's amount with actual; settling again
// is a no-op.
func (s *Store) SettleSpend(ctx context.Context, id string, actual int64) error {
	_, err := s.SettleAndCount(ctx, []conductor.Settlement{{ID: id, Actual: actual}}, nil, time.Time{})
	return err
}

// SettleAndCount settles and takes in one script (one round trip).
func (s *Store) SettleAndCount(ctx context.Context, settles []conductor.Settlement, takes []conductor.RateTake, now time.Time) ([]conductor.RateDecision, error) {
	for _, st := range settles {
		if st.Actual < 0 {
			return nil, fmt.Errorf("redis store: settle spend %s: negative amount %d", st.ID, st.Actual)
		}
		if n, err := strconv.ParseInt(st.ID, 10, 64); err != nil || n < 1 || strconv.FormatInt(n, 10) != st.ID {
			return nil, fmt.Errorf("redis store: settle spend %s: %w", st.ID, ErrUnknownReservation)
		}
	}
	for _, t := range takes {
		if err := checkTake(t); err != nil {
			return nil, err
		}
	}
	if len(settles) == 0 && len(takes) == 0 {
		return []conductor.RateDecision{}, nil
	}
	keys := make([]string, 0, 1+len(settles)+len(takes))
	keys = append(keys, s.key("resid"))
	args := make([]any, 0, 2+2*len(settles)+7*len(takes))
	args = append(args, itoa(int64(len(settles))), itoa(int64(len(takes))))
	for _, st := range settles {
		keys = append(keys, s.key("res", st.ID))
		args = append(args, st.ID, itoa(st.Actual))
	}
	for _, t := range takes {
		keys, args = s.takeArgs(keys, args, t, now)
	}
	out, err := settleScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return nil, wrap("settle and count", err)
	}
	if len(out) < 1 {
		return nil, fmt.Errorf("redis store: settle and count: empty reply")
	}
	if code, _ := out[0].(int64); code == -1 {
		i, _ := out[1].(int64)
		return nil, fmt.Errorf("redis store: settle spend %s: %w", settles[i-1].ID, ErrUnknownReservation)
	}
	return decisions(out[1:], takes, now)
}

// Spent returns what the budget has spent and reserved.
func (s *Store) Spent(ctx context.Context, key string) (int64, error) {
	v, err := s.c.HGet(ctx, s.key("b", key), "spent").Int64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("spent", err)
	}
	return v, nil
}

// Once reports true the first time it is called for key until expires
// passes (by the store's clock); a zero expires never passes.
func (s *Store) Once(ctx context.Context, key string, expires time.Time) (bool, error) {
	var ttl time.Duration
	if !expires.IsZero() {
		ttl = expires.Sub(s.now())
		if ttl <= 0 {
			return true, nil // a mark that expired at once: it fires every time
		}
	}
	ok, err := s.c.SetNX(ctx, s.key("o", key), 1, ttl).Result()
	if err != nil {
		return false, wrap("once", err)
	}
	return ok, nil
}

// LeadFlight claims key's flight for ttl.
func (s *Store) LeadFlight(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	token := memberPrefix + strconv.FormatUint(memberSeq.Add(1), 36)
	ok, err := s.c.SetNX(ctx, s.key("fl", key), token, ttl).Result()
	if err != nil {
		return "", false, wrap("lead flight", err)
	}
	return token, ok, nil
}

var endFlightScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// EndFlight ends the flight token leads.
func (s *Store) EndFlight(ctx context.Context, key, token string) error {
	if err := endFlightScript.Run(ctx, s.c, []string{s.key("fl", key)}, token).Err(); err != nil {
		return wrap("end flight", err)
	}
	return nil
}

// WaitFlight polls until key's flight has ended: the wait is as long as
// an upstream call, so a few milliseconds of polling cost nothing.
func (s *Store) WaitFlight(ctx context.Context, key string) error {
	wait := 2 * time.Millisecond
	for {
		n, err := s.c.Exists(ctx, s.key("fl", key)).Result()
		if err != nil {
			return wrap("wait flight", err)
		}
		if n == 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}
