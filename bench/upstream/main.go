// Command upstream is the benchmark's origin server: a small fasthttp server
// answering every request with a fixed JSON body, so that the benchmark
// measures the proxies in front of it, not the origin.
package main

import (
	"flag"
	"log"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9300", "address to listen on")
	flag.Parse()
	body := []byte(`{"id":7,"name":"Ada Lovelace","email":"ada@example.com","roles":["admin","user"]}`)
	handler := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		// Cacheable for a minute: the gateway's cache plugin may keep it.
		ctx.Response.Header.Set("Cache-Control", "public, max-age=60")
		ctx.SetBody(body)
	}
	s := &fasthttp.Server{Handler: handler, Name: "bench-upstream"}
	log.Fatal(s.ListenAndServe(*listen))
}
