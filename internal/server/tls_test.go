package server

import (
	"bufio"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/gatehouse-dev/gatehouse/internal/tlstest"
)

// tlsGateway is a gateway serving HTTPS on loopback with a certificate
// from a test CA.
type tlsGateway struct {
	srv      *Server
	addr     string // host:port
	ca       *tlstest.CA
	dir      string // where cert.pem and key.pem are
	logs     *logtest.Buffer
	certFile string
	keyFile  string
}

// startTLS serves testdata/tls.yaml with a certificate of serial 1 for
// 127.0.0.1; extra adds ${VAR}s.
func startTLS(t *testing.T, extra map[string]string) *tlsGateway {
	t.Helper()
	g := &tlsGateway{ca: tlstest.NewCA(t), dir: t.TempDir(), logs: &logtest.Buffer{}}
	g.certFile, g.keyFile = g.ca.Issue(t, 1, "127.0.0.1").Write(t, g.dir)
	ln := listen(t)
	g.addr = ln.Addr().String()
	env := map[string]string{"PUBLIC_URL": "https://" + g.addr, "CERT_FILE": g.certFile, "KEY_FILE": g.keyFile}
	for k, v := range extra {
		env[k] = v
	}
	srv, err := New(loadConfig(t, "tls.yaml", env), Options{Logger: slog.New(slog.NewJSONHandler(g.logs, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	g.srv = srv
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	return g
}

// dial opens a verified TLS connection (the test CA's root only; the
// server must send the intermediate).
func (g *tlsGateway) dial(t *testing.T, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.RootCAs = g.ca.Pool()
	cfg.ServerName = "127.0.0.1"
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", g.addr, cfg)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	}
	return c, err
}

// getOn sends GET path on c (keep-alive) and returns the response, body read.
func getOn(t *testing.T, c net.Conn, r *bufio.Reader, path string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatalf("writing GET %s: %v", path, err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("reading the answer to GET %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func serialOf(c *tls.Conn) int64 {
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestTLSHandshake: a verifying client completes the handshake (chain sent,
// TLS 1.2 or later, http/1.1) and is served with HSTS; TLS 1.1 and plain
// HTTP are refused.
func TestTLSHandshake(t *testing.T) {
	t.Parallel()
	g := startTLS(t, nil)
	tests := []struct {
		name    string
		cfg     *tls.Config
		wantErr bool
	}{
		{"default client", &tls.Config{}, false},
		{"TLS 1.2 only", &tls.Config{MaxVersion: tls.VersionTLS12}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, true},
		{"asks for h2 too", &tls.Config{NextProtos: []string{"h2", "http/1.1"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := g.dial(t, tt.cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("handshake with %s succeeded, want it refused (version %x)", tt.name, c.ConnectionState().Version)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			st := c.ConnectionState()
			if st.Version < tls.VersionTLS12 || len(st.VerifiedChains) == 0 || serialOf(c) != 1 {
				t.Errorf("version %x, verified chains %d, serial %d", st.Version, len(st.VerifiedChains), serialOf(c))
			}
			if tt.cfg.NextProtos != nil && st.NegotiatedProtocol != "http/1.1" {
				t.Errorf("ALPN chose %q, want http/1.1 (fasthttp speaks no h2)", st.NegotiatedProtocol)
			}
			resp := getOn(t, c, bufio.NewReader(c), "/healthz")
			if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
				t.Errorf("GET /healthz over TLS = %d, HSTS %q; want 200 with max-age=31536000",
					resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
			}
		})
	}
	t.Run("plain http to the TLS port", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + g.addr + "/healthz")
		if err == nil && resp.StatusCode == 200 {
			t.Errorf("plain HTTP was served on the TLS listener")
		}
		if err == nil {
			resp.Body.Close()
		}
	})
}

// TestTLSRenewal: replaced certificate files reach new connections, by the
// SIGHUP path (ReloadCertificates) and by the file poll, while a keep-alive
// connection opened before keeps working on the old certificate; a bad
// new pair is logged and the running one kept.
func TestTLSRenewal(t *testing.T) {
	old := certPollInterval
	certPollInterval = 20 * time.Millisecond
	t.Cleanup(func() { certPollInterval = old })

	for _, tt := range []struct {
		name   string
		reload bool // call ReloadCertificates; else wait for the poll
	}{{"reload call", true}, {"file poll", false}} {
		t.Run(tt.name, func(t *testing.T) {
			g := startTLS(t, nil)
			before, err := g.dial(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(before)
			if resp := getOn(t, before, br, "/healthz"); resp.StatusCode != 200 || serialOf(before) != 1 {
				t.Fatalf("first connection: %d, serial %d", resp.StatusCode, serialOf(before))
			}

			g.ca.Issue(t, 2, "127.0.0.1").Write(t, g.dir)
			if tt.reload {
				if err := g.srv.ReloadCertificates(); err != nil {
					t.Fatalf("ReloadCertificates: %v", err)
				}
			}
			// A bounded poll: the reload call makes the first dial see it.
			var serial int64
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				c, err := g.dial(t, nil)
				if err != nil {
					t.Fatal(err)
				}
				serial = serialOf(c)
				_ = c.Close()
				if serial == 2 || tt.reload {
					break
				}
			}
			if serial != 2 {
				t.Fatalf("new connections see serial %d after the renewal, want 2", serial)
			}
			if resp := getOn(t, before, br, "/healthz"); resp.StatusCode != 200 || serialOf(before) != 1 {
				t.Errorf("the connection opened before the renewal: %d, serial %d; want 200 on serial 1", resp.StatusCode, serialOf(before))
			}
			if !strings.Contains(g.logs.String(), `"serial":"2"`) {
				t.Errorf("the new certificate's load was not logged:\n%s", g.logs.String())
			}
		})
	}

	t.Run("bad new pair", func(t *testing.T) {
		g := startTLS(t, nil)
		other := g.ca.Issue(t, 3, "127.0.0.1")
		mismatched := g.ca.Issue(t, 4, "127.0.0.1")
		mismatched.KeyPEM = other.KeyPEM // a renewal caught between its two files
		mismatched.Write(t, g.dir)
		if err := g.srv.ReloadCertificates(); err == nil {
			t.Fatal("ReloadCertificates accepted a key that does not match the certificate")
		}
		// The poll sees the same change and logs it; the old pair stays.
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(g.logs.String(), "cannot be loaded"); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no error logged for the bad pair:\n%s", g.logs.String())
			}
			// Touch the files again so that the poll has a change to see.
			mismatched.Write(t, g.dir)
		}
		c, err := g.dial(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		if serialOf(c) != 1 {
			t.Errorf("after a bad renewal new connections see serial %d, want the old 1", serialOf(c))
		}
	})
}

// TestTLSBadPairFailsStart: New refuses a missing or mismatched pair.
func TestTLSBadPairFailsStart(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, 1, "127.0.0.1").Write(t, dir)
	otherKey := ca.Issue(t, 2, "127.0.0.1")
	tests := []struct{ name, cert, key string }{
		{"missing cert", dir + "/none.pem", keyFile},
		{"key of another certificate", certFile, func() string {
			_, k := otherKey.Write(t, t.TempDir())
			return k
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, "tls.yaml", map[string]string{"PUBLIC_URL": "https://127.0.0.1:1", "CERT_FILE": tt.cert, "KEY_FILE": tt.key})
			srv, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				_ = srv.Shutdown(t.Context())
				t.Fatal("New accepted a bad certificate pair")
			}
			if !strings.Contains(err.Error(), "server.tls") {
				t.Errorf("error %q does not name server.tls", err)
			}
		})
	}
}

// TestTLSOverLimitClosedSilently: beyond max_connections a TLS listener
// closes the TCP connection before any handshake and writes nothing (a
// plain listener's 503 would be garbage to a TLS client).
func TestTLSOverLimitClosedSilently(t *testing.T) {
	t.Parallel()
	g := startTLS(t, map[string]string{"MAX_CONNS": "1"})
	held, err := g.dial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp := getOn(t, held, bufio.NewReader(held), "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("first connection: %d", resp.StatusCode)
	}
	raw, err := net.DialTimeout("tcp", g.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(raw) // the listener closes it at once
	if len(got) != 0 || err != nil {
		t.Errorf("over the limit a TLS connection got %q (err %v), want it closed without a byte", got, err)
	}
	if resp := getOn(t, held, bufio.NewReader(held), "/healthz"); resp.StatusCode != 200 {
		t.Errorf("the connection within the limit: %d", resp.StatusCode)
	}
}

// startRedirect serves the redirect listener of testdata/https-front.yaml.
func startRedirect(t *testing.T, publicURL string) string {
	t.Helper()
	srv, err := New(loadConfig(t, "https-front.yaml", map[string]string{"PUBLIC_URL": publicURL}),
		Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	done := make(chan error, 1)
	go func() { done <- srv.ServeRedirect(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(t.Context())
		if err := <-done; err != nil {
			t.Errorf("ServeRedirect after Shutdown: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestRedirectHTTP: every request on the redirect listener gets 308 to
// public_url's origin with the request's path and query, whatever Host or
// absolute-form target the client sent, and no HSTS (plain http).
func TestRedirectHTTP(t *testing.T) {
	t.Parallel()
	const public = "https://app.example.com:8443"
	addr := startRedirect(t, public)
	tests := []struct {
		name, head string
		want       string
	}{
		{"path and query", "GET /app/orders?id=7&x=%2F HTTP/1.1\r\nHost: app.example.com\r\n", public + "/app/orders?id=7&x=%2F"},
		{"poisoned Host", "GET /login HTTP/1.1\r\nHost: evil.example\r\n", public + "/login"},
		{"X-Forwarded-Host", "GET / HTTP/1.1\r\nHost: app.example.com\r\nX-Forwarded-Host: evil.example\r\n", public + "/"},
		{"absolute-form target", "GET http://evil.example/p?q=1 HTTP/1.1\r\nHost: evil.example\r\n", public + "/p?q=1"},
		{"double slash path", "GET //evil.example/x HTTP/1.1\r\nHost: app.example.com\r\n", public + "//evil.example/x"},
		{"POST keeps its method by 308", "POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", public + "/api/orders"},
		{"asterisk form", "OPTIONS * HTTP/1.1\r\nHost: x\r\n", public + "/"},
		{"no Host", "GET /a HTTP/1.0\r\n", public + "/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			head := tt.head
			if !strings.HasSuffix(head, "\r\n\r\n") && !strings.Contains(head, "\r\n\r\n") {
				head += "\r\n"
			}
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != tt.want {
				t.Errorf("%q → %d Location %q, want 308 %q", tt.head, resp.StatusCode, resp.Header.Get("Location"), tt.want)
			}
			if v := resp.Header.Get("Strict-Transport-Security"); v != "" {
				t.Errorf("the plain-http redirect sent HSTS %q", v)
			}
		})
	}
}

// TestHSTSOnlyOverHTTPS: Strict-Transport-Security is sent by the main
// listener for an https public_url (TLS here or in front), never for an
// http one, nor when turned off.
func TestHSTSOnlyOverHTTPS(t *testing.T) {
	t.Parallel()
	// An upstream with its own idea of HSTS: gatehouse's replaces it.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=5")
	}))
	defer api.Close()
	tests := []struct {
		name, publicURL, hsts string
		want, wantProxied     string
	}{
		{"https public_url, TLS in front", "https://app.example.com", "", "max-age=31536000", "max-age=31536000"},
		{"https public_url, hsts off", "https://app.example.com", "false", "", "max-age=5"},
		{"http public_url", "http://127.0.0.1:8080", "", "", "max-age=5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, "https-front.yaml", map[string]string{"PUBLIC_URL": tt.publicURL, "HSTS": tt.hsts, "API": api.URL})
			_, base := serve(t, cfg, listen(t))
			for path, want := range map[string]string{"/healthz": tt.want, "/api/x": tt.wantProxied} {
				resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.Header.Values("Strict-Transport-Security"); len(got) > 1 || resp.Header.Get("Strict-Transport-Security") != want {
					t.Errorf("GET %s: HSTS = %q, want %q", path, got, want)
				}
			}
		})
	}
	t.Run("include_subdomains over TLS", func(t *testing.T) {
		g := startTLS(t, map[string]string{"HSTS_SUBDOMAINS": "true"})
		c, err := g.dial(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := getOn(t, c, bufio.NewReader(c), "/no-such-route").Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
			t.Errorf("HSTS on a 404 = %q, want max-age=31536000; includeSubDomains", got)
		}
	})
}

// TestHSTSValue renders server.hsts.
func TestHSTSValue(t *testing.T) {
	t.Parallel()
	on, off := true, false
	year := config.Duration(365 * 24 * time.Hour)
	tests := []struct {
		in   config.HSTS
		want string
	}{
		{config.HSTS{Enabled: &on, MaxAge: year}, "max-age=31536000"},
		{config.HSTS{Enabled: &on, MaxAge: config.Duration(90 * time.Second), IncludeSubdomains: true}, "max-age=90; includeSubDomains"},
		{config.HSTS{Enabled: &on, MaxAge: 2 * year, IncludeSubdomains: true, Preload: true}, "max-age=63072000; includeSubDomains; preload"},
		{config.HSTS{Enabled: &off, MaxAge: year}, ""},
		{config.HSTS{}, ""},
	}
	for _, tt := range tests {
		if got := string(hstsValue(tt.in)); got != tt.want {
			t.Errorf("hstsValue(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestTLSSilentClientCutOff: a client that connects and never finishes a
// handshake (or never sends a ClientHello) is cut off after read_timeout,
// so that it cannot hold one of max_connections' places for ever.
func TestTLSSilentClientCutOff(t *testing.T) {
	t.Parallel()
	g := startTLS(t, map[string]string{"READ_TIMEOUT": "300ms", "MAX_CONNS": "1"})
	for _, tt := range []struct {
		name string
		send []byte
	}{
		{"nothing sent", nil},
		{"half a ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := net.DialTimeout("tcp", g.addr, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			// A generous guard, far above read_timeout: only liveness is checked.
			_ = raw.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err = io.ReadAll(raw)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the gateway kept a connection without a handshake open")
			}
			// Its place is free again: a real client is served.
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				c, err := g.dial(t, nil)
				if err == nil {
					c.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no place for a client after the silent one was cut off: %v", err)
				}
			}
		})
	}
}
