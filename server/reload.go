package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/conductor-go/conductor/config"
)

// Reload reads the config file again and puts it in force without a
// restart, requests in flight finishing with what they began with:
// [[ai.gateway]] settings (cache TTL, rate limits, retries), [[budget]],
// [[team]], [[rate_limit]], gateway tokens and their gateways. Other
// settings (listen address, providers, [[model]], [[split]], pricing)
// take effect at the next start; a reload that changes one says so in
// the log. A file that does not parse or validate changes nothing: the
// error (file:line:col) is logged and returned.
func (s *Server) Reload(ctx context.Context) error {
	cur := s.config()
	if cur.File == "" {
		return errors.New("no config file to reload: the server runs on built-in defaults")
	}
	stamp := stampOf(cur.File)
	next, err := config.Load(cur.File)
	if err == nil {
		err = s.reloadTokens(next)
	}
	if err != nil {
		s.log.Error("config reload failed; the running config stays in force", "file", cur.File, "err", err)
		return err
	}
	next.Dir = cur.Dir
	s.mu.Lock()
	s.cfgStamp = stamp
	s.mu.Unlock()
	s.cfg.Store(next)
	s.reconfigure(next, s.snapshot())
	if later := restartNeeded(cur, next); len(later) > 0 {
		s.log.Warn("config reloaded; some changes take effect at the next start", "file", cur.File, "sections", strings.Join(later, ", "))
	} else {
		s.log.Info("config reloaded", "file", cur.File)
	}
	return nil
}

// reloadTokens puts next's gateway tokens in force.
func (s *Server) reloadTokens(next *config.Config) error {
	secrets, err := next.ServerTokens(s.lookupEnv())
	if err != nil {
		return err
	}
	tokens := TokensFromSecrets(secrets)
	for i := range tokens {
		tokens[i].Gateways = next.Server.TokenGateways[tokens[i].Name]
	}
	if len(tokens) == 0 && len(s.auth.toks()) > 0 && !s.snapshot().Guarding() && !loopback(s.listenAddr()) {
		// Never open a server beyond loopback by a reload.
		return fmt.Errorf("%s: the reload would remove every gateway token of a server listening on %s; keeping them (add a token or a key, or restart)",
			next.File, s.listenAddr())
	}
	return s.auth.setTokens(tokens)
}

// listenAddr is the address the server listens on.
func (s *Server) listenAddr() string {
	if s.opts.Listener != nil {
		return s.opts.Listener.Addr().String()
	}
	return s.opts.Addr
}

// restartNeeded names the sections that changed from cur to next and
// that Reload does not put in force.
func restartNeeded(cur, next *config.Config) []string {
	var out []string
	same := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, name)
		}
	}
	curServer, nextServer := cur.Server, next.Server
	curServer.TokenGateways, nextServer.TokenGateways = nil, nil
	curServer.TokensEnv, nextServer.TokensEnv = "", ""
	curServer.TokensFile, nextServer.TokensFile = "", ""
	same("[server]", curServer, nextServer)
	same("[providers]", cur.Providers, next.Providers)
	same("[ai]", withoutGateways(cur.AI), withoutGateways(next.AI))
	same("[[model]]", cur.Models, next.Models)
	same("[[split]]", cur.Splits, next.Splits)
	same("[pricing]", cur.Pricing, next.Pricing)
	same("data_dir", cur.DataDir, next.DataDir)
	same("[gateway]", cur.Gateway, next.Gateway)
	return out
}

func withoutGateways(a config.AI) config.AI {
	a.Gateways = nil
	return a
}

// fileStamp is what WatchConfig compares: a file's modification time
// and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(file string) fileStamp {
	fi, err := os.Stat(file)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

// WatchConfig reloads the config whenever its file changes on disk
// (checked every interval: its size and modification time, against the
// file as the config in force was read) until ctx ends.
func (s *Server) WatchConfig(ctx context.Context, interval time.Duration) {
	if s.config().File == "" {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		file := s.config().File
		now := stampOf(file)
		s.mu.Lock()
		changed := now != (fileStamp{}) && now != s.cfgStamp
		if changed {
			s.cfgStamp = now
		}
		s.mu.Unlock()
		if changed {
			_ = s.Reload(ctx) // a failure is logged and changes nothing
		}
	}
}
