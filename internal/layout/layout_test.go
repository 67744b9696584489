package layout

import (
	"bytes"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

const (
	module     = "github.com/gatehouse-dev/gatehouse/"
	beginGraph = "<!-- import graph (go test ./internal/layout checks it) -->"
	endGraph   = "<!-- end of import graph -->"
)

// drawn reports whether a package belongs in the drawing: the gateway's own
// packages, not the benchmarks, examples, browser test, compose check or
// the helpers that exist only for tests.
func drawn(pkg string) bool {
	for _, skip := range []string{"bench/", "examples/", "e2e", "deploy", "internal/layout"} {
		if strings.HasPrefix(pkg, skip) {
			return false
		}
	}
	return !strings.HasSuffix(path.Base(pkg), "test")
}

// graph returns the drawing of the module's import graph as `go list`
// reports it: one line per package, "pkg → the module packages it imports".
func graph(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		if !drawn(pkg) {
			continue
		}
		var deps []string
		for _, imp := range fields[1:] {
			if dep, ok := strings.CutPrefix(imp, module); ok && drawn(dep) {
				deps = append(deps, dep)
			}
		}
		slices.Sort(deps)
		if len(deps) == 0 {
			deps = []string{"(nothing of gatehouse)"}
		}
		lines = append(lines, pkg+" → "+strings.Join(deps, ", "))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestREADMEImportGraph: the README's import graph is the one go list reports.
func TestREADMEImportGraph(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(readme, []byte(beginGraph))
	if !ok {
		t.Fatalf("README.md has no %q marker", beginGraph)
	}
	block, _, ok := bytes.Cut(rest, []byte(endGraph))
	if !ok {
		t.Fatalf("README.md has no %q marker", endGraph)
	}
	got := strings.TrimSpace(strings.Trim(strings.TrimSpace(string(block)), "`"))
	if want := graph(t); got != want {
		t.Errorf("the README's import graph differs from go list; replace it with:\n```\n%s\n```", want)
	}
}
