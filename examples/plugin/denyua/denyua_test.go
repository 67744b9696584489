package denyua

import (
	"net/http"
	"net/http/httptest"
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
	})
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
			mw, err := New(plugintest.Spec(t, tt.block))
			if err != nil {
				t.Fatalf("New(%q) = %v", tt.block, err)
			}
			hits := 0
			app := plugintest.NewApp(mw, func(c *fiber.Ctx) error { hits++; return c.SendString("ok") }, nil)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("User-Agent", tt.ua)
			if tt.ua == "" {
				req.Header.Del("User-Agent")
			}
			resp, body := plugintest.Do(t, app, req)
			if resp.StatusCode != tt.want {
				t.Errorf("User-Agent %q: status = %d (%s), want %d", tt.ua, resp.StatusCode, body, tt.want)
			}
			if tt.want == http.StatusForbidden && (hits != 0 || body != `{"error":"forbidden"}`) {
				t.Errorf("refused request: upstream calls %d, body %s; want 0 and {\"error\":\"forbidden\"}", hits, body)
			}
		})
	}
}
