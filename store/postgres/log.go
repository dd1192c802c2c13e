package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	conductor "github.com/conductor-go/conductor"
)

// statsGroups maps StatsQuery.By to its column; only these names ever
// reach the SQL text.
var statsGroups = map[string]string{
	"":            "''",
	"provider":    "provider",
	"model":       "model",
	"environment": "environment",
	"variant":     "variant",
	"gateway":     "gateway",
	"user":        `"user"`,
	"key":         `"key"`,
	"team":        "team",
	"deployment":  "deployment",
}

var logColumns = []string{"id", "time", "gateway", "environment", "user", "provider", "model", "route", "variant",
	"status", "success", "cached", "miss_reason", "attempts", "step", "input_tokens", "output_tokens", "cost",
	"cost_flagged", "latency", "ttfb", "error_class", "score", "metadata",
	"key", "team", "saved", "deployment"}

var columnList = func() string {
	q := make([]string, len(logColumns))
	for i, c := range logColumns {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}()

// partition is the day partition holding t.
func partition(t time.Time) (name string, from, to time.Time) {
	t = t.UTC()
	from = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return "logs_p" + from.Format("20060102"), from, from.AddDate(0, 0, 1)
}

// ensurePartitions creates the day partitions rows need, once per process
// (and once among processes: the advisory lock).
func (s *Store) ensurePartitions(ctx context.Context, rows []conductor.LogRow) error {
	s.partMu.Lock()
	defer s.partMu.Unlock()
	var missing []time.Time
	seen := map[string]bool{}
	for i := range rows {
		name, from, _ := partition(rows[i].Time)
		if !s.parts[name] && !seen[name] {
			seen[name] = true
			missing = append(missing, from)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(current_schema(), $1))`, int64(migrationLock)); err != nil {
		return err
	}
	for _, day := range missing {
		name, from, to := partition(day)
		q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF logs FOR VALUES FROM ('%s') TO ('%s')`,
			pgx.Identifier{name}.Sanitize(), from.Format(time.RFC3339), to.Format(time.RFC3339))
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("create partition %s: %w", name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for _, day := range missing {
		name, _, _ := partition(day)
		s.parts[name] = true
	}
	return nil
}

// AppendLogs writes a batch with one COPY into a temporary table, then
// moves it into the log skipping rows already stored (a batch retried
// after a failed commit counts once) and applies pending scores.
func (s *Store) AppendLogs(ctx context.Context, rows []conductor.LogRow) error {
	if len(rows) == 0 {
		return nil
	}
	if err := s.ensurePartitions(ctx, rows); err != nil {
		return fmt.Errorf("postgres store: append logs: %w", err)
	}
	src := make([][]any, len(rows))
	for i := range rows {
		r := &rows[i]
		id := r.ID
		if id == "" {
			var err error
			if id, err = newID(); err != nil {
				return err
			}
		}
		var meta any
		if len(r.Metadata) > 0 {
			b, err := json.Marshal(r.Metadata)
			if err != nil {
				return fmt.Errorf("postgres store: append logs: metadata of %s: %w", id, err)
			}
			meta = string(b)
		}
		src[i] = []any{id, r.Time, r.Gateway, r.Environment, r.User, r.Provider, r.Model, r.Route, r.Variant,
			int32(r.Status), r.Success, r.Cached, r.MissReason, int32(r.Attempts), int32(r.Step),
			int64(r.InputTokens), int64(r.OutputTokens), r.CostNanoUSD, r.CostFlagged, int64(r.Latency),
			int64(r.TTFB), r.ErrorClass, r.Score, meta,
			r.Key, r.Team, r.SavedNanoUSD, r.Deployment}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(current_schema(), $1))`, int64(scoreLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE logs_in ON COMMIT DROP AS SELECT `+columnList+` FROM logs WITH NO DATA`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"logs_in"}, logColumns, pgx.CopyFromRows(src)); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO logs (`+columnList+`) SELECT `+columnList+` FROM logs_in ON CONFLICT (id, time) DO NOTHING`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE logs l SET score = p.score FROM log_scores p
WHERE p.id = l.id AND l.id IN (SELECT id FROM logs_in)`); err != nil {
			return fmt.Errorf("apply pending scores: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM log_scores p USING logs_in i WHERE p.id = i.id`); err != nil {
			return fmt.Errorf("clear pending scores: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres store: append logs: %w", err)
	}
	return nil
}

// pendingScoreTTL bounds how long a score waits for its row (as the
// SQLite store's).
const pendingScoreTTL = 24 * time.Hour

// ScoreLog sets the score of row id, or keeps it until the row arrives.
func (s *Store) ScoreLog(ctx context.Context, id string, score float64) error {
	if id == "" {
		return errors.New("postgres store: score log: empty row id")
	}
	if math.IsNaN(score) || math.IsInf(score, 0) {
		return fmt.Errorf("postgres store: score log %s: score %v is not a finite number", id, score)
	}
	now := s.now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(current_schema(), $1))`, int64(scoreLock)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE logs SET score = $1 WHERE id = $2`, score, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO log_scores (id, score, created_at) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET score = excluded.score, created_at = excluded.created_at`, id, score, now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM log_scores WHERE created_at < $1`, now.Add(-pendingScoreTTL))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres store: score log %s: %w", id, err)
	}
	return nil
}

