package denyua

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
)

func TestRegistered(t *testing.T) {
	p, ok := plugins.Lookup(Name)
	if !ok || p.Phase >= plugins.PhaseAdmission {
		t.Errorf("Lookup(%q) = %+v, %v; want registered before PhaseAdmission", Name, p, ok)
	}
}

func TestNewRejects(t *testing.T) {
	plugintest.CheckLoadErrors(t, New, []plugintest.LoadError{
		{Name: "nothing to deny", Block: "deny_empty: false", Want: "contains needs at least one substring", Pos: "routes.yaml:1:1:"},
		{Name: "empty needle", Block: "contains: [sqlmap, \"\"]", Want: "contains[1] is empty", Pos: "routes.yaml:1:1:"},
		{Name: "unknown key", Block: "contain: [x]", Want: "contain", Pos: "routes.yaml:1:1:"},
		{Name: "block_for too short", Block: "{contains: [x], block_for: 500ms}", Want: "block_for must be at least 1s, got 500ms", Pos: "routes.yaml:1:17:"},
		{Name: "block_for not a duration", Block: "{contains: [x], block_for: 10}", Want: `want a duration like "30s", got "10"`, Pos: "routes.yaml:1:28:"},
		{Name: "every problem at once", Block: "{contains: [\"\"], block_for: 1ms}", Want: "contains[0] is empty", Pos: "routes.yaml:1:2:",
			Also: []string{"routes.yaml:1:18: route \"test\": plugin: block_for must be at least 1s, got 1ms"}},
	})
}

// TestCheckOpensNothing: under Check (gatehouse validate) New validates and
// asks for no backend; otherwise a backend it cannot open fails New.
func TestCheckOpensNothing(t *testing.T) {
	for _, check := range []bool{true, false} {
		spec := plugintest.Spec(t, "{contains: [sqlmap], block_for: 1m}")
		spec.Backends, spec.Check = plugintest.Refusing{}, check
		_, err := New(spec)
		if check && err != nil {
			t.Errorf("New under Check = %v, want nil (no backend asked for)", err)
		}
		if !check && (err == nil || !strings.Contains(err.Error(), plugintest.ErrRefused.Error())) {
			t.Errorf("New on a refusing backend = %v, want %v", err, plugintest.ErrRefused)
		}
	}
}

// TestBlockFor: once a client is caught, its next requests are refused
// whatever their User-Agent; without block_for they are not.
func TestBlockFor(t *testing.T) {
	tests := []struct {
		name  string
		block string
		want  []int // statuses of: a browser, the scanner, the browser again
		hits  int   // requests that reached the upstream
	}{
		{name: "blocked", block: "{contains: [sqlmap], block_for: 1m}", want: []int{200, 403, 403}, hits: 1},
		{name: "not blocked", block: "{contains: [sqlmap]}", want: []int{200, 403, 200}, hits: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, hits := newApp(t, tt.block)
			var got []int
			for _, ua := range []string{"Mozilla/5.0", "sqlmap/1.7", "Mozilla/5.0"} {
				status, _ := get(t, app, ua)
				got = append(got, status)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("statuses = %v, want %v", got, tt.want)
			}
			if *hits != tt.hits {
				t.Errorf("upstream calls = %d, want %d", *hits, tt.hits)
			}
		})
	}
}

func TestDeny(t *testing.T) {
	tests := []struct {
		name, block, ua string
		want            int
	}{
		{name: "match", block: "contains: [sqlmap]", ua: "sqlmap/1.7", want: http.StatusForbidden},
		{name: "case-insensitive", block: "contains: [SQLMap]", ua: "Mozilla SQLMAP", want: http.StatusForbidden},
		{name: "no match", block: "contains: [sqlmap]", ua: "Mozilla/5.0", want: http.StatusOK},
		{name: "empty allowed", block: "contains: [sqlmap]", ua: "", want: http.StatusOK},
		{name: "empty denied", block: "deny_empty: true", ua: "", want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, hits := newApp(t, tt.block)
			status, body := get(t, app, tt.ua)
			if status != tt.want {
				t.Errorf("User-Agent %q: status = %d (%s), want %d", tt.ua, status, body, tt.want)
			}
			if tt.want == http.StatusForbidden && (*hits != 0 || body != `{"error":"forbidden"}`) {
				t.Errorf("refused request: upstream calls %d, body %s; want 0 and {\"error\":\"forbidden\"}", *hits, body)
			}
		})
	}
}

// newApp runs the plugin built from block in front of an upstream that
// counts its requests in *hits.
func newApp(t *testing.T, block string) (app *fiber.App, hits *int) {
	t.Helper()
	mw, err := New(plugintest.Spec(t, block))
	if err != nil {
		t.Fatalf("New(%q) = %v", block, err)
	}
	hits = new(int)
	return plugintest.NewApp(mw, func(c *fiber.Ctx) error { *hits++; return c.SendString("ok") }, nil), hits
}

// get sends a GET with User-Agent ua (none when empty) through app.
func get(t *testing.T, app *fiber.App, ua string) (status int, body string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("User-Agent", ua)
	if ua == "" {
		req.Header.Del("User-Agent")
	}
	resp, body := plugintest.Do(t, app, req)
	return resp.StatusCode, body
}
