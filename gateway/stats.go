package gateway

import (
	"context"
	"time"
)

// pruneLoop deletes log rows older than the retention and cache entries
// past their TTL, first after first (off the first requests' way: on a
// fresh start they would wait on its write transactions) and then every
// interval, until ctx ends.
func (g *Gateway) pruneLoop(ctx context.Context, first, every time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(first):
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		g.Prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune deletes log rows older than Config.LogRetention (unless it keeps
// them) and expired cache entries, now. The gateway runs it 30 s after start and hourly;
// `conductor` commands may call it on demand.
func (g *Gateway) Prune(ctx context.Context) {
	now := nowUTC()
	if g.conf().LogRetention > 0 {
		if n, err := g.st.PruneLogs(ctx, now.Add(-g.conf().LogRetention)); err != nil {
			if ctx.Err() == nil {
				g.log.Warn("gateway log pruning failed", "err", err)
			}
		} else if n > 0 {
			g.log.Info("gateway pruned old log rows", "rows", n, "retention", g.conf().LogRetention)
		}
	}
	if n, err := g.st.PruneCache(ctx, now); err != nil {
		if ctx.Err() == nil {
			g.log.Warn("gateway cache pruning failed", "err", err)
		}
	} else if n > 0 {
		g.log.Debug("gateway pruned expired cache entries", "entries", n)
	}
}
