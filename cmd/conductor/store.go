package main

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

// openedStore is the store a command uses, and where it is, for messages.
type openedStore struct {
	conductor.Store
	where string
}

// Unwrap returns the store itself: the gateway finds its shared flights,
// and /readyz its Ping, through it.
func (s *openedStore) Unwrap() conductor.Store { return s.Store }

// openStore opens the store [store] names: the SQLite file in data, or
// Redis for the cache and counters with PostgreSQL for the log. A shared
// store that cannot be reached is a configuration problem (exit status 2)
// named by its URL without the password.
func openStore(ctx context.Context, cfg *config.Config, data string, log *slog.Logger) (*openedStore, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	switch cfg.StoreBackend() {
	case config.StoreRedisPostgres:
		redisURL, pgURL := cfg.StoreURLs(os.LookupEnv)
		if redisURL == "" || pgURL == "" {
			return nil, fmt.Errorf(`%w: [store] backend = %q needs redis_url and postgres_url (or REDIS_URL and DATABASE_URL)`, errInvalid, config.StoreRedisPostgres)
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
			return nil, fmt.Errorf("%w: %v", errInvalid, err)
		}
		pg, err := postgres.Open(ctx, pgURL, postgres.WithLogger(log))
		if err != nil {
			rs.Close()
			return nil, fmt.Errorf("%w: %v", errInvalid, err)
		}
		return &openedStore{
			Store: store.Combine(rs, rs, pg, rs, pg),
			where: "Redis " + redis.Redact(redisURL) + " and PostgreSQL " + postgres.Redact(pgURL),
		}, nil
	default:
		opts := []sqlite.Option{sqlite.WithLogger(log)}
		if cfg.Gateway.CacheMaxBytes > 0 {
			opts = append(opts, sqlite.WithMaxCacheBytes(cfg.Gateway.CacheMaxBytes))
		}
		path := filepath.Join(data, dbName)
		st, err := sqlite.Open(ctx, path, opts...)
		if err != nil {
			return nil, fmt.Errorf("open the store: %w", err)
		}
		return &openedStore{Store: st, where: path}, nil
	}
}
