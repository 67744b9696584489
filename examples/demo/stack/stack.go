// Package stack runs the whole example in one process: the development
// OpenID Provider (internal/devop), the two example services
// (examples/services/svc) and gatehouse itself with a routes.yaml — the
// shipped one, normally. `go run ./examples/demo` is a thin main around
// Start; the browser tests in e2e/ start the same stack on free ports.
//
// Start binds every address first, then points the config at what it bound
// through the variables the shipped routes.yaml reads — GATEHOUSE_LISTEN,
// GATEHOUSE_PUBLIC_URL, OIDC_ISSUER, PROFILE_URL, CATALOG_URL, ORDERS_URL
// and STATUS_URL, which win over Options.LookupEnv — so the file itself
// stays the one a user runs with `go run ./cmd/gatehouse`. GATEHOUSE_PORT,
// the gateway's port alone, lets a config give public_url a host name of
// its own (the split-origin browser test's api.gatehouse.localhost).
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/examples/services/svc"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/devop"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	_ "github.com/gatehouse-dev/gatehouse/plugins/all" // the built-in plugins, as in the gatehouse binary
)

// The demo's default addresses: the ones the shipped routes.yaml names.
const (
	DefaultGatewayAddr = "127.0.0.1:8080"
	DefaultIssuerAddr  = "127.0.0.1:9000"
	DefaultProfileAddr = "127.0.0.1:9101"
	DefaultOrdersAddr  = "127.0.0.1:9102"
)

// Options configure Start; zero values take the documented defaults.
type Options struct {
	// Config is the routes.yaml to run. Required.
	Config string
	// GatewayAddr, IssuerAddr, ProfileAddr and OrdersAddr are the listen
	// addresses of gatehouse, the OP and the two services. Defaults: the
	// Default*Addr constants. "127.0.0.1:0" picks a free port.
	GatewayAddr, IssuerAddr, ProfileAddr, OrdersAddr string
	// LookupEnv supplies the config's other ${VAR}s (SESSION_SECRET, ...).
	// Default: none, so the file's own defaults apply.
	LookupEnv func(string) (string, bool)
	// Logger receives every component's logs. Default: discarded.
	Logger *slog.Logger
	// WrapService, when set, wraps each service's handler ("profile",
	// "orders"): tests use it to see what gatehouse forwarded.
	WrapService func(name string, h http.Handler) http.Handler
}

// Stack is the running example.
type Stack struct {
	// URL is gatehouse's public URL: open it in a browser.
	URL string
	// Issuer is the development OP's issuer URL.
	Issuer string
	// ProfileURL and OrdersURL are the services' base URLs.
	ProfileURL, OrdersURL string
	// OP is the development OP; OP.User is the user to log in as.
	OP *devop.Provider
	// Config is the gateway config as loaded at Start (Reload does not change it).
	Config *config.Config

	verifiers []*svc.Verifier
	group     *errgroup.Group
	cancel    context.CancelFunc
	gateway   *server.Server
	// gatewayAddr is the address gatehouse listens on, which WaitReady dials
	// whatever host public_url names.
	gatewayAddr string
	// load reads and checks the config file with the stack's addresses.
	load func() (*config.Config, error)
}

// httpServer is one net/http component of the stack.
type httpServer struct {
	name string
	ln   net.Listener
	h    http.Handler
}

type listeners struct {
	gateway, issuer, profile, orders net.Listener
}

func (l *listeners) close() {
	for _, ln := range []net.Listener{l.gateway, l.issuer, l.profile, l.orders} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

func listen(o Options) (*listeners, error) {
	l := &listeners{}
	for _, b := range []struct {
		name, addr string
		ln         *net.Listener
	}{
		{"gatehouse", o.GatewayAddr, &l.gateway},
		{"the OpenID Provider", o.IssuerAddr, &l.issuer},
		{"the profile service", o.ProfileAddr, &l.profile},
		{"the orders service", o.OrdersAddr, &l.orders},
	} {
		ln, err := net.Listen("tcp", b.addr)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("listening for %s on %q (is another demo running?): %w", b.name, b.addr, err)
		}
		*b.ln = ln
	}
	return l, nil
}

