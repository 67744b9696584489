package svc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// claimsKey is the context key under which RequireToken stores the claims.
type claimsKey struct{}

// ClaimsFrom returns the verified claims RequireToken stored in ctx, or nil.
func ClaimsFrom(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}

// RequireToken wraps next so that it only runs with a valid bearer token:
// 401 JSON with a WWW-Authenticate challenge (RFC 6750 §3) otherwise, 503
// while the issuer's keys are not loaded yet.
func RequireToken(v *Verifier, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.Verify(r.Context(), r.Header.Get("Authorization"))
		switch {
		case errors.Is(err, ErrNotReady):
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "service starting"})
			return
		case errors.Is(err, ErrNoToken):
			w.Header().Set("WWW-Authenticate", `Bearer`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing bearer token"})
			return
		case err != nil:
			// The reason goes to the log, never to the client.
			log.InfoContext(r.Context(), "token refused", "path", r.URL.Path, "error", err)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid token"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// Profile returns the profile service: GET /api/profile (token required:
// the caller's identity as the token states it), GET /api/catalog and
// /api/catalog/{id} (public), GET /healthz.
func Profile(v *Verifier, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/profile", RequireToken(v, log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := ClaimsFrom(r.Context())
		writeJSON(w, http.StatusOK, profileBody{
			Service: "profile", Subject: c.Subject, Name: c.Name, Email: c.Email,
			Username: c.PreferredUsername, Issuer: c.Issuer, Scope: c.Scope,
			TokenExpiresAt: time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339),
		})
	})))
	mux.HandleFunc("GET /api/catalog", func(w http.ResponseWriter, r *http.Request) {
		writeJSONCaching(w, http.StatusOK, map[string]any{"service": "profile", "products": catalog}, CatalogCacheControl)
	})
	mux.HandleFunc("GET /api/catalog/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, p := range catalog {
			if p.ID == r.PathValue("id") {
				writeJSONCaching(w, http.StatusOK, p, CatalogCacheControl)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such product"})
	})
	mux.HandleFunc("GET /healthz", healthz)
	return jsonNotFound(mux)
}

// Orders returns the orders service: GET /api/orders (token required: the
// caller's orders, derived from sub), GET / (a public status document, for the
// shipped routes.yaml's /api/status route with strip_prefix), GET /healthz.
func Orders(v *Verifier, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/orders", RequireToken(v, log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := ClaimsFrom(r.Context())
		writeJSON(w, http.StatusOK, map[string]any{"service": "orders", "sub": c.Subject, "orders": OrdersFor(c.Subject)})
	})))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"service": "orders", "status": "ok", "keysLoaded": v.Ready(),
			// Set by the gateway's headers plugin on the /api/status route.
			"via": r.Header.Get("X-From"),
		})
	})
	mux.Handle("GET /api/live/time", RequireToken(v, log, http.HandlerFunc(liveTime)))
	mux.HandleFunc("GET /healthz", healthz)
	return jsonNotFound(mux)
}

// liveTime is a WebSocket (GET /api/live/time, behind the shipped
// routes.yaml's websocket: true route /api/live) that sends the service's
// clock, RFC 3339 in UTC, once a second until either side closes it.
func liveTime(w http.ResponseWriter, r *http.Request) {
	// gatehouse checked the handshake's Origin (its cross-site WebSocket
	// hijacking defence) before it got here; the Origin it forwards is the
	// SPA's, not this service's own host, so the library's check is off.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context()) // done when the client (or gatehouse) closes
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := c.Write(ctx, websocket.MessageText, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

type profileBody struct {
	Service        string `json:"service"`
	Subject        string `json:"sub"`
	Name           string `json:"name,omitempty"`
	Email          string `json:"email,omitempty"`
	Username       string `json:"preferredUsername,omitempty"`
	Issuer         string `json:"issuer"`
	Scope          string `json:"scope,omitempty"`
	TokenExpiresAt string `json:"tokenExpiresAt"`
}

// Product is an entry of the public catalog.
type Product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int    `json:"priceCents"`
}

var catalog = []Product{
	{"p-100", "Espresso beans, 1 kg", 2400},
	{"p-101", "Ceramic pour-over dripper", 3200},
	{"p-102", "Paper filters (100)", 600},
	{"p-103", "Burr grinder", 14900},
	{"p-104", "Gooseneck kettle", 5900},
	{"p-105", "Travel mug", 1900},
}

// Order is one of a user's (made-up) orders.
type Order struct {
	ID         string    `json:"id"`
	Product    string    `json:"product"`
	Quantity   int       `json:"quantity"`
	TotalCents int       `json:"totalCents"`
	Currency   string    `json:"currency"`
	Status     string    `json:"status"`
	PlacedAt   time.Time `json:"placedAt"`
}

// OrdersFor returns the orders of user sub: two to five, always the same for
// the same sub (seeded by its hash), different between users — enough to
// show in the example SPA that each user sees their own data.
func OrdersFor(sub string) []Order {
	h := fnv.New64a()
	h.Write([]byte(sub))
	seed := h.Sum64()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	statuses := []string{"delivered", "shipped", "processing"}
	base := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	n := 2 + rng.IntN(4)
	out := make([]Order, n)
	for i := range out {
		p := catalog[rng.IntN(len(catalog))]
		q := 1 + rng.IntN(3)
		out[i] = Order{
			ID:         fmt.Sprintf("o-%04d-%06x", 1001+i, rng.Uint32()&0xffffff),
			Product:    p.Name,
			Quantity:   q,
			TotalCents: q * p.PriceCents,
			Currency:   "EUR",
			Status:     statuses[rng.IntN(len(statuses))],
			PlacedAt:   base.Add(time.Duration(rng.IntN(300*24)) * time.Hour),
		}
	}
	return out
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// jsonNotFound answers unmatched paths (and wrong methods) with JSON instead
// of the mux's plain-text pages.
func jsonNotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// CatalogCacheControl lets shared caches (the gateway's cache plugin on
// the public catalog route) keep the catalog for 30 s, while browsers ask
// again every time (max-age=0): each click in the example SPA reaches the
// gateway, which answers from its cache (X-Cache: HIT) after the first.
const CatalogCacheControl = "public, max-age=0, s-maxage=30"

// writeJSON writes v as JSON that no cache may keep.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONCaching(w, status, v, "no-store")
}

// writeJSONCaching writes v as JSON with the Cache-Control cacheControl.
func writeJSONCaching(w http.ResponseWriter, status int, v any, cacheControl string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cacheControl)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
