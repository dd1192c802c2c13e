package sqlite

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
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
	"user":        "user",
	"key":         "key",
	"team":        "team",
	"deployment":  "deployment",
}

const logColumns = `id, time, gateway, environment, user, provider, model, route, variant, status, success, cached,
	miss_reason, attempts, step, input_tokens, output_tokens, cost, cost_flagged, latency, ttfb, error_class, score, metadata,
	key, team, saved, deployment`

const insertLog = `INSERT INTO logs (` + logColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`

// AppendLogs writes a batch of rows in one transaction. A row whose ID is
// already stored is skipped, so a batch retried after a failed commit is
// not counted twice; a row without an ID gets a random one.
func (s *Store) AppendLogs(ctx context.Context, rows []conductor.LogRow) error {
	if len(rows) == 0 {
		return nil
	}
	return s.writeTx(ctx, "append logs", func(tx wtx) error {
		st := tx.stmt(insertLog)
		if st == nil {
			return errors.New("sqlite store: append logs: statement not prepared")
		}
		var err error
		// The transaction holds the write lock (BEGIN IMMEDIATE), so its
		// inserts wait on nothing: they run without the driver's per-statement
		// cancellation watcher (a goroutine each). The transaction itself
		// still ends with ctx.
		rctx := context.WithoutCancel(ctx)
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
			if _, err := st.ExecContext(rctx, id, nanos(r.Time), r.Gateway, r.Environment, r.User, r.Provider, r.Model,
				r.Route, r.Variant, r.Status, r.Success, r.Cached, r.MissReason, r.Attempts, r.Step,
				r.InputTokens, r.OutputTokens, r.CostNanoUSD, r.CostFlagged, int64(r.Latency), int64(r.TTFB),
				r.ErrorClass, score, meta, r.Key, r.Team, r.SavedNanoUSD, r.Deployment); err != nil {
				return fmt.Errorf("sqlite store: append logs: row %s: %w", id, err)
			}
		}
		// Scores given before these rows arrived. Both statements scan the
		// pending table only, which is empty but for the scores of rows
		// still in some gateway's writer.
		if _, err := tx.exec(qScoresApply); err != nil {
			return fmt.Errorf("sqlite store: append logs: apply pending scores: %w", err)
		}
		if _, err := tx.exec(qScoresDone); err != nil {
			return fmt.Errorf("sqlite store: append logs: clear pending scores: %w", err)
		}
		return nil
	})
}

// newID returns a random row id.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sqlite store: row id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// pendingScoreTTL bounds how long a score waits for its row: rows reach the
// store as soon as a gateway's writer is free (milliseconds) or at its
// Close, so a score still pending after a day belongs to a dropped row.
const pendingScoreTTL = 24 * time.Hour

// ScoreLog sets the score of row id. A row not stored yet (it is still in
// a gateway's batched writer) gets the score when AppendLogs writes it:
// the score waits in a table of its own, so the order in which the two
// arrive does not matter, across processes too. A later score replaces an
// earlier one, and a pending score replaces the one the row was written
// with.
func (s *Store) ScoreLog(ctx context.Context, id string, score float64) error {
	if id == "" {
		return errors.New("sqlite store: score log: empty row id")
	}
	if math.IsNaN(score) || math.IsInf(score, 0) {
		return fmt.Errorf("sqlite store: score log %s: score %v is not a finite number", id, score)
	}
	return s.writeTx(ctx, "score log", func(tx wtx) error {
		res, err := tx.exec(qScoreSet, score, id)
		if err != nil {
			return fmt.Errorf("sqlite store: score log %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite store: score log %s: %w", id, err)
		} else if n > 0 {
			return nil
		}
		now := s.now().UnixNano()
		if _, err := tx.exec(qScorePending, id, score, now); err != nil {
			return fmt.Errorf("sqlite store: score log %s: keep pending: %w", id, err)
		}
		// Scores of rows that were dropped would otherwise stay forever
		// when the log has no retention.
		if _, err := tx.exec(`DELETE FROM log_scores WHERE created_at < ?`, now-int64(pendingScoreTTL)); err != nil {
			return fmt.Errorf("sqlite store: score log %s: prune pending: %w", id, err)
		}
		return nil
	})
}

// Stats aggregates the rows with Since <= Time < Until by q.By, most
// requested group first (ties by name). Latency percentiles are
// nearest-rank: p of n sorted latencies is the ceil(p*n/100)-th.
//
// The rows are read once through the time index and aggregated here:
// sorting each group's latencies in Go is several times faster than
// SQLite's window functions over the same rows.
func (s *Store) Stats(ctx context.Context, q conductor.StatsQuery) ([]conductor.StatsRow, error) {
	col, ok := statsGroups[q.By]
	if !ok {
		return nil, fmt.Errorf("sqlite store: stats: unknown grouping %q (want provider, model, environment, variant, gateway, user, key, team or deployment)", q.By)
	}
	until := q.Until
	if until.IsZero() {
		until = s.now()
	}
	rows, err := s.rd.QueryContext(ctx, `SELECT `+col+`, latency, cached, success, input_tokens, output_tokens, cost, score, saved
