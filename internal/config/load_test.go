package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/errors")

// testSecret is a valid session secret; tests check it is never echoed.
const testSecret = "0123456789abcdef0123456789abcdef-test-secret"

// env is the environment every fixture is loaded with.
func env(extra ...string) LookupEnv {
	vars := map[string]string{
		"SESSION_SECRET":     testSecret,
		"OIDC_CLIENT_SECRET": "client-s3cret",
		"EMPTY":              "",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// TestLoadErrors loads each testdata/errors/*.yaml and compares the problems
// reported with NAME.golden (go test -run TestLoadErrors -update rewrites them).
func TestLoadErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(file, WithLookupEnv(env()))
			if err == nil {
				t.Fatalf("Load(%s) = %+v, nil; want errors", file, cfg)
			}
			// A partial config may come with validation problems (for the
			// plugin checks of `gatehouse validate`), never with a parse failure.
			_ = cfg
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Load(%s) error %T, want an ErrorList", file, err)
			}
			for i := 1; i < len(list); i++ {
				if a, b := list[i-1], list[i]; a.Line > b.Line || (a.Line == b.Line && a.Col > b.Col) {
					t.Errorf("Load(%s) errors not sorted: %v before %v", file, a, b)
				}
			}
			got := err.Error() + "\n"
			if strings.Contains(got, testSecret) {
				t.Errorf("Load(%s) error echoes the session secret", file)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("Load(%s) errors =\n%s\nwant\n%s", file, got, want)
			}
		})
	}
}