// Stats aggregates the rows with Since <= Time < Until by q.By, in the
// database: latency percentiles are nearest-rank (the ceil(p*n/100)-th of
// n sorted latencies), computed with integer ranks.
func (s *Store) Stats(ctx context.Context, q conductor.StatsQuery) ([]conductor.StatsRow, error) {
	col, ok := statsGroups[q.By]
	if !ok {
		return nil, fmt.Errorf("postgres store: stats: unknown grouping %q (want provider, model, environment, variant, gateway, user, key, team or deployment)", q.By)
	}
	until := q.Until
	if until.IsZero() {
		until = s.now()
	}
	rows, err := s.pool.Query(ctx, `
SELECT grp, COUNT(*), COUNT(*) FILTER (WHERE cached), COUNT(*) FILTER (WHERE NOT success),
	COALESCE(SUM(input_tokens), 0)::bigint, COALESCE(SUM(output_tokens), 0)::bigint, COALESCE(SUM(cost), 0)::bigint,
	COALESCE(SUM(saved), 0)::bigint,
	MAX(latency) FILTER (WHERE rn = GREATEST((50 * n + 99) / 100, 1)),
	MAX(latency) FILTER (WHERE rn = GREATEST((95 * n + 99) / 100, 1)),
	MAX(latency) FILTER (WHERE rn = GREATEST((99 * n + 99) / 100, 1)),
	AVG(score)
FROM (
	SELECT `+col+` AS grp, latency, cached, success, input_tokens, output_tokens, cost, saved, score,
		ROW_NUMBER() OVER (PARTITION BY `+col+` ORDER BY latency) AS rn,
		COUNT(*) OVER (PARTITION BY `+col+`) AS n
	FROM logs WHERE time >= $1 AND time < $2
) x
GROUP BY grp`, q.Since, until)
	if err != nil {
		return nil, fmt.Errorf("postgres store: stats: %w", err)
	}
	defer rows.Close()
	var out []conductor.StatsRow
	for rows.Next() {
		var (
			r             conductor.StatsRow
			p50, p95, p99 int64
			mean          *float64
		)
		if err := rows.Scan(&r.Group, &r.Requests, &r.CacheHits, &r.Errors, &r.InputTokens, &r.OutputTokens,
			&r.CostNanoUSD, &r.SavedNanoUSD, &p50, &p95, &p99, &mean); err != nil {
			return nil, fmt.Errorf("postgres store: stats: %w", err)
		}
		r.P50, r.P95, r.P99 = time.Duration(p50), time.Duration(p95), time.Duration(p99)
		r.MeanScore = mean
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: stats: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Requests != out[j].Requests {
			return out[i].Requests > out[j].Requests
		}
		return out[i].Group < out[j].Group
	})
	return out, nil
}

// RecentLogs returns the newest rows, newest first.
func (s *Store) RecentLogs(ctx context.Context, limit int) ([]conductor.LogRow, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columnList+` FROM logs ORDER BY time DESC, seq DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres store: recent logs: %w", err)
	}
	defer rows.Close()
	var out []conductor.LogRow
	for rows.Next() {
		var (
			r                         conductor.LogRow
			status, attempts, step    int32
			in, outTok, latency, ttfb int64
			meta                      []byte
		)
		if err := rows.Scan(&r.ID, &r.Time, &r.Gateway, &r.Environment, &r.User, &r.Provider, &r.Model, &r.Route,
			&r.Variant, &status, &r.Success, &r.Cached, &r.MissReason, &attempts, &step, &in, &outTok,
			&r.CostNanoUSD, &r.CostFlagged, &latency, &ttfb, &r.ErrorClass, &r.Score, &meta,
			&r.Key, &r.Team, &r.SavedNanoUSD, &r.Deployment); err != nil {
			return nil, fmt.Errorf("postgres store: recent logs: %w", err)
		}
		r.Time = r.Time.UTC()
		r.Status, r.Attempts, r.Step = int(status), int(attempts), int(step)
		r.InputTokens, r.OutputTokens = int(in), int(outTok)
		r.Latency, r.TTFB = time.Duration(latency), time.Duration(ttfb)
		if len(meta) > 0 {
			if err := json.Unmarshal(meta, &r.Metadata); err != nil {
				return nil, fmt.Errorf("postgres store: recent logs: metadata of %s: %w", r.ID, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: recent logs: %w", err)
	}
	return out, nil
}

// PruneLogs deletes the rows older than before: the day partitions that
// end by then are dropped whole (their rows counted first), and the rows
// of the day before is in are deleted.
func (s *Store) PruneLogs(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	var dropped []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(current_schema(), $1))`, int64(migrationLock)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'logs'::regclass`)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range names {
			day, err := time.Parse("20060102", strings.TrimPrefix(name, "logs_p"))
			if err != nil || !strings.HasPrefix(name, "logs_p") {
				continue // not one of ours
			}
			if day.AddDate(0, 0, 1).After(before) {
				continue
			}
			var n int64
			id := pgx.Identifier{name}.Sanitize()
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+id).Scan(&n); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DROP TABLE `+id); err != nil {
				return err
			}
			total += n
			dropped = append(dropped, name)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM logs WHERE time < $1`, before)
		if err != nil {
			return err
		}
		total += tag.RowsAffected()
		// Pending scores older than the cut-off wait for rows that would be
		// pruned on arrival anyway.
		if _, err := tx.Exec(ctx, `DELETE FROM log_scores WHERE created_at < $1`, before); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres store: prune logs: %w", err)
	}
	// After the commit, not inside it: ensurePartitions holds partMu while
	// it waits for the advisory lock this transaction held, so taking
	// partMu here deadlocked the two.
	s.partMu.Lock()
	for _, name := range dropped {
		delete(s.parts, name)
	}
	s.partMu.Unlock()
	return total, nil
}

// Partitions lists the log's day partitions, oldest first.
func (s *Store) Partitions(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'logs'::regclass ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("postgres store: partitions: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