// OnFreePorts returns o with all four addresses on free loopback ports:
// tests run the stack beside anything else.
func (o Options) OnFreePorts() Options {
	o.GatewayAddr, o.IssuerAddr, o.ProfileAddr, o.OrdersAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	return o
}

func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.GatewayAddr, DefaultGatewayAddr)
	def(&o.IssuerAddr, DefaultIssuerAddr)
	def(&o.ProfileAddr, DefaultProfileAddr)
	def(&o.OrdersAddr, DefaultOrdersAddr)
	if o.LookupEnv == nil {
		o.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.WrapService == nil {
		o.WrapService = func(_ string, h http.Handler) http.Handler { return h }
	}
	return o
}

// Start binds every address, loads the config, and serves the OP, the
// services and gatehouse until ctx ends; Wait then returns once all have shut
// down. The config must log in against ${OIDC_ISSUER} (the OP Start runs);
// the OP registers the config's client and its redirect URIs.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	o := opts.withDefaults()
	if o.Config == "" {
		return nil, errors.New("options: Config (the routes.yaml to run) is required")
	}
	lns, err := listen(o)
	if err != nil {
		return nil, err
	}
	s, err := build(ctx, o, lns)
	if err != nil {
		lns.close()
		return nil, err
	}
	return s, nil
}

