package proxy

import (
	"io"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// fastUpstream serves a small JSON body with fasthttp on loopback and
// returns its URL.
func fastUpstream(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	body := []byte(`{"id":7,"name":"Ada Lovelace","email":"ada@example.com"}`)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// BenchmarkForward measures the gateway's own cost of a proxied GET: the
// Fiber handler (path normalisation + Forward) is called directly, the
// upstream is a fasthttp server on loopback, and the streamed body is drained
// as the server would write it.
func BenchmarkForward(b *testing.B) {
	r := route1("users", "/api/users", fastUpstream(b))
	p, err := New(&r, Options{MaxBody: 10 << 20, IdleTimeout: testIdleTimeout})
	if err != nil {
		b.Fatalf("New() error = %v", err)
	}
	defer p.Close()
	h := newApp(p).Handler()
	var req fasthttp.Request
	req.SetRequestURI("/api/users/7?fields=name,email")
	req.Header.SetHost("gw.example")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cookie", "a=b")
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Init(&req, addr, nil)
		h(&ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			b.Fatalf("status = %d, want 200", ctx.Response.StatusCode())
		}
		if s := ctx.Response.BodyStream(); s != nil {
			if _, err := io.Copy(io.Discard, s); err != nil {
				b.Fatalf("draining body: %v", err)
			}
		}
		ctx.Response.Reset() // closes the stream: the upstream connection goes back to its pool
	}
}

// BenchmarkForwardLoopback measures a whole proxied GET over loopback:
// fasthttp client → gateway (Fiber) → fasthttp upstream. Allocations include
// the client's and the upstream's.
func BenchmarkForwardLoopback(b *testing.B) {
	gw := newGateway(b, route1("users", "/api/users", fastUpstream(b)), Options{MaxBody: 10 << 20})
	client := &fasthttp.HostClient{Addr: gw.url[len("http://"):]}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(gw.url + "/api/users/7?fields=name,email")
	b.ReportAllocs()
	for b.Loop() {
		if err := client.Do(req, resp); err != nil {
			b.Fatalf("GET: %v", err)
		}
		if resp.StatusCode() != fasthttp.StatusOK {
			b.Fatalf("status = %d, want 200", resp.StatusCode())
		}
	}
}
