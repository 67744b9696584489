// Package denyua is an example third-party plugin: deny_user_agent refuses
// requests whose User-Agent contains one of the configured substrings
// (case-insensitive), before any other plugin runs, and may keep refusing
// the client it caught for a while.
//
//	plugins:
//	  deny_user_agent: {contains: [sqlmap, nikto], deny_empty: true, block_for: 10m}
//
// It lives in a module of its own (../go.mod) and shows the whole contract
// through gatehouse's public packages only: register in init with a name
// and a phase; decode the YAML block strictly (conf types, every problem
// reported at its key); only check under spec.Check; keep state in the
// backends gatehouse hands out (spec.Backends); read the request's state
// with request.From; return errors as httperr.New so that the gateway's
// error handler answers JSON with that message (the only error text a
// client ever reads). Link it into a gateway by blank-importing it from a
// main of your own (see ../main.go and docs/plugins.md).
package denyua

import (
	"bytes"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/backend"
	"github.com/gatehouse-dev/gatehouse/conf"
	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/request"
)

// Name is the plugin's key under plugins: in routes.yaml.
const Name = "deny_user_agent"

func init() {
	plugins.Register(plugins.Plugin{
		Name: Name,
		// Before rate limiting: refusing a scanner must not cost it tokens
		// another client could have used, nor us a bucket.
		Phase: plugins.PhaseAdmission - 10,
		New:   New,
	})
}

// Config is the plugin's YAML block.
type Config struct {
	// Contains lists substrings of User-Agent that are refused, compared
	// case-insensitively. At least one entry, or DenyEmpty, is required.
	Contains []string `yaml:"contains"`
	// DenyEmpty refuses requests without a User-Agent. Default false.
	DenyEmpty bool `yaml:"deny_empty"`
	// BlockFor, when set, refuses every request of a client for this long
	// after one of its requests was refused, whatever its User-Agent then:
	// a scanner that changes its User-Agent stays out. The client is its
	// address as gatehouse resolves it (server.trusted_proxies), an IPv6
	// client its /64. Kept in the route's cache backend: on Redis, every
	// replica refuses the client. Default 0, off; else at least 1s.
	BlockFor conf.Duration `yaml:"block_for"`
}

// forbidden is the answer to a refused request.
var forbidden = httperr.New(fiber.StatusForbidden, "forbidden")

// New validates the block and builds the middleware.
func New(spec plugins.Spec) (plugins.Middleware, error) {
	var cfg Config
	ps := spec.Config.DecodeAll(&cfg)
	if len(cfg.Contains) == 0 && !cfg.DenyEmpty {
		ps.At(&cfg.Contains, "contains", "contains needs at least one substring (or set deny_empty)")
	}
	needles := make([][]byte, 0, len(cfg.Contains))
	for i, s := range cfg.Contains {
		if s == "" {
			ps.At(&cfg.Contains, "contains", "contains[%d] is empty: it would match every request", i)
		}
		needles = append(needles, bytes.ToLower([]byte(s))) // lowered once, at load
	}
	if cfg.BlockFor != 0 && cfg.BlockFor.D() < time.Second {
		ps.At(&cfg.BlockFor, "block_for", "block_for must be at least 1s, got %s", cfg.BlockFor)
	}
	if err := ps.Err(); err != nil || spec.Check {
		return nil, err // gatehouse validate: checked, nothing opened
	}
	var blocked backend.Cache
	if cfg.BlockFor > 0 {
		c, err := spec.Backends.Cache(backend.CacheOptions{MaxBytes: 1 << 20})
		if err != nil {
			return nil, spec.Config.ErrorAt("block_for", "%v", err)
		}
		blocked = c
	}
	return func(next fiber.Handler) fiber.Handler {
		return func(c *fiber.Ctx) error {
			if blocked == nil {
				if deny(c.Request().Header.UserAgent(), needles, cfg.DenyEmpty) {
					return forbidden
				}
				return next(c)
			}
			st := request.From(c)
			client := string(st.AppendClientNetwork(nil))
			// A backend that fails lets the request through (fail open):
			// the User-Agent check still applies.
			if _, ok, err := blocked.Get(st.Context(), client); err == nil && ok {
				return forbidden
			}
			if !deny(c.Request().Header.UserAgent(), needles, cfg.DenyEmpty) {
				return next(c)
			}
			if err := blocked.Set(st.Context(), client, []byte{1}, cfg.BlockFor.D(), ""); err != nil {
				spec.Logger.WarnContext(st.Context(), "cannot block the client", "request_id", st.ID, "error", err)
			}
			return forbidden
		}
	}, nil
}

// deny reports whether ua is refused: empty (when denyEmpty) or containing
// one of the lower-case needles.
func deny(ua []byte, needles [][]byte, denyEmpty bool) bool {
	if len(ua) == 0 {
		return denyEmpty
	}
	for _, n := range needles {
		if containsFold(ua, n) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII needle,
// ignoring ASCII case in s, without allocating.
func containsFold(s, needle []byte) bool {
	for i := 0; i+len(needle) <= len(s); i++ {
		match := true
		for j, nc := range needle {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != nc {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
