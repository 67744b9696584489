package server

import (
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func TestStaticRouteBesideAPI(t *testing.T) {
	api := newUpstream(t, "api")
	data, err := os.ReadFile("testdata/static.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("static.yaml", data, config.WithLookupEnv(func(k string) (string, bool) {
		return api.URL, k == "API"
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
	base := "http://" + ln.Addr().String()

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
