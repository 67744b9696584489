package httperr

import (
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/request"
)

// Page writes the answer for status as a page into c's response, which
// Write has emptied, and reports whether it did: false (the request did not
// ask for a page, or the page failed) leaves the JSON answer to Write.
type Page func(c *fiber.Ctx, status int) bool

// Handler returns the gateway's fiber.ErrorHandler: err is answered with
// Answer's status and message, written by Write with page (nil: JSON only).
// An internal error (one whose text the client never reads) is passed to
// internal first when it is not nil, for the log. The server uses it, and so
// does every test harness that stands in for the server, so that a test sees
// the answer a client would.
func Handler(page Page, internal func(c *fiber.Ctx, err error)) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		status, msg, isInternal := Answer(err)
		if isInternal && internal != nil {
			internal(c, err)
		}
		return Write(c, status, msg, page)
	}
}

// Write writes the error answer for status and msg: the page, when page
// writes one, else the JSON body {"error": msg}. It discards whatever the
// chain had started to put in the response (headers of an upstream that
// failed half way, a streamed body) except the headers an error keeps
// (keptOnError), and sets Cache-Control: no-store, nosniff, Vary and the
// request's X-Request-Id.
func Write(c *fiber.Ctx, status int, msg string, page Page) error {
	resp := c.Response()
	keep := keptHeaders(resp)
	resp.Reset()
	for _, h := range keep {
		resp.Header.Add(h.name, h.value)
	}
	resp.Header.Set(fiber.HeaderCacheControl, "no-store")
	resp.Header.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	// Added: a kept Vary (a cors policy's Origin) stays (RFC 9110 §12.5.5).
	resp.Header.Add(fiber.HeaderVary, "Accept, Sec-Fetch-Mode")
	c.Set(fiber.HeaderXRequestID, request.From(c).ID)
	if page != nil && page(c, status) {
		c.Status(status)
		return nil
	}
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

// keptHeaders copies the keptOnError fields of resp (Reset reuses its buffers).
func keptHeaders(resp *fasthttp.Response) []header {
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
