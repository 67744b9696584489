// Command oplogin serves the benchmarks' authenticated runs: `oplogin op`
// runs the development OpenID Provider (internal/devop), with long-lived
// tokens by default (bench/compare.sh) or short ones (-access-ttl, for
// bench/soak.sh's refreshes), and `oplogin login` logs the test user in
// through a running gatehouse exactly as a browser would (package
// bench/internal/browser), printing the session cookie ("name=value") for wrk
// to send.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/internal/browser"
	"github.com/gatehouse-dev/gatehouse/internal/devop"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: oplogin op -listen ADDR -gateway URL... [-access-ttl D] [-count-grants] | oplogin login -gateway URL")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "op":
		err = runOP(os.Args[2:])
	case "login":
		err = runLogin(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "oplogin:", err)
		os.Exit(1)
	}
}

func runOP(args []string) error {
	fs := flag.NewFlagSet("op", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:19310", "address to serve the OP on")
	secret := fs.String("secret", "bench-client-secret", "the gatehouse client's secret")
	// Long enough by default that no refresh happens during a benchmark.
	accessTTL := fs.Duration("access-ttl", 2*time.Hour, "lifetime of the access tokens issued")
	countGrants := fs.Bool("count-grants", false, "count the token endpoint's grants by grant_type and print them on exit")
	var gateways multi
	fs.Var(&gateways, "gateway", "a gatehouse public_url allowed to log in, and its / to be sent back to after logout (repeatable)")
	_ = fs.Parse(args)
	var redirects, postLogouts []string
	for _, g := range gateways {
		redirects = append(redirects, strings.TrimSuffix(g, "/")+"/auth/callback")
		postLogouts = append(postLogouts, strings.TrimSuffix(g, "/")+"/")
	}
	op, err := devop.New("http://"+*listen, devop.Options{
		ClientSecret: *secret, RedirectURIs: redirects, PostLogoutRedirectURIs: postLogouts,
		AccessTokenTTL: *accessTTL, IDTokenTTL: 2 * time.Hour, RefreshTokenTTL: 4 * time.Hour,
	})
	if err != nil {
		return err
	}
	handler := op.Handler()
	var grants *grantCounter
	if *countGrants {
		grants = &grantCounter{next: handler, n: map[string]int{}}
		handler = grants
	}
	srv := &http.Server{Addr: *listen, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if grants != nil {
		grants.print(os.Stderr)
	}
	return nil
}

// tokenPath is the devop token endpoint's path (zitadel's op default).
const tokenPath = "/oauth/token"

// grantCounter counts the token endpoint's requests by grant_type before
// handing them to the OP.
type grantCounter struct {
	next http.Handler
	mu   sync.Mutex
	n    map[string]int
}

func (g *grantCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == tokenPath {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body.Close()
		if err != nil {
			http.Error(w, "reading body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		gt := "(unparsable)"
		if v, err := url.ParseQuery(string(body)); err == nil {
			gt = v.Get("grant_type")
		}
		g.mu.Lock()
		g.n[gt]++
		g.mu.Unlock()
	}
	g.next.ServeHTTP(w, r)
}

// print writes one line: the grants counted, by type, in name order.
func (g *grantCounter) print(w io.Writer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	types := make([]string, 0, len(g.n))
	for t := range g.n {
		types = append(types, t)
	}
	sort.Strings(types)
	parts := make([]string, 0, len(types))
	for _, t := range types {
		parts = append(parts, fmt.Sprintf("%s=%d", t, g.n[t]))
	}
	fmt.Fprintf(w, "oplogin op: token grants: %s\n", strings.Join(parts, " "))
}

// runLogin logs the test user in through gatehouse (package browser) and
// prints the session cookie.
func runLogin(args []string) error {
	fs := flag.NewFlagSet("login", flag.ExitOnError)
	gateway := fs.String("gateway", "", "the gatehouse base URL")
	user := fs.String("user", devop.DefaultUser().Username, "username")
	password := fs.String("password", devop.DefaultUser().Password, "password")
	_ = fs.Parse(args)
	ck, err := browser.New(*gateway, nil, 10*time.Second).Login(*user, *password)
	if err != nil {
		return err
	}
	fmt.Printf("%s=%s\n", ck.Name, ck.Value)
	return nil
}
