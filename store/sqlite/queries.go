package sqlite

// The statements run often (cache writes, log inserts, scores), prepared
// once on the writer connection at Open: SQLite spends more time parsing
// these small statements than running them. Rare statements (purges, prunes) are run unprepared.
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
		insertLog,
		qScoreSet,
		qScorePending,
		qScoresApply,
		qScoresDone,
	}
}
