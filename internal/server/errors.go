package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// errorHandler is the one place that turns an error into an HTTP answer, and
// the client only ever reads text gatehouse wrote for it (see httperr):
// an *httperr.Error keeps its status and message; a *fiber.Error (Fiber's,
// or a plugin's) only its status, with the status's own phrase, since its
// text may hold anything; anything else is logged with the request id (never
// shown) and answered 500 "internal error" (httperr.Answer).
func errorHandler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		status, msg, internal := httperr.Answer(err)
		if internal && !errors.Is(err, errPanicked) { // a panic was logged where it was recovered
			logger.Error("unhandled error", "err", err, "request_id", requestID(c),
				"method", methodLabel(c.Method()), "path", c.Path())
		}
		return writeError(c, status, msg)
	}
}

// writeError writes the JSON error body {"error": msg}. It discards whatever
// the chain had started to put in the response (headers of an upstream that
// failed half way, a streamed body) except the headers an error must keep.
func writeError(c *fiber.Ctx, status int, msg string) error {
	resp := c.Response()
	keep := errorHeaders(resp)
	resp.Reset()
	for _, h := range keep {
		resp.Header.Add(h.name, h.value)
	}
	resp.Header.Set(fiber.HeaderCacheControl, "no-store")
	resp.Header.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXRequestID, requestID(c))
	return c.Status(status).JSON(fiber.Map{"error": msg})
}

type header struct{ name, value string }

// keptOnError lists the response headers set before an error that belong in the
// error answer: 429's Retry-After and RateLimit fields (IETF draft), 401's
// WWW-Authenticate (RFC 6750 §3), 405's Allow (RFC 9110 §15.5.6), cookie
// clearing on a failed session, and a cors policy's fields (internal/cors:
// without them an allowed origin's script could not read a 401 or a 429).
var keptOnError = []string{
	fiber.HeaderRetryAfter, "RateLimit", "RateLimit-Policy",
	fiber.HeaderWWWAuthenticate, fiber.HeaderAllow, fiber.HeaderSetCookie,
	fiber.HeaderVary, fiber.HeaderAccessControlAllowOrigin, fiber.HeaderAccessControlAllowCredentials,
	fiber.HeaderAccessControlExposeHeaders,
}

func errorHeaders(resp *fasthttp.Response) []header {
	var out []header
	for _, name := range keptOnError {
		if name == fiber.HeaderSetCookie {
			resp.Header.VisitAllCookie(func(_, v []byte) {
				out = append(out, header{name, string(v)})
			})
			continue
		}
		if v := resp.Header.Peek(name); len(v) > 0 {
			out = append(out, header{name, string(v)})
		}
	}
	return out
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
