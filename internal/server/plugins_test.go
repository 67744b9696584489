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
