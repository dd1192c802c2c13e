package sqlite

import (
	"context"
	"fmt"
)

// The file gives back what pruning frees. SQLite keeps deleted pages on a
// free list and reuses them, so without vacuuming a file only ever grows
// to its largest size. In incremental auto-vacuum mode, free pages are
// handed back to the file system by PRAGMA incremental_vacuum, which runs
// after each prune that deleted rows, a few thousand pages a step so that
// no step holds the write lock for long.

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2

// reclaimStep is how many free pages one incremental_vacuum step gives
// back (4 MiB with the default page size).
const reclaimStep = 1024

// useIncrementalVacuum puts the file in incremental auto-vacuum mode by
// one VACUUM: instant for a new file; a file written before the mode is
// rewritten once (logged, and skipped with a warning when another process
// holds it: the next Open tries again).
func (s *Store) useIncrementalVacuum(ctx context.Context) error {
	var mode int
	if err := s.wr.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("sqlite store: read auto_vacuum: %w", err)
	}
	if mode == autoVacuumIncremental {
		return nil
	}
	if _, err := s.wr.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return fmt.Errorf("sqlite store: set auto_vacuum: %w", err)
	}
	var tables int
	if err := s.wr.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema`).Scan(&tables); err != nil {
		return fmt.Errorf("sqlite store: read schema: %w", err)
	}
	if tables > 0 {
		s.log.Info("sqlite store: converting the file to incremental vacuum (once: the file is rewritten)", "path", s.path)
	}
	// Even a new file needs it: switching to WAL has already written its
	// header, and the mode lives there.
	if _, err := s.wr.ExecContext(ctx, `VACUUM`); err != nil {
		s.log.Warn("sqlite store: could not convert the file to incremental vacuum; pruned space is reused but not given back", "path", s.path, "err", err)
	}
	return nil
}

// reclaim gives the file's free pages back to the file system, step by
// step, until none is left or ctx ends. The main file shrinks when the WAL
// is next checkpointed.
func (s *Store) reclaim(ctx context.Context) error {
	for ctx.Err() == nil {
		var free int64
		if err := s.wr.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			return fmt.Errorf("sqlite store: reclaim: %w", err)
		}
		if free == 0 {
			return nil
		}
		// PRAGMA takes no bound parameters; reclaimStep is our own constant.
		if _, err := s.wr.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, reclaimStep)); err != nil {
			return fmt.Errorf("sqlite store: reclaim: %w", err)
		}
		var after int64
		if err := s.wr.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&after); err != nil {
			return fmt.Errorf("sqlite store: reclaim: %w", err)
		}
		if after >= free {
			return nil // not in incremental mode (the conversion was skipped)
		}
	}
	return ctx.Err()
}
