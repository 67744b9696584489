package server

import (
	"strings"
	"testing"
)

func TestStaticRouteBesideAPI(t *testing.T) {
	t.Parallel()
	api := newUpstream(t, "api")
	cfg := loadConfig(t, "static.yaml", map[string]string{"API": api.URL})
	_, base := serve(t, cfg, listen(t))

	tests := []struct {
		name, path string
		wantStatus int
		wantBody   string
	}{
		{"index", "/", 200, "hello spa"},
		{"client-side route falls back to index", "/orders/7", 200, "hello spa"},
		{"hashed asset", "/assets/app.3f9a1c2b.js", 200, "console.log"},
		{"missing asset is not the index", "/assets/app.000.js", 404, ""},
		{"dotfile", "/.env", 404, ""},
		{"traversal is normalised away (a client route, so the index)", "/assets/../../../../etc/passwd", 200, "hello spa"},
		{"api still routed", "/api/x", 200, `"upstream":"api"`},
		{"api traversal into the SPA stays in the SPA", "/api/../orders", 200, "hello spa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawRequest(t, base, "GET "+tc.path+" HTTP/1.1\r\nHost: gw\r\nAccept: text/html\r\nConnection: close\r\n\r\n")
			if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Errorf("GET %s = %d %.80q, want %d containing %q", tc.path, status, body, tc.wantStatus, tc.wantBody)
			}
			if strings.Contains(body, "SECRET") || strings.Contains(body, "root:") {
				t.Errorf("GET %s leaked a file: %.80q", tc.path, body)
			}
		})
	}
}