FROM logs WHERE time >= ? AND time < ?`, nanos(q.Since), until.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlite store: stats: %w", err)
	}
	defer rows.Close()
	type group struct {
		row       conductor.StatsRow
		latencies []int64
		scoreSum  float64
		scored    int64
	}
	groups := map[string]*group{}
	var (
		name                      string
		latency, in, outTok, cost int64
		saved                     int64
		cached, success           bool
		score                     sql.NullFloat64
	)
	for rows.Next() {
		if err := rows.Scan(&name, &latency, &cached, &success, &in, &outTok, &cost, &score, &saved); err != nil {
			return nil, fmt.Errorf("sqlite store: stats: %w", err)
		}
		g := groups[name]
		if g == nil {
			g = &group{row: conductor.StatsRow{Group: name}}
			groups[name] = g
		}
		r := &g.row
		r.Requests++
		if cached {
			r.CacheHits++
		}
		if !success {
			r.Errors++
		}
		r.InputTokens += in
		r.OutputTokens += outTok
		r.CostNanoUSD += cost
		r.SavedNanoUSD += saved
		g.latencies = append(g.latencies, latency)
		if score.Valid {
			g.scoreSum += score.Float64
			g.scored++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: stats: %w", err)
	}
	out := make([]conductor.StatsRow, 0, len(groups))
	for _, g := range groups {
		slices.Sort(g.latencies)
		g.row.P50 = time.Duration(nearestRank(g.latencies, 50))
		g.row.P95 = time.Duration(nearestRank(g.latencies, 95))
		g.row.P99 = time.Duration(nearestRank(g.latencies, 99))
		if g.scored > 0 {
			m := g.scoreSum / float64(g.scored)
			g.row.MeanScore = &m
		}
		out = append(out, g.row)
	}
	slices.SortFunc(out, func(a, b conductor.StatsRow) int {
		if c := cmp.Compare(b.Requests, a.Requests); c != 0 {
			return c
		}
		return strings.Compare(a.Group, b.Group)
	})
	return out, nil
}

// nearestRank returns the p-th percentile of sorted values: the value at
// rank ceil(p*n/100), counting from 1.
func nearestRank(sorted []int64, p int) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (p*n + 99) / 100
	return sorted[max(rank, 1)-1]
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
			&r.OutputTokens, &r.CostNanoUSD, &r.CostFlagged, &latency, &ttfb, &r.ErrorClass, &score, &meta,
			&r.Key, &r.Team, &r.SavedNanoUSD, &r.Deployment); err != nil {
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
	err := s.writeTx(ctx, "prune logs", func(tx wtx) error {
		res, err := tx.exec(`DELETE FROM logs WHERE time < ?`, before.UnixNano())
		if err != nil {
			return fmt.Errorf("sqlite store: prune logs: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		// Pending scores older than the cut-off wait for rows that would
		// be pruned on arrival anyway.
		if _, err := tx.exec(`DELETE FROM log_scores WHERE created_at < ?`, before.UnixNano()); err != nil {
			return fmt.Errorf("sqlite store: prune logs: pending scores: %w", err)
		}
		return nil
	})
	if err == nil && n > 0 {
		s.reclaimLogged(ctx)
	}
	return n, err
}

// reclaimLogged gives pruned pages back (vacuum.go); a failure leaves them
// on the free list for reuse, which is worth a warning, not an error.
func (s *Store) reclaimLogged(ctx context.Context) {
	if err := s.reclaim(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("sqlite store: pruned pages not given back", "err", err)
	}
}
