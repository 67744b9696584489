package cors

import (
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// serveWrapped serves next under p on a loopback listener until the test
// ends and returns its base URL.
func serveWrapped(t *testing.T, p *Policy, next fiber.Handler) string {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(p.Wrap(next))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestWrapResponseFields runs a handler that sets its own Vary and
// Access-Control-* fields (as an upstream may) under a policy: Vary gains
// Origin exactly once (kept as is when it already names Origin or is "*"),
// and the handler's Access-Control-* fields are replaced by the policy's
// for an allowed origin, removed for any other.
func TestWrapResponseFields(t *testing.T) {
	const app = "https://app.example.com"
	p := New(&config.CORS{AllowedOrigins: []string{app}, MaxAge: config.Duration(time.Minute)}, Options{CSRFHeader: "X-CSRF"})
	base := serveWrapped(t, p, func(c *fiber.Ctx) error {
		h := &c.Response().Header
		for _, v := range strings.Split(c.Query("vary"), "|") {
			if v != "" {
				h.Add("Vary", v)
			}
		}
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "*")
		h.Set("access-control-expose-headers", "X-Secret")
		return c.SendString("ok")
	})
	tests := []struct {
		name, vary, origin string
		wantVary           []string
		wantACAO           string
	}{
		{"no Vary, allowed origin", "", app, []string{"Origin"}, app},
		{"no Vary, no Origin", "", "", []string{"Origin"}, ""},
		{"upstream Vary, other origin", "Accept-Encoding", "https://evil.example", []string{"Accept-Encoding, Origin"}, ""},
		{"two Vary lines", "Accept-Encoding|Accept", app, []string{"Accept-Encoding, Accept, Origin"}, app},
		{"Vary names origin already", "accept, origin", app, []string{"accept, origin"}, app},
		{"Vary *", "*", app, []string{"*"}, app},
		{"null origin", "", "null", []string{"Origin"}, ""},
		{"upper-case origin matches, configured spelling echoed", "", "HTTPS://APP.EXAMPLE.COM", []string{"Origin"}, app},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+"/?vary="+strings.ReplaceAll(tt.vary, " ", "%20"), nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Values("Vary"); !slices.Equal(got, tt.wantVary) {
				t.Errorf("Vary = %q, want %q", got, tt.wantVary)
			}
			if got := resp.Header.Values("Access-Control-Allow-Origin"); tt.wantACAO == "" && len(got) > 0 || tt.wantACAO != "" && !slices.Equal(got, []string{tt.wantACAO}) {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantACAO)
			}
			if got := resp.Header.Get("Access-Control-Allow-Methods"); got != "" {
				t.Errorf("Access-Control-Allow-Methods = %q on a simple request, want none (the handler's dropped)", got)
			}
			wantExpose := map[bool]string{true: strings.Join(ExposedHeaders, ", ")}[tt.wantACAO != ""]
			if got := resp.Header.Get("Access-Control-Expose-Headers"); got != wantExpose {
				t.Errorf("Access-Control-Expose-Headers = %q, want %q", got, wantExpose)
			}
		})
	}
}

// TestNew: no block, or no origin, is no policy, and a nil policy wraps
// nothing.
func TestNew(t *testing.T) {
	for _, c := range []*config.CORS{nil, {}, {AllowedOrigins: []string{}}} {
		if p := New(c, Options{}); p != nil {
			t.Errorf("New(%+v) = %+v, want nil", c, p)
		}
	}
	var p *Policy
	called := false
	h := p.Wrap(func(*fiber.Ctx) error { called = true; return nil })
	if err := h(nil); err != nil || !called {
		t.Errorf("nil policy's Wrap(h) did not return h: called %v, err %v", called, err)
	}
}
