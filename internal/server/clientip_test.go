package server

import (
	"testing"
)

// TestClientIPBehindTrustedProxies checks that the address plugins and logs
// see is the right-most untrusted X-Forwarded-For entry, and only when the
// peer is a trusted proxy.
func TestClientIPBehindTrustedProxies(t *testing.T) {
	t.Parallel()
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

// TestMetricsOnlyForAllowedNetworks: /metrics names routes and upstream
// targets, so it is served only to server.metrics_from.
func TestMetricsOnlyForAllowedNetworks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, trusted, xff string
		want               int
	}{
		{"loopback peer outside metrics_from", "192.0.2.1", "", 404},
		{"client behind a trusted proxy inside metrics_from", "127.0.0.1", "10.1.2.3", 200},
		{"client behind a trusted proxy outside metrics_from", "127.0.0.1", "203.0.113.5", 404},
		{"spoofed xff from an untrusted peer", "192.0.2.1", "10.1.2.3", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newUpstream(t, "api")
			cfg := loadConfig(t, "metrics.yaml", map[string]string{"API": api.URL, "TRUSTED": tc.trusted})
			_, base := serve(t, cfg, listen(t))
			req := "GET /metrics HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
			if tc.xff != "" {
				req += "X-Forwarded-For: " + tc.xff + "\r\n"
			}
			if status, _ := rawRequest(t, base, req+"\r\n"); status != tc.want {
				t.Errorf("GET /metrics = %d, want %d", status, tc.want)
			}
		})
	}
}
