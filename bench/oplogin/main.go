// Command oplogin serves bench/compare.sh's authenticated runs: `oplogin op`
// runs the development OpenID Provider (internal/devop) with long-lived
// tokens, and `oplogin login` logs the test user in through a running
// gatehouse exactly as a browser would, printing the session cookie
// ("name=value") for wrk to send.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/devop"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: oplogin op -listen ADDR -gateway URL... | oplogin login -gateway URL")
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
	var gateways multi
	fs.Var(&gateways, "gateway", "a gatehouse public_url allowed to log in (repeatable)")
	_ = fs.Parse(args)
	var redirects []string
	for _, g := range gateways {
		redirects = append(redirects, strings.TrimSuffix(g, "/")+"/auth/callback")
	}
	op, err := devop.New("http://"+*listen, devop.Options{
		ClientSecret: *secret, RedirectURIs: redirects,
		// Long enough that no refresh happens during a benchmark.
		AccessTokenTTL: 2 * time.Hour, IDTokenTTL: 2 * time.Hour, RefreshTokenTTL: 4 * time.Hour,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: op.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runLogin walks gatehouse's /auth/login, the OP's login form and the
// callback, without following redirects blindly, and prints the cookie.
func runLogin(args []string) error {
	fs := flag.NewFlagSet("login", flag.ExitOnError)
	gateway := fs.String("gateway", "", "the gatehouse base URL")
	user := fs.String("user", devop.DefaultUser().Username, "username")
	password := fs.String("password", devop.DefaultUser().Password, "password")
	_ = fs.Parse(args)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	next, err := hop(c, "GET", *gateway+"/auth/login?returnTo=/", nil)
	if err != nil {
		return err
	}
	// Follow the OP's redirects to its login page.
	for i := 0; i < 10 && !strings.Contains(next, "authRequestID="); i++ {
		if next, err = hop(c, "GET", next, nil); err != nil {
			return err
		}
	}
	u, err := url.Parse(next)
	if err != nil {
		return err
	}
	form := url.Values{"id": {u.Query().Get("authRequestID")}, "username": {*user}, "password": {*password}}
	next, err = hop(c, "POST", u.Scheme+"://"+u.Host+"/login", form)
	if err != nil {
		return err
	}
	// Follow the OP until it sends the browser back to gatehouse.
	for i := 0; i < 10 && !strings.HasPrefix(next, *gateway); i++ {
		if next, err = hop(c, "GET", next, nil); err != nil {
			return err
		}
	}
	if _, err := hop(c, "GET", next, nil); err != nil {
		return err
	}
	gu, _ := url.Parse(*gateway)
	for _, ck := range jar.Cookies(gu) {
		if ck.Name == "gatehouse" || ck.Name == "__Host-gatehouse" {
			fmt.Printf("%s=%s\n", ck.Name, ck.Value)
			return nil
		}
	}
	return errors.New("logged in, but gatehouse set no session cookie")
}

// hop performs one request and returns the absolute redirect target.
func hop(c *http.Client, method, target string, form url.Values) (string, error) {
	var req *http.Request
	var err error
	if form != nil {
		req, err = http.NewRequest(method, target, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(method, target, nil)
	}
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("%s %s: %d without a redirect", method, target, resp.StatusCode)
	}
	return loc.String(), nil
}
