// Command demo runs the whole example on one machine with nothing but Go:
// a development OpenID Provider, the two example services and gatehouse with
// the shipped routes.yaml, then prints where to go and whom to log in as.
//
//	go run ./examples/demo            # from the repository root
//	open http://127.0.0.1:8080        # log in as alice / wonderland
//
// Ctrl-C stops everything; SIGHUP to the PID in the banner re-reads the
// config and swaps its routes in, as gatehouse itself does (under `go run`
// that PID is the demo's, not the go command's). The OP (internal/devop) keeps
// users, sessions and keys in memory: every run starts afresh. See
// docs/quickstart.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/examples/demo/stack"
	"github.com/gatehouse-dev/gatehouse/gateway/cli"
	"github.com/gatehouse-dev/gatehouse/internal/safego"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run starts the demo and serves until ctx ends; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("demo", flag.ContinueOnError)
	fl.SetOutput(stderr)
	configPath := fl.String("config", "routes.yaml", "the gatehouse config to run; its oidc.issuer must be ${OIDC_ISSUER}")
	listen := fl.String("listen", stack.DefaultGatewayAddr, "gatehouse's address (the URL to open)")
	issuerAddr := fl.String("issuer-addr", stack.DefaultIssuerAddr, "the development OpenID Provider's address")
	profileAddr := fl.String("profile-addr", stack.DefaultProfileAddr, "the profile service's address")
	ordersAddr := fl.String("orders-addr", stack.DefaultOrdersAddr, "the orders service's address")
	logLevel := fl.String("log-level", "warn", "log level: debug, info (access logs), warn or error")
	logFormat := fl.String("log-format", "json", "log format: json (as gatehouse logs) or text (key=value, for people)")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "demo: -log-level %q: want debug, info, warn or error\n", *logLevel)
		return 2
	}
	// Until everything is up, only errors: the gateway's "not ready yet"
	// while its IdP discovery runs is expected at start-up.
	var lv slog.LevelVar
	lv.Set(max(level, slog.LevelError))
	logger, err := cli.NewLogger(stderr, &lv, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 2
	}
	if _, err := os.Stat(*configPath); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "demo: %s not found: run from the repository root (go run ./examples/demo) or pass -config\n", *configPath)
		return 2
	}

	// SIGHUP is caught from the start, so that one sent early never ends the
	// demo; reloads begin once the stack runs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	s, err := stack.Start(ctx, stack.Options{
		Config:      *configPath,
		GatewayAddr: *listen, IssuerAddr: *issuerAddr, ProfileAddr: *profileAddr, OrdersAddr: *ordersAddr,
		// SESSION_SECRET and the like still come from the environment; the
		// addresses and the issuer are the demo's own (see package stack).
		LookupEnv: os.LookupEnv,
		Logger:    logger,
	})
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	reloads, stopReloads := context.WithCancel(ctx)
	defer stopReloads()
	safego.Go(logger, "demo reloads", func() { reloadOnHUP(reloads, hup, s, *configPath, stdout, stderr) })

	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = s.WaitReady(readyCtx)
	cancel()
	lv.Set(level)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		if ctx.Err() == nil {
			fmt.Fprintf(stderr, "demo: %s/readyz says what is missing\n", s.URL)
		}
	} else {
		banner(stdout, s, *configPath)
	}
	if err := s.Wait(); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "demo: stopped")
	return 0
}

// reloadOnHUP reloads the stack's config on each signal from hup until ctx
// ends, and says how each went.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, s *stack.Stack, configPath string, stdout, stderr io.Writer) {
	for {
		select {
		case <-hup:
			if err := s.Reload(); err != nil {
				fmt.Fprintf(stderr, "demo: reload refused, the running config stays:\n%s\n", strings.TrimRight(err.Error(), "\n"))
			} else {
				fmt.Fprintf(stdout, "demo: %s reloaded\n", configPath)
			}
		case <-ctx.Done():
			return
		}
	}
}

func banner(w io.Writer, s *stack.Stack, configPath string) {
	u := s.OP.User
	fmt.Fprintf(w, `
  gatehouse demo is running

    Open        %s
    Log in as   %s / %s

    gatehouse         %-28s config: %s
    OpenID Provider   %-28s development OP, in memory
    profile service   %-28s /api/profile, /api/catalog
    orders service    %-28s /api/orders, /api/status

  Press Ctrl-C to stop.
  kill -HUP %d re-reads %s.

`, s.URL, u.Username, u.Password, s.URL, configPath, s.Issuer, s.ProfileURL, s.OrdersURL, os.Getpid(), configPath)
}
