package server

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestUnknownPluginSuggestion: a plugin name one typo away from a known one
// gets a "did you mean"; any other unknown name the list of known ones.
func TestUnknownPluginSuggestion(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, want string }{
		{"cach", `routes.yaml:9:7: route "api": unknown plugin "cach" (did you mean "cache"?)`},
		{"rate_limt", `routes.yaml:9:7: route "api": unknown plugin "rate_limt" (did you mean "rate_limit"?)`},
		{"zzz", `routes.yaml:9:7: route "api": unknown plugin "zzz" (known: `},
	} {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "session:\n  secret: \"server-test-secret-server-test-secret-000\"\n" +
				"routes:\n  - name: api\n    prefix: /api\n    upstream: http://127.0.0.1:9\n    auth: none\n    plugins:\n" +
				"      " + tt.name + ": {}\n"
			cfg, err := config.Parse("routes.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = checkPlugins(cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("checkPlugins = %v, want %s…", err, tt.want)
			}
		})
	}
}

// TestCacheToldOfIdentityDependentHeaders: the server hands each plugin the
// Facts of the plugins it wraps (plugins.Spec.Inner), so a public cache
// refuses to load in front of headers whose response rules use a claim,
// whether the route or the defaults block names them, and only then.
func TestCacheToldOfIdentityDependentHeaders(t *testing.T) {
	t.Parallel()
	const refused = `route "api": plugin cache: public: true would serve one user's {claim.*} response headers (plugin headers) to every user`
	for _, tt := range []struct {
		name, defaults, plugins string
		want                    string // "" = loads
	}{
		{"claim response header", "",
			"      cache: {ttl: 1s, public: true}\n      headers: {response: {set: {X-User: \"{claim.sub}\"}}}\n", refused},
		{"from the defaults block", "defaults:\n  plugins:\n    headers: {response: {add: {X-User: \"{claim.sub}\"}}}\n",
			"      cache: {ttl: 1s, public: true}\n", refused},
		{"claim on the request only", "",
			"      cache: {ttl: 1s, public: true}\n      headers: {request: {set: {X-User: \"{claim.sub}\"}}}\n", ""},
		{"private cache", "",
			"      cache: {ttl: 1s}\n      headers: {response: {set: {X-User: \"{claim.sub}\"}}}\n", ""},
		{"no cache", "",
			"      rate_limit: {rate: 1, per: 1s}\n      headers: {response: {set: {X-User: \"{claim.sub}\"}}}\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			yaml := "session:\n  secret: \"server-test-secret-server-test-secret-000\"\n" + tt.defaults +
				"routes:\n  - name: api\n    prefix: /api\n    upstream: http://127.0.0.1:9\n    auth: none\n    plugins:\n" +
				tt.plugins
			cfg, err := config.Parse("routes.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = checkPlugins(cfg)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("checkPlugins = %v, want %q", err, tt.want)
			}
		})
	}
}
