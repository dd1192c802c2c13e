package server

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/conductor-go/conductor/config"
	"github.com/conductor-go/conductor/control"
	"github.com/conductor-go/conductor/gateway"
)

// What operators change while the server runs: virtual keys, teams,
// budgets, rate limits and cache TTLs in the store's control items
// (package control), and the config file itself (Reload). Every change
// ends in reconfigure, which lays the store's items over the config and
// hands the gateways their limits and settings.

// startControl loads the store's control items and keeps them current:
// a change by any process sharing the store is in force here within
// control.DefaultPoll.
func (s *Server) startControl() error {
	if s.opts.Control == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := control.NewWatcher(ctx, s.opts.Control, s.log, func(sn *control.Snapshot) {
		s.reconfigure(s.config(), sn)
	})
	if err != nil {
		cancel()
		return fmt.Errorf("server: %w", err)
	}
	s.ctl, s.stopControl = w, cancel
	s.ctlDone = make(chan struct{})
	go func() {
		defer close(s.ctlDone)
		w.Run(ctx, s.opts.ControlPoll)
	}()
	return nil
}

// snapshot is the latest control snapshot, nil without a control store.
func (s *Server) snapshot() *control.Snapshot {
	if s.ctl == nil {
		return nil
	}
	return s.ctl.Snapshot()
}

// config is the config in force (Reload replaces it).
func (s *Server) config() *config.Config { return s.cfg.Load() }

// reconfigure puts cfg with the control snapshot laid over it in force:
// every gateway's limits, and the gateways' own settings when they
// changed. A refused change is logged and the running one kept.
func (s *Server) reconfigure(cfg *config.Config, sn *control.Snapshot) {
	s.reconf.Lock()
	defer s.reconf.Unlock()
	env := s.lookupEnv()
	merged := sn.Apply(cfg)
	if err := merged.Check(); err != nil {
		s.log.Error("the store's control items do not fit the config; keeping the limits in force", "err", err)
		return
	}
	if err := s.gws.SetLimits(sn.Limits(cfg, env, time.Now())); err != nil {
		s.log.Error("limits refused; keeping the limits in force", "err", err)
		return
	}
	if !s.opts.GatewaysFromConfig {
		return
	}
	configs, template := gateway.Configs(merged, env, s.opts.Prices)
	if reflect.DeepEqual(configs, s.gwConfigs) && reflect.DeepEqual(template, s.gwTemplate) {
		return
	}
	if err := s.gws.Update(configs, template); err != nil {
		s.log.Error("gateway settings refused; keeping the settings in force", "err", err)
		return
	}
	s.gwConfigs, s.gwTemplate = configs, template
}

// lookupEnv is the server's environment.
func (s *Server) lookupEnv() config.LookupEnv {
	if s.opts.Env != nil {
		return s.opts.Env
	}
	return os.LookupEnv
}

// refreshControl reloads the control items now, so that a change the
// admin API just made holds the next request.
func (s *Server) refreshControl(ctx context.Context) error {
	if s.ctl == nil {
		return nil
	}
	return s.ctl.Refresh(ctx)
}
