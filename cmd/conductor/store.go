package main

import (
	"context"
	"fmt"
	"log/slog"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/runner"
)

// openStore opens the store [store] names (runner.OpenStore); a store that
// is not configured or cannot be reached is invalid input (exit status 2).
func openStore(ctx context.Context, cfg *config.Config, data string, log *slog.Logger) (*runner.Store, error) {
	st, err := runner.OpenStore(ctx, cfg, data, log)
	if e, ok := conductor.AsError(err); ok && e.Class == conductor.ClassConfig {
		return nil, fmt.Errorf("%w: %v", errInvalid, e.Message)
	}
	return st, err
}
