package server

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// loadConfig parses testdata/NAME with ${VAR}s taken from env only.
func loadConfig(t testing.TB, name string, env map[string]string) *config.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(name, data, config.WithLookupEnv(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}))
	if err != nil {
		t.Fatalf("config %s: %v", name, err)
	}
	return cfg
}

// listen opens a loopback listener for a gateway.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serve builds a Server from cfg and serves it on ln until the test ends;
// it returns the server and its base URL.
func serve(t *testing.T, cfg *config.Config, ln net.Listener) (*Server, string) {
	t.Helper()
	srv, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	return srv, "http://" + ln.Addr().String()
}

// newBrowser returns a cookie-keeping client for base that does not follow
// redirects, so a test sees every hop.
func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, client: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// waitReady polls /readyz until it answers 200 (discovery runs in the background).
func (b *browser) waitReady() {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for b.do("GET", "/readyz").StatusCode != 200 {
		if time.Now().After(deadline) {
			b.t.Fatal("gateway never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// login runs the whole login through the gateway and the OP and returns the
// session cookie the gateway set.
func (b *browser) login(op *oidctest.Provider, returnTo string) *http.Cookie {
	b.t.Helper()
	resp := b.do("GET", "/auth/login?returnTo="+returnTo)
	if resp.StatusCode != 302 {
		b.t.Fatalf("GET /auth/login = %d %s, want 302", resp.StatusCode, bodyOf(resp))
	}
	callback, err := op.Login(b.t.Context(), b.client, resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatalf("OP login: %v", err)
	}
	resp = b.do("GET", callback)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != returnTo {
		b.t.Fatalf("callback = %d to %q (%s), want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), bodyOf(resp), returnTo)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse" {
			return c
		}
	}
	b.t.Fatal("the callback set no session cookie")
	return nil
}

// serveLogged is serve with the server's JSON log kept for the test: it
// returns the log and the address served on.
func serveLogged(t *testing.T, cfg *config.Config) (*logtest.Buffer, string) {
	t.Helper()
	logs := new(logtest.Buffer)
	srv, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	return logs, ln.Addr().String()
}
