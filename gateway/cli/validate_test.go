package cli

import (
	"os"
	"strings"
	"testing"
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
