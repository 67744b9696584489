// Package server builds the gateway's HTTP server from a validated config:
// the route table, the auth gate, each route's plugin chain and proxy, the
// built-in endpoints (/auth/*, /healthz, /readyz, /metrics), one error handler,
// access logs and metrics.
//
// A request's path through the server:
//
//  1. observe: request id, then (after the chain) error → JSON, access log, metrics.
//  2. dispatch: the raw path is normalised once (internal/route); the canonical
//     path replaces the request's path, so matching, plugins and forwarding all
//     see the same one. Built-in endpoints first, then the longest matching route.
//  3. the route's handler: method allow-list, auth gate, plugins in phase order,
//     then the proxy, which sets Authorization from the gate's identity last.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/clientip"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/errorpage"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/safego"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/static"
)

// Options are the dependencies a Server may be given instead of its defaults.
type Options struct {
	// Logger receives access logs and errors. Default: slog.Default().
	Logger *slog.Logger
	// HTTPClient is used for calls to the IdP. Default: a client with timeouts.
	HTTPClient *http.Client
}

// Server is a built gateway, ready to serve.
type Server struct {
	cfg    *config.Config
	logger *slog.Logger
	app    *fiber.App
	// authEndpoints are the /auth endpoints' handlers by path (see
	// newAuthEndpoints).
	authEndpoints map[string]fiber.Handler
	metrics       *metrics
	// panics counts requests whose handler panicked (gatehouse_panics_total).
	panics prometheus.Counter
	// current is the routing requests are dispatched on; Reload swaps it.
	current atomic.Pointer[routing]
	// reloadMu serialises Reload, and Reload with closeAll.
	reloadMu sync.Mutex
	// state is the state store, opened once: the session store, the auth
	// store (used login states, logout handles, back-channel jti), and
	// every routing's plugins' backends.
	state *state
	auth  *auth.Auth
	// sessions is the session manager the auth gate uses; open WebSockets
	// check their sessions with it.
	sessions *session.Manager
	// sockets are the open WebSockets; wsSessionCheck is how often each
	// reads its session (sessionCheckEvery; shorter in tests).
	sockets        *sockets
	wsSessionCheck time.Duration
	metricsHandler fiber.Handler
	// pages renders the HTML error pages of browser navigations.
	pages    *errorpage.Pages
	clientIP *clientip.Resolver
	// metricsFrom holds the networks allowed to read /metrics.
	metricsFrom *clientip.Resolver
	ready       readiness
	// https is server.tls, server.redirect_http and server.hsts (tls.go).
	https *httpsState

	// mu guards stopped and listeners, so that a Shutdown that comes before
	// Serve (a signal right at start-up) still stops everything.
	mu        sync.Mutex
	stopped   bool
	listeners []net.Listener

	// ctx lives as long as the server: discovery, JWKS refresh and (through
	// each routing's own context) plugin janitors end with it.
	ctx    context.Context
	cancel context.CancelFunc
}

// routeHandler is one route's compiled chain.
type routeHandler struct {
	route   *config.Route
	methods methodSet
	handler fiber.Handler
	proxy   *proxy.Proxy
	static  *static.Handler
	ws      *wsRoute // websocket: true
}

// New builds a Server from a validated config. Plugin configs are checked here
// (by building every plugin), so New's error lists every plugin problem as
// FILE:LINE:COL: message. On error nothing keeps running.
func New(cfg *config.Config, opts Options) (srv *Server, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, logger: logger, metrics: newMetrics(), ctx: ctx, cancel: cancel,
		sockets: newSockets(), wsSessionCheck: sessionCheckEvery}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()

	s.clientIP, s.metricsFrom = clientip.New(cfg.Server.TrustedProxies), clientip.New(cfg.Server.MetricsFrom)
	if s.state, err = openState(ctx, cfg, logger); err != nil {
		return nil, err
	}
	if s.https, err = newHTTPS(ctx, cfg.Server, logger); err != nil {
		return nil, err
	}
	if s.sessions, err = session.NewManager(cfg.Session, cfg.Server.PublicURL, s.state.sessions); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if s.auth, err = auth.New(ctx, cfg, s.sessions, s.state.auth, logger, opts.HTTPClient,
		auth.WithSessionObserver(s.sockets)); err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}

	if s.pages, err = loadErrorPages(cfg.Server.ErrorPages); err != nil {
		return nil, err
	}
	s.panics = newPanicCounter(s.metrics.registry)
	s.metricsHandler = newMetricsHandler(s.metrics)
	s.app = fiber.New(s.fiberConfig())
	s.app.Use(s.observe, s.dispatch)
	// Outside Fiber: fasthttp's read errors answered with gatehouse's own
	// text, and a last recover around everything.
	fs := s.app.Server()
	fs.ErrorHandler = s.edgeError
	fs.HeaderReceived = s.headerReceived // a refused head's body is never read
	// fasthttp would read the clock before every request (~110 ns on a VM);
	// observe reads it once through c.Context().Time(), and withDeadline
	// reuses that reading.
	fs.LazyRequestTime = true
	fs.Handler = s.withHSTS(s.guard(fs.Handler))
	s.authEndpoints = newAuthEndpoints(cfg, s.auth.Endpoints())

	rt, err := s.buildRouting(cfg)
	if err != nil {
		return nil, err
	}
	s.current.Store(rt)
	s.state.retire()
	s.startUpstreamProbe()
	return s, nil
}

