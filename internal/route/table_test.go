package route

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func testRoutes() []config.Route {
	return []config.Route{
		{Name: "web", Prefix: "/"},
		{Name: "api", Prefix: "/api"},
		{Name: "users", Prefix: "/api/users"},
		{Name: "public", Prefix: "/api/public"},
		{Name: "admin", Prefix: "/api/users/admin"},
	}
}

func TestMatch(t *testing.T) {
	tab := NewTable(testRoutes())
	tests := []struct {
		name, path, want string
	}{
		{"exact", "/api/users", "users"},
		{"trailing slash", "/api/users/", "users"},
		{"child", "/api/users/7", "users"},
		{"not a segment boundary", "/api/usersX", "api"},
		{"longest wins", "/api/users/admin/x", "admin"},
		{"longer name is not a child", "/api/users/adminX", "users"},
		{"prefix declared with trailing slash", "/api/public", "public"},
		{"root matches all", "/static/app.js", "web"},
		{"root itself", "/", "web"},
		{"api itself", "/api", "api"},
		{"apix goes to root", "/apix", "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tab.Match([]byte(tt.path))
			if e == nil || e.Route.Name != tt.want {
				t.Errorf("Match(%q) = %v, want route %q", tt.path, entryName(e), tt.want)
			}
		})
	}
}

// TestMatchAfterNormalize walks the attack paths of the issue through both
// steps, as the server does: they must land on the users route, never on
// public.
func TestMatchAfterNormalize(t *testing.T) {
	tab := NewTable(testRoutes())
	for _, raw := range []string{
		"/api/public/../users",
		"/api/public/%2e%2e/users",
		"/api/public/..%2fusers",
		"/api/public/%2E%2E%2Fusers",
		"/api/public/..\\users",
		"//api//users",
		"/api/%75sers",
	} {
		t.Run(raw, func(t *testing.T) {
			p, ok := Normalize(nil, []byte(raw))
			if !ok {
				t.Fatalf("Normalize(%q) refused it", raw)
			}
			if e := tab.Match(p); e == nil || e.Route.Name != "users" {
				t.Errorf("Match(Normalize(%q) = %q) = %v, want route %q", raw, p, entryName(e), "users")
			}
		})
	}
}

func TestMatchNoRoute(t *testing.T) {
	tab := NewTable([]config.Route{{Name: "users", Prefix: "/api/users"}})
	for _, p := range []string{"/", "/api", "/api/usersX", "/other"} {
		if e := tab.Match([]byte(p)); e != nil {
			t.Errorf("Match(%q) = %q, want nil", p, e.Route.Name)
		}
	}
}

func TestMatchKeepsIndex(t *testing.T) {
	routes := testRoutes()
	tab := NewTable(routes)
	e := tab.Match([]byte("/api/users/1"))
	if e == nil || e.Index != 2 || e.Route != &routes[2] {
		t.Errorf("Match(/api/users/1) = %+v, want Index 2 pointing at routes[2]", e)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tab := NewTable(testRoutes())
	path := []byte("/api/users/admin/42")
	allocs := testing.AllocsPerRun(1000, func() {
		if tab.Match(path) == nil {
			t.Fatal("no match")
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per call, want 0", allocs)
	}
}

func TestTrimPrefix(t *testing.T) {
	tests := []struct{ path, prefix, want string }{
		{"/api/users/7", "/api/users", "/7"},
		{"/api/users", "/api/users", "/"},
		{"/api/users/", "/api/users", "/"},
		{"/x/y", "/", "/x/y"},
		{"/", "/", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.path+"-"+tt.prefix, func(t *testing.T) {
			if got := TrimPrefix([]byte(tt.path), tt.prefix); string(got) != tt.want {
				t.Errorf("TrimPrefix(%q, %q) = %q, want %q", tt.path, tt.prefix, got, tt.want)
			}
		})
	}
}

func entryName(e *Entry) string {
	if e == nil {
		return "<nil>"
	}
	return e.Route.Name
}

func BenchmarkMatch(b *testing.B) {
	routes := make([]config.Route, 0, 40)
	for _, svc := range []string{"users", "orders", "billing", "catalog", "search", "reviews", "cart", "auth"} {
		for _, sub := range []string{"", "/v1", "/v2", "/admin", "/internal"} {
			routes = append(routes, config.Route{Name: svc + sub, Prefix: "/api/" + svc + sub})
		}
	}
	routes = append(routes, config.Route{Name: "web", Prefix: "/"})
	tab := NewTable(routes)
	path := []byte("/api/reviews/v2/items/1234")
	b.ReportAllocs()
	for b.Loop() {
		if tab.Match(path) == nil {
			b.Fatal("no match")
		}
	}
}
