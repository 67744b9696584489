package server

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readyCacheFor is how long a readiness result is reused: a load balancer
// probing /readyz every second must not turn into a dial storm on upstreams.
const readyCacheFor = 2 * time.Second

// readyCheckTimeout bounds one readiness check of a dependency.
const readyCheckTimeout = 2 * time.Second

// readiness caches the last /readyz result.
type readiness struct {
	mu     sync.Mutex
	at     time.Time
	checks map[string]string
	ok     bool
}

// healthz answers 200 while the process is alive.
func (s *Server) healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz answers 200 when the config is loaded, the IdP's discovery succeeded
// (when login is configured), the state store answers, and every route's
// upstream has a reachable target; otherwise 503 with each failing check.
// Reasons are short and safe to show: no addresses, no error strings.
func (s *Server) readyz(c *fiber.Ctx) error {
	ok, checks := s.readyState(c.UserContext())
	c.Set(fiber.HeaderCacheControl, "no-store")
	status := "ready"
	if !ok {
		status = "unavailable"
		c.Status(fiber.StatusServiceUnavailable)
	}
	return c.JSON(fiber.Map{"status": status, "checks": checks})
}

func (s *Server) readyState(ctx context.Context) (bool, map[string]string) {
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	if s.ready.checks != nil && time.Since(s.ready.at) < readyCacheFor {
		return s.ready.ok, s.ready.checks
	}
	ctx, cancel := context.WithTimeout(ctx, readyCheckTimeout)
	defer cancel()
	checks := map[string]string{"config": "ok"}
	ok := true
	check := func(name string, err error, reason string) {
		if err != nil {
			checks[name] = reason
			ok = false
			s.logger.Warn("not ready", "check", name, "err", err)
			return
		}
		checks[name] = "ok"
	}
	if s.cfg.OIDC != nil {
		check("oidc", s.auth.Ready(ctx), "identity provider discovery has not succeeded")
	}
	check("store", s.store.Ping(ctx), "state store unreachable")
	check("auth_store", s.authStore.Ping(ctx), "state store unreachable")
	for _, r := range s.current.Load().routes {
		if r.proxy != nil {
			check("upstream:"+r.route.Name, r.proxy.Check(ctx), "no upstream target reachable")
		}
	}
	s.ready.at, s.ready.checks, s.ready.ok = time.Now(), checks, ok
	return ok, checks
}

// serveMetrics exposes the server's Prometheus registry to the networks of
// server.metrics_from; to anyone else /metrics does not exist (its labels
// name the routes and the upstream targets).
func (s *Server) serveMetrics(c *fiber.Ctx) error {
	ip, err := netip.ParseAddr(plugins.ClientIP(c))
	if err != nil || !s.metricsFrom.Trusted(ip) {
		return fiber.NewError(fiber.StatusNotFound, "not found")
	}
	return s.metricsHandler(c)
}

func newMetricsHandler(m *metrics) fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
}
