package server

import (
	"testing"
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
			cfg := loadConfig(t, "trusted.yaml", map[string]string{"API": api.URL, "TRUSTED": tc.trusted})
			_, base := serve(t, cfg, listen(t))

			status, body := rawRequest(t, base,
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
