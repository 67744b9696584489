package server

import (
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// setupACME makes the TLS listener take its certificates from an ACME CA
// through autocert: obtained on the first handshake for one of the domains
// (none other is ever asked for), kept in cache_dir, renewed 30 days before
// they expire. The CA's TLS-ALPN-01 challenge is answered on the TLS
// listener itself (the acme-tls/1 protocol); with redirectHTTP, its HTTP-01
// challenge is answered on the redirect listener too.
//
// Not tested end to end (there is no CA here): the tests check that the TLS
// listener serves what autocert holds in cache_dir, that a handshake for
// another name never reaches the CA, and that the redirect listener hands
// /.well-known/acme-challenge/ to autocert.
func (h *httpsState) setupACME(a *config.ACME, redirectHTTP bool, logger *slog.Logger) {
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(a.CacheDir),
		HostPolicy: autocert.HostWhitelist(a.Domains...),
		Email:      a.Email,
	}
	dir := a.DirectoryURL
	if dir == "" {
		dir = autocert.DefaultACMEDirectory // Let's Encrypt
	}
	m.Client = &acme.Client{DirectoryURL: dir}
	h.tls.GetCertificate = m.GetCertificate
	h.tls.NextProtos = append(h.tls.NextProtos, acme.ALPNProto)
	if redirectHTTP {
		// HTTPHandler also turns HTTP-01 on: only where it is served. Only
		// challenge paths reach it (redirectHandler); its Host check is the
		// domains list, and its answers are the tokens autocert stored.
		h.acmeHTTP = acmeAnswer(fasthttpadaptor.NewFastHTTPHandler(m.HTTPHandler(http.NotFoundHandler())))
	}
	logger.Info("tls certificates from ACME", "domains", a.Domains, "cache_dir", a.CacheDir,
		"directory", dir, "http_01", redirectHTTP)
}

// acmeAnswer keeps next's token answers (200) and replaces any other with
// gatehouse's JSON error of the same status: autocert writes its error text
// (http.Error), which quotes the client's Host ("acme/autocert: host ... not
// configured in HostWhitelist") and names its cache.
func acmeAnswer(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		next(ctx)
		if st := ctx.Response.StatusCode(); st != fasthttp.StatusOK {
			status, msg, _ := httperr.Answer(fiber.NewError(st))
			ctx.Response.Reset()
			writeEdgeError(ctx, status, msg, "")
		}
	}
}
