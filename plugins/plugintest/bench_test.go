package plugintest

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/request"
	"github.com/gofiber/fiber/v2"
)

// BenchmarkBaseline is Bench's own cost (a Fiber context per request and an
// empty handler): subtract it from a plugin benchmark to get the plugin's.
func BenchmarkBaseline(b *testing.B) {
	Bench(b, func(c *fiber.Ctx) error { return nil }, &request.Identity{SessionID: "s"}, nil)
}
