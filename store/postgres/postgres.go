// Package postgres keeps the gateway's request log in PostgreSQL, shared
// by every conductor process that points at the same database: rows are
// written in batches by COPY, into a table partitioned by day so that
// retention drops whole partitions instead of deleting rows, and the
// aggregates behind `conductor stats`, the dashboard and `doctor` are
// computed by the database. It also keeps the control items (virtual
// keys, teams, admin changes and their audit), a conductor.ControlStore.
//
// The schema is migrated at Open: versioned, each version applied once in
// a transaction holding an advisory lock, so that instances starting
// together do not race. It is a conductor.LogStore; the cache and
// counters live elsewhere (Redis).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	conductor "github.com/conductor-go/conductor"
)

// Store is the PostgreSQL request log.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	now    func() time.Time
	log    *slog.Logger

	partMu sync.Mutex
	parts  map[string]bool // day partitions known to exist
}

var _ conductor.LogStore = (*Store)(nil)

// Option configures Open.
type Option func(*Store)

// WithSchema keeps the tables in schema (created when missing) instead of
// the connection's default: several gateways, or tests, in one database.
func WithSchema(name string) Option { return func(s *Store) { s.schema = name } }

// WithClock sets the clock for Stats with a zero Until and for pending
// scores' age.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// Redact returns rawURL without its password, for errors and logs.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return "(a PostgreSQL connection string)"
	}
	return u.Redacted()
}

// Open connects to the database at rawURL (postgres://user:password@host:port/db?…),
// checks that it answers and migrates the schema. Errors name the URL
// without its password.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	s := &Store{now: time.Now, log: slog.Default(), parts: map[string]bool{}}
	for _, o := range opts {
		o(s)
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's parse errors may quote the string: name it ourselves.
		return nil, fmt.Errorf("postgres store: %s: invalid connection URL", Redact(rawURL))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 5*time.Second {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.MaxConns = 8
	if s.schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = s.schema
	} else if sp := cfg.ConnConfig.RuntimeParams["search_path"]; isIdentifier(sp) {
		// A URL's ?search_path=NAME keeps a deployment in its own schema:
		// created at start like the tables.
		s.schema = sp
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s.pool, err = pgxpool.NewWithConfig(pctx, cfg)
	if err == nil {
		err = s.pool.Ping(pctx)
	}
	if err != nil {
		if s.pool != nil {
			s.pool.Close()
		}
		return nil, fmt.Errorf("postgres store: cannot reach %s: %w", Redact(rawURL), scrub(err, rawURL))
	}
	if err := s.migrate(pctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// scrub drops a password pgx may have put in an error's text.
func scrub(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

// isIdentifier reports whether s is one plain schema name.
func isIdentifier(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Close closes the connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Pool returns the connection pool (tests, doctor).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// migrationLock is the advisory lock key migrations and partition changes
// hold: instances starting together apply each once. Like scoreLock it is
// taken per schema (hashed with current_schema()): deployments and test
// runs in other schemas of the database do not wait for each other.
const migrationLock = 7_466_584_114

// scoreLock serialises appends and scores, so that a score given while
// its row is being written is never lost between them.
const scoreLock = 7_466_584_115

// migrations[i] brings the schema to version i+1. Append only.
var migrations = []string{
	// Rows are partitioned by day (logs_pYYYYMMDD, created as rows arrive);
	// (id, time) is the key, so a batch written again adds nothing. Times
	// are timestamptz (microseconds); latencies nanoseconds; money nano-USD.
	`
CREATE TABLE logs (
	seq           bigserial,
	id            text             NOT NULL,
	time          timestamptz      NOT NULL,
	gateway       text             NOT NULL,
	environment   text             NOT NULL,
	"user"        text             NOT NULL,
	provider      text             NOT NULL,
	model         text             NOT NULL,
	route         text             NOT NULL,
	variant       text             NOT NULL,
	status        integer          NOT NULL,
	success       boolean          NOT NULL,
	cached        boolean          NOT NULL,
	miss_reason   text             NOT NULL,
	attempts      integer          NOT NULL,
	step          integer          NOT NULL,
	input_tokens  bigint           NOT NULL,
	output_tokens bigint           NOT NULL,
	cost          bigint           NOT NULL,
	cost_flagged  boolean          NOT NULL,
	latency       bigint           NOT NULL,
	ttfb          bigint           NOT NULL,
	error_class   text             NOT NULL,
	score         double precision,
	metadata      jsonb,
	PRIMARY KEY (id, time)
) PARTITION BY RANGE (time);
CREATE INDEX logs_time ON logs (time);
CREATE INDEX logs_id ON logs (id);

-- Scores given before their row arrived (rows come through each
-- gateway's batched writer): AppendLogs moves them into the row.
CREATE TABLE log_scores (
	id         text             PRIMARY KEY,
	score      double precision NOT NULL,
	created_at timestamptz      NOT NULL
);
CREATE INDEX log_scores_created ON log_scores (created_at);
`,
	// Version 2: governance (conductor.ControlStore). control_version is
	// one row every change moves in its transaction; its row lock also
	// serialises changes, so a revision check holds until commit.
	`
CREATE TABLE control_items (
	kind       text        NOT NULL,
	name       text        NOT NULL,
	body       bytea       NOT NULL,
	rev        bigint      NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (kind, name)
);
CREATE TABLE control_audit (
	seq    bigserial   PRIMARY KEY,
	time   timestamptz NOT NULL,
	who    text        NOT NULL,
	action text        NOT NULL,
	kind   text        NOT NULL,
	name   text        NOT NULL,
	before bytea,
	after  bytea
);
CREATE TABLE key_used (
	name text        PRIMARY KEY,
	at   timestamptz NOT NULL
);
CREATE TABLE control_version (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	v   bigint  NOT NULL
);
INSERT INTO control_version (one, v) VALUES (true, 0);
`,
	// Version 3: log rows name the virtual key and its team (never the
	// key itself) and what a cache hit saved, for Stats by key and team.
	`
ALTER TABLE logs
	ADD COLUMN "key" text   NOT NULL DEFAULT '',
	ADD COLUMN team  text   NOT NULL DEFAULT '',
	ADD COLUMN saved bigint NOT NULL DEFAULT 0;
`,
	// Version 4: log rows name the [[model]] deployment that served the
	// call, for Stats by deployment.
	`
ALTER TABLE logs ADD COLUMN deployment text NOT NULL DEFAULT '';
`,
}

// migrate applies the versions the database lacks.
func (s *Store) migrate(ctx context.Context) error {
	if s.schema != "" {
		if _, err := s.pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return fmt.Errorf("postgres store: create schema %s: %w", s.schema, err)
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(current_schema(), $1))`, int64(migrationLock)); err != nil {
		return fmt.Errorf("postgres store: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS conductor_migrations (
	version    integer     PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	var have int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM conductor_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("postgres store: migrate: read version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("postgres store: the database has schema version %d, newer than this binary's %d", have, len(migrations))
	}
	for v := have; v < len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("postgres store: migrate to version %d: %w", v+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO conductor_migrations (version) VALUES ($1)`, v+1); err != nil {
			return fmt.Errorf("postgres store: migrate to version %d: %w", v+1, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres store: migrate: commit: %w", err)
	}
	return nil
}

// SchemaVersion returns the schema version the database is at.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM conductor_migrations`).Scan(&v)
	return v, err
}
