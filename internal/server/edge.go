package server

import (
	"bytes"
	"math"
	"net/netip"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/request"
)

// The edge's refusals. Each closes the connection: the bytes after the head
// cannot be trusted to start the next request.
var (
	// errAmbiguousFraming: both Transfer-Encoding and Content-Length. fasthttp
	// would read the body as chunked; a proxy in front of us might have read
	// it by Content-Length (request smuggling, RFC 9112 §6.3).
	errAmbiguousFraming = httperr.New(fiber.StatusBadRequest, "ambiguous request framing")
	// errInvalidTransferEncoding: chunked is not the final coding, or is
	// applied twice, or the field is empty: the body's length cannot be
	// determined (RFC 9112 §6.3 ¶4, §7).
	errInvalidTransferEncoding = httperr.New(fiber.StatusBadRequest, "invalid transfer encoding")
	// errUnsupportedTransferEncoding: a coding such as gzip before the final
	// chunked, which gatehouse does not decode (RFC 9112 §6.1).
	errUnsupportedTransferEncoding = httperr.New(fiber.StatusNotImplemented, "unsupported transfer encoding")
	// errFoldedHeader: a field line continued on the next (obs-fold, RFC 9112
	// §5.2), which parsers join differently.
	errFoldedHeader = httperr.New(fiber.StatusBadRequest, "bad request")
	// errBadFieldName: a field name that is not an RFC 9110 token, such as
	// "X-User Id" (fasthttp accepts an inner space): upstreams read such a
	// line differently (some trim or fold the name, some refuse it).
	errBadFieldName = httperr.New(fiber.StatusBadRequest, "bad request")
	// errBodyTooLarge: a Content-Length above server.max_body.
	errBodyTooLarge = httperr.New(fiber.StatusRequestEntityTooLarge, "request body too large")
)

// edge applies the rules every request meets before anything else reads or
// writes it (issue 11): first the framing (framingError), then
// proxy.StripClientRequest, which applies the client's Connection header and,
// unless the peer is a trusted proxy, drops the forwarding fields. Running
// before the auth gate and the plugins is what keeps a client from removing
// a field the gateway sets by naming it in Connection. A valid WebSocket
// handshake (isWebSocketUpgrade) is marked before its Connection and
// Upgrade go; a route with websocket: true then serves it (wsRoute).
func (s *Server) edge(c *fiber.Ctx) error {
	h := &c.Request().Header
	// headerReceived has scanned this head already, and marks every head it
	// refuses to close its connection: only such a request (or one the
	// client itself closes) is scanned again, for the refusal to answer.
	if h.ConnectionClose() {
		if err := framingError(h.RawHeaders(), int64(s.cfg.Server.MaxBody)); err != nil {
			return err // no body read, the connection closed after this answer
		}
	}
	if isWebSocketUpgrade(h) {
		// Recognised before Connection and Upgrade go: the route decides
		// (websocket: true) whether it becomes one (see wsRoute).
		request.From(c).Upgrade = true
	}
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	proxy.StripClientRequest(h, s.clientIP.Trusted(peer.Unmap()))
	return nil
}

// headerReceived is fasthttp's HeaderReceived hook: it runs once a request's
// head is read, before its body. A request the edge will refuse
// (framingError) has its body skipped and its connection closed after the
// answer: fasthttp would otherwise first wait for up to 8 KiB of a body over
// max_body (so a client that sends the head and waits would get a 408 after
// read_timeout, not a 413), and the bytes after a head with doubtful framing
// must not be read as a next request. Expect: 100-continue is dropped, so
// that no 100 Continue invites a body that will not be read.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if framingError(h.RawHeaders(), int64(s.cfg.Server.MaxBody)) != nil {
		h.SetContentLength(0)
		h.Del(fiber.HeaderExpect)
		h.SetConnectionClose()
	}
	return fasthttp.RequestConfig{}
}

// framingError returns the refusal for a request head whose body framing
// gatehouse does not accept, or nil. It reads raw, the header block as the
// client sent it (RawHeaders: fasthttp keeps only a chunked
// Transfer-Encoding and drops "identity" silently), in one pass that
// allocates nothing:
//
//   - a folded field line (obs-fold) → 400;
//   - a field name that is not a token (RFC 9110 §5.1) → 400;
//   - Transfer-Encoding with Content-Length → 400 (ambiguous framing);
//   - Transfer-Encoding whose codings, over all its lines, are not exactly
//     one final chunked: chunked not last (identity, gzip, "chunked, gzip"),
//     chunked twice, or none → 400; another coding before a final chunked
//     ("gzip, chunked") → 501;
//   - a Content-Length above maxBody (when > 0) → 413, from the head alone.
//
// fasthttp itself refuses most malformed Transfer-Encoding values (several
// lines, any value but "chunked" or "identity") before a handler runs; this
// check does not depend on it.
func framingError(raw []byte, maxBody int64) error {
	var (
		teLines, codings, chunked int
		lastChunked, tooLarge     bool
		clLines                   int
	)
	for len(raw) > 0 {
		var line []byte
		line, raw, _ = bytes.Cut(raw, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break // the blank line that ends the head
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errFoldedHeader
		}
		name, value, _ := bytes.Cut(line, []byte{':'})
		if !isToken(name) {
			return errBadFieldName
		}
		switch {
		case bytes.EqualFold(name, []byte(fiber.HeaderTransferEncoding)):
			teLines++
			for len(value) > 0 {
				var coding []byte
				coding, value, _ = bytes.Cut(value, []byte{','})
				coding, _, _ = bytes.Cut(coding, []byte{';'}) // transfer-parameters
				coding = bytes.Trim(coding, " \t")
				if len(coding) == 0 {
					continue // an empty list element (RFC 9110 §5.6.1)
				}
				codings++
				lastChunked = bytes.EqualFold(coding, []byte("chunked"))
				if lastChunked {
					chunked++
				}
			}
		case bytes.EqualFold(name, []byte(fiber.HeaderContentLength)):
			clLines++
			tooLarge = tooLarge || exceeds(bytes.Trim(value, " \t"), maxBody)
		}
	}
	switch {
	case teLines > 0 && clLines > 0:
		return errAmbiguousFraming
	case teLines > 0 && (!lastChunked || chunked > 1):
		return errInvalidTransferEncoding
	case teLines > 0 && codings > 1:
		return errUnsupportedTransferEncoding
	case tooLarge:
		return errBodyTooLarge
	}
	return nil
}

// exceeds reports whether the decimal v is above max (max <= 0: no limit).
// fasthttp has refused a Content-Length that is not all digits; such a v is
// reported as not exceeding.
func exceeds(v []byte, max int64) bool {
	if max <= 0 {
		return false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
		if n > (math.MaxInt64-9)/10 {
			return true
		}
		n = n*10 + int64(c-'0')
		if n > max {
			return true
		}
	}
	return false
}

// isToken reports whether b is an RFC 9110 §5.6.2 token: one or more tchar.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// tchar holds the bytes a token may contain.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
