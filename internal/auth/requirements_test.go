package auth

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestHasScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claims map[string]any
		scope  string
		want   bool
	}{
		{"scope string", map[string]any{"scope": "openid orders:read"}, "orders:read", true},
		{"scope string, extra spaces", map[string]any{"scope": "  orders:read\topenid "}, "orders:read", true},
		{"scope string lacks it", map[string]any{"scope": "openid orders:write"}, "orders:read", false},
		{"prefix is not the scope", map[string]any{"scope": "orders:readwrite"}, "orders:read", false},
		{"substring is not the scope", map[string]any{"scope": "xorders:read"}, "orders:read", false},
		{"scp list", map[string]any{"scp": []any{"openid", "orders:read"}}, "orders:read", true},
		{"scp list lacks it", map[string]any{"scp": []any{"openid"}}, "orders:read", false},
		{"scp string", map[string]any{"scp": "orders:read"}, "orders:read", true},
		{"scp list of non-strings", map[string]any{"scp": []any{1.0, true}}, "1", false},
		{"scope as list counts", map[string]any{"scope": []any{"orders:read"}}, "orders:read", true},
		{"scope object does not", map[string]any{"scope": map[string]any{"orders:read": true}}, "orders:read", false},
		{"no claim", map[string]any{}, "orders:read", false},
		{"other claim does not count", map[string]any{"roles": "orders:read"}, "orders:read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasScope(tt.claims, tt.scope); got != tt.want {
				t.Errorf("hasScope(%v, %q) = %v, want %v", tt.claims, tt.scope, got, tt.want)
			}
		})
	}
}

func TestClaimMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		claim any
		want  string
		match bool
	}{
		{"equal string", "acme", "acme", true},
		{"different string", "acme-evil", "acme", false},
		{"case matters", "ACME", "acme", false},
		{"list member", []any{"user", "admin"}, "admin", true},
		{"list without it", []any{"user", "administrator"}, "admin", false},
		{"string list member", []string{"admin"}, "admin", true},
		{"nested list does not count", []any{[]any{"admin"}}, "admin", false},
		{"bool", true, "true", true},
		{"bool mismatch", false, "true", false},
		{"number", 42.0, "42", true},
		{"fraction", 1.5, "1.5", true},
		{"json.Number", json.Number("42"), "42", true},
		{"object never matches", map[string]any{"admin": true}, "admin", false},
		{"absent", nil, "admin", false},
		{"list of numbers", []any{1.0, 2.0}, "2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := claimMatches(tt.claim, tt.want); got != tt.match {
				t.Errorf("claimMatches(%#v, %q) = %v, want %v", tt.claim, tt.want, got, tt.match)
			}
		})
	}
}

