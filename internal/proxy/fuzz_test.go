package proxy

import (
	"bufio"
	"bytes"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/internal/hopbyhop"
	"github.com/gatehouse-dev/gatehouse/request"
)

// FuzzStripRequest runs whatever fields a client sends from an untrusted
// peer the way the server does: the edge (StripClientRequest), then the
// gateway's own fields (a plugin's X-User-Id, the gate's identity, the
// request id), then prepareRequest. In the upstream request:
//
//   - no hop-by-hop field (in any spelling), Expect or underscored name;
//   - no forwarding field (isForwarding, in any spelling) but X-Forwarded-For,
//     -Proto and -Host, each once with the gateway's value;
//   - no field the client's Connection names, except the end-to-end ones
//     (Host, Content-Length, Cookie) and those the gateway sets;
//   - every field the gateway set, once, with its value: a nomination never
//     removes one.
func FuzzStripRequest(f *testing.F) {
	for _, s := range []string{
		"Keep-Alive: 5", "te: trailers", "X_Forwarded_For: 1.2.3.4", "Connection: x-a\r\nX-A: 1",
		"Expect: 100-continue", "PROXY-AUTHORIZATION: x", "Upgrade: h2c", "X-Kept: k", "Trailer: X-T",
		"Connection: X-User-Id, Authorization, X-Request-Id, X-Forwarded-For, x-forwarded-host",
		"X-Forwarded-Prefix: /evil\r\nx-forwarded-port: 1\r\nX-FORWARDED-SSL: on",
		"X-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nForwarded: for=1.2.3.4\r\nX-Real-IP: 1.2.3.4",
		"X-Forwarded-Host x: evil", "Connection: close, X-A\r\nX-A: 1", "Connection: Host, Cookie\r\nCookie: a=1",
	} {
		f.Add(s)
	}
	r := route1("r", "/", "http://upstream.test")
	p, err := New(&r, Options{PublicURL: &url.URL{Scheme: "https", Host: "app.example"}, IdleTimeout: testIdleTimeout})
	if err != nil {
		f.Fatal(err)
	}
	app := fiber.New()
	peer := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4711}
	gatewaySet := map[string]string{
		"X-User-Id":         "alice",
		"Authorization":     "Bearer tok",
		"X-Request-Id":      "rid-1",
		"X-Forwarded-For":   "192.0.2.1",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "app.example",
	}
	f.Fuzz(func(t *testing.T, fields string) {
		raw := "GET / HTTP/1.1\r\nHost: gw\r\n" + fields + "\r\n\r\n"
		var in fasthttp.Request
		if err := in.Header.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return // not a request fasthttp's server would hand over
		}
		var named []string // what Connection names
		for _, v := range in.Header.PeekAll("Connection") {
			for n := range bytes.SplitSeq(v, []byte(",")) {
				if n = bytes.TrimSpace(n); len(n) > 0 {
					named = append(named, strings.ToLower(string(n)))
				}
			}
		}
		var fctx fasthttp.RequestCtx
		fctx.Init(&in, peer, nil)
		c := app.AcquireCtx(&fctx)
		defer app.ReleaseCtx(c)

		h := &c.Request().Header
		StripClientRequest(h, false)
		st := request.From(c)
		st.ID = gatewaySet["X-Request-Id"]
		h.Del("X-User-Id") // the headers plugin replaces every line
		h.Set("X-User-Id", gatewaySet["X-User-Id"])
		st.Identity = &request.Identity{Subject: "alice", AccessToken: "tok"}
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		p.prepareRequest(c, st, req)

		got := map[string][]string{}
		for k, v := range req.Header.All() {
			got[string(k)] = append(got[string(k)], string(v))
			lk := strings.ToLower(string(k))
			for _, hop := range hopbyhop.Fields {
				if lk == strings.ToLower(hop) {
					t.Fatalf("hop-by-hop %s: %q survived in %q", k, v, raw)
				}
			}
			if lk == "expect" || strings.Contains(lk, "_") {
				t.Fatalf("%s: %q survived in %q", k, v, raw)
			}
			if _, ours := gatewaySet[string(k)]; ours {
				continue
			}
			if isForwarding(k) {
				t.Fatalf("forwarding field %s: %q from an untrusted peer survived in %q", k, v, raw)
			}
			if slices.Contains(named, lk) && lk != "host" && lk != "content-length" && lk != "cookie" {
				t.Fatalf("%s, named by Connection, survived in %q", k, raw)
			}
		}
		for k, want := range gatewaySet {
			if v := got[k]; len(v) != 1 || v[0] != want {
				t.Fatalf("upstream %s = %q, want exactly [%q] (sent %q)", k, v, want, raw)
			}
		}
	})
}
