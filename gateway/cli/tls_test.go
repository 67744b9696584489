package cli

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/gatehouse-dev/gatehouse/internal/tlstest"
)

// freeAddr returns a loopback address nothing listens on (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The gateway as run from the command line with server.tls and
// server.redirect_http: HTTPS on listen, 308 on the redirect address, and
// SIGHUP re-reading the certificate files (a bad pair refused, logged, the
// running certificate kept).
func TestRunHTTPSAndSIGHUPCertificates(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	ca.Issue(t, 1, "127.0.0.1").Write(t, dir)
	addr, redirect := freeAddr(t), freeAddr(t)
	path := filepath.Join(dir, "routes.yaml")
	cfg := fmt.Sprintf("server:\n  listen: %q\n  public_url: \"https://%s\"\n  redirect_http: %q\n"+
		"  tls: {cert_file: cert.pem, key_file: key.pem}\n"+ // relative to the config file
		"session: {secret: cli-tls-test-secret-cli-tls-test-secret-0123}\nroutes: []\n", addr, addr, redirect)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr logtest.Buffer
	code := make(chan int, 1)
	go func() { code <- Main([]string{"-config", path}, &stdout, &stderr) }()

	client := &http.Client{Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	eventually(t, "the gateway answers over https", func() bool {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 && resp.Header.Get("Strict-Transport-Security") != ""
	})
	resp, err := client.Get("http://" + redirect + "/app?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://" + addr + "/app?x=1"; resp.StatusCode != 308 || resp.Header.Get("Location") != want {
		t.Errorf("redirect_http answered %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// A renewal caught half-written: the key of another certificate.
	bad := ca.Issue(t, 2, "127.0.0.1")
	bad.KeyPEM = ca.Issue(t, 3, "127.0.0.1").KeyPEM
	bad.Write(t, dir)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SIGHUP refuses the bad pair", func() bool {
		return strings.Contains(stdout.String(), "tls certificate reload refused")
	})
	// The unchanged file, server.tls included, still reloads its routes.
	eventually(t, "the routes are reloaded", func() bool { return strings.Contains(stdout.String(), "config reloaded") })
	// A container's health probe of its own TLS listener.
	if code, _, errs := gatehouse("healthcheck", "-url", "https://"+addr+"/healthz"); code != 0 {
		t.Errorf("healthcheck over https on loopback = %d %s, want 0", code, errs)
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("handshake after the refused reload: %v", err)
	}
	if serial := c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); serial != 1 {
		t.Errorf("after a refused reload the certificate's serial is %d, want the running 1", serial)
	}
	c.Close()

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := <-code; c != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; stderr: %s", c, stderr.String())
	}
}

// TestLoopbackHTTPS: only https to a loopback address skips certificate
// verification in healthcheck.
func TestLoopbackHTTPS(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{"https://127.0.0.1:8443/readyz", true},
		{"https://127.9.9.9/readyz", true},
		{"https://[::1]:443/readyz", true},
		{"https://LOCALHOST/readyz", true},
		{"http://127.0.0.1:8080/readyz", false},
		{"https://app.example.com/readyz", false},
		{"https://127.0.0.1.evil.example/readyz", false},
		{"https://10.0.0.1/readyz", false},
		{"https://localhost.evil.example/", false},
		{"::not a url", false},
	}
	for _, tt := range tests {
		if got := loopbackHTTPS(tt.url); got != tt.want {
			t.Errorf("loopbackHTTPS(%q) = %v, want %v", tt.url, got, tt.want)
		}
	}
}
