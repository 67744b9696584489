package server

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/route"
)

// routing is one generation of what a config's routes compile to: the route
// table and each route's chain (plugins, proxy or static files). Reload
// builds a new one and swaps it in whole; requests already dispatched finish
// on the one they started on. A routing holds no state: the plugins'
// backends belong to the server (state), so a replaced routing is released
// at once, without waiting for the requests still running on it.
type routing struct {
	cfg    *config.Config
	table  *route.Table
	routes []routeHandler // parallel to cfg.Routes
	// cancel ends the context the routes' plugins were built with
	// (plugins.Spec.Ctx).
	cancel context.CancelFunc
}

// release is what a reload does to the routing it replaced: it ends the
// plugins' context and drops the proxies' idle upstream connections.
// Requests still running on it keep working (a proxy dials again if it
// must). Its static directory handles stay open for them: each is closed by
// the runtime (os.Root's finalizer) once no request holds the routing.
func (rt *routing) release() {
	rt.cancel()
	for _, r := range rt.routes {
		if r.proxy != nil {
			r.proxy.Close()
		}
	}
}

// close releases the routing and closes its static directory handles: at
// shutdown, once requests are over.
func (rt *routing) close() {
	rt.release()
	for _, r := range rt.routes {
		if r.static != nil {
			_ = r.static.Close()
		}
	}
}

// Reload replaces the routes (the routes and defaults blocks) with those of
// cfg, which must have passed config.Load and Validate. The new route table
// and chains are built first; on any problem (a plugin's config, an upstream
// URL) nothing changes and the error lists them all. Settings that are only
// read at start-up (server, oidc, session) must be unchanged: a config that
// changes them is refused, naming them, and needs a restart. After the swap,
// requests already dispatched finish on the old routes. Plugin state (rate
// limit buckets, cached responses) is kept for every route and plugin the
// new config still has, in memory as with Redis; a plugin's options that
// size its memory backend (max_keys, max_bytes) start it afresh when they
// change.
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
	old.release()
	s.state.retire()
	s.ready.mu.Lock()
	s.ready.at = time.Time{} // the next /readyz checks the new upstreams
	s.ready.mu.Unlock()
	return nil
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
