package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	conductor "github.com/conductor-go/conductor"
)

// The cache's keys, under the prefix:
//
//	c:v:KEY    the entry: a string (encodeEntry), with a Redis TTL a grace
//	           period past its expiry
//	c:m        hash KEY → "SIZE EXPIRES_µs SCOPE": what eviction, stats
//	           and purges need without reading values
//	c:lru      sorted set KEY by last access (µs)
//	c:exp      sorted set KEY by expiry (µs), entries that expire only
//	c:bytes    the cache's size (keys plus values)
//	c:sc       hash SCOPE → entries
//	c:s:SCOPE  set of the scope's keys
//
// Every change to them is one script, so they always agree.

// luaDrop removes one entry and its bookkeeping.
const luaDrop = `
local p = ARGV[1]
local M, LRU, EXP, BYTES, SC = p..'c:m', p..'c:lru', p..'c:exp', p..'c:bytes', p..'c:sc'
local function drop(key)
  redis.call('DEL', p..'c:v:'..key)
  redis.call('ZREM', LRU, key)
  redis.call('ZREM', EXP, key)
  local m = redis.call('HGET', M, key)
  if not m then return 0 end
  redis.call('HDEL', M, key)
  local sz, e, sc = string.match(m, '^(%d+) (%d+) (.*)$')
  redis.call('SREM', p..'c:s:'..sc, key)
  if redis.call('HINCRBY', SC, sc, -1) <= 0 then redis.call('HDEL', SC, sc) end
  redis.call('DECRBY', BYTES, sz)
  return 1
end
`

// ARGV: prefix, key, entry, size, scope, accessed µs, expires µs (0:
// never), Redis TTL ms (0: none), max bytes, now µs.
var putScript = goredis.NewScript(luaDrop + `
local k, acc = ARGV[2], ARGV[6]
local old = redis.call('ZSCORE', LRU, k)
if old and tonumber(old) > tonumber(acc) then acc = old end
drop(k)
if ARGV[8] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[8])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
redis.call('HSET', M, k, ARGV[4]..' '..ARGV[7]..' '..ARGV[5])
redis.call('ZADD', LRU, acc, k)
if ARGV[7] ~= '0' then redis.call('ZADD', EXP, ARGV[7], k) end
redis.call('SADD', p..'c:s:'..ARGV[5], k)
redis.call('HINCRBY', SC, ARGV[5], 1)
local total = redis.call('INCRBY', BYTES, ARGV[4])
local maxb = tonumber(ARGV[9])
if total <= maxb then return 0 end
-- Over the bound: what has expired goes first, then the least recently used.
local evicted = 0
for _, v in ipairs(redis.call('ZRANGEBYSCORE', EXP, '-inf', ARGV[10])) do
  if v ~= k then evicted = evicted + drop(v) end
end
total = tonumber(redis.call('GET', BYTES) or '0')
while total > maxb do
  local any = false
  for _, v in ipairs(redis.call('ZRANGE', LRU, 0, 63)) do
    if v ~= k then
      evicted = evicted + drop(v)
      any = true
      total = tonumber(redis.call('GET', BYTES) or '0')
      if total <= maxb then break end
    end
  end
  if not any then break end
end
return evicted
`)

// ARGV: prefix, scope, batch. Returns how many went.
var purgeScript = goredis.NewScript(luaDrop + `
local n = 0
for _, v in ipairs(redis.call('SPOP', p..'c:s:'..ARGV[2], tonumber(ARGV[3]))) do
  n = n + drop(v)
end
return n
`)

// ARGV: prefix, now µs, batch. Returns how many went.
var pruneScript = goredis.NewScript(luaDrop + `
local n = 0
for _, v in ipairs(redis.call('ZRANGEBYSCORE', EXP, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))) do
  n = n + drop(v)
end
return n
`)

const batch = 500

// encodeEntry packs an entry into one string: a hit is one GET.
func encodeEntry(e *conductor.CacheEntry) []byte {
	b := make([]byte, 16, 16+3*binary.MaxVarintLen64+len(e.Scope)+len(e.Provider)+len(e.Model)+len(e.Value))
	binary.LittleEndian.PutUint64(b, uint64(nanos(e.CreatedAt)))
	binary.LittleEndian.PutUint64(b[8:], uint64(nanos(e.ExpiresAt)))
	for _, s := range []string{e.Scope, e.Provider, e.Model} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, e.Value...)
}

func decodeEntry(b []byte) (conductor.CacheEntry, error) {
	var e conductor.CacheEntry
	if len(b) < 16 {
		return e, errors.New("cache entry too short")
	}
	e.CreatedAt = fromNanos(int64(binary.LittleEndian.Uint64(b)))
	e.ExpiresAt = fromNanos(int64(binary.LittleEndian.Uint64(b[8:])))
	b = b[16:]
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return e, errors.New("cache entry malformed")
		}
		fields[i] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	e.Scope, e.Provider, e.Model = fields[0], fields[1], fields[2]
	e.Value = b
	return e, nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func entrySize(e *conductor.CacheEntry) int64 { return int64(len(e.Key) + len(e.Value)) }

