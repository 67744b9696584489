// Package ratelimit is the rate_limit plugin: a token bucket per session (or
// per client IP, header or claim) in front of the upstream.
//
//	rate_limit: {rate: 10, per: 1s, burst: 20, key: session}
//
// A request over the limit gets 429 {"error": "rate limit exceeded"} with
// Retry-After and never reaches the upstream. Every response carries the
// RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-headers
// (the structured-field syntax of drafts -08 to -11):
//
//	RateLimit-Policy: "default";q=20;w=2
//	RateLimit: "default";r=19;t=1
//
// The policy states the bucket as "q requests per w seconds": q is the burst
// and w the time an empty bucket takes to refill (rounded up), so q/w is the
// sustained rate whenever the refill time is whole seconds. r is the whole
// tokens left and t the seconds until the bucket is full again.
package ratelimit

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/conf"
	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/request"
)

// Name is the plugin's key under plugins: in routes.yaml.
const Name = "rate_limit"

func init() {
	plugins.Register(plugins.Plugin{Name: Name, Phase: plugins.PhaseAdmission, New: New})
}

// Config is the plugin's YAML block.
type Config struct {
	// Rate is how many requests are allowed per Per, sustained. Required, >= 1.
	Rate int `yaml:"rate"`
	// Per is the period of Rate. Default 1s.
	Per conf.Duration `yaml:"per"`
	// Burst is the bucket size: requests allowed at once after a quiet
	// spell. Default Rate.
	Burst int `yaml:"burst"`
	// Key is what gets its own bucket: "session" (default: the session, else
	// the bearer token's subject, else the client IP), "ip", "header:NAME"
	// (falls back to the IP when absent) or "claim:NAME" (falls back to the IP
	// when the request has no such claim). IPv6 clients are counted by /64.
	// A header key is only as good as whoever sets the header: clients
	// choose their own header values.
	Key string `yaml:"key"`
	// MaxKeys bounds the buckets the memory backend keeps. Default 100000.
	MaxKeys int `yaml:"max_keys"`
	// OnError says what a request gets when the backend fails (Redis down):
	// "allow" (default: the request passes, and the failure is logged, so
	// that an outage of the limiter does not take the route down) or "deny"
	// (503 {"error": "rate limiter unavailable"}: for routes where
	// unlimited traffic is worse than none, such as a costly or abusable
	// endpoint).
	OnError string `yaml:"on_error"`
}

// keyKind is how a request's bucket key is found.
type keyKind uint8

const (
	keySession keyKind = iota
	keyIP
	keyHeader
	keyClaim
)

// Header names in the form fasthttp stores them ("RateLimit" becomes
// "Ratelimit"; field names are case-insensitive), so that SetCanonical can
// skip normalising them per request and still replace an upstream's field of
// the same name. TestCanonicalHeaderNames checks the forms.
var (
	hdrPolicy     = []byte("Ratelimit-Policy")
	hdrRateLimit  = []byte("Ratelimit")
	hdrRetryAfter = []byte("Retry-After")
)

// policyName is the policy's name in the RateLimit fields.
const policyName = `"default"`

// limiterMiddleware is the compiled plugin for one route.
type limiterMiddleware struct {
	lim    backend.Limiter
	limit  backend.Limit
	kind   keyKind
	arg    string // header or claim name
	policy []byte // the RateLimit-Policy value
	deny   bool   // on_error: deny
	log    *slog.Logger
	route  string
}

// New validates the block and builds the middleware on the instance's
// limiter (spec.Backends): memory counts per replica, Redis shares the
// buckets between replicas. With spec.Check it only validates the block.
func New(spec plugins.Spec) (plugins.Middleware, error) {
	cfg, err := parse(spec)
	if err != nil || spec.Check {
		return nil, err
	}
	lim, err := spec.Backends.Limiter(backend.LimiterOptions{MaxKeys: cfg.MaxKeys})
	if err != nil {
		return nil, spec.Config.ErrorAt("", "%v", err)
	}
	return newMiddleware(spec, cfg, lim), nil
}

