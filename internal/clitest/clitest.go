// Package clitest helps the tests that run gatehouse's command line, in
// process (gateway/cli) or as a built binary (cmd/gatehouse), on a config
// file they rewrite while it runs.
package clitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Routes is a routes.yaml in a test's temporary directory: a gateway
// listening on 127.0.0.1:0 (a port the system picks when the gateway binds:
// read it from the start-up line, see Started) with one route, auth none, to
// an upstream that answers 200 to everything, under a prefix Write changes.
type Routes struct {
	Path     string
	upstream string
	t        testing.TB
}

// StartLine is the gateway's start-up log line ("gatehouse listening").
type StartLine struct {
	// Listen is the address bound, the port chosen.
	Listen                string
	Version, Revision, Go string
	PID                   int
}

// Started returns the start-up line of log, a gateway's JSON log so far;
// ok is false until the line has been written.
func Started(log string) (line StartLine, ok bool) {
	for l := range strings.Lines(log) {
		if strings.Contains(l, `"msg":"gatehouse listening"`) {
			return line, json.Unmarshal([]byte(l), &line) == nil
		}
	}
	return line, false
}

// NewRoutes writes the file with the route at prefix. The upstream stops at
// the end of the test.
func NewRoutes(t testing.TB, prefix string) *Routes {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(up.Close)
	r := &Routes{Path: filepath.Join(t.TempDir(), "routes.yaml"), upstream: up.URL, t: t}
	r.Write(prefix)
	return r
}

// Write rewrites the file with the route at prefix.
func (r *Routes) Write(prefix string) {
	r.t.Helper()
	cfg := fmt.Sprintf("server: {listen: \"127.0.0.1:0\", public_url: \"http://gatehouse.test\"}\nsession: {secret: clitest-secret-clitest-secret-clitest-0123}\n"+
		"routes:\n  - {name: r, prefix: %s, upstream: %q, auth: none}\n", prefix, r.upstream)
	if err := os.WriteFile(r.Path, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
}
