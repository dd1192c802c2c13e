package sqlite

// The statements run on every request (cache writes, rate and spend
// counters, Once, log inserts), prepared once on the writer connection at
// Open: SQLite spends more time parsing these small statements than running
// them. Rare statements (purges, prunes) are run unprepared.
const (
	qTouch       = `UPDATE cache SET accessed_at = ? WHERE key = ? AND accessed_at < ?`
	qCacheBytes  = `SELECT v FROM meta WHERE k = 'cache_bytes'`
	qEvictPick   = `SELECT rowid, size FROM cache WHERE key <> ? ORDER BY accessed_at, rowid LIMIT 64`
	qEvictDelete = `DELETE FROM cache WHERE rowid = ?`
	qCachePut    = `
INSERT INTO cache (key, scope, provider, model, value, size, created_at, expires_at, accessed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET scope = excluded.scope, provider = excluded.provider,
	model = excluded.model, value = excluded.value, size = excluded.size,
	created_at = excluded.created_at, expires_at = excluded.expires_at,
	accessed_at = MAX(accessed_at, excluded.accessed_at)`
	qFixedGet   = `SELECT count FROM rate_fixed WHERE key = ? AND start = ?`
	qFixedDrop  = `DELETE FROM rate_fixed WHERE key = ? AND start < ?`
	qEventsDrop = `DELETE FROM rate_events WHERE key = ? AND at <= ?`
	qEventsSum  = `SELECT COALESCE(SUM(n), 0) FROM rate_events WHERE key = ? AND at > ?`
	// The take whose leaving frees the amount asked: the first at which the
	// running sum from the oldest reaches it.
	qEventsFreeAt = `SELECT at FROM (
	SELECT at, SUM(n) OVER (ORDER BY at ROWS UNBOUNDED PRECEDING) AS run
	FROM rate_events WHERE key = ? AND at > ?
) WHERE run >= ? ORDER BY at LIMIT 1`
	qEventsAdd     = `INSERT INTO rate_events (key, at, n, expires_at) VALUES (?, ?, ?, ?)`
	qSpent         = `SELECT spent FROM budgets WHERE key = ?`
	qReserveAdd    = `INSERT INTO reservations (id, keys, amount, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`
	qReserveGet    = `SELECT keys, amount, actual FROM reservations WHERE id = ?`
	qBudgetAdjust  = `UPDATE budgets SET spent = MAX(0, spent + ?) WHERE key = ?`
	qReserveSettle = `UPDATE reservations SET actual = ? WHERE id = ?`
	qOnceGet       = `SELECT expires_at FROM once_keys WHERE key = ?`
	// Callers check n <= limit first: a new window's row is inserted
	// unconditionally.
	qFixedTake = `
INSERT INTO rate_fixed (key, start, count, expires_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (key, start) DO UPDATE SET count = count + excluded.count WHERE count + excluded.count <= ?5
RETURNING count`
	// Callers check amount <= limit first: a new budget's row is inserted
	// unconditionally.
	qBudgetTake = `
INSERT INTO budgets (key, spent, lim, resets) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (key) DO UPDATE SET spent = spent + excluded.spent, lim = excluded.lim, resets = excluded.resets
WHERE spent + excluded.spent <= excluded.lim
RETURNING spent`
	qOnceSet = `INSERT INTO once_keys (key, expires_at) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at`
	// Scores: set on the row when it is stored, else kept pending until
	// AppendLogs brings the row (qScoresApply, then qScoresDone).
	qScoreSet     = `UPDATE logs SET score = ? WHERE id = ?`
	qScorePending = `INSERT INTO log_scores (id, score, created_at) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET score = excluded.score, created_at = excluded.created_at`
	qScoresApply = `UPDATE logs SET score = (SELECT p.score FROM log_scores p WHERE p.id = logs.id)
WHERE id IN (SELECT id FROM log_scores)`
	qScoresDone = `DELETE FROM log_scores WHERE EXISTS (SELECT 1 FROM logs WHERE logs.id = log_scores.id)`
)

// preparedQueries lists the statements Open prepares.
func preparedQueries() []string {
	return []string{
		qTouch,
		qCacheBytes,
		qEvictPick,
		qEvictDelete,
		qCachePut,
		qFixedGet,
		qFixedDrop,
		qEventsDrop,
		qEventsSum,
		qEventsFreeAt,
		qEventsAdd,
		qSpent,
		qReserveAdd,
		qReserveGet,
		qBudgetAdjust,
		qReserveSettle,
		qOnceGet,
		qFixedTake,
		qBudgetTake,
		qOnceSet,
		insertLog,
		qScoreSet,
		qScorePending,
		qScoresApply,
		qScoresDone,
	}
}
