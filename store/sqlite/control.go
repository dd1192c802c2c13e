package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	conductor "github.com/conductor-go/conductor"
)

var _ conductor.ControlStore = (*Store)(nil)

// ControlVersion reads the row every change moves.
func (s *Store) ControlVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.rd.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'control_version'`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite store: control version: %w", err)
	}
	return v, nil
}

// ControlItems returns the items of kind ("" for all), by kind then name.
func (s *Store) ControlItems(ctx context.Context, kind string) ([]conductor.ControlItem, error) {
	rows, err := s.rd.QueryContext(ctx,
		`SELECT kind, name, body, rev, updated_at FROM control_items WHERE ? = '' OR kind = ? ORDER BY kind, name`, kind, kind)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: control items: %w", err)
	}
	defer rows.Close()
	var out []conductor.ControlItem
	for rows.Next() {
		var it conductor.ControlItem
		var at int64
		if err := rows.Scan(&it.Kind, &it.Name, &it.Body, &it.Rev, &at); err != nil {
			return nil, fmt.Errorf("sqlite store: control items: %w", err)
		}
		it.Updated = fromNanos(at)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: control items: %w", err)
	}
	return out, nil
}

// currentRev is the item's revision in tx, 0 when it does not exist.
func currentRev(tx wtx, kind, name string) (int64, error) {
	var rev int64
	err := tx.queryRow(`SELECT rev FROM control_items WHERE kind = ? AND name = ?`, kind, name).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return rev, err
}

// PutControl stores it at revision rev with its audit row, atomically.
func (s *Store) PutControl(ctx context.Context, it conductor.ControlItem, rev int64, a conductor.Audit) (int64, error) {
	if it.Kind == "" || it.Name == "" {
		return 0, errors.New("sqlite store: a control item needs a kind and a name")
	}
	var next int64
	err := s.writeTx(ctx, "put control item", func(tx wtx) error {
		cur, err := currentRev(tx, it.Kind, it.Name)
		if err != nil {
			return fmt.Errorf("sqlite store: put control item: %w", err)
		}
		if rev != conductor.AnyRev && rev != cur {
			return conductor.ErrConflict
		}
		next = cur + 1
		now := nanos(s.now())
		if _, err := tx.exec(`INSERT INTO control_items (kind, name, body, rev, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body, rev = excluded.rev, updated_at = excluded.updated_at`,
			it.Kind, it.Name, it.Body, next, now); err != nil {
			return fmt.Errorf("sqlite store: put control item: %w", err)
		}
		return s.audited(tx, a, now)
	})
	return next, err
}

// DeleteControl deletes an item at revision rev with its audit row.
func (s *Store) DeleteControl(ctx context.Context, kind, name string, rev int64, a conductor.Audit) error {
	return s.writeTx(ctx, "delete control item", func(tx wtx) error {
		cur, err := currentRev(tx, kind, name)
		switch {
		case err != nil:
			return fmt.Errorf("sqlite store: delete control item: %w", err)
		case cur == 0:
			return conductor.ErrNotFound
		case rev != conductor.AnyRev && rev != cur:
			return conductor.ErrConflict
		}
		if _, err := tx.exec(`DELETE FROM control_items WHERE kind = ? AND name = ?`, kind, name); err != nil {
			return fmt.Errorf("sqlite store: delete control item: %w", err)
		}
		return s.audited(tx, a, nanos(s.now()))
	})
}

// audited writes a's row and moves the control version.
func (s *Store) audited(tx wtx, a conductor.Audit, now int64) error {
	at := nanos(a.Time)
	if at == 0 {
		at = now
	}
	if _, err := tx.exec(`INSERT INTO control_audit (time, who, action, kind, name, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		at, a.Who, a.Action, a.Kind, a.Name, a.Before, a.After); err != nil {
		return fmt.Errorf("sqlite store: audit: %w", err)
	}
	if _, err := tx.exec(`UPDATE meta SET v = v + 1 WHERE k = 'control_version'`); err != nil {
		return fmt.Errorf("sqlite store: control version: %w", err)
	}
	return nil
}

// AuditLog returns the newest audit rows first.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]conductor.Audit, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.rd.QueryContext(ctx,
		`SELECT time, who, action, kind, name, before, after FROM control_audit ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: audit log: %w", err)
	}
	defer rows.Close()
	var out []conductor.Audit
	for rows.Next() {
		var a conductor.Audit
		var at int64
		if err := rows.Scan(&at, &a.Who, &a.Action, &a.Kind, &a.Name, &a.Before, &a.After); err != nil {
			return nil, fmt.Errorf("sqlite store: audit log: %w", err)
		}
		a.Time = fromNanos(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: audit log: %w", err)
	}
	return out, nil
}

// TouchKeys keeps the later of each key's given and stored last use.
func (s *Store) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.writeTx(ctx, "touch keys", func(tx wtx) error {
		for name, at := range used {
			if _, err := tx.exec(`INSERT INTO key_used (name, at) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET at = MAX(at, excluded.at)`, name, nanos(at)); err != nil {
				return fmt.Errorf("sqlite store: touch keys: %w", err)
			}
		}
		return nil
	})
}

// KeysUsed returns every key's last use.
func (s *Store) KeysUsed(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT name, at FROM key_used`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: keys used: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var name string
		var at int64
		if err := rows.Scan(&name, &at); err != nil {
			return nil, fmt.Errorf("sqlite store: keys used: %w", err)
		}
		out[name] = fromNanos(at)
	}
	return out, rows.Err()
}
