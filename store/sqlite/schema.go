package sqlite

import (
	"context"
	"fmt"
)

// migrations[i] brings the schema from version i to i+1 (PRAGMA
// user_version). Append only: a file written by an older binary is
// migrated forward on Open.
//
// Times are Unix nanoseconds, 0 meaning "never". Money is nano-USD.
var migrations = []string{
	`
CREATE TABLE cache (
	key         TEXT    NOT NULL UNIQUE,
	scope       TEXT    NOT NULL,
	provider    TEXT    NOT NULL,
	model       TEXT    NOT NULL,
	value       BLOB    NOT NULL,
	size        INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	accessed_at INTEGER NOT NULL
);
CREATE INDEX cache_accessed ON cache (accessed_at);
CREATE INDEX cache_expires ON cache (expires_at) WHERE expires_at > 0;
CREATE INDEX cache_scope ON cache (scope);

-- The cache's total size, kept by triggers so that eviction need not sum
-- every row on each put.
CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta (k, v) VALUES ('cache_bytes', 0);
CREATE TRIGGER cache_ins AFTER INSERT ON cache BEGIN
	UPDATE meta SET v = v + NEW.size WHERE k = 'cache_bytes';
END;
CREATE TRIGGER cache_del AFTER DELETE ON cache BEGIN
	UPDATE meta SET v = v - OLD.size WHERE k = 'cache_bytes';
END;
CREATE TRIGGER cache_upd AFTER UPDATE OF size ON cache BEGIN
	UPDATE meta SET v = v - OLD.size + NEW.size WHERE k = 'cache_bytes';
END;

CREATE TABLE rate_fixed (
	key        TEXT    NOT NULL,
	start      INTEGER NOT NULL,
	count      INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (key, start)
) WITHOUT ROWID;
CREATE INDEX rate_fixed_expires ON rate_fixed (expires_at);

-- Sliding windows keep one row per admitted take: exact counts at any
-- instant, at the price of rows proportional to the limit.
CREATE TABLE rate_events (
	key        TEXT    NOT NULL,
	at         INTEGER NOT NULL,
	n          INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX rate_events_key ON rate_events (key, at);
CREATE INDEX rate_events_expires ON rate_events (expires_at);

CREATE TABLE budgets (
	key    TEXT    PRIMARY KEY,
	spent  INTEGER NOT NULL,
	lim    INTEGER NOT NULL,
	resets INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE reservations (
	id         TEXT    PRIMARY KEY,
	keys       TEXT    NOT NULL, -- JSON array of budget keys
	amount     INTEGER NOT NULL,
	actual     INTEGER,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL  -- the latest reset of its budgets; 0: never
) WITHOUT ROWID;
CREATE INDEX reservations_expires ON reservations (expires_at) WHERE expires_at > 0;

CREATE TABLE once_keys (
	key        TEXT    PRIMARY KEY,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE logs (
	seq           INTEGER PRIMARY KEY,
	id            TEXT    NOT NULL UNIQUE,
	time          INTEGER NOT NULL,
	gateway       TEXT    NOT NULL,
	environment   TEXT    NOT NULL,
	user          TEXT    NOT NULL,
	provider      TEXT    NOT NULL,
	model         TEXT    NOT NULL,
	route         TEXT    NOT NULL,
	variant       TEXT    NOT NULL,
	status        INTEGER NOT NULL,
	success       INTEGER NOT NULL,
	cached        INTEGER NOT NULL,
	miss_reason   TEXT    NOT NULL,
	attempts      INTEGER NOT NULL,
	step          INTEGER NOT NULL,
	input_tokens  INTEGER NOT NULL,
	output_tokens INTEGER NOT NULL,
	cost          INTEGER NOT NULL,
	cost_flagged  INTEGER NOT NULL,
	latency       INTEGER NOT NULL,
	ttfb          INTEGER NOT NULL,
	error_class   TEXT    NOT NULL,
	score         REAL,
	metadata      TEXT
);
CREATE INDEX logs_time ON logs (time);
`,
	// Scores given before their log row was written (rows come through the
	// gateway's batched writer): AppendLogs moves them into the row.
	`
CREATE TABLE log_scores (
	id         TEXT    PRIMARY KEY,
	score      REAL    NOT NULL,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX log_scores_created ON log_scores (created_at);
`,
	// Counters live in memory and in the journal beside the file
	// (journal.go); these tables hold the last checkpoint. counters_gen is
	// the journal generation that follows it, db_id ties a journal to its
	// file. Reservation ids are a prefix and a sequence number: the highest
	// sequence of each prefix says which ids were issued.
	`
CREATE TABLE reservation_seqs (
	prefix INTEGER PRIMARY KEY,
	seq    INTEGER NOT NULL
);
INSERT INTO meta (k, v) VALUES ('counters_gen', 1), ('db_id', random());
`,
	// What operators change while the gateway runs (control.go): virtual
	// keys, teams, budgets, rate limits, gateway settings, each a JSON
	// document; the audit log of their changes; keys' last use.
	// control_version moves with every change, so that other processes
	// notice one by reading a single row. (IF NOT EXISTS: a test that
	// fakes an older file by lowering user_version leaves them in place.)
	`
CREATE TABLE IF NOT EXISTS control_items (
	kind       TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	body       BLOB    NOT NULL,
	rev        INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (kind, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS control_audit (
	seq    INTEGER PRIMARY KEY,
	time   INTEGER NOT NULL,
	who    TEXT    NOT NULL,
	action TEXT    NOT NULL,
	kind   TEXT    NOT NULL,
	name   TEXT    NOT NULL,
	before BLOB,
	after  BLOB
);
CREATE TABLE IF NOT EXISTS key_used (
	name TEXT    PRIMARY KEY,
	at   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (k, v) VALUES ('control_version', 0);
`,
	// The request log names a call's virtual key and team (stats by key,
	// by team), and what a cache hit saved at list price.
	`
ALTER TABLE logs ADD COLUMN key   TEXT    NOT NULL DEFAULT '';
ALTER TABLE logs ADD COLUMN team  TEXT    NOT NULL DEFAULT '';
ALTER TABLE logs ADD COLUMN saved INTEGER NOT NULL DEFAULT 0;
`,
	// The request log names the [[model]] deployment that served a call
	// (stats by deployment).
	`
ALTER TABLE logs ADD COLUMN deployment TEXT NOT NULL DEFAULT '';
`,
}

// migrate applies the migrations the file lacks, each in its own write
// transaction so that two processes opening a new file at once do not
// both apply it.
func (s *Store) migrate(ctx context.Context) error {
	for {
		done := false
		err := s.writeTx(ctx, "migrate", func(tx wtx) error {
			var v int
			if err := tx.tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
				return fmt.Errorf("sqlite store: read schema version: %w", err)
			}
			if v > len(migrations) {
				return fmt.Errorf("sqlite store: %s has schema version %d, newer than this binary's %d", s.path, v, len(migrations))
			}
			if v == len(migrations) {
				done = true
				return nil
			}
			// Run directly, not prepared: a migration is a script of many
			// statements, and a prepared statement would stop at the first.
			if _, err := tx.tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("sqlite store: migrate to version %d: %w", v+1, err)
			}
			// PRAGMA takes no bound parameters; v+1 is our own integer.
			if _, err := tx.tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
				return fmt.Errorf("sqlite store: set schema version: %w", err)
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}
