package cli

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
)

// TestValidateReportsEachProblemOnce runs `gatehouse validate` on a file with
// a key typo, several problems in each plugin block and a session.store the
// Redis client cannot use (shared by two routes' rate_limit and cache), and
// compares stderr with testdata/every_problem.golden: each problem once, the
// store's on its own line and never the URL or its password.
func TestValidateReportsEachProblemOnce(t *testing.T) {
	t.Setenv("SESSION_SECRET", "0123456789abcdef0123456789abcdef-cli-test")
	code, out, errs := gatehouse("validate", "-config", "testdata/every_problem.yaml")
	if code != 1 || out != "" {
		t.Fatalf("validate every_problem.yaml = %d, stdout %q; want 1 and nothing on stdout", code, out)
	}
	for _, leak := range []string{"s3cretpw", "xxxxx", "redis.internal"} {
		if strings.Contains(errs, leak) {
			t.Errorf("validate repeats the store URL (%q) in:\n%s", leak, errs)
		}
	}
	want, err := os.ReadFile("testdata/every_problem.golden")
	if err != nil {
		t.Fatal(err)
	}
	if errs != string(want) {
		t.Errorf("validate every_problem.yaml printed\n%s\nwant\n%s", errs, want)
	}
}

// TestValidateStartsNothing runs `gatehouse validate` on configs whose
// rate_limit and cache plugins would each build a backend (a janitor
// goroutine on the memory store, a Redis client on a real redis-server):
// validate checks every block and leaves no goroutine behind and no
// connection opened. The goroutines are counted as validate returns, before
// anything it started could have ended.
func TestValidateStartsNothing(t *testing.T) {
	rs := redistest.New(t)
	probe := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = probe.Close() })
	connections := func() string {
		t.Helper()
		info, err := probe.Info(t.Context(), "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(line, "total_connections_received:"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("INFO stats has no total_connections_received:\n%s", info)
		return ""
	}
	for _, tt := range []struct{ name, store string }{
		{"memory", "memory"},
		{"redis", rs.URL(0)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "routes.yaml")
			yaml := "session:\n  secret: \"cli-test-secret-cli-test-secret-cli-test-0\"\n  store: \"" + tt.store + "\"\n" +
				"defaults:\n  plugins:\n    rate_limit: {rate: 10}\n    cache: {ttl: 5s}\nroutes:\n"
			for _, name := range []string{"a", "b", "c"} {
				yaml += "  - {name: " + name + ", prefix: /" + name + ", upstream: \"http://127.0.0.1:9\", auth: none}\n"
			}
			if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			conns := connections()
			before := runtime.NumGoroutine()
			code, out, errs := gatehouse("validate", "-config", path)
			after := runtime.NumGoroutine()
			if code != 0 || errs != "" {
				t.Fatalf("validate = %d, stdout %q, stderr %q; want 0 and no problem", code, out, errs)
			}
			if after > before {
				buf := make([]byte, 1<<20)
				t.Errorf("validate left %d goroutines running (%d before, %d after):\n%s",
					after-before, before, after, buf[:runtime.Stack(buf, true)])
			}
			if got := connections(); got != conns {
				t.Errorf("redis-server accepted connections during validate: total_connections_received %s, then %s", conns, got)
			}
		})
	}
}
