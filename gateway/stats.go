package gateway

import (
	"context"
	"time"
)

// pruneLoop deletes log rows older than the retention and cache entries
// past their TTL, at start and then every interval, until ctx ends.
func (g *Gateway) pruneLoop(ctx context.Context, every time.Duration) {
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
// them) and expired cache entries, now. The gateway runs it at start and hourly;
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
