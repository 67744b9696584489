// Command services runs the two example microservices that sit behind
// gatehouse: profile (default 127.0.0.1:9101) and orders (127.0.0.1:9102).
// Both verify the `Authorization: Bearer` access token gatehouse forwards
// against the issuer's JWKS.
//
//	go run ./examples/services -issuer http://127.0.0.1:9000
//	go run ./examples/services probe http://127.0.0.1:9101/healthz   # exit 0 when healthy (container health checks)
//
// Every flag has an environment variable; the flag wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/examples/services/svc"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "probe" {
		return probe(args[1:], stderr)
	}
	fs := flag.NewFlagSet("services", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profileAddr := fs.String("profile-addr", env("PROFILE_ADDR", "127.0.0.1:9101"), "profile service listen address (PROFILE_ADDR)")
	ordersAddr := fs.String("orders-addr", env("ORDERS_ADDR", "127.0.0.1:9102"), "orders service listen address (ORDERS_ADDR)")
	issuer := fs.String("issuer", env("OIDC_ISSUER", ""), "token issuer, exactly as in the iss claim (OIDC_ISSUER); required")
	jwksURL := fs.String("jwks-url", env("JWKS_URL", ""), "JWKS URL; default from the issuer's discovery document (JWKS_URL)")
	audience := fs.String("audience", env("AUDIENCE", ""), "required aud value; empty: aud not checked (AUDIENCE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *issuer == "" {
		fmt.Fprintln(stderr, "services: -issuer (or OIDC_ISSUER) is required")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	v, err := svc.NewVerifier(ctx, svc.VerifierConfig{
		Issuer: *issuer, JWKSURL: *jwksURL, Audience: *audience, Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "services: %v\n", err)
		return 2
	}
	err = serve(ctx, log, map[string]server{
		"profile": {*profileAddr, svc.Profile(v, log.With("service", "profile"))},
		"orders":  {*ordersAddr, svc.Orders(v, log.With("service", "orders"))},
	})
	if err != nil {
		log.Error("services stopped", "error", err)
		return 1
	}
	return 0
}

type server struct {
	addr string
	h    http.Handler
}

// serve runs every server until ctx ends (then shuts them down gracefully)
// or one of them fails. All addresses are bound before any server starts.
func serve(ctx context.Context, log *slog.Logger, servers map[string]server) error {
	lns := make(map[string]net.Listener, len(servers))
	for name, s := range servers {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("%s: listening on %q: %w", name, s.addr, err)
		}
		lns[name] = ln
	}
	g, ctx := errgroup.WithContext(ctx)
	for name, ln := range lns {
		hs := &http.Server{Handler: servers[name].h, ReadHeaderTimeout: 10 * time.Second}
		log.Info("listening", "service", name, "addr", ln.Addr().String())
		g.Go(func() error {
			if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return hs.Shutdown(sctx)
		})
	}
	return g.Wait()
}

// probe GETs a URL and exits 0 on a 2xx answer: the health check of the
// distroless container, which has no shell, curl or wget.
func probe(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: services probe URL")
		return 2
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "probe: %s answered %d\n", args[0], resp.StatusCode)
		return 1
	}
	return 0
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
