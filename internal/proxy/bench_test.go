package proxy

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/request"
)

// smallJSON is the body BenchmarkForward's upstream answers with.
var smallJSON = []byte(`{"id":7,"name":"Ada Lovelace","email":"ada@example.com"}`)

// fastUpstream serves a small JSON body with fasthttp on loopback and
// returns its URL.
func fastUpstream(b *testing.B) string {
	return fastUpstreamBody(b, smallJSON)
}

// fastUpstreamBody serves body as JSON with fasthttp on loopback and
// returns its URL.
func fastUpstreamBody(b *testing.B, body []byte) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
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
	benchmarkForward(b, fastUpstream(b))
}

// BenchmarkForwardBody is BenchmarkForward for response bodies of several
// sizes up to maxBufferedBody, the ones read whole before the client's
// response starts.
func BenchmarkForwardBody(b *testing.B) {
	for _, size := range []int{1 << 10, 4 << 10, maxBufferedBody} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			body := bytes.Repeat([]byte("a"), size)
			b.SetBytes(int64(size))
			benchmarkForward(b, fastUpstreamBody(b, body))
		})
	}
}

// benchmarkForward runs BenchmarkForward's loop against the upstream at url.
func benchmarkForward(b *testing.B, url string) {
	r := route1("users", "/api/users", url)
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

// BenchmarkPrepareRequest measures the upstream request Forward builds
// before sending it (the copied header, the gateway's fields, the URI) for a
// browser's API call with a session's token, without the network around it,
// which makes BenchmarkForward's figure noisy.
func BenchmarkPrepareRequest(b *testing.B) {
	r := route1("users", "/api/users", "http://127.0.0.1:1") // never dialled
	p, err := New(&r, Options{IdleTimeout: testIdleTimeout})
	if err != nil {
		b.Fatalf("New() error = %v", err)
	}
	app := fiber.New()
	var in fasthttp.Request
	in.SetRequestURI("/api/users/7?fields=name,email")
	in.Header.SetHost("gw.example")
	for _, kv := range [][2]string{
		{"Accept", "application/json"},
		{"Accept-Language", "en-GB,en;q=0.9"},
		{"Accept-Encoding", "gzip, deflate, br"},
		{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},
		{"Referer", "https://gw.example/app"},
		{"Origin", "https://gw.example"},
		{"Sec-Fetch-Mode", "cors"},
		{"Sec-Fetch-Site", "same-origin"},
		{"Sec-Fetch-Dest", "empty"},
		{"Cookie", "__Host-gh=abcdefabcdefabcdefabcdefabcdefabcdefabcdef; theme=dark"},
	} {
		in.Header.Set(kv[0], kv[1])
	}
	var fc fasthttp.RequestCtx
	fc.Init(&in, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}, nil)
	c := app.AcquireCtx(&fc)
	defer app.ReleaseCtx(c)
	st := request.Begin(c, "0123456789abcdef0123456789abcdef", peerOf(c))
	st.Identity = &request.Identity{SessionID: "s", AccessToken: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl"}
	b.ReportAllocs()
	for b.Loop() {
		req := fasthttp.AcquireRequest()
		p.prepareHeader(c, st, &req.Header)
		p.setURI(req, &fc.Request, p.targets[0])
		fasthttp.ReleaseRequest(req)
	}
}
