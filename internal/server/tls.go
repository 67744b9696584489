package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/safego"
)

// HTTPS at the listener (server.tls), the plain-http redirect listener
// (server.redirect_http) and Strict-Transport-Security (server.hsts).
//
// The certificate pair is read at start-up (a bad pair fails the start) and
// again on ReloadCertificates (SIGHUP) and whenever either file's mtime or
// size changes (polled every certPollInterval). Each handshake takes the
// current pair from an atomic pointer, so a renewal by cert-manager or
// certbot reaches new connections without a restart and without touching
// open ones. A pair that fails to load (half-written files, a key that does
// not match) is logged and the previous pair stays.
//
// Polling rather than fsnotify: two stat calls every few seconds cost
// nothing, follow symlinks (certbot's live/ links, the ..data link swap of
// a Kubernetes Secret volume, which an inotify watch on the file misses) and
// need no dependency.
//
// server.max_connections on a TLS listener counts TCP connections, before
// the handshake: the limit sits under crypto/tls, so a connection beyond it
// costs no handshake. Such a connection is closed without a word: a TLS
// client cannot read the plain-text 503 a plain listener writes (fasthttp
// writes nothing to a TLS connection it rejects either), and answering
// through TLS would spend a handshake per refused connection exactly when
// the process is overloaded.

// certPollInterval is how often the certificate files are checked for a
// change. A variable so that tests need not wait for it.
var certPollInterval = 5 * time.Second

// acmeChallengePrefix is the path under which ACME HTTP-01 challenges are
// answered on the redirect listener (RFC 8555 §8.3).
const acmeChallengePrefix = "/.well-known/acme-challenge/"

// httpsState is a Server's HTTPS side: the TLS configuration of
// server.listen (nil for plain HTTP), the redirect listener's handler and
// the HSTS header value.
type httpsState struct {
	tls   *tls.Config
	certs *certFiles // nil with ACME
	// acmeHTTP answers HTTP-01 challenges on the redirect listener; nil
	// without ACME.
	acmeHTTP fasthttp.RequestHandler
	// hsts is the Strict-Transport-Security value, nil when none is sent.
	hsts []byte
}

// newHTTPS builds the HTTPS side of cfg: it loads the certificate pair
// (failing on a bad one) and starts watching its files until ctx ends.
func newHTTPS(ctx context.Context, cfg config.Server, logger *slog.Logger) (*httpsState, error) {
	h := &httpsState{hsts: hstsValue(cfg.HSTS)}
	t := cfg.TLS
	if t == nil {
		return h, nil
	}
	h.tls = &tls.Config{
		// Go's defaults otherwise: AEAD cipher suites with forward
		// secrecy for TLS 1.2, X25519 (with ML-KEM) and the NIST curves.
		MinVersion: tls.VersionTLS12,
		// fasthttp speaks HTTP/1.1 only.
		NextProtos: []string{"http/1.1"},
	}
	if t.ACME != nil {
		h.setupACME(t.ACME, cfg.RedirectHTTP != "", logger)
		return h, nil
	}
	certs, err := loadCertFiles(t.CertFile, t.KeyFile, logger)
	if err != nil {
		return nil, err
	}
	h.certs = certs
	h.tls.GetCertificate = certs.get
	// certPollInterval is read here, by New on the caller's goroutine.
	safego.Every(ctx, logger, "tls: watch certificate files", certPollInterval, certs.poll)
	return h, nil
}

// hstsValue renders server.hsts, or nil when it is off.
func hstsValue(h config.HSTS) []byte {
	if h.Enabled == nil || !*h.Enabled {
		return nil
	}
	v := "max-age=" + strconv.FormatInt(int64(h.MaxAge.D()/time.Second), 10)
	if h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return []byte(v)
}

// certFiles is a certificate pair read from files, swapped atomically.
type certFiles struct {
	certFile, keyFile string
	logger            *slog.Logger
	cert              atomic.Pointer[tls.Certificate]

	mu   sync.Mutex // serialises reload; guards seen
	seen fileStamps // the files' state when last read, loaded or not
}

// fileStamps is what a change of the certificate files is told by.
type fileStamps [2]struct {
	mod  time.Time
	size int64
}

func loadCertFiles(certFile, keyFile string, logger *slog.Logger) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile, logger: logger}
	if err := c.reload(); err != nil {
		return nil, fmt.Errorf("server.tls: %w", err)
	}
	return c, nil
}

// get is the tls.Config's GetCertificate: the pair last loaded.
func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// stamps returns the files' modification times and sizes (following links).
func (c *certFiles) stamps() (fileStamps, error) {
	var st fileStamps
	for i, name := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return st, err
		}
		st[i].mod, st[i].size = fi.ModTime(), fi.Size()
	}
	return st, nil
}

// reload reads the pair; on any problem the previous pair stays and the
// error says why. The stamps are taken before reading, so a file changed
// while it is read is read again at the next poll.
func (c *certFiles) reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.stamps()
	if err == nil {
		c.seen = st
		err = c.loadLocked()
	}
	if err != nil {
		return fmt.Errorf("loading cert_file %s and key_file %s: %w", c.certFile, c.keyFile, err)
	}
	return nil
}

