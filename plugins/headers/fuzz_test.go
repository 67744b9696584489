package headers

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
	"github.com/gatehouse-dev/gatehouse/request"
)

// FuzzClaimHeader puts arbitrary claim values into a request header and
// re-parses the serialised request the way an upstream would: whatever the
// claim holds, the upstream sees either exactly that value under X-User or no
// X-User at all, and never a header the gateway did not set.
func FuzzClaimHeader(f *testing.F) {
	for _, s := range []string{"alice", "", "a\r\nX-Admin: 1", "a\nb", "a\x00", "\x7f", "é", "a\tb", " lead"} {
		f.Add(s)
	}
	mw, err := New(plugintest.Spec(f, "request: {set: {X-User: \"u={claim.v}\"}}"))
	if err != nil {
		f.Fatalf("New = %v", err)
	}
	app := fiber.New()
	f.Fuzz(func(t *testing.T, v string) {
		fctx := &fasthttp.RequestCtx{}
		fctx.Request.SetRequestURI("/x")
		fctx.Request.Header.SetHost("gw")
		c := app.AcquireCtx(fctx)
		defer app.ReleaseCtx(c)
		request.From(c).Identity = &request.Identity{Claims: map[string]any{"v": v}}
		var wire []byte
		err := mw(func(c *fiber.Ctx) error {
			wire = append([]byte(nil), c.Request().Header.Header()...)
			return nil
		})(c)
		if err != nil {
			t.Fatalf("middleware = %v", err)
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire)))
		if err != nil {
			t.Fatalf("upstream cannot parse %q: %v", wire, err)
		}
		for name := range req.Header {
			if name != "X-User" {
				t.Fatalf("claim %q produced header %q in %q", v, name, wire)
			}
		}
		got, present := req.Header["X-User"]
		if ValidValue([]byte(v)) {
			if len(got) != 1 || got[0] != trimOWS("u="+v) {
				t.Fatalf("claim %q: X-User = %q, want [%q]", v, got, "u="+v)
			}
		} else if present {
			t.Fatalf("claim %q with a control character: X-User = %q, want absent", v, got)
		}
	})
}

// trimOWS strips the optional whitespace HTTP parsers remove around a value.
func trimOWS(s string) string {
	return string(bytes.Trim([]byte(s), " \t"))
}

// BenchmarkHeaders is the plugin's per-request cost with a typical block:
// two dynamic request headers, a removal, and two response edits.
func BenchmarkHeaders(b *testing.B) {
	block := `
request:
  set: {X-User-Id: "{claim.sub}", X-Request-Id: "{request.id}", X-From: gatehouse}
  remove: [X-Debug]
response:
  set: {X-Frame-Options: DENY}
  remove: [Server]
`
	mw, err := New(plugintest.Spec(b, block))
	if err != nil {
		b.Fatalf("New = %v", err)
	}
	id := &request.Identity{SessionID: "s", Subject: "alice", Claims: map[string]any{"sub": "alice"}}
	plugintest.Bench(b, mw(func(c *fiber.Ctx) error { return nil }), id, func(fctx *fasthttp.RequestCtx) {
		fctx.Request.Header.Set("X-Debug", "1")
	})
}

// FuzzValidName checks that every name ValidName accepts reaches a parser
// (net/http's, more lenient than RFC 9110 tokens) as exactly one field of
// that name.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"X-User-Id", "", "X User", "x\x00", "é", "a.b~!", "(x)", "\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if strings.ContainsAny(name, ":\r\n") {
			return // these split the line differently; covered by TestValidName
		}
		raw := "GET / HTTP/1.1\r\nHost: x\r\n" + name + ": v\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		parsed := err == nil && len(req.Header) == 1 && req.Header.Get(name) == "v"
		if ValidName(name) && !parsed {
			t.Fatalf("ValidName(%q) = true, but net/http does not parse it as one field (err %v)", name, err)
		}
	})
}
