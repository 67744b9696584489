package server

import (
	"maps"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gofiber/fiber/v2"
)

// methodSet is a route's method allow-list; the zero value allows every method.
type methodSet struct {
	allowed []string
	allow   string // the Allow header value for 405 answers (RFC 9110 §15.5.6)
}

func newMethodSet(methods []string) methodSet {
	if len(methods) == 0 {
		return methodSet{}
	}
	ms := methodSet{allowed: methods}
	// HEAD is answered wherever GET is (RFC 9110 §9.3.2).
	if ms.has(fiber.MethodGet) && !ms.has(fiber.MethodHead) {
		ms.allowed = append(append([]string(nil), methods...), fiber.MethodHead)
	}
	ms.allow = strings.Join(ms.allowed, ", ")
	return ms
}

func (m methodSet) has(method string) bool {
	for _, a := range m.allowed {
		if a == method {
			return true
		}
	}
	return false
}

// guard answers 405 with an Allow header to methods outside the allow-list,
// before any authentication or forwarding.
func (m methodSet) guard(next fiber.Handler) fiber.Handler {
	if len(m.allowed) == 0 {
		return next
	}
	return func(c *fiber.Ctx) error {
		if !m.has(c.Method()) {
			c.Set(fiber.HeaderAllow, m.allow)
			return httperr.New(fiber.StatusMethodNotAllowed, "method not allowed")
		}
		return next(c)
	}
}

// byMethod returns a handler running handlers[method] behind the same guard
// as a route's methods: a method without a handler gets 405 with Allow
// listing those with one, and HEAD, when it has none of its own, runs GET's
// (RFC 9110 §9.3.2). handlers must not be empty.
func byMethod(handlers map[string]fiber.Handler) fiber.Handler {
	table := maps.Clone(handlers)
	if get, ok := table[fiber.MethodGet]; ok {
		if _, ok := table[fiber.MethodHead]; !ok {
			table[fiber.MethodHead] = get
		}
	}
	return newMethodSet(slices.Sorted(maps.Keys(handlers))).guard(func(c *fiber.Ctx) error {
		return table[c.Method()](c)
	})
}

// methodLabel returns the metrics label for a request method: one of the
// standard methods as a constant string, else "OTHER" (a client may send any
// token as a method, and each would otherwise become a new time series).
//
// The result never aliases m: m is usually c.Method(), a view of fasthttp's
// reused request buffer, and the label is kept as a map key and a Prometheus
// label long after the request.
func methodLabel(m string) string {
	for _, known := range standardMethods {
		if m == known {
			return known
		}
	}
	return "OTHER"
}

// standardMethods are the methods counted under their own label.
var standardMethods = [...]string{
	fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch,
	fiber.MethodDelete, fiber.MethodOptions, fiber.MethodConnect, fiber.MethodTrace,
}
