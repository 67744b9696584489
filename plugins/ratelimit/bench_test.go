package ratelimit

import (
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
	"github.com/gatehouse-dev/gatehouse/request"
)

// BenchmarkRateLimit is the plugin's per-request cost for an allowed
// request keyed by session, headers included.
func BenchmarkRateLimit(b *testing.B) {
	mw, err := New(plugintest.Spec(b, "{rate: 1000000000, per: 1s}"))
	if err != nil {
		b.Fatalf("New = %v", err)
	}
	id := &request.Identity{SessionID: "QmFzZTY0U2Vzc2lvbklkZW50aWZpZXIwMTIzNDU2Nzg", Subject: "alice"}
	plugintest.Bench(b, mw(func(c *fiber.Ctx) error { return nil }), id, nil)
}
