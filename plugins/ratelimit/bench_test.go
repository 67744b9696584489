package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
)

// BenchmarkRateLimit is the plugin's per-request cost for an allowed
// request keyed by session, headers included.
func BenchmarkRateLimit(b *testing.B) {
	mw, err := New(plugintest.Spec(b, "{rate: 1000000000, per: 1s}"))
	if err != nil {
		b.Fatalf("New = %v", err)
	}
	id := &plugins.Identity{SessionID: "QmFzZTY0U2Vzc2lvbklkZW50aWZpZXIwMTIzNDU2Nzg", Subject: "alice"}
	plugintest.Bench(b, mw(func(c *fiber.Ctx) error { return nil }), id, nil)
}

// BenchmarkMemoryAllowParallel measures contention on the sharded map with
// many sessions.
func BenchmarkMemoryAllowParallel(b *testing.B) {
	m := NewMemory(b.Context(), Policy{Rate: 1_000_000_000, Per: time.Second, Burst: 1_000_000_000}, MemoryOptions{})
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "s:" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Allow(context.Background(), keys[i%len(keys)])
			i++
		}
	})
}
