package server

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
)

// metrics holds the gateway's Prometheus collectors. Each Server has its own
// registry, so tests and reloads never collide on the process-wide default one.
type metrics struct {
	registry       *prometheus.Registry
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	upstreamErrors *prometheus.CounterVec

	// The children of requests and duration each label set updates, so
	// that the per-request path skips WithLabelValues' hashing, locking and
	// label validation, and looks up once. The label sets are few (routes ×
	// methods × statuses): the map is copied to add one (under addMu) and
	// read without locking.
	children atomic.Pointer[map[requestLabels]*labelChildren]
	addMu    sync.Mutex
}

// labelChildren are the collectors one request's labels update.
type labelChildren struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// requestLabels are the label values of one requests counter.
type requestLabels struct {
	route, method string
	status        int
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_requests_total",
			Help: "Requests handled, by route (empty when none matched), method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_request_duration_seconds",
			Help:    "Time from request start to response headers being handed to the server, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_upstream_errors_total",
			Help: "Failed upstream attempts, by route, target and the status they map to (502 unavailable, 504 timeout).",
		}, []string{"route", "upstream", "code"}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.upstreamErrors, newBuildInfo(buildinfo.Get()),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// newBuildInfo is gatehouse_build_info: always 1, its labels say which build
// runs (join on it to tell the versions of a fleet apart).
func newBuildInfo(bi buildinfo.Info) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_build_info",
		Help: "Always 1: the running build's version, VCS revision (+dirty) and Go version (gatehouse version).",
		ConstLabels: prometheus.Labels{
			"version": bi.Version, "revision": bi.Revision, "goversion": bi.GoVersion,
		},
	})
	g.Set(1)
	return g
}

// observe counts one request and records its duration.
func (m *metrics) observe(route, method string, status int, elapsed time.Duration) {
	key := requestLabels{route, method, status}
	var ch *labelChildren
	if cm := m.children.Load(); cm != nil {
		ch = (*cm)[key]
	}
	if ch == nil {
		ch = m.addChildren(key)
	}
	ch.requests.Inc()
	ch.duration.Observe(elapsed.Seconds())
}

// addChildren returns key's children, adding them to a copy of the map
// first when they are not there yet.
func (m *metrics) addChildren(key requestLabels) *labelChildren {
	m.addMu.Lock()
	defer m.addMu.Unlock()
	var cur map[requestLabels]*labelChildren
	if p := m.children.Load(); p != nil {
		cur = *p
	}
	if ch := cur[key]; ch != nil {
		return ch // added meanwhile
	}
	cm := make(map[requestLabels]*labelChildren, len(cur)+1)
	maps.Copy(cm, cur)
	ch := &labelChildren{
		requests: m.requests.WithLabelValues(key.route, key.method, statusLabel(key.status)),
		duration: m.duration.WithLabelValues(key.route),
	}
	cm[key] = ch
	m.children.Store(&cm)
	return ch
}

// upstreamError counts one failed round trip; the proxy calls it.
func (m *metrics) upstreamError(route, upstream, code string) {
	m.upstreamErrors.WithLabelValues(route, upstream, code).Inc()
}
