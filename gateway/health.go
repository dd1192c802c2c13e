package gateway

import (
	"context"
	"sync"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Active health checks (PoolConfig.HealthInterval): every interval each
// deployment gets a one-token request straight to its adapter, for
// providers that fail slowly, or that fail while no call reaches them.
// Its outcome counts against the deployment's breaker like a call's: a
// dead deployment opens without costing callers their attempts, and an
// open one that answers a check closes again without waiting for a
// caller's probe. Checks are spent tokens: leave them off (the default)
// where the traffic itself finds failures soon enough.

// healthTimeout bounds one check.
const healthTimeout = 10 * time.Second

func (p *Pool) startHealth() {
	if p.health <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(p.health)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.checkAll(ctx)
			}
		}
	}()
}

// checkAll checks every deployment at once and waits for the checks.
func (p *Pool) checkAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, d := range p.deps {
		wg.Go(func() { p.check(ctx, d) })
	}
	wg.Wait()
}

// check sends d one request of one output token. A check of an open
// breaker is its probe: it waits for the cool-down like a call would.
func (p *Pool) check(ctx context.Context, d *deployment) {
	if !d.br.allow() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req := &conductor.ChatRequest{Provider: d.Provider, Model: d.Model, MaxTokens: 1,
		Messages: []conductor.Message{{Role: "user", Content: conductor.Texts("ping")}}}
	start := p.now()
	_, err := d.P.Chat(ctx, req)
	if ctx.Err() != nil && err != nil && classify(err, true) == outcomeIgnored {
		d.br.release()
		return
	}
	now := p.now()
	d.observe(now, now.Sub(start), err, true)
	if err != nil {
		p.log.Debug("deployment health check failed", "model", p.name, "deployment", d.Name, "err", err)
	}
}
