// Package cors answers cross-origin browser calls for split-origin
// deployments: the SPA on https://app.example.com calling gatehouse on
// https://api.example.com with the session cookie (Fetch standard §3.2, the
// CORS protocol).
//
// Only origins listed exactly in a cors block are ever granted, always with
// credentials: there is no wildcard and no reflection of whatever Origin a
// request carries. For a route (or /auth/me and /auth/logout) with a policy:
//
//   - every response carries Vary: Origin, so that no cache hands one
//     origin's answer to another;
//   - a response to an allowed Origin carries Access-Control-Allow-Origin
//     (that origin), Access-Control-Allow-Credentials: true and
//     Access-Control-Expose-Headers (ExposedHeaders), errors included, so
//     the SPA can read a 401 or a 429;
//   - a preflight (OPTIONS with Origin and Access-Control-Request-Method)
//     from an allowed origin is answered 204 by gatehouse itself, never
//     forwarded, allowing the route's methods and the headers the SPA needs
//     (the CSRF header, Content-Type; Authorization on bearer and any
//     routes), with Access-Control-Max-Age;
//   - a preflight from any other origin is refused, 403 without any
//     Access-Control-Allow-* field, as gatehouse refuses preflights on
//     cookie routes without a policy;
//   - the upstream's own Access-Control-* response fields are dropped:
//     the policy is the gateway's alone, so an upstream that reflects any
//     Origin cannot widen it.
//
// The CSRF rules stay as they are: the SPA still sends the CSRF header (which
// is what makes its requests preflighted) and the auth gate checks Origin on
// unsafe methods against public_url's origin plus the allowed origins.
package cors

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// MsgPreflightRefused is the error text of a refused preflight.
const MsgPreflightRefused = "CORS preflight refused"

// ExposedHeaders are the response fields an allowed origin's scripts may
// read beyond the CORS-safelisted ones: the request id (for support), the
// rate limiter's Retry-After and RateLimit fields (IETF draft), and the
// cache plugin's X-Cache and Age. All are gatehouse's own; an upstream's
// other fields stay unreadable cross-origin.
var ExposedHeaders = []string{"X-Request-Id", fiber.HeaderRetryAfter, "RateLimit", "RateLimit-Policy", "X-Cache", "Age"}

// defaultMethods are allowed by a preflight on a route without methods:.
var defaultMethods = []string{
	fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete,
}

// For returns the cors block that applies to route: its own, else cfg's
// top-level one (nil when neither is set).
func For(cfg *config.Config, route *config.Route) *config.CORS {
	if route != nil && route.CORS != nil {
		return route.CORS
	}
	return cfg.CORS
}

// Origins returns the allowed origins of c (nil for a nil block).
func Origins(c *config.CORS) []string {
	if c == nil {
		return nil
	}
	return c.AllowedOrigins
}

