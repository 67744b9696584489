package proxy

import (
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// target is one upstream URL of a route with its connection pool and its
// passive health state.
type target struct {
	url    string // for logs and metrics: scheme://host/base
	scheme string
	host   string // host[:port] as written in the URL, sent as Host
	base   string // base path without a trailing slash; "" for none
	client *fasthttp.HostClient

	// failures counts consecutive failures; ejectedUntil and lastFailure
	// are Unix nanoseconds. Atomics: every request reads them.
	failures     atomic.Int32
	ejectedUntil atomic.Int64
	lastFailure  atomic.Int64
}

// eject skips t for base·2^(failures-1), at most maxFor.
func (t *target) eject(now time.Time, base, maxFor time.Duration) {
	n := t.failures.Add(1)
	d := base
	for i := int32(1); i < n && d < maxFor; i++ {
		d *= 2
	}
	d = min(d, maxFor)
	t.lastFailure.Store(now.UnixNano())
	t.ejectedUntil.Store(now.Add(d).UnixNano())
}

// succeeded ends t's ejection streak. The stores are skipped in the common
// case so that healthy targets cost no shared writes.
func (t *target) succeeded() {
	if t.failures.Load() != 0 {
		t.failures.Store(0)
		t.ejectedUntil.Store(0)
	}
}

// pick returns the next target round-robin, skipping ejected ones. When all
// are ejected it returns the one that failed longest ago: trying something is
// better than refusing every request until an ejection ends.
func (p *Proxy) pick() *target {
	n := uint64(len(p.targets))
	if n == 1 {
		return p.targets[0]
	}
	start := p.next.Add(1)
	now := p.now().UnixNano()
	var oldest *target
	for i := range n {
		t := p.targets[(start+i)%n]
		if t.ejectedUntil.Load() <= now {
			return t
		}
		if oldest == nil || t.lastFailure.Load() < oldest.lastFailure.Load() {
			oldest = t
		}
	}
	return oldest
}

// TargetState is one upstream target as the proxy sees it, for health
// reporting (gatehouse_upstream_up, /readyz). Its strings are the proxy's
// own, built from the config: safe to keep and to use as metric labels.
type TargetState struct {
	// URL is the target as configured, scheme://host[:port][/base]: the
	// upstream of access logs and of gatehouse_upstream_errors_total.
	URL string
	// Addr is the host:port the proxy dials.
	Addr string
	// Ejected is set while failed requests make the proxy skip the target.
	Ejected bool
	// LastFailure is when a request last ejected the target; zero if none has.
	LastFailure time.Time
}

// Targets returns the state of each of p's targets, in configured order.
func (p *Proxy) Targets() []TargetState {
	now := p.now().UnixNano()
	out := make([]TargetState, len(p.targets))
	for i, t := range p.targets {
		out[i] = TargetState{URL: t.url, Addr: t.client.Addr, Ejected: t.ejectedUntil.Load() > now}
		if ns := t.lastFailure.Load(); ns != 0 {
			out[i].LastFailure = time.Unix(0, ns)
		}
	}
	return out
}
