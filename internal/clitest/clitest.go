// Package clitest helps the tests that run gatehouse's command line, in
// process (gateway/cli) or as a built binary (cmd/gatehouse), on a config
// file they rewrite while it runs.
package clitest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// Routes is a routes.yaml in a test's temporary directory: a gateway
// listening on Addr (a free loopback address) with one route, auth none, to
// an upstream that answers 200 to everything, under a prefix Write changes.
type Routes struct {
	Path, Addr string
	upstream   string
	t          testing.TB
}

// NewRoutes writes the file with the route at prefix. The upstream stops at
// the end of the test.
func NewRoutes(t testing.TB, prefix string) *Routes {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &Routes{Path: filepath.Join(t.TempDir(), "routes.yaml"), Addr: addr, upstream: up.URL, t: t}
	r.Write(prefix)
	return r
}

// Write rewrites the file with the route at prefix.
func (r *Routes) Write(prefix string) {
	r.t.Helper()
	cfg := fmt.Sprintf("server: {listen: %q}\nsession: {secret: clitest-secret-clitest-secret-clitest-0123}\n"+
		"routes:\n  - {name: r, prefix: %s, upstream: %q, auth: none}\n", r.Addr, prefix, r.upstream)
	if err := os.WriteFile(r.Path, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
}
