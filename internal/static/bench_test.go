package static

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// benchServe drives the handler through fasthttp without a network.
func benchServe(b *testing.B, target string, hdr map[string]string) {
	dir := b.TempDir()
	if err := copySite(dir); err != nil {
		b.Fatal(err)
	}
	a, _ := appB(b, dir)
	h := a.Handler()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.SetRequestURI(target)
		for k, v := range hdr {
			ctx.Request.Header.Set(k, v)
		}
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("GET %s status = %d, want 200", target, ctx.Response.StatusCode())
		}
		if s := ctx.Response.BodyStream(); s != nil {
			ctx.Response.CloseBodyStream()
		}
	}
}

func BenchmarkServeIndex(b *testing.B) { benchServe(b, "/", nil) }

func BenchmarkServeAssetIdentity(b *testing.B) { benchServe(b, "/assets/app.3f9a1c2b.js", nil) }

func BenchmarkServeAssetBrotliCached(b *testing.B) {
	benchServe(b, "/assets/app.3f9a1c2b.js", map[string]string{"Accept-Encoding": "gzip, deflate, br"})
}

func BenchmarkServeFallback(b *testing.B) {
	benchServe(b, "/orders/42", map[string]string{"Accept": "text/html"})
}

func BenchmarkFileName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		fileName("/assets/app.3f9a1c2b.js")
	}
}
