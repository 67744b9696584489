package server

import (
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestClientIPBehindTrustedProxies checks that the address plugins and logs
// see is the right-most untrusted X-Forwarded-For entry, and only when the
// peer is a trusted proxy.
func TestClientIPBehindTrustedProxies(t *testing.T) {
	tests := []struct {
		name, trusted, xff, want string
	}{
		{"untrusted peer: its own address", "10.0.0.0/8", "198.51.100.7", "127.0.0.1"},
		{"trusted peer: the client it reports", "127.0.0.1", "198.51.100.7", "198.51.100.7"},
		{"a spoofed left-most entry is ignored", "127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newUpstream(t, "api")
			data, err := os.ReadFile("testdata/trusted.yaml")
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"API": api.URL, "TRUSTED": tc.trusted}
			cfg, err := config.Parse("trusted.yaml", data, config.WithLookupEnv(func(k string) (string, bool) {
				v, ok := env[k]
				return v, ok
			}))
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })

			status, body := rawRequest(t, "http://"+ln.Addr().String(),
				"GET /api/x HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: "+tc.xff+"\r\nConnection: close\r\n\r\n")
			if status != 200 {
				t.Fatalf("status %d %s", status, body)
			}
			got := api.requests()[0].Header.Get("X-Client-Ip")
			if got != tc.want {
				t.Errorf("{request.ip} = %q, want %q", got, tc.want)
			}
		})
	}
}