func build(ctx context.Context, o Options, lns *listeners) (*Stack, error) {
	base := func(ln net.Listener) string { return "http://" + ln.Addr().String() }
	s := &Stack{Issuer: base(lns.issuer), ProfileURL: base(lns.profile), OrdersURL: base(lns.orders),
		gatewayAddr: lns.gateway.Addr().String()}
	vars := map[string]string{
		"GATEHOUSE_LISTEN":     lns.gateway.Addr().String(),
		"GATEHOUSE_PORT":       strconv.Itoa(lns.gateway.Addr().(*net.TCPAddr).Port),
		"GATEHOUSE_PUBLIC_URL": base(lns.gateway),
		"OIDC_ISSUER":          s.Issuer,
		"PROFILE_URL":          s.ProfileURL,
		"CATALOG_URL":          s.ProfileURL,
		"ORDERS_URL":           s.OrdersURL,
		"STATUS_URL":           s.OrdersURL,
	}
	s.load = func() (*config.Config, error) {
		cfg, err := server.Check(o.Config, config.WithLookupEnv(func(k string) (string, bool) {
			if v, ok := vars[k]; ok {
				return v, true
			}
			return o.LookupEnv(k)
		}))
		if err != nil {
			return nil, err
		}
		if cfg.OIDC == nil || strings.TrimSuffix(cfg.OIDC.Issuer, "/") != s.Issuer {
			return nil, fmt.Errorf("%s: oidc.issuer must be ${OIDC_ISSUER} (the development OP at %s)", o.Config, s.Issuer)
		}
		return cfg, nil
	}
	cfg, err := s.load()
	if err != nil {
		return nil, err
	}
	s.Config, s.URL = cfg, cfg.Server.PublicURL.String()

	s.OP, err = devop.New(s.Issuer, devop.Options{
		ClientID: cfg.OIDC.ClientID, ClientSecret: cfg.OIDC.ClientSecret,
		Public: cfg.OIDC.ClientSecret == "", PostAuth: cfg.OIDC.ClientAuth == "client_secret_post",
		RedirectURIs:           []string{s.URL + "/auth/callback"},
		PostLogoutRedirectURIs: []string{cfg.OIDC.PostLogoutRedirect.String()},
	})
	if err != nil {
		return nil, fmt.Errorf("development OP: %w", err)
	}

	// Everything below runs until ctx ends, or until one component fails;
	// on an error before serving starts, cancel stops the verifiers' key
	// fetching at once.
	runCtx, cancel := context.WithCancel(ctx)
	defer func() {
		if s.group == nil {
			cancel()
		}
	}()
	g, gctx := errgroup.WithContext(runCtx)
	log := o.Logger
	servers := []httpServer{{"op", lns.issuer, s.OP.Handler()}}
	for _, def := range []struct {
		name    string
		ln      net.Listener
		handler func(*svc.Verifier, *slog.Logger) http.Handler
	}{{"profile", lns.profile, svc.Profile}, {"orders", lns.orders, svc.Orders}} {
		l := log.With("service", def.name)
		v, err := svc.NewVerifier(gctx, svc.VerifierConfig{Issuer: s.Issuer, Logger: l})
		if err != nil {
			return nil, fmt.Errorf("%s service: %w", def.name, err)
		}
		s.verifiers = append(s.verifiers, v)
		servers = append(servers, httpServer{def.name, def.ln, o.WrapService(def.name, def.handler(v, l))})
	}
	gw, err := server.New(cfg, server.Options{Logger: log.With("component", "gatehouse")})
	if err != nil {
		return nil, err
	}

	// From here on nothing fails: every server runs until gctx ends.
	s.group, s.cancel, s.gateway = g, cancel, gw
	for _, hs := range servers {
		var fresh freshConns
		srv := &http.Server{Handler: hs.h, ReadHeaderTimeout: 10 * time.Second, ConnState: fresh.track}
		srv.RegisterOnShutdown(fresh.closeAll)
		g.Go(func() error {
			if err := srv.Serve(hs.ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s: %w", hs.name, err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutting down %s: %w", hs.name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		if err := gw.Serve(lns.gateway); err != nil {
			return fmt.Errorf("gatehouse: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Server.ShutdownTimeout.D())
		defer cancel()
		// Shutdown also stops a Serve that has not started yet.
		if err := gw.Shutdown(sctx); err != nil {
			return fmt.Errorf("shutting down gatehouse: %w", err)
		}
		return nil
	})
	return s, nil
}

// freshConns tracks a server's connections that have not sent a request
// yet. http.Server.Shutdown waits up to 5s for those (golang.org/issue/22682)
// — and HTTP clients leave such connections behind: Go's transport pools a
// dial that finished after its request was cancelled, and browsers
// preconnect. Nothing is lost by closing them at shutdown.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (f *freshConns) track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state == http.StateNew {
		if f.conns == nil {
			f.conns = map[net.Conn]struct{}{}
		}
		f.conns[c] = struct{}{}
		return
	}
	delete(f.conns, c)
}

// closeAll runs when Shutdown has closed the listeners.
func (f *freshConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		_ = c.Close()
	}
	clear(f.conns)
}

// WaitReady returns once gatehouse answers /readyz with 200 (its IdP
// discovery is done and its upstreams answer) and both services have the
// OP's signing keys, or with ctx's error.
func (s *Stack) WaitReady(ctx context.Context) error {
	for _, v := range s.verifiers {
		select {
		case <-v.Done():
		case <-ctx.Done():
			return fmt.Errorf("waiting for the services' signing keys: %w", ctx.Err())
		}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// public_url's host may be a name only the browser resolves
		// (Chromium maps *.localhost to loopback; Go does not).
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.gatewayAddr)
		},
	}}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("building readiness request: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s/readyz: %w", s.URL, ctx.Err())
		}
	}
}

// Reload re-reads the config file and swaps its routes into the running
// gateway, as `gatehouse` does on SIGHUP. A config with any problem, or one
// that changes what only a restart applies (the OP's client included), is
// refused whole and the running routes stay. The OP and the services are
// not restarted.
func (s *Stack) Reload() error {
	cfg, err := s.load()
	if err != nil {
		return err
	}
	return s.gateway.Reload(cfg)
}

// Wait blocks until every component has stopped — after the context given to
// Start ends, or at once when one of them fails — and returns the first error.
func (s *Stack) Wait() error {
	err := s.group.Wait()
	s.cancel()
	return err
}
