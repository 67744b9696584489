package server

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/request"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyCacheFor is how long the result of the dependency checks (the state
// stores' pings) is reused: a load balancer probing /readyz every second must
// not turn into a stream of round trips. Upstream health needs no cache: the
// background prober keeps it (upstreams.go).
const readyCacheFor = 2 * time.Second

// readyCheckTimeout bounds one readiness check of a dependency.
const readyCheckTimeout = 2 * time.Second

// Reasons shown for a failing route of server.ready_requires.
const (
	reasonUnreachable = "no upstream target reachable"
	reasonNotProbed   = "upstream not checked yet"
)

// readiness caches the last result of the dependency checks and holds the
// upstream prober's results.
type readiness struct {
	mu     sync.Mutex
	at     time.Time
	checks map[string]string // nil: check again
	ok     bool

	upstreams upstreamHealth
}

// readyReport is the detailed /readyz body, for server.metrics_from.
type readyReport struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	// Degraded names the proxied routes none of whose targets is reachable.
	// They do not make the gateway unready unless server.ready_requires
	// names them.
	Degraded []string `json:"degraded"`
}

// healthz answers 200 while the process is alive.
func (s *Server) healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz answers 200 when this process can serve: the config is loaded, the
// IdP's discovery has succeeded once (when login is configured), the state
// stores answer, and each route of server.ready_requires has a reachable
// target; otherwise 503. Other routes' upstreams never make it 503: they are
// listed as degraded. The body is {"status":"ready"} or {"status":"not
// ready"}; clients of server.metrics_from also get each check by name and the
// degraded routes (they name routes, like the metrics). Reasons are short and
// safe to show: no addresses, no error strings.
func (s *Server) readyz(c *fiber.Ctx) error {
	rep := s.readyState(c.UserContext())
	c.Set(fiber.HeaderCacheControl, "no-store")
	if rep.Status != "ready" {
		c.Status(fiber.StatusServiceUnavailable)
	}
	if !s.fromMetricsNetworks(c) {
		return c.JSON(fiber.Map{"status": rep.Status})
	}
	return c.JSON(rep)
}

// readyState runs (or reuses) the dependency checks and adds the upstream
// health of the current routing.
func (s *Server) readyState(ctx context.Context) readyReport {
	deps, ok := s.dependencyChecks(ctx)
	checks := make(map[string]string, len(deps)+len(s.cfg.Server.ReadyRequires))
	maps.Copy(checks, deps)
	rt := s.current.Load()
	routes := s.ready.upstreams.routes(rt)
	degraded := []string{}
	for _, r := range rt.routes { // in config order
		if r.proxy != nil && routes[r.route.Name] == down {
			degraded = append(degraded, r.route.Name)
		}
	}
	for _, name := range s.cfg.Server.ReadyRequires {
		switch routes[name] {
		case up:
			checks["upstream:"+name] = "ok"
		case down:
			checks["upstream:"+name], ok = reasonUnreachable, false
		default:
			checks["upstream:"+name], ok = reasonNotProbed, false
		}
	}
	status := "ready"
	if !ok {
		status = "not ready"
	}
	return readyReport{Status: status, Checks: checks, Degraded: degraded}
}

// dependencyChecks checks what this process needs to serve, reusing the
// last result for readyCacheFor. The returned map must not be modified.
func (s *Server) dependencyChecks(ctx context.Context) (map[string]string, bool) {
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	if s.ready.checks != nil && time.Since(s.ready.at) < readyCacheFor {
		return s.ready.checks, s.ready.ok
	}
	ctx, cancel := context.WithTimeout(ctx, readyCheckTimeout)
	defer cancel()
	checks := map[string]string{"config": "ok"}
	ok := true
	check := func(name string, err error, reason string) {
		if err != nil {
			checks[name] = reason
			ok = false
			s.logger.Warn("not ready", "check", name, "error", err)
			return
		}
		checks[name] = "ok"
	}
	if s.cfg.OIDC != nil {
		// Discovery done stays done: a later IdP outage shows in logins,
		// not here.
		check("oidc", s.auth.Ready(ctx), "identity provider discovery has not succeeded")
	}
	check("store", s.state.sessions.Ping(ctx), "state store unreachable")
	check("auth_store", s.state.auth.Ping(ctx), "state store unreachable")
	s.ready.at, s.ready.checks, s.ready.ok = time.Now(), checks, ok
	return checks, ok
}

// fromMetricsNetworks reports whether c's client (resolved through
// server.trusted_proxies) is in server.metrics_from: only those clients see
// what names routes and upstream targets.
func (s *Server) fromMetricsNetworks(c *fiber.Ctx) bool {
	ip := request.From(c).Client
	return ip.IsValid() && s.metricsFrom.Trusted(ip)
}

// serveMetrics exposes the server's Prometheus registry to the networks of
// server.metrics_from; to anyone else /metrics does not exist (its labels
// name the routes and the upstream targets).
func (s *Server) serveMetrics(c *fiber.Ctx) error {
	if !s.fromMetricsNetworks(c) {
		return httperr.New(fiber.StatusNotFound, "not found")
	}
	return s.metricsHandler(c)
}

func newMetricsHandler(m *metrics) fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
}