// GetCache reads the entry for key: one GET. A hit's access time is
// remembered and written in a batch (before the next put, and every
// second), so a hit waits on no write.
func (s *Store) GetCache(ctx context.Context, key string, now time.Time) (conductor.CacheEntry, bool, bool, error) {
	b, err := s.c.Get(ctx, s.key("c", "v", key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return conductor.CacheEntry{}, false, false, nil
	}
	if err != nil {
		return conductor.CacheEntry{}, false, false, wrap("get cache", err)
	}
	e, err := decodeEntry(b)
	if err != nil {
		return conductor.CacheEntry{}, false, false, wrap("get cache", err)
	}
	if !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt) {
		return conductor.CacheEntry{}, false, true, nil
	}
	e.Key = key
	s.touch(key, micros(now))
	return e, true, false, nil
}

func (s *Store) touch(key string, at int64) {
	s.touchMu.Lock()
	if at > s.touches[key] {
		s.touches[key] = at
	}
	start := len(s.touches) >= touchFlushAt && !s.flushing
	if start {
		s.flushing = true
		s.bg.Add(1)
	}
	s.touchMu.Unlock()
	if start {
		go func() {
			defer s.bg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.flushTouches(ctx); err != nil {
				s.log.Debug("redis store: writing cache access times", "err", err)
			}
			s.touchMu.Lock()
			s.flushing = false
			s.touchMu.Unlock()
		}()
	}
}

// flushTouches writes the pending access times: ZADD XX GT moves an
// entry later in LRU order, never earlier, and adds no entry that went.
func (s *Store) flushTouches(ctx context.Context) error {
	s.touchMu.Lock()
	t := s.touches
	if len(t) == 0 {
		s.touchMu.Unlock()
		return nil
	}
	s.touches = make(map[string]int64, len(t))
	s.touchMu.Unlock()
	zs := make([]goredis.Z, 0, len(t))
	for k, at := range t {
		zs = append(zs, goredis.Z{Score: float64(at), Member: k})
	}
	if err := s.c.ZAddArgs(ctx, s.key("c", "lru"), goredis.ZAddArgs{XX: true, GT: true, Members: zs}).Err(); err != nil {
		return wrap("write cache access times", err)
	}
	return nil
}

// PutCache stores e and evicts past the size bound, in one script. An
// entry larger than the whole bound is not stored.
func (s *Store) PutCache(ctx context.Context, e conductor.CacheEntry) error {
	if e.Key == "" {
		return errors.New("redis store: put cache: empty key")
	}
	size := entrySize(&e)
	if size > s.maxBytes {
		s.log.Debug("redis store: cache entry larger than the cache, not stored", "key", e.Key, "bytes", size, "max", s.maxBytes)
		return nil
	}
	if err := s.flushTouches(ctx); err != nil {
		return err
	}
	wall := s.now()
	accessed := e.CreatedAt
	if accessed.IsZero() {
		accessed = wall
	}
	ttl := "0"
	if !e.ExpiresAt.IsZero() {
		// Relative to the entry's own clock: Redis reclaims it a grace
		// period after it expired.
		ttl = ms(max(e.ExpiresAt.Sub(accessed), 0) + grace)
	}
	exp := "0"
	if !e.ExpiresAt.IsZero() {
		exp = itoa(max(micros(e.ExpiresAt), 1))
	}
	err := putScript.Run(ctx, s.c, []string{s.key("c", "v", e.Key)},
		s.p, e.Key, encodeEntry(&e), itoa(size), e.Scope, itoa(micros(accessed)), exp, ttl, itoa(s.maxBytes), itoa(micros(accessed))).Err()
	if err != nil {
		return wrap("put cache", err)
	}
	return nil
}

// PurgeCache deletes every entry of scope, or every entry when scope is "".
func (s *Store) PurgeCache(ctx context.Context, scope string) (int64, error) {
	scopes := []string{scope}
	if scope == "" {
		var err error
		if scopes, err = s.c.HKeys(ctx, s.key("c", "sc")).Result(); err != nil {
			return 0, wrap("purge cache", err)
		}
	}
	var total int64
	for _, sc := range scopes {
		for {
			n, err := purgeScript.Run(ctx, s.c, []string{s.key("c", "s", sc)}, s.p, sc, batch).Int64()
			if err != nil {
				return total, wrap("purge cache", err)
			}
			total += n
			if n == 0 {
				break
			}
		}
	}
	return total, nil
}

// PruneCache deletes the entries expired at now.
func (s *Store) PruneCache(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		n, err := pruneScript.Run(ctx, s.c, []string{s.key("c", "exp")}, s.p, itoa(micros(now)), batch).Int64()
		if err != nil {
			return total, wrap("prune cache", err)
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// CacheStats counts the cache's entries, bytes and expired entries at now.
func (s *Store) CacheStats(ctx context.Context, now time.Time) (conductor.CacheStats, error) {
	st := conductor.CacheStats{ByScope: map[string]int64{}, MaxBytes: s.maxBytes}
	var (
		entries *goredis.IntCmd
		bytes   *goredis.StringCmd
		expired *goredis.IntCmd
		scopes  *goredis.MapStringStringCmd
	)
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		entries = p.HLen(ctx, s.key("c", "m"))
		bytes = p.Get(ctx, s.key("c", "bytes"))
		expired = p.ZCount(ctx, s.key("c", "exp"), "-inf", itoa(micros(now)))
		scopes = p.HGetAll(ctx, s.key("c", "sc"))
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return st, wrap("cache stats", err)
	}
	st.Entries = entries.Val()
	if b, err := bytes.Int64(); err == nil {
		st.Bytes = b
	}
	st.Expired = expired.Val()
	for sc, v := range scopes.Val() {
		var n int64
		if _, err := fmt.Sscan(v, &n); err == nil {
			st.ByScope[sc] = n
		}
	}
	return st, nil
}
