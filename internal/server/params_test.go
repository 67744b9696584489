package server

import (
	"encoding/json"
	"testing"
)

// TestPathParameters: a segment holding ';' or %3B is refused (400) unless
// the route the path names to a servlet container (each segment cut at its
// ';') opts in with allow_path_params; such a route gets the path as sent.
// "/app/admin;x/users" must never reach /app's upstream: Tomcat, Jetty and
// Spring would serve it as /app/admin/users, under /app/admin's rules.
func TestPathParameters(t *testing.T) {
	t.Parallel()
	app, admin, legacy := newUpstream(t, "app"), newUpstream(t, "admin"), newUpstream(t, "legacy")
	cfg := loadConfig(t, "params.yaml", map[string]string{"APP": app.URL, "ADMIN": admin.URL, "LEGACY": legacy.URL})
	_, base := serve(t, cfg, listen(t))
	tests := []struct {
		path     string
		status   int
		upstream string // when 200: who got it, and the path it saw
		got      string
	}{
		{"/app/admin;x/users", 400, "", ""},
		{"/app/admin%3Bx/users", 400, "", ""},
		{"/app/admin%3bx/users", 400, "", ""},
		{"/app/;x/admin/users", 400, "", ""},
		{"/app/page;jsessionid=1", 400, "", ""},
		{"/app;x/admin", 400, "", ""},
		{"/auth;x/login", 400, "", ""},
		{"/metrics;x", 400, "", ""},
		{"/nowhere;x", 400, "", ""},
		{"/legacy;x/a", 400, "", ""}, // the prefix itself must stand as sent
		{"/legacy/a;x/b", 200, "legacy", "/legacy/a;x/b"},
		{"/legacy/a%3Bx/b;y=1", 200, "legacy", "/legacy/a%3Bx/b;y=1"},
		{"/legacy-strip/a;x/b", 200, "legacy", "/a;x/b"},
		{"/app/admin/users", 200, "admin", "/app/admin/users"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := rawRequest(t, base, get(tt.path))
			if status != tt.status {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, status, body, tt.status)
			}
			if status != 200 {
				if msg := errorOf(t, body); msg != "invalid request path" {
					t.Errorf("error %q", msg)
				}
				return
			}
			var got struct{ Upstream, Path string }
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Upstream != tt.upstream || got.Path != tt.got {
				t.Errorf("forwarded to %s as %q, want %s as %q", got.Upstream, got.Path, tt.upstream, tt.got)
			}
		})
	}
	if n := len(app.requests()); n != 0 {
		t.Errorf("the public parent route's upstream got %d requests with parameters", n)
	}
}
