package server

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/route"
	"github.com/gatehouse-dev/gatehouse/internal/safego"
)

// routing is one generation of what a config's routes compile to: the route
// table and each route's chain (plugins, proxy or static files). Reload
// builds a new one and swaps it in whole; requests already dispatched finish
// on the one they started on.
type routing struct {
	cfg    *config.Config
	table  *route.Table
	routes []routeHandler // parallel to cfg.Routes
	// cancel ends the context the routes' plugins were built with (their
	// janitors and backend clients).
	cancel context.CancelFunc
	// inflight counts the requests dispatched on this routing whose handler
	// has not returned yet. Every request writes it: the padding keeps it off
	// the cache line of the fields every request reads.
	_        [64]byte
	inflight atomic.Int64
}

// close releases what the routing holds: plugin contexts, idle upstream
// connections, static file handles. Requests still running on it keep
// working (a proxy dials again if it must).
func (rt *routing) close() {
	rt.cancel()
	for _, r := range rt.routes {
		if r.proxy != nil {
			r.proxy.Close()
		}
		if r.static != nil {
			_ = r.static.Close()
		}
	}
}

// retireGrace is the least time a replaced routing is kept after a reload,
// so that a request that picked it up just before the swap has registered
// itself as in flight before the routing is checked for being idle.
const retireGrace = time.Second

// Reload replaces the routes (the routes and defaults blocks) with those of
// cfg, which must have passed config.Load and Validate. The new route table
// and chains are built first; on any problem (a plugin's config, an upstream
// URL) nothing changes and the error lists them all. Settings that are only
// read at start-up (server, oidc, session) must be unchanged: a config that
// changes them is refused, naming them, and needs a restart. After the swap,
// requests already dispatched finish on the old routes, which are released
// once they have (at most server.shutdown_timeout later). In-memory plugin
// state (rate limit buckets, cached responses) starts afresh for the new
// routes; with the Redis store it is kept.
func (s *Server) Reload(cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.ctx.Err() != nil {
		return errors.New("server is shutting down")
	}
	old := s.current.Load()
	if err := restartOnlyChanges(old.cfg, cfg); err != nil {
		return err
	}
	rt, err := s.buildRouting(cfg)
	if err != nil {
		return err
	}
	s.current.Store(rt)
	s.ready.mu.Lock()
	s.ready.at = time.Time{} // the next /readyz checks the new upstreams
	s.ready.mu.Unlock()
	if s.retiring == nil {
		s.retiring = map[*routing]struct{}{}
	}
	s.retiring[old] = struct{}{}
	limit := max(cfg.Server.ShutdownTimeout.D(), retireGrace)
	safego.Go(s.logger, "reload: retire old routes", func() { s.retire(old, limit) })
	return nil
}

// retire releases a replaced routing once no request runs on it any more
// (and retireGrace has passed), or after limit (at least retireGrace), or at
// shutdown (closeAll then releases it).
func (s *Server) retire(rt *routing, limit time.Duration) {
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-tick.C:
			idle := rt.inflight.Load() == 0 && now.Sub(start) >= retireGrace
			if !idle && now.Sub(start) < limit {
				continue
			}
			if !idle {
				s.logger.Warn("reload: releasing the old routes with requests still running on them",
					"requests", rt.inflight.Load())
			}
			s.reloadMu.Lock()
			if _, ok := s.retiring[rt]; ok {
				delete(s.retiring, rt)
				rt.close()
			}
			s.reloadMu.Unlock()
			return
		}
	}
}

// restartOnlyChanges returns an error naming the blocks of next that differ
// from running's and are only read at start-up.
func restartOnlyChanges(running, next *config.Config) error {
	var changed []string
	a, b := running.Server, next.Server
	a.Pos, b.Pos = config.Position{}, config.Position{}
	if !reflect.DeepEqual(a, b) {
		changed = append(changed, "server")
	}
	if !reflect.DeepEqual(oidcSettings(running.OIDC), oidcSettings(next.OIDC)) {
		changed = append(changed, "oidc")
	}
	sa, sb := running.Session, next.Session
	sa.Pos, sb.Pos = config.Position{}, config.Position{}
	if !reflect.DeepEqual(sa, sb) {
		changed = append(changed, "session")
	}
	// The /auth endpoints' CORS policy is built once, at start-up.
	if !reflect.DeepEqual(corsSettings(running.CORS), corsSettings(next.CORS)) {
		changed = append(changed, "cors")
	}
	if len(changed) > 0 {
		return fmt.Errorf("%s: not reloaded: %s changed, which only a restart applies (routes and defaults reload)",
			next.File, strings.Join(changed, ", "))
	}
	return nil
}

// oidcSettings is o without its position, for comparison (nil stays nil).
func oidcSettings(o *config.OIDC) *config.OIDC {
	if o == nil {
		return nil
	}
	c := *o
	c.Pos = config.Position{}
	return &c
}

// corsSettings is c without its position, for comparison (nil stays nil).
func corsSettings(c *config.CORS) *config.CORS {
	if c == nil {
		return nil
	}
	cp := *c
	cp.Pos = config.Position{}
	return &cp
}
