// Command floor is a CALIBRATION FLOOR, NOT A PRODUCT: the least a Fiber v2 +
// fasthttp gateway can do per request (one route, a pooled fasthttp.HostClient,
// no routing table, no auth, no limits, no logging, no header hygiene), so that
// bench/compare.sh shows gatehouse against the cost of its own stack as well as
// against nginx. Never put it in front of anything.
package main

import (
	"flag"
	"log"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19305", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:19300", "upstream host:port")
	flag.Parse()
	client := &fasthttp.HostClient{Addr: *upstream, MaxConns: 1024}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.All("/*", func(c *fiber.Ctx) error {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		c.Request().CopyTo(req)
		req.Header.Del(fiber.HeaderConnection)
		req.SetHost(*upstream)
		if err := client.Do(req, c.Response()); err != nil {
			return c.SendStatus(fiber.StatusBadGateway)
		}
		c.Response().Header.Del(fiber.HeaderConnection)
		return nil
	})
	log.Fatal(app.Listen(*addr))
}