// Allowed reports whether origin is one of origins, compared
// case-insensitively (the config holds them lower-cased; browsers send
// them so).
func Allowed(origins []string, origin string) bool {
	for _, o := range origins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// Options describe what a policy's preflights allow.
type Options struct {
	// Methods are the route's methods (empty: GET, HEAD, POST, PUT, PATCH,
	// DELETE).
	Methods []string
	// CSRFHeader is session.csrf_header.
	CSRFHeader string
	// Authorization allows the Authorization request header (bearer and
	// any routes: a caller with its own token).
	Authorization bool
}

// Policy is one route's compiled CORS policy. A nil *Policy is no policy:
// Wrap returns its handler unchanged.
type Policy struct {
	origins      []string
	originBytes  [][]byte // origins, for match without a conversion per request
	allowMethods string
	allowHeaders string
	maxAge       string
	expose       string
}

// New compiles c; it returns nil when c is nil or allows no origin.
func New(c *config.CORS, o Options) *Policy {
	if c == nil || len(c.AllowedOrigins) == 0 {
		return nil
	}
	methods := o.Methods
	if len(methods) == 0 {
		methods = defaultMethods
	}
	headers := []string{o.CSRFHeader, fiber.HeaderContentType}
	if o.Authorization {
		headers = append(headers, fiber.HeaderAuthorization)
	}
	originBytes := make([][]byte, len(c.AllowedOrigins))
	for i, o := range c.AllowedOrigins {
		originBytes[i] = []byte(o)
	}
	return &Policy{
		origins:      slices.Clone(c.AllowedOrigins),
		originBytes:  originBytes,
		allowMethods: strings.Join(methods, ", "),
		allowHeaders: strings.Join(headers, ", "),
		maxAge:       strconv.FormatInt(int64(c.MaxAge.D().Seconds()), 10),
		expose:       strings.Join(ExposedHeaders, ", "),
	}
}

// IsPreflight reports a CORS preflight (Fetch standard §3.2.2): OPTIONS
// with Origin and Access-Control-Request-Method.
func IsPreflight(c *fiber.Ctx) bool {
	return c.Method() == fiber.MethodOptions &&
		len(c.Request().Header.Peek(fiber.HeaderOrigin)) > 0 &&
		len(c.Request().Header.Peek(fiber.HeaderAccessControlRequestMethod)) > 0
}

// Wrap returns next under the policy (see the package comment). The CORS
// fields are set after next returns, an error included: the server's error
// handler keeps them (httperr keptOnError).
func (p *Policy) Wrap(next fiber.Handler) fiber.Handler {
	if p == nil {
		return next
	}
	return func(c *fiber.Ctx) error {
		// The configured spelling, never the request's bytes, is echoed.
		origin := p.match(c.Request().Header.Peek(fiber.HeaderOrigin))
		if IsPreflight(c) {
			p.finish(c, origin)
			if origin == "" {
				return httperr.New(fiber.StatusForbidden, MsgPreflightRefused)
			}
			h := &c.Response().Header
			h.Set(fiber.HeaderAccessControlAllowMethods, p.allowMethods)
			h.Set(fiber.HeaderAccessControlAllowHeaders, p.allowHeaders)
			h.Set(fiber.HeaderAccessControlMaxAge, p.maxAge)
			c.Status(fiber.StatusNoContent)
			return nil
		}
		err := next(c)
		p.finish(c, origin)
		return err
	}
}

// match returns the allowed origin equal to origin, or "".
func (p *Policy) match(origin []byte) string {
	if len(origin) == 0 {
		return ""
	}
	for i, o := range p.originBytes {
		if bytes.EqualFold(o, origin) {
			return p.origins[i]
		}
	}
	return ""
}

// finish replaces every Access-Control-* response field with the policy's
// for origin (an allowed origin, or "" for none) and adds Origin to Vary.
func (p *Policy) finish(c *fiber.Ctx, origin string) {
	h := &c.Response().Header
	var drop [][]byte
	var vary []byte
	h.VisitAll(func(k, v []byte) {
		switch {
		case len(k) > len("Access-Control-") && bytes.EqualFold(k[:len("Access-Control-")], []byte("Access-Control-")):
			drop = append(drop, bytes.Clone(k))
		case bytes.EqualFold(k, []byte(fiber.HeaderVary)):
			if len(vary) > 0 {
				vary = append(vary, ", "...)
			}
			vary = append(vary, v...)
		}
	})
	for _, k := range drop {
		h.DelBytes(k)
	}
	h.Del(fiber.HeaderVary)
	switch {
	case len(vary) == 0: // the usual case: no allocation
		h.Set(fiber.HeaderVary, fiber.HeaderOrigin)
	case varies(vary):
		h.SetBytesV(fiber.HeaderVary, vary)
	default:
		h.SetBytesV(fiber.HeaderVary, append(append(vary, ", "...), fiber.HeaderOrigin...))
	}
	if origin == "" {
		return
	}
	h.Set(fiber.HeaderAccessControlAllowOrigin, origin)
	h.Set(fiber.HeaderAccessControlAllowCredentials, "true")
	h.Set(fiber.HeaderAccessControlExposeHeaders, p.expose)
}

// varies reports whether a Vary value already names Origin (or is "*").
func varies(v []byte) bool {
	for f := range bytes.SplitSeq(v, []byte(",")) {
		f = bytes.TrimSpace(f)
		if bytes.Equal(f, []byte("*")) || bytes.EqualFold(f, []byte(fiber.HeaderOrigin)) {
			return true
		}
	}
	return false
}
