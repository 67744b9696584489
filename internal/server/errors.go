package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/errorpage"
	"github.com/gatehouse-dev/gatehouse/request"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// errorHandler is the one place that turns an error into an HTTP answer
// (httperr.Handler), and the client only ever reads text gatehouse wrote
// for it: an *httperr.Error keeps its status and message; a *fiber.Error
// (Fiber's, or a plugin's) only its status, with the status's own phrase,
// since its text may hold anything; anything else is logged with the
// request id (never shown) and answered 500 "internal error"
// (httperr.Answer).
//
// A browser navigation gets the answer as an HTML page from pages (see
// htmlPage); everything else gets JSON {"error": msg} (httperr.Write).
func errorHandler(logger *slog.Logger, pages *errorpage.Pages) fiber.ErrorHandler {
	return httperr.Handler(htmlPage(pages), func(c *fiber.Ctx, err error) {
		if !errors.Is(err, errPanicked) { // a panic was logged where it was recovered
			logger.Error("unhandled error", "error", err, "request_id", request.From(c).ID,
				"method", methodLabel(c.Method()), "path", c.Path())
		}
	})
}

// htmlPage writes an error page from pages for a browser navigation
// (errorpage.PrefersHTML: Sec-Fetch-Mode: navigate, or an Accept ranking
// text/html above application/json); nil pages, nil page.
func htmlPage(pages *errorpage.Pages) httperr.Page {
	if pages == nil {
		return nil
	}
	return func(c *fiber.Ctx, status int) bool {
		req := &c.Request().Header
		if !errorpage.PrefersHTML(req.Peek("Sec-Fetch-Mode"), req.Peek(fiber.HeaderAccept)) {
			return false
		}
		// Templates were trial-run at load; should one fail all the same,
		// the client still gets the JSON answer. Render writes the whole
		// page or nothing.
		resp := c.Response()
		if err := pages.Render(resp.BodyWriter(), pageData(c, status)); err != nil {
			return false
		}
		resp.Header.SetContentType(fiber.MIMETextHTMLCharsetUTF8)
		resp.Header.Set(fiber.HeaderContentSecurityPolicy, errorpage.CSP)
		resp.Header.Set(fiber.HeaderReferrerPolicy, "no-referrer")
		return true
	}
}

// loadErrorPages returns the templates of server.error_pages, or the
// built-in page when dir is "".
func loadErrorPages(dir string) (*errorpage.Pages, error) {
	if dir == "" {
		return errorpage.Default(), nil
	}
	p, err := errorpage.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("server.error_pages: %w", err)
	}
	return p, nil
}

// pageData is what an error page shows: the status's own title and
// sentence, and at most one link built from the validated request path
// (never the message, whose text is meant for programs, nor anything else
// from the request). A failed or expired login at the callback (400, 401)
// and any 401 link to the login; 5xx and 429 to the same place again.
func pageData(c *fiber.Ctx, status int) errorpage.Data {
	path := string(c.Request().URI().PathOriginal()) // a copy
	kind := errorpage.General
	if path == auth.PathCallback && (status == fiber.StatusBadRequest || status == fiber.StatusUnauthorized) {
		kind = errorpage.Login
	}
	d := errorpage.Data{Status: status, RequestID: request.From(c).ID}
	d.Title, d.Message = errorpage.Text(status, kind)
	switch {
	case kind == errorpage.Login || status == fiber.StatusUnauthorized:
		d.LoginURL = loginURL(path)
	case status >= 500 || status == fiber.StatusTooManyRequests:
		d.RetryURL = retryURL(c, path)
	}
	return d
}

// loginURL starts a login that returns to path, when path is a link
// target (linkPath) and not one of the gateway's own endpoints.
func loginURL(path string) string {
	if p, ok := linkPath(path); ok && p != "/" && !isAuthPath([]byte(p)) {
		return auth.PathLogin + "?returnTo=" + url.QueryEscape(p)
	}
	return auth.PathLogin
}

// retryURL repeats the navigation to path: /auth/login keeps its validated
// returnTo; a failed callback cannot be repeated and starts a new login. A
// path that is not a link target (linkPath) gets no retry link ("").
func retryURL(c *fiber.Ctx, path string) string {
	switch path {
	case auth.PathLogin:
		return loginURL(strings.Clone(auth.SafeReturnTo(c.Query("returnTo"))))
	case auth.PathCallback:
		return auth.PathLogin
	}
	if p, ok := linkPath(path); ok {
		return p
	}
	return ""
}

// linkPath reports whether a request path may go on an error page: what
// auth.SafeReturnTo accepts (a same-origin path, at most 512 bytes) made of
// RFC 3986 path and query characters only, so no quote, '<', '>', '\' or
// space (html/template would escape them, but they have no place on a page).
func linkPath(p string) (string, bool) {
	if auth.SafeReturnTo(p) != p {
		return "", false
	}
	for i := 0; i < len(p); i++ {
		switch b := p[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case strings.IndexByte("-._~/?%!$&()*+,;=:@", b) >= 0:
		default:
			return "", false
		}
	}
	return p, true
}

// edgeError is fasthttp's ErrorHandler: it answers a request fasthttp could
// not read (a malformed head, a head over max_header_bytes, a body over
// max_body, a read timeout) before any handler ran.
//
// fasthttp's error text quotes the raw request head (up to 200 bytes from
// each end of it), Cookie and Authorization included, and Fiber's default
// handler sends that text as the body: a page script could read its own
// HttpOnly session cookie by sending a malformed header (CVE-2012-0053 in
// Apache). Here the client gets only gatehouse's own fixed text, and the log
// gets the error's kind, never the quoted bytes.
func (s *Server) edgeError(ctx *fasthttp.RequestCtx, err error) {
	status, msg := classifyReadError(err)
	id := newRequestID()
	s.metrics.observe("", "OTHER", status, 0)
	s.logger.LogAttrs(ctx, slog.LevelWarn, "request refused before routing",
		slog.String("request_id", id),
		slog.Int("status", status),
		slog.String("reason", redactReadError(err)),
		slog.String("client_ip", ctx.RemoteIP().String()),
	)
	ctx.Response.Reset()
	writeEdgeError(ctx, status, msg, id)
}

// classifyReadError maps an error of fasthttp's request reading to the
// status and the fixed message the client gets.
func classifyReadError(err error) (int, string) {
	var netErr net.Error
	switch {
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
		return fiber.StatusRequestHeaderFieldsTooLarge, "request header too large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fiber.StatusRequestEntityTooLarge, "request body too large"
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		return fiber.StatusRequestTimeout, "request timeout"
	}
	return fiber.StatusBadRequest, "bad request"
}

// redactReadError returns err's text up to the first quote: fasthttp quotes
// the offending request bytes after it ("invalid header key \"...\""), and
// those may hold a cookie or a token.
func redactReadError(err error) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, "\"'`"); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	const maxLen = 160
	if len(msg) > maxLen {
		msg = msg[:maxLen]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, msg)
}

// writeEdgeError writes {"error": msg} with status on ctx's (empty) response,
// outside Fiber: the fasthttp-level handlers use it. id, when set, becomes
// the X-Request-Id of the answer.
func writeEdgeError(ctx *fasthttp.RequestCtx, status int, msg, id string) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType(fiber.MIMEApplicationJSON)
	ctx.Response.Header.Set(fiber.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if id != "" {
		ctx.Response.Header.Set(fiber.HeaderXRequestID, id)
	}
	body, _ := json.Marshal(map[string]string{"error": msg})
	ctx.SetBody(body)
}
