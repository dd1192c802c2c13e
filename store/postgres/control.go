package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	conductor "github.com/conductor-go/conductor"
)

var _ conductor.ControlStore = (*Store)(nil)

// ControlVersion reads the one row every change moves.
func (s *Store) ControlVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT v FROM control_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres store: control version: %w", err)
	}
	return v, nil
}

// ControlItems returns the items of kind ("" for all), by kind then name.
func (s *Store) ControlItems(ctx context.Context, kind string) ([]conductor.ControlItem, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT kind, name, body, rev, updated_at FROM control_items WHERE $1 = '' OR kind = $1 ORDER BY kind, name`, kind)
	if err != nil {
		return nil, fmt.Errorf("postgres store: control items: %w", err)
	}
	defer rows.Close()
	var out []conductor.ControlItem
	for rows.Next() {
		var it conductor.ControlItem
		if err := rows.Scan(&it.Kind, &it.Name, &it.Body, &it.Rev, &it.Updated); err != nil {
			return nil, fmt.Errorf("postgres store: control items: %w", err)
		}
		it.Updated = it.Updated.UTC()
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: control items: %w", err)
	}
	return out, nil
}

// controlTx runs fn in a transaction that first moves the control
// version: the row lock it takes serialises every change, by any process,
// so the revision fn reads cannot change before it commits. A refused
// change rolls back, and the version with it.
func (s *Store) controlTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: %s: %w", what, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE control_version SET v = v + 1`); err != nil {
		return fmt.Errorf("postgres store: %s: control version: %w", what, err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres store: %s: commit: %w", what, err)
	}
	return nil
}

// currentRev is the item's revision in tx, 0 when it does not exist.
func currentRev(ctx context.Context, tx pgx.Tx, kind, name string) (int64, error) {
	var rev int64
	err := tx.QueryRow(ctx, `SELECT rev FROM control_items WHERE kind = $1 AND name = $2`, kind, name).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return rev, err
}

// PutControl stores it at revision rev with its audit row, atomically.
func (s *Store) PutControl(ctx context.Context, it conductor.ControlItem, rev int64, a conductor.Audit) (int64, error) {
	if it.Kind == "" || it.Name == "" {
		return 0, errors.New("postgres store: a control item needs a kind and a name")
	}
	body := it.Body
	if body == nil {
		body = []byte{}
	}
	var next int64
	err := s.controlTx(ctx, "put control item", func(tx pgx.Tx) error {
		cur, err := currentRev(ctx, tx, it.Kind, it.Name)
		if err != nil {
			return fmt.Errorf("postgres store: put control item: %w", err)
		}
		if rev != conductor.AnyRev && rev != cur {
			return conductor.ErrConflict
		}
		next = cur + 1
		now := s.now()
		if _, err := tx.Exec(ctx, `INSERT INTO control_items (kind, name, body, rev, updated_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body, rev = excluded.rev, updated_at = excluded.updated_at`,
			it.Kind, it.Name, body, next, now); err != nil {
			return fmt.Errorf("postgres store: put control item: %w", err)
		}
		return audited(ctx, tx, a, now)
	})
	if err != nil {
		return 0, err
	}
	return next, nil
}

// DeleteControl deletes an item at revision rev with its audit row.
func (s *Store) DeleteControl(ctx context.Context, kind, name string, rev int64, a conductor.Audit) error {
	return s.controlTx(ctx, "delete control item", func(tx pgx.Tx) error {
		cur, err := currentRev(ctx, tx, kind, name)
		switch {
		case err != nil:
			return fmt.Errorf("postgres store: delete control item: %w", err)
		case cur == 0:
			return conductor.ErrNotFound
		case rev != conductor.AnyRev && rev != cur:
			return conductor.ErrConflict
		}
		if _, err := tx.Exec(ctx, `DELETE FROM control_items WHERE kind = $1 AND name = $2`, kind, name); err != nil {
			return fmt.Errorf("postgres store: delete control item: %w", err)
		}
		return audited(ctx, tx, a, s.now())
	})
}

// audited writes a's row (at now when a has no time).
func audited(ctx context.Context, tx pgx.Tx, a conductor.Audit, now time.Time) error {
	at := a.Time
	if at.IsZero() {
		at = now
	}
	if _, err := tx.Exec(ctx, `INSERT INTO control_audit (time, who, action, kind, name, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		at, a.Who, a.Action, a.Kind, a.Name, a.Before, a.After); err != nil {
		return fmt.Errorf("postgres store: audit: %w", err)
	}
	return nil
}

// AuditLog returns the newest audit rows first.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]conductor.Audit, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx,
		`SELECT time, who, action, kind, name, before, after FROM control_audit ORDER BY seq DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres store: audit log: %w", err)
	}
	defer rows.Close()
	var out []conductor.Audit
	for rows.Next() {
		var a conductor.Audit
		if err := rows.Scan(&a.Time, &a.Who, &a.Action, &a.Kind, &a.Name, &a.Before, &a.After); err != nil {
			return nil, fmt.Errorf("postgres store: audit log: %w", err)
		}
		a.Time = a.Time.UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: audit log: %w", err)
	}
	return out, nil
}

// TouchKeys keeps the later of each key's given and stored last use.
func (s *Store) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for name, at := range used {
		b.Queue(`INSERT INTO key_used (name, at) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET at = GREATEST(key_used.at, excluded.at)`, name, at)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres store: touch keys: %w", err)
	}
	return nil
}

// KeysUsed returns every key's last use.
func (s *Store) KeysUsed(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, at FROM key_used`)
	if err != nil {
		return nil, fmt.Errorf("postgres store: keys used: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var name string
		var at time.Time
		if err := rows.Scan(&name, &at); err != nil {
			return nil, fmt.Errorf("postgres store: keys used: %w", err)
		}
		out[name] = at.UTC()
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: keys used: %w", err)
	}
	return out, nil
}
