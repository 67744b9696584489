package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/cors"
)

// routeCORS returns r's CORS policy (its own cors block, else the top-level
// one; nil for none): preflights allow the route's methods, the CSRF header
// and Content-Type, and Authorization where a bearer token is accepted.
func routeCORS(cfg *config.Config, r *config.Route, methods methodSet) *cors.Policy {
	return cors.New(cors.For(cfg, r), cors.Options{
		Methods:       methods.allowed,
		CSRFHeader:    cfg.Session.CSRFHeader,
		Authorization: r.Auth == config.AuthBearer || r.Auth == config.AuthAny,
	})
}

// authCORS is the /auth endpoints' policy, the top-level cors block, for
// the two the SPA calls with fetch, GET /auth/me and POST /auth/logout (nil
// without a cors block; newAuthEndpoints applies it). The others are
// navigations (login, callback, logout/continue) or server-to-server
// (back-channel logout) and keep no CORS at all.
func authCORS(cfg *config.Config) *cors.Policy {
	return cors.New(cfg.CORS, cors.Options{
		Methods:    []string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost},
		CSRFHeader: cfg.Session.CSRFHeader,
	})
}