func (c *certFiles) loadLocked() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	leaf := pair.Leaf // parsed by LoadX509KeyPair
	if leaf == nil {
		return errors.New("no certificate")
	}
	if old := c.cert.Load(); old != nil && bytes.Equal(old.Certificate[0], pair.Certificate[0]) {
		return nil // the same certificate: nothing to say
	}
	c.cert.Store(&pair)
	level := slog.LevelInfo
	if time.Now().After(leaf.NotAfter) {
		level = slog.LevelWarn
	}
	c.logger.Log(context.Background(), level, "tls certificate loaded",
		"subject", leaf.Subject.String(), "dns_names", leaf.DNSNames,
		"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
		"expired", time.Now().After(leaf.NotAfter))
	return nil
}

// changed reports whether either file's stamp differs from when it was last
// read (a file that cannot be stat'ed counts as unchanged: it is being
// replaced, and the next poll sees the result).
func (c *certFiles) changed() bool {
	st, err := c.stamps()
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return st != c.seen
}

// poll reloads the pair if its files changed; newHTTPS runs it every
// certPollInterval.
func (c *certFiles) poll() {
	if !c.changed() {
		return
	}
	if err := c.reload(); err != nil {
		c.logger.Error("tls certificate files changed but cannot be loaded; the previous certificate stays", "error", err)
	}
}

// ReloadCertificates re-reads server.tls's certificate pair (on SIGHUP). A
// pair that fails to load is reported and the running one stays. Without
// certificate files (plain HTTP, or ACME) it does nothing.
func (s *Server) ReloadCertificates() error {
	if s.https == nil || s.https.certs == nil {
		return nil
	}
	return s.https.certs.reload()
}

// listener returns ln as server.listen serves it: limited to
// server.max_connections, under TLS when configured.
func (s *Server) listener(ln net.Listener) net.Listener {
	lim := newLimitListener(ln, s.cfg.Server.MaxConnections, func() {
		s.metrics.observe("", "OTHER", 503, 0)
	})
	if s.https == nil || s.https.tls == nil {
		return lim
	}
	lim.silent = true // see the comment at the top of this file
	return tls.NewListener(lim, s.https.tls)
}

// withHSTS adds Strict-Transport-Security to every response of next (the
// main listener's handler) when server.hsts is on.
func (s *Server) withHSTS(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	if s.https == nil || s.https.hsts == nil {
		return next
	}
	value := s.https.hsts
	return func(ctx *fasthttp.RequestCtx) {
		next(ctx)
		ctx.Response.Header.SetBytesV(fasthttp.HeaderStrictTransportSecurity, value)
	}
}

// redirectHandler answers every request on the redirect listener with 308
// to public_url's origin plus the request's path and query, and ACME
// HTTP-01 challenges when ACME is on. The target never takes the client's
// Host header (nor an absolute-form request target's host): a poisoned Host
// would otherwise send a victim, or a cache, to an attacker's site.
func (s *Server) redirectHandler() fasthttp.RequestHandler {
	origin := s.cfg.Server.PublicURL.String()
	var acmeHTTP fasthttp.RequestHandler
	if s.https != nil {
		acmeHTTP = s.https.acmeHTTP
	}
	return func(ctx *fasthttp.RequestCtx) {
		uri := ctx.URI()
		path := uri.PathOriginal()
		if acmeHTTP != nil && bytes.HasPrefix(path, []byte(acmeChallengePrefix)) {
			acmeHTTP(ctx)
			return
		}
		if len(path) == 0 || path[0] != '/' {
			path = []byte("/") // "*" (OPTIONS * HTTP/1.1) and the like
		}
		loc := make([]byte, 0, len(origin)+len(path)+1+len(uri.QueryString()))
		loc = append(append(loc, origin...), path...)
		if q := uri.QueryString(); len(q) > 0 {
			loc = append(append(loc, '?'), q...)
		}
		ctx.Response.Header.SetBytesV(fasthttp.HeaderLocation, loc)
		ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
		ctx.SetStatusCode(fasthttp.StatusPermanentRedirect)
	}
}

// redirectBodyLimit bounds a request body the redirect listener reads: it
// only ever answers 308, and the client sends the body again over https.
const redirectBodyLimit = 64 << 10

// ServeRedirect serves the plain-http redirect listener (server.redirect_http)
// on ln until Shutdown, then returns nil.
func (s *Server) ServeRedirect(ln net.Listener) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.listeners = append(s.listeners, ln) // Shutdown closes it
	s.mu.Unlock()
	sc := s.cfg.Server
	srv := &fasthttp.Server{
		Handler:                      s.guard(s.redirectHandler()),
		ErrorHandler:                 s.edgeError,
		Name:                         "",
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		MaxRequestBodySize:           redirectBodyLimit,
		ReadBufferSize:               int(sc.MaxHeaderBytes),
		ReadTimeout:                  sc.ReadTimeout.D(),
		WriteTimeout:                 sc.WriteTimeout.D(),
		IdleTimeout:                  sc.IdleTimeout.D(),
		Concurrency:                  2 * sc.MaxConnections,
	}
	err := srv.Serve(newLimitListener(ln, sc.MaxConnections, func() {}))
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if !stopped {
		return err
	}
	// The listener is closed; close the idle keep-alive connections too.
	ctx, cancel := context.WithTimeout(context.Background(), max(sc.ShutdownTimeout.D(), time.Second))
	defer cancel()
	_ = srv.ShutdownWithContext(ctx)
	return nil
}
