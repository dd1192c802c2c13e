package runner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/store"
	"github.com/conductor-go/conductor/store/postgres"
	"github.com/conductor-go/conductor/store/redis"
	"github.com/conductor-go/conductor/store/sqlite"
)

// Store is the store [store] names, and where it is, for messages.
type Store struct {
	conductor.Store
	Where string
}

// Unwrap returns the store itself: the gateway finds its shared flights,
// and /readyz its Ping, through it.
func (s *Store) Unwrap() conductor.Store { return s.Store }

// OpenStore opens the store [store] names: the SQLite file DBName in data,
// or Redis for the cache and counters with PostgreSQL for the log. A shared
// store that is not configured or cannot be reached is a configuration
// problem (a ClassConfig *conductor.Error) named by its URL without the
// password; `conductor serve`, `run` and `stats` all open theirs here.
func OpenStore(ctx context.Context, cfg *config.Config, data string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	switch cfg.StoreBackend() {
	case config.StoreRedisPostgres:
		redisURL, pgURL := cfg.StoreURLs(os.LookupEnv)
		if redisURL == "" || pgURL == "" {
			return nil, configError(fmt.Errorf(`[store] backend = %q needs redis_url and postgres_url (or REDIS_URL and DATABASE_URL)`, config.StoreRedisPostgres))
		}
		redis.RouteClientLog(log)
		ropts := []redis.Option{redis.WithLogger(log)}
		if cfg.Store.RedisPrefix != "" {
			ropts = append(ropts, redis.WithPrefix(cfg.Store.RedisPrefix))
		}
		if cfg.Gateway.CacheMaxBytes > 0 {
			ropts = append(ropts, redis.WithMaxCacheBytes(cfg.Gateway.CacheMaxBytes))
		}
		rs, err := redis.Open(ctx, redisURL, ropts...)
		if err != nil {
			return nil, configError(err)
		}
		pg, err := postgres.Open(ctx, pgURL, postgres.WithLogger(log))
		if err != nil {
			rs.Close()
			return nil, configError(err)
		}
		return &Store{
			Store: store.Combine(rs, rs, pg, rs, pg),
			Where: "Redis " + redis.Redact(redisURL) + " and PostgreSQL " + postgres.Redact(pgURL),
		}, nil
	default:
		opts := []sqlite.Option{sqlite.WithLogger(log)}
		if cfg.Gateway.CacheMaxBytes > 0 {
			opts = append(opts, sqlite.WithMaxCacheBytes(cfg.Gateway.CacheMaxBytes))
		}
		path := filepath.Join(data, DBName)
		st, err := sqlite.Open(ctx, path, opts...)
		if err != nil {
			return nil, fmt.Errorf("open the store: %w", err)
		}
		return &Store{Store: st, Where: path}, nil
	}
}

// configError marks a store problem as the configuration's: the commands
// exit 2 on it.
func configError(err error) *conductor.Error {
	return &conductor.Error{Class: conductor.ClassConfig, Message: err.Error(), Err: err}
}
