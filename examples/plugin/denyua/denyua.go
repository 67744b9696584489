// Package denyua is an example third-party plugin: deny_user_agent refuses
// requests whose User-Agent contains one of the configured substrings
// (case-insensitive), before any other plugin runs.
//
//	plugins:
//	  deny_user_agent: {contains: [sqlmap, nikto], deny_empty: true}
//
// It shows the whole contract: register in init with a name and a phase,
// decode the YAML block strictly, report semantic errors at their key, return
// errors as httperr.New so that the gateway's error handler answers JSON with
// that message (the only error text a client ever reads).
// Link it into a gateway by blank-importing it from a main of your own (see
// ../main.go and docs/plugins.md).
package denyua

import (
	"bytes"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/plugins"
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
}

// New validates the block and builds the middleware.
func New(spec plugins.Spec) (plugins.Middleware, error) {
	var cfg Config
	if err := spec.Config.Decode(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Contains) == 0 && !cfg.DenyEmpty {
		return nil, spec.Config.ErrorAt("contains", "contains needs at least one substring (or set deny_empty)")
	}
	needles := make([][]byte, 0, len(cfg.Contains))
	for i, s := range cfg.Contains {
		if s == "" {
			return nil, spec.Config.ErrorAt("contains", "contains[%d] is empty: it would match every request", i)
		}
		needles = append(needles, bytes.ToLower([]byte(s))) // lowered once, at load
	}
	return func(next fiber.Handler) fiber.Handler {
		return func(c *fiber.Ctx) error {
			ua := c.Request().Header.UserAgent()
			if len(ua) == 0 {
				if cfg.DenyEmpty {
					return httperr.New(fiber.StatusForbidden, "forbidden")
				}
				return next(c)
			}
			for _, n := range needles {
				if containsFold(ua, n) {
					return httperr.New(fiber.StatusForbidden, "forbidden")
				}
			}
			return next(c)
		}
	}, nil
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