func (s *Server) fiberConfig() fiber.Config {
	sc := s.cfg.Server
	return fiber.Config{
		ErrorHandler:          errorHandler(s.logger, s.pages),
		DisableStartupMessage: true,
		// Stream request bodies to the upstream instead of buffering them whole;
		// BodyLimit still answers 413 to a Content-Length above max_body.
		StreamRequestBody: true,
		// fasthttp would otherwise read a whole multipart/form-data body (up
		// to max_body, in memory) before any handler ran: an anonymous client
		// could make the gateway buffer bodies for routes that refuse them.
		DisablePreParseMultipartForm: true,
		BodyLimit:                    int(sc.MaxBody),
		// fasthttp reads the request line and headers into this buffer: a larger
		// head fails with 431 Request Header Fields Too Large.
		ReadBufferSize: int(sc.MaxHeaderBytes),
		// fasthttp's defaults are unlimited: a slowloris client would hold a
		// connection forever. ReadTimeout bounds the request head and body.
		ReadTimeout:  sc.ReadTimeout.D(),
		WriteTimeout: sc.WriteTimeout.D(),
		IdleTimeout:  sc.IdleTimeout.D(),
		// server.max_connections is enforced by the listener (limitListener),
		// which answers in JSON; fasthttp's own limit stays out of its way.
		Concurrency: 2 * sc.MaxConnections,
		// Never trust X-Forwarded-* through Fiber: internal/clientip does that.
		EnableTrustedProxyCheck: false,
		DisableDefaultDate:      false,
	}
}

// Serve accepts connections on ln until Shutdown. After Shutdown it closes ln
// and returns nil at once.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = ln.Close() // may be closed already; either way nothing is served
		return nil
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	err := s.app.Listener(s.listener(ln))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil // the listener was closed by Shutdown
	}
	return err
}

// ListenAndServe listens on server.listen (and server.redirect_http, when
// set) and serves until Shutdown (Listen, then its serve).
func (s *Server) ListenAndServe() error {
	_, serve, err := s.Listen()
	if err != nil {
		return err
	}
	return serve()
}

// Listen binds server.listen (and server.redirect_http, when set) and
// returns the address bound for server.listen (with the port the system
// chose when the config says 0) and serve, which serves on both until
// Shutdown and must be called once Listen succeeded. Both addresses are
// bound before anything is served, so that either failing fails the start.
func (s *Server) Listen() (addr net.Addr, serve func() error, err error) {
	ln, err := net.Listen("tcp", s.cfg.Server.Listen)
	if err != nil {
		return nil, nil, err
	}
	var rln net.Listener
	if a := s.cfg.Server.RedirectHTTP; a != "" {
		if rln, err = net.Listen("tcp", a); err != nil {
			_ = ln.Close()
			return nil, nil, fmt.Errorf("server.redirect_http: %w", err)
		}
	}
	return ln.Addr(), func() error {
		if rln != nil {
			safego.Go(s.logger, "redirect_http listener", func() {
				if err := s.ServeRedirect(rln); err != nil {
					s.logger.Error("redirect_http listener stopped", "error", err)
				}
			})
		}
		return s.Serve(ln)
	}, nil
}

// Shutdown stops accepting connections, lets in-flight requests finish until
// ctx is done, then releases everything the server started.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	listeners := s.listeners
	s.mu.Unlock()
	err := s.app.ShutdownWithContext(ctx)
	// fasthttp closes the listeners it serves; one handed to Serve that it
	// has not started on yet is closed here, so that Serve returns.
	for _, ln := range listeners {
		_ = ln.Close()
	}
	s.closeAll()
	return err
}

func (s *Server) closeAll() {
	s.sockets.closeAll()
	s.cancel()
	s.reloadMu.Lock()
	if rt := s.current.Load(); rt != nil {
		rt.close()
	}
	s.reloadMu.Unlock()
	if s.state != nil {
		s.state.close()
	}
}
