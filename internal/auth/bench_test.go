package auth

import (
	"context"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/request"
)

// BenchmarkGateSession measures the session gate on the hot path: cookie
// decode, store load, CSRF checks, cookie stripping, identity.
func BenchmarkGateSession(b *testing.B) {
	iss := oidctest.NewIssuer(b)
	h := newHarness(b, harnessOpts{issuer: iss.URL, clientSecret: "s"})
	h.waitReady()
	s := &session.Session{Subject: "u", AccessToken: "at", AccessExpiresAt: time.Now().Add(time.Hour), Claims: map[string]any{"sub": "u"}}
	if err := h.sessions.New(context.Background(), s); err != nil {
		b.Fatal(err)
	}
	cookie := h.sessions.Cookie(s)
	app := fiber.New(fiber.Config{ErrorHandler: httperr.Handler(nil, nil)})
	route := &config.Route{Name: "api", Prefix: "/api", Auth: config.AuthSession}
	app.Get("/api/x", h.auth.Gate(route)(func(c *fiber.Ctx) error {
		if request.From(c).Identity == nil {
			return fiber.ErrTeapot
		}
		return c.SendStatus(fiber.StatusNoContent)
	}))
	handler := app.Handler()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.SetRequestURI("/api/x")
		ctx.Request.Header.SetCookie(cookie.Name, cookie.Value)
		ctx.Request.Header.SetCookie("theme", "dark")
		ctx.Request.Header.Set("X-CSRF", "1")
		handler(&ctx)
		if ctx.Response.StatusCode() != fiber.StatusNoContent {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// BenchmarkCheckRequirements measures a route's required_scopes and
// required_claims against typical bearer claims (as decoded from JSON).
func BenchmarkCheckRequirements(b *testing.B) {
	iss := oidctest.NewIssuer(b)
	h := newHarness(b, harnessOpts{issuer: iss.URL, clientSecret: "s"})
	route := &config.Route{
		RequiredScopes: []string{"orders:read", "orders:write"},
		RequiredClaims: map[string]string{"tenant": "acme", "roles": "admin"},
	}
	req := newRequirements(route)
	claims := map[string]any{
		"scope":  "openid profile email orders:read orders:write",
		"tenant": "acme",
		"roles":  []any{"user", "support", "admin"},
	}
	app := fiber.New()
	c := app.AcquireCtx(&fasthttp.RequestCtx{})
	defer app.ReleaseCtx(c)
	b.ReportAllocs()
	for b.Loop() {
		if err := h.auth.checkRequirements(c, &req, claims, true); err != nil {
			b.Fatal(err)
		}
	}
}
