package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

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
}

const logColumns = `id, time, gateway, environment, user, provider, model, route, variant, status, success, cached,
	miss_reason, attempts, step, input_tokens, output_tokens, cost, cost_flagged, latency, ttfb, error_class, score, metadata`

// AppendLogs writes a batch of rows in one transaction. A row whose ID is
// already stored is skipped, so a batch retried after a failed commit is
// not counted twice; a row without an ID gets a random one.
func (s *Store) AppendLogs(ctx context.Context, rows []conductor.LogRow) error {
	if len(rows) == 0 {
		return nil
	}
	return s.writeTx(ctx, "append logs", func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO logs (`+logColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("sqlite store: append logs: %w", err)
		}
		defer st.Close()
		for i := range rows {
			r := &rows[i]
			id := r.ID
			if id == "" {
				if id, err = newID(); err != nil {
					return err
				}
			}
			var meta any // NULL when there is none
			if len(r.Metadata) > 0 {
				b, err := json.Marshal(r.Metadata)
				if err != nil {
					return fmt.Errorf("sqlite store: append logs: metadata of %s: %w", id, err)
				}
				meta = string(b)
			}
			var score any
			if r.Score != nil {
				score = *r.Score
			}
			if _, err := st.ExecContext(ctx, id, nanos(r.Time), r.Gateway, r.Environment, r.User, r.Provider, r.Model,
				r.Route, r.Variant, r.Status, r.Success, r.Cached, r.MissReason, r.Attempts, r.Step,
				r.InputTokens, r.OutputTokens, r.CostNanoUSD, r.CostFlagged, int64(r.Latency), int64(r.TTFB),
				r.ErrorClass, score, meta); err != nil {
				return fmt.Errorf("sqlite store: append logs: row %s: %w", id, err)
			}
		}
		return nil
	})
}

// Stats aggregates the rows with Since <= Time < Until by q.By, most
// requested group first. Latency percentiles are nearest-rank: p of n
// sorted latencies is the ceil(p*n/100)-th.
func (s *Store) Stats(ctx context.Context, q conductor.StatsQuery) ([]conductor.StatsRow, error) {
	col, ok := statsGroups[q.By]
	if !ok {
		return nil, fmt.Errorf("sqlite store: stats: unknown grouping %q (want provider, model, environment, variant or gateway)", q.By)
	}
	until := q.Until
	if until.IsZero() {
		until = s.now()
	}
	// One pass numbers each group's latencies in order; the percentile
	// ranks are integer ceilings, (p*n + 99) / 100.
	query := `
WITH f AS (
	SELECT ` + col + ` AS g, latency, cached, success, input_tokens, output_tokens, cost, score
	FROM logs WHERE time >= ? AND time < ?
), r AS (
	SELECT g, latency,
		ROW_NUMBER() OVER (PARTITION BY g ORDER BY latency) AS rn,
		COUNT(*) OVER (PARTITION BY g) AS n
	FROM f
), p AS (
	SELECT g,
		MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN latency END) AS p50,
		MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN latency END) AS p95,
		MAX(CASE WHEN rn = (99 * n + 99) / 100 THEN latency END) AS p99
	FROM r GROUP BY g
)
SELECT a.g, a.requests, a.hits, a.errors, a.input_tokens, a.output_tokens, a.cost, p.p50, p.p95, p.p99, a.score
FROM (
	SELECT g, COUNT(*) AS requests, SUM(cached) AS hits, SUM(NOT success) AS errors,
		SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cost) AS cost,
		AVG(score) AS score
	FROM f GROUP BY g
) a JOIN p ON p.g = a.g
ORDER BY a.requests DESC, a.g`
	rows, err := s.rd.QueryContext(ctx, query, nanos(q.Since), until.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlite store: stats: %w", err)
	}
	defer rows.Close()
	var out []conductor.StatsRow
	for rows.Next() {
		var (
			r             conductor.StatsRow
			p50, p95, p99 int64
			score         sql.NullFloat64
		)
		if err := rows.Scan(&r.Group, &r.Requests, &r.CacheHits, &r.Errors, &r.InputTokens, &r.OutputTokens,
			&r.CostNanoUSD, &p50, &p95, &p99, &score); err != nil {
			return nil, fmt.Errorf("sqlite store: stats: %w", err)
		}
		r.P50, r.P95, r.P99 = time.Duration(p50), time.Duration(p95), time.Duration(p99)
		if score.Valid {
			m := score.Float64
			r.MeanScore = &m
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: stats: %w", err)
	}
	return out, nil
}

// RecentLogs returns the newest rows, newest first; limit <= 0 returns none.
func (s *Store) RecentLogs(ctx context.Context, limit int) ([]conductor.LogRow, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.rd.QueryContext(ctx, `SELECT `+logColumns+` FROM logs ORDER BY time DESC, seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: recent logs: %w", err)
	}
	defer rows.Close()
	var out []conductor.LogRow
	for rows.Next() {
		var (
			r                 conductor.LogRow
			at, latency, ttfb int64
			score             sql.NullFloat64
			meta              sql.NullString
		)
		if err := rows.Scan(&r.ID, &at, &r.Gateway, &r.Environment, &r.User, &r.Provider, &r.Model, &r.Route,
			&r.Variant, &r.Status, &r.Success, &r.Cached, &r.MissReason, &r.Attempts, &r.Step, &r.InputTokens,
			&r.OutputTokens, &r.CostNanoUSD, &r.CostFlagged, &latency, &ttfb, &r.ErrorClass, &score, &meta); err != nil {
			return nil, fmt.Errorf("sqlite store: recent logs: %w", err)
		}
		r.Time = fromNanos(at)
		r.Latency, r.TTFB = time.Duration(latency), time.Duration(ttfb)
		if score.Valid {
			v := score.Float64
			r.Score = &v
		}
		if meta.Valid {
			if err := json.Unmarshal([]byte(meta.String), &r.Metadata); err != nil {
				return nil, fmt.Errorf("sqlite store: recent logs: metadata of %s: %w", r.ID, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: recent logs: %w", err)
	}
	return out, nil
}

// PruneLogs deletes the rows older than before.
func (s *Store) PruneLogs(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, "prune logs", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM logs WHERE time < ?`, before.UnixNano())
		if err != nil {
			return fmt.Errorf("sqlite store: prune logs: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
