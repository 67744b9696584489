package plugintest

import (
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/plugins"
)

// BenchmarkBaseline is Bench's own cost (a Fiber context per request and an
// empty handler): subtract it from a plugin benchmark to get the plugin's.
func BenchmarkBaseline(b *testing.B) {
	Bench(b, func(c *fiber.Ctx) error { return nil }, &plugins.Identity{SessionID: "s"}, nil)
}
