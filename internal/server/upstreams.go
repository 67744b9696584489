package server

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/safego"
)

// Upstream health is reported, not gated on (except for the routes of
// server.ready_requires): one broken service must not take every replica out
// of the load balancer. A background prober dials each distinct upstream
// address of the current routing; a target is up when the newest evidence
// about it, the prober's last dial or a request the proxy ejected it for,
// says so.
const (
	// probeTick is how often the prober looks for addresses that are due.
	// A reload's new addresses are probed on the next tick.
	probeTick = time.Second
	// probeUpEvery is how often a reachable address is dialed again.
	// Unreachable and new ones are dialed every tick, so that a recovery
	// shows within a second or so.
	probeUpEvery = 5 * time.Second
	// probeParallel bounds the dials in flight at once: with many upstreams,
	// or blackholed ones that each hold a dial for probeTimeout, a round is
	// spread out rather than a burst of connections.
	probeParallel = 4
	// probeTimeout bounds one dial.
	probeTimeout = 2 * time.Second
)

// health is what is known about a target or a route.
type health int8

const (
	unknown health = iota // not probed yet
	up
	down
)

// probeResult is the last dial of one address.
type probeResult struct {
	ok bool
	at time.Time
}

// upstreamHealth holds the prober's results by address (host:port), shared
// by every route and target that dials it. /readyz and /metrics read it
// against the current routing, so removed routes and targets vanish from both
// at a reload without any bookkeeping.
type upstreamHealth struct {
	mu    sync.Mutex
	addrs map[string]probeResult
}

// startUpstreamProbe registers gatehouse_upstream_up and starts the prober,
// which runs until the server's context ends (Shutdown). New calls it once
// the first routing is in place.
func (s *Server) startUpstreamProbe() {
	s.metrics.registry.MustRegister(upstreamCollector{s})
	go s.probeUpstreams()
}

// probeUpstreams probes what is due every probeTick until shutdown.
func (s *Server) probeUpstreams() {
	tick := time.NewTicker(probeTick)
	defer tick.Stop()
	for {
		s.probeRound(s.ctx)
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probeRound dials the current routing's addresses that are due, at most
// probeParallel at once, and records the results. It gives up the addresses
// not dialed yet when the routing is replaced or the server stops.
func (s *Server) probeRound(ctx context.Context) {
	defer safego.Recover(s.logger, "upstream prober")
	rt := s.current.Load()
	due := s.ready.upstreams.due(rt, time.Now())
	if len(due) == 0 {
		return
	}
	work := make(chan string)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(work) // before the wait, even if this loop panics
	for range min(probeParallel, len(due)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for addr := range work {
				s.probeAddr(ctx, addr)
			}
		}()
	}
	for _, addr := range due {
		if ctx.Err() != nil || s.current.Load() != rt {
			break
		}
		work <- addr
	}
}

// probeAddr dials addr and records the result. A panic is recovered here,
// per address, so that a worker never dies and leaves probeRound blocked
// handing it work.
func (s *Server) probeAddr(ctx context.Context, addr string) {
	defer safego.Recover(s.logger, "upstream prober")
	ok := dialOK(ctx, addr)
	if ctx.Err() != nil {
		return // shutting down: a cancelled dial says nothing
	}
	s.recordProbe(addr, ok)
}

// dialOK reports whether addr accepts a TCP connection within probeTimeout.
func dialOK(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// recordProbe stores one dial's result and logs a change of state.
func (s *Server) recordProbe(addr string, ok bool) {
	h := &s.ready.upstreams
	h.mu.Lock()
	prev, seen := h.addrs[addr]
	if h.addrs == nil {
		h.addrs = map[string]probeResult{}
	}
	h.addrs[addr] = probeResult{ok: ok, at: time.Now()}
	h.mu.Unlock()
	switch {
	case !ok && (!seen || prev.ok):
		s.logger.Warn("upstream unreachable", slog.String("addr", addr))
	case ok && seen && !prev.ok:
		s.logger.Info("upstream reachable again", slog.String("addr", addr))
	}
}

// due returns the distinct addresses of rt's targets that should be dialed
// now: new ones, unreachable ones, and reachable ones last dialed
// probeUpEvery ago. Results for addresses rt no longer has are dropped.
func (h *upstreamHealth) due(rt *routing, now time.Time) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	var due []string
	for _, r := range rt.routes {
		if r.proxy == nil {
			continue
		}
		for _, t := range r.proxy.Targets() {
			if seen[t.Addr] {
				continue
			}
			seen[t.Addr] = true
			if res, ok := h.addrs[t.Addr]; !ok || !res.ok || now.Sub(res.at) >= probeUpEvery {
				due = append(due, t.Addr)
			}
		}
	}
	for addr := range h.addrs {
		if !seen[addr] {
			delete(h.addrs, addr)
		}
	}
	return due
}

// target returns t's health: down when a request ejected it after the last
// dial (the proxy's own view is newer), else what the last dial found.
// Callers hold h.mu.
func (h *upstreamHealth) target(t proxy.TargetState) health {
	res, probed := h.addrs[t.Addr]
	switch {
	case t.Ejected && (!probed || t.LastFailure.After(res.at)):
		return down
	case !probed:
		return unknown
	case res.ok:
		return up
	}
	return down
}

// eachTarget calls f with every target of rt's proxied routes and its
// health, in route and then target order, under one lock.
func (h *upstreamHealth) eachTarget(rt *routing, f func(r *routeHandler, t proxy.TargetState, st health)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range rt.routes {
		r := &rt.routes[i]
		if r.proxy == nil {
			continue
		}
		for _, t := range r.proxy.Targets() {
			f(r, t, h.target(t))
		}
	}
}

// routes returns the health of each proxied route of rt by name: up when a
// target is up, down when every target is down, else unknown.
func (h *upstreamHealth) routes(rt *routing) map[string]health {
	out := map[string]health{}
	h.eachTarget(rt, func(r *routeHandler, _ proxy.TargetState, st health) {
		name := r.route.Name
		cur, ok := out[name]
		switch {
		case !ok:
			out[name] = st
		case st == up || cur == up:
			out[name] = up
		case st == unknown:
			out[name] = unknown
		}
	})
	return out
}

// upstreamUpDesc describes gatehouse_upstream_up.
var upstreamUpDesc = prometheus.NewDesc("gatehouse_upstream_up",
	"Whether an upstream target is reachable (1) or not (0), by route and target URL as configured. "+
		"A target not probed yet has no sample.",
	[]string{"route", "target"}, nil)

// upstreamCollector exports gatehouse_upstream_up for the current routing's
// targets at each scrape, so that a reload's removed routes disappear.
type upstreamCollector struct{ s *Server }

// Describe implements prometheus.Collector.
func (c upstreamCollector) Describe(ch chan<- *prometheus.Desc) { ch <- upstreamUpDesc }

// Collect implements prometheus.Collector. A route listing the same URL
// twice gets one sample: a duplicate would fail the whole scrape.
func (c upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ route, target string }
	seen := map[key]bool{}
	var samples []prometheus.Metric // sent once the lock is released
	c.s.ready.upstreams.eachTarget(c.s.current.Load(), func(r *routeHandler, t proxy.TargetState, st health) {
		k := key{r.route.Name, t.URL}
		if st == unknown || seen[k] {
			return
		}
		seen[k] = true
		v := 0.0
		if st == up {
			v = 1
		}
		samples = append(samples, prometheus.MustNewConstMetric(upstreamUpDesc, prometheus.GaugeValue, v, k.route, k.target))
	})
	for _, m := range samples {
		ch <- m
	}
}
