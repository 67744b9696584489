package server

import (
	"bufio"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tlstest"
)

// TestACMEWiring checks what can be checked of server.tls.acme without a
// CA: the TLS listener serves the certificate autocert holds in cache_dir
// and offers acme-tls/1 (TLS-ALPN-01), a handshake for a name outside
// domains never reaches the CA, and the redirect listener hands
// /.well-known/acme-challenge/ to autocert (HTTP-01) and nothing else.
func TestACMEWiring(t *testing.T) {
	t.Parallel()
	var caCalls atomic.Int64
	stubCA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caCalls.Add(1)
		http.Error(w, "no CA here", http.StatusServiceUnavailable)
	}))
	defer stubCA.Close()

	// What autocert stores after obtaining a certificate: the key, then
	// the chain, under the domain's name; an HTTP-01 token under TOKEN+http-01.
	ca := tlstest.NewCA(t)
	leaf := ca.Issue(t, 7, "app.example.com")
	cache := t.TempDir()
	for name, data := range map[string][]byte{
		"app.example.com": append(append([]byte{}, leaf.KeyPEM...), leaf.CertPEM...),
		"tok-123+http-01": []byte("tok-123.key-authorization"),
	} {
		if err := os.WriteFile(filepath.Join(cache, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(loadConfig(t, "acme.yaml", map[string]string{"CACHE_DIR": cache, "CA_URL": stubCA.URL}),
		Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, rln := listen(t), listen(t)
	go func() { _ = srv.Serve(ln) }()
	go func() { _ = srv.ServeRedirect(rln) }()
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })

	if !slices.Contains(srv.https.tls.NextProtos, "acme-tls/1") {
		t.Errorf("NextProtos = %v: TLS-ALPN-01 (acme-tls/1) is not offered", srv.https.tls.NextProtos)
	}
	dial := func(name string) (*tls.Conn, error) {
		d := &net.Dialer{Timeout: 10 * time.Second}
		return tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: name})
	}

	t.Run("a name outside domains", func(t *testing.T) {
		if c, err := dial("evil.example"); err == nil {
			c.Close()
			t.Fatal("handshake for evil.example succeeded")
		}
		if n := caCalls.Load(); n != 0 {
			t.Errorf("a handshake for a name outside domains made %d calls to the CA", n)
		}
	})
	t.Run("the cached certificate", func(t *testing.T) {
		c, err := dial("app.example.com")
		if err != nil {
			t.Fatalf("handshake for app.example.com: %v", err)
		}
		defer c.Close()
		if serial := c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); serial != 7 {
			t.Errorf("served serial %d, want 7 from cache_dir", serial)
		}
	})

	tests := []struct {
		name, path, host string
		wantStatus       int
		wantBody         string // or Location for 308
	}{
		{"challenge token", "/.well-known/acme-challenge/tok-123", "app.example.com", 200, "tok-123.key-authorization"},
		// autocert's own refusals quote the Host; the client gets gatehouse's text.
		{"challenge for another host", "/.well-known/acme-challenge/tok-123", "evil.example", 403, `{"error":"forbidden"}`},
		{"unknown token", "/.well-known/acme-challenge/nope", "app.example.com", 404, `{"error":"not found"}`},
		{"account key is not a token", "/.well-known/acme-challenge/acme_account+key", "app.example.com", 404, `{"error":"not found"}`},
		{"anything else", "/.well-known/other", "app.example.com", 308, "https://app.example.com/.well-known/other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", rln.Addr().String(), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.WriteString(c, "GET "+tt.path+" HTTP/1.1\r\nHost: "+tt.host+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := string(body)
			if resp.StatusCode == 308 {
				got = resp.Header.Get("Location")
			}
			if resp.StatusCode != tt.wantStatus || (tt.wantBody != "" && got != tt.wantBody) {
				t.Errorf("GET %s (Host %s) = %d %q, want %d %q", tt.path, tt.host, resp.StatusCode, strings.TrimSpace(got), tt.wantStatus, tt.wantBody)
			}
		})
	}
}
