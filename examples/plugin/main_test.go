package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/gateway/cli"
)

// TestValidate runs the real command line with the example plugin linked in:
// the example config passes, and the plugin's own errors come out positioned
// beside the built-in plugins'.
func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		wantCode int
		wantOut  []string
	}{
		{name: "example config", file: "routes.yaml", wantCode: 0, wantOut: []string{"routes.yaml: ok"}},
		{name: "bad config", file: "testdata/bad.yaml", wantCode: 1, wantOut: []string{
			`testdata/bad.yaml:13:7: route "catalog": plugin deny_user_agent: contains needs at least one substring`,
			`testdata/bad.yaml:15:25: route "catalog": plugin headers: request set: header Authorization cannot be changed`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Main([]string{"validate", "-config", tt.file}, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tt.wantCode {
				t.Errorf("validate %s: exit %d, want %d; output:\n%s", tt.file, code, tt.wantCode, out)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("validate %s: output\n%s\nwant a line containing %q", tt.file, out, want)
				}
			}
		})
	}
}
