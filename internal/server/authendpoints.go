package server

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// authEndpointTimeout bounds a request to /auth/* (the store and the IdP
// calls it makes take its context).
const authEndpointTimeout = 30 * time.Second

// newAuthEndpoints compiles auth's endpoint table (auth.Auth.Endpoints) into
// one handler per path, dispatched from the main dispatch like a route:
// the path's handlers by method behind the routes' method guard (405 with
// Allow), /auth/me and /auth/logout under the top-level cors policy
// (authCORS) outside the guard, and the whole under authEndpointTimeout.
func newAuthEndpoints(cfg *config.Config, table map[string]auth.Methods) map[string]fiber.Handler {
	policy := authCORS(cfg)
	out := make(map[string]fiber.Handler, len(table))
	for path, methods := range table {
		if len(methods) == 0 {
			continue // no method: the path is not served (404)
		}
		h := byMethod(methods)
		switch path {
		case auth.PathMe, auth.PathLogout:
			h = policy.Wrap(h)
		}
		out[path] = withDeadline(authEndpointTimeout, h)
	}
	return out
}

// authEndpoint returns the handler of the /auth endpoint at path, or one
// answering 404: a path under /auth is never a route's.
func (s *Server) authEndpoint(path []byte) fiber.Handler {
	if h, ok := s.authEndpoints[string(path)]; ok {
		return h
	}
	return notFound
}

// notFound answers 404.
func notFound(*fiber.Ctx) error { return httperr.New(fiber.StatusNotFound, "not found") }