// TestBearerRequirements: required_scopes and required_claims on a bearer
// route (and an any route taking the bearer path): 403 insufficient_scope,
// nothing forwarded; a token with everything passes.
func TestBearerRequirements(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	token := func(edit func(jwt.MapClaims)) string {
		c := iss.Claims("")
		c["scope"] = "openid orders:read orders:write"
		c["tenant"] = "acme"
		c["roles"] = []string{"user", "admin"}
		if edit != nil {
			edit(c)
		}
		return iss.Sign(c)
	}
	const scopeChallenge = `error="insufficient_scope", scope="orders:read orders:write"`
	tests := []struct {
		name, path, token string
		want              int
		challenge         string // substring of WWW-Authenticate; "" none expected
		msg               string
	}{
		{"all granted", "/scoped/x", token(nil), http.StatusOK, "", ""},
		{"scp list instead of scope", "/scoped/x", token(func(c jwt.MapClaims) {
			delete(c, "scope")
			c["scp"] = []string{"orders:write", "orders:read"}
		}), http.StatusOK, "", ""},
		{"one scope missing", "/scoped/x", token(func(c jwt.MapClaims) { c["scope"] = "openid orders:read" }), http.StatusForbidden, scopeChallenge, msgInsufficientScope},
		{"no scope claim", "/scoped/x", token(func(c jwt.MapClaims) { delete(c, "scope") }), http.StatusForbidden, scopeChallenge, msgInsufficientScope},
		{"scope as a prefix only", "/scoped/x", token(func(c jwt.MapClaims) { c["scope"] = "orders:read:all orders:write" }), http.StatusForbidden, scopeChallenge, msgInsufficientScope},
		{"wrong tenant", "/scoped/x", token(func(c jwt.MapClaims) { c["tenant"] = "other" }), http.StatusForbidden, `error="insufficient_scope"`, msgAccessDenied},
		{"no tenant", "/scoped/x", token(func(c jwt.MapClaims) { delete(c, "tenant") }), http.StatusForbidden, `error="insufficient_scope"`, msgAccessDenied},
		{"role not in list", "/scoped/x", token(func(c jwt.MapClaims) { c["roles"] = []string{"user"} }), http.StatusForbidden, `error="insufficient_scope"`, msgAccessDenied},
		{"role as a string", "/scoped/x", token(func(c jwt.MapClaims) { c["roles"] = "admin" }), http.StatusOK, "", ""},
		{"invalid token is 401 before requirements", "/scoped/x", token(func(c jwt.MapClaims) { c["aud"] = "other" }), http.StatusUnauthorized, `error="invalid_token"`, msgInvalidToken},
		{"any route, bearer path, granted", "/any-scoped/x", token(nil), http.StatusOK, "", ""},
		{"any route, bearer path, scope missing", "/any-scoped/x", token(func(c jwt.MapClaims) { c["scope"] = "openid" }), http.StatusForbidden, `scope="orders:read"`, msgInsufficientScope},
		{"any route, bearer path, claim missing", "/any-scoped/x", token(func(c jwt.MapClaims) { delete(c, "tenant") }), http.StatusForbidden, `error="insufficient_scope"`, msgAccessDenied},
	}
	plain := &http.Client{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.hitCount()
			r := doWith(t, plain, http.MethodGet, h.url+tt.path, nil, "Authorization", "Bearer "+tt.token)
			body := readBody(t, r)
			if r.StatusCode != tt.want || !strings.Contains(body, tt.msg) {
				t.Fatalf("GET %s = %d %s, want %d %q", tt.path, r.StatusCode, body, tt.want, tt.msg)
			}
			got := r.Header.Get("WWW-Authenticate")
			if tt.challenge != "" && !strings.Contains(got, tt.challenge) || tt.challenge == "" && got != "" {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if forwarded := h.hitCount() != before; forwarded != (tt.want == http.StatusOK) {
				t.Errorf("forwarded = %v, want %v", forwarded, tt.want == http.StatusOK)
			}
		})
	}
}

// TestSessionRequirements: required_claims apply to the session's ID token
// claims (403, no challenge, nothing forwarded); required_scopes do not
// apply to a session on an auth: any route.
func TestSessionRequirements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		claims     map[string]any
		path       string
		want       int
		wantDenied bool
	}{
		{"admin role in list", map[string]any{"roles": []string{"user", "admin"}}, "/admin/x", http.StatusOK, false},
		{"admin role as string", map[string]any{"roles": "admin"}, "/admin/x", http.StatusOK, false},
		{"no admin role", map[string]any{"roles": []string{"user"}}, "/admin/x", http.StatusForbidden, true},
		{"no roles claim", nil, "/admin/x", http.StatusForbidden, true},
		{"any route: session not scope-checked", map[string]any{"tenant": "acme"}, "/any-scoped/x", http.StatusOK, false},
		{"any route: session claim checked", map[string]any{"tenant": "evil"}, "/any-scoped/x", http.StatusForbidden, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
			r := callbackWith(t, iss, h, nil, func(n string) string {
				c := iss.Claims(n)
				for k, v := range tt.claims {
					c[k] = v
				}
				return iss.Sign(c)
			})
			if r.StatusCode != http.StatusFound {
				t.Fatalf("login = %d %s", r.StatusCode, readBody(t, r))
			}
			r = h.do(http.MethodGet, tt.path, nil, "X-CSRF", "1")
			body := readBody(t, r)
			if r.StatusCode != tt.want {
				t.Fatalf("GET %s = %d %s, want %d", tt.path, r.StatusCode, body, tt.want)
			}
			if tt.wantDenied {
				if !strings.Contains(body, msgAccessDenied) || r.Header.Get("WWW-Authenticate") != "" {
					t.Errorf("denied session = %s with WWW-Authenticate %q, want %q and no challenge", body, r.Header.Get("WWW-Authenticate"), msgAccessDenied)
				}
				if h.hitCount() != 0 {
					t.Error("denied session request was forwarded")
				}
			}
		})
	}
}

// FuzzHasScope: a "scope" string grants exactly its whitespace-separated
// tokens.
func FuzzHasScope(f *testing.F) {
	f.Add("openid orders:read", "orders:read")
	f.Add("  a\tb\nc ", "b")
	f.Add("orders:readwrite", "orders:read")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, scope, want string) {
		got := hasScope(map[string]any{"scope": scope}, want)
		if exp := slices.Contains(strings.Fields(scope), want); got != exp {
			t.Fatalf("hasScope(scope=%q, %q) = %v, want %v", scope, want, got, exp)
		}
	})
}
