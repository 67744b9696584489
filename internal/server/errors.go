package server

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// errorHandler is the one place that turns an error into an HTTP answer:
// *fiber.Error keeps its status and message (handlers choose both, and never put
// internal detail in the message); anything else is logged and becomes a bare 500.
func errorHandler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		status, msg := fiber.StatusInternalServerError, "internal error"
		var fe *fiber.Error
		if errors.As(err, &fe) {
			status, msg = fe.Code, fe.Message
			// Fiber's and fasthttp's own errors carry the reason phrase ("Request
			// Header Fields Too Large"): keep the house style, lower case.
			if msg == fasthttp.StatusMessage(status) {
				msg = strings.ToLower(msg)
			}
		} else {
			logger.Error("unhandled error", "err", err, "request_id", requestID(c),
				"method", c.Method(), "path", c.Path())
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
// clearing on a failed session.
var keptOnError = []string{
	fiber.HeaderRetryAfter, "RateLimit", "RateLimit-Policy",
	fiber.HeaderWWWAuthenticate, fiber.HeaderAllow, fiber.HeaderSetCookie,
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