// parse decodes and validates the block, applying the defaults. Every
// problem is reported, not only the first.
func parse(spec plugins.Spec) (Config, error) {
	cfg := Config{Per: conf.Duration(time.Second), Key: "session", MaxKeys: backend.DefaultMaxKeys, OnError: "allow"}
	ps := spec.Config.DecodeAll(&cfg)
	if cfg.Rate < 1 {
		ps.At(&cfg.Rate, "rate", "rate must be >= 1, got %d", cfg.Rate)
	}
	if cfg.Per.D() < time.Millisecond {
		ps.At(&cfg.Per, "per", "per must be >= 1ms, got %s", cfg.Per)
	}
	if cfg.Burst == 0 {
		// Absent: rate's own check covers it.
		cfg.Burst = cfg.Rate
	} else if cfg.Burst < 1 {
		ps.At(&cfg.Burst, "burst", "burst must be >= 1, got %d", cfg.Burst)
	}
	if cfg.MaxKeys < 1 {
		ps.At(&cfg.MaxKeys, "max_keys", "max_keys must be >= 1, got %d", cfg.MaxKeys)
	}
	if _, _, err := parseKey(cfg.Key); err != nil {
		ps.At(&cfg.Key, "key", "%v", err)
	}
	if cfg.OnError != "allow" && cfg.OnError != "deny" {
		ps.At(&cfg.OnError, "on_error", "on_error must be allow or deny, got %q", cfg.OnError)
	}
	if err := ps.Err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// parseKey reads the key setting.
func parseKey(s string) (keyKind, string, error) {
	switch s {
	case "session":
		return keySession, "", nil
	case "ip":
		return keyIP, "", nil
	}
	kind, arg, _ := strings.Cut(s, ":")
	switch kind {
	case "header":
		if !validToken(arg) {
			return 0, "", fmt.Errorf("key %q: want header:NAME with NAME a header name", s)
		}
		return keyHeader, arg, nil
	case "claim":
		if arg == "" {
			return 0, "", fmt.Errorf("key %q: want claim:NAME", s)
		}
		return keyClaim, arg, nil
	}
	return 0, "", fmt.Errorf("key must be session, ip, header:NAME or claim:NAME, got %q", s)
}

// validToken reports whether s is a non-empty RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// newMiddleware builds the middleware over any Limiter (tests use a clock).
func newMiddleware(spec plugins.Spec, cfg Config, lim backend.Limiter) plugins.Middleware {
	kind, arg, _ := parseKey(cfg.Key)
	pol := backend.Limit{Rate: cfg.Rate, Per: cfg.Per.D(), Burst: cfg.Burst}
	window := max(int64(math.Ceil(pol.RefillTime().Seconds())), 1)
	m := &limiterMiddleware{
		lim:    lim,
		limit:  pol,
		kind:   kind,
		arg:    arg,
		policy: fmt.Appendf(nil, "%s;q=%d;w=%d", policyName, cfg.Burst, window),
		deny:   cfg.OnError == "deny",
		log:    spec.Logger,
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if spec.Route != nil {
		m.route = spec.Route.Name
	}
	return m.middleware
}

// key returns the request's bucket key. The kinds are prefixed so that a
// client-chosen header or claim value can never name another kind's bucket.
func (m *limiterMiddleware) key(c *fiber.Ctx, st *request.State) string {
	switch m.kind {
	case keySession:
		if id := st.Identity; id != nil {
			if id.SessionID != "" {
				return "s:" + id.SessionID
			}
			if id.Subject != "" {
				return "u:" + id.Subject
			}
		}
	case keyHeader:
		if v := c.Request().Header.Peek(m.arg); len(v) > 0 {
			return "h:" + string(v)
		}
	case keyClaim:
		if id := st.Identity; id != nil {
			switch v := id.Claims[m.arg].(type) {
			case string:
				if v != "" {
					return "c:" + v
				}
			case float64:
				return "c:" + strconv.FormatFloat(v, 'f', -1, 64)
			}
		}
	}
	var buf [64]byte
	return string(st.AppendClientNetwork(append(buf[:0], "i:"...)))
}

func (m *limiterMiddleware) middleware(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		st := request.From(c)
		d, err := m.lim.Allow(st.Context(), m.key(c, st), m.limit)
		if err != nil {
			if m.deny {
				m.log.Error("rate_limit: backend failed, request refused (on_error: deny)",
					"route", m.route, "request_id", st.ID, "error", err)
				return httperr.New(fiber.StatusServiceUnavailable, "rate limiter unavailable")
			}
			// Fail open: a backend outage must not take every route down.
			m.log.Error("rate_limit: backend failed, request let through",
				"route", m.route, "request_id", st.ID, "error", err)
			return next(c)
		}
		if !d.Allowed {
			m.setHeaders(c, d)
			var buf [20]byte
			c.Response().Header.SetCanonical(hdrRetryAfter, strconv.AppendInt(buf[:0], ceilSeconds(d.RetryAfter), 10))
			return httperr.New(fiber.StatusTooManyRequests, "rate limit exceeded")
		}
		err = next(c)
		// After next: the proxy replaces the response headers with the upstream's.
		m.setHeaders(c, d)
		return err
	}
}

// setHeaders writes RateLimit-Policy and RateLimit.
func (m *limiterMiddleware) setHeaders(c *fiber.Ctx, d backend.Decision) {
	h := &c.Response().Header
	h.SetCanonical(hdrPolicy, m.policy)
	var buf [64]byte
	v := append(buf[:0], policyName...)
	v = append(v, ";r="...)
	v = strconv.AppendInt(v, int64(d.Remaining), 10)
	v = append(v, ";t="...)
	v = strconv.AppendInt(v, ceilSeconds(d.Reset), 10)
	h.SetCanonical(hdrRateLimit, v)
}

// ceilSeconds rounds up to whole seconds, at least 1 for a positive wait
// (Retry-After is an integer: rounding down would invite an early retry).
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
