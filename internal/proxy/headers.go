package proxy

import (
	"bytes"
	"net/netip"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// hopByHop are the fields that describe one connection, not the message; a
// proxy must not forward them (RFC 9110 §7.6.1), in either direction.
// Proxy-Connection is a pre-standard alias of Connection still sent by some
// clients. Connection's own list of field names is removed as well.
var hopByHop = [...]string{
	fiber.HeaderConnection,
	fiber.HeaderKeepAlive,
	fiber.HeaderProxyAuthenticate,
	fiber.HeaderProxyAuthorization,
	"Proxy-Connection",
	fiber.HeaderTE,
	fiber.HeaderTrailer,
	fiber.HeaderTransferEncoding,
	fiber.HeaderUpgrade,
}

// Canonical field names (fasthttp's stored form), for SetCanonical: setting
// a field under a name known to be canonical skips normalising it per
// request. TestCanonicalNames checks them.
var (
	keyXForwardedFor   = []byte("X-Forwarded-For")
	keyXForwardedProto = []byte("X-Forwarded-Proto")
	keyXForwardedHost  = []byte("X-Forwarded-Host")
	keyXRequestID      = []byte("X-Request-Id")
	keyAuthorization   = []byte("Authorization")
)

// fields is a set of the header fields the proxy edits, found by one pass
// over a header (scanRequest, scanResponse), so that the common message,
// which carries none of them, costs no lookups or deletions by name.
type fields uint16

const (
	hasHopByHop        fields = 1 << iota // a hopByHop field
	hasUnderscore                         // a name with "_"; see dropUnderscored
	hasExpect                             // Expect
	hasForwarded                          // Forwarded or X-Real-Ip
	hasXForwardedFor                      // X-Forwarded-For
	hasXForwardedProto                    // X-Forwarded-Proto
	hasXForwardedHost                     // X-Forwarded-Host
	hasXRequestID                         // X-Request-Id
	hasAuthorization                      // Authorization
)

// classify returns the field a canonical header name stands for, 0 for any
// other name.
func classify(name []byte) fields {
	switch string(name) {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return hasHopByHop
	case "Expect":
		return hasExpect
	case "Forwarded", "X-Real-Ip":
		return hasForwarded
	case "X-Forwarded-For":
		return hasXForwardedFor
	case "X-Forwarded-Proto":
		return hasXForwardedProto
	case "X-Forwarded-Host":
		return hasXForwardedHost
	case "X-Request-Id":
		return hasXRequestID
	case "Authorization":
		return hasAuthorization
	}
	if bytes.IndexByte(name, '_') >= 0 {
		return hasUnderscore
	}
	return 0
}

// scanRequest returns the fields of h the proxy edits. fasthttp's iterator
// is inlined here and does not allocate, unlike nine lookups by name, each
// of which normalises its key.
func scanRequest(h *fasthttp.RequestHeader) fields {
	var f fields
	for k := range h.All() {
		f |= classify(k)
	}
	return f
}

// scanResponse is scanRequest for a response header.
func scanResponse(h *fasthttp.ResponseHeader) fields {
	var f fields
	for k := range h.All() {
		f |= classify(k)
	}
	return f
}

// stripRequest removes from an upstream request what must not reach the
// upstream: hop-by-hop fields, underscored names, Connection: close and
// Expect. The client's expectation was met by the gateway's server (it
// answered 100 Continue before the body was read); the fasthttp client
// cannot wait for an interim response, so the upstream must not be asked.
// It returns what scanRequest found, for the fields set next.
func stripRequest(h *fasthttp.RequestHeader) fields {
	f := scanRequest(h)
	if f&hasHopByHop != 0 {
		removeHopByHop(h)
	}
	if f&hasUnderscore != 0 {
		dropUnderscored(h)
	}
	h.ResetConnectionClose()
	if f&hasExpect != 0 {
		h.Del(fiber.HeaderExpect)
	}
	return f
}

// headers is what removeHopByHop needs of fasthttp's request and response
// headers.
type headers interface {
	PeekAll(key string) [][]byte
	DelBytes(key []byte)
	Del(key string)
}

// removeHopByHop deletes the hop-by-hop fields from h, first the ones
// Connection names (RFC 9110 §7.6.1), then the fixed list. Callers run it
// only when a scan found one (hasHopByHop).
func removeHopByHop(h headers) {
	for _, v := range h.PeekAll(fiber.HeaderConnection) {
		for len(v) > 0 {
			var name []byte
			name, v, _ = bytes.Cut(v, []byte{','})
			name = bytes.TrimSpace(name)
			if len(name) > 0 && !bytes.EqualFold(name, []byte("close")) && !bytes.EqualFold(name, []byte("keep-alive")) {
				h.DelBytes(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// dropUnderscored deletes every request field whose name holds an
// underscore, as nginx does by default (underscores_in_headers off).
// CGI-style upstreams (PHP, Rails, Django, WSGI) read both X-Forwarded-For
// and X-Forwarded_For as HTTP_X_FORWARDED_FOR, so such a field could stand
// in for one the gateway sets or removes (X-Forwarded-*, X-Real-Ip, a
// headers plugin's X-User-Id) and spoof it. No standard field has one.
func dropUnderscored(h *fasthttp.RequestHeader) {
	var names [][]byte
	for k := range h.All() {
		if bytes.IndexByte(k, '_') >= 0 {
			names = append(names, bytes.Clone(k)) // deleting while iterating is unsafe
		}
	}
	for _, k := range names {
		h.DelBytes(k)
	}
}

// setForwarded writes X-Forwarded-For, -Proto and -Host. From a trusted
// proxy the client-sent values stand and the peer is appended to
// X-Forwarded-For; from anyone else they are replaced, and Forwarded and
// X-Real-Ip, which upstreams may believe as well, are removed. f is what
// scanRequest found in h.
func (p *Proxy) setForwarded(c *fiber.Ctx, h *fasthttp.RequestHeader, f fields) {
	ctx := c.Context()
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	peer = peer.Unmap()
	var ipBuf [64]byte
	ip := peer.AppendTo(ipBuf[:0])
	proto := "http"
	if ctx.IsTLS() {
		proto = "https"
	}
	if p.trusted(peer) {
		if prior := h.PeekAll(fiber.HeaderXForwardedFor); len(prior) > 0 {
			xff := bytes.Join(prior, []byte(", "))
			xff = append(append(xff, ", "...), ip...)
			replaceHeader(h, keyXForwardedFor, xff, true)
		} else {
			replaceHeader(h, keyXForwardedFor, ip, f&hasXForwardedFor != 0)
		}
		if len(h.Peek(fiber.HeaderXForwardedProto)) == 0 {
			h.Set(fiber.HeaderXForwardedProto, proto)
		}
		if len(h.Peek(fiber.HeaderXForwardedHost)) == 0 {
			h.SetBytesV(fiber.HeaderXForwardedHost, ctx.Request.Header.Host())
		}
		return
	}
	if f&hasForwarded != 0 {
		h.Del(fiber.HeaderForwarded)
		h.Del("X-Real-Ip")
	}
	replaceHeader(h, keyXForwardedFor, ip, f&hasXForwardedFor != 0)
	host := ctx.Request.Header.Host()
	if p.publicProto != "" {
		// The client's Host header is its own choice: an upstream must see
		// the origin the gateway serves, whatever Host was sent.
		proto, host = p.publicProto, p.publicHost
	}
	var protoBuf [8]byte
	replaceHeader(h, keyXForwardedProto, append(protoBuf[:0], proto...), f&hasXForwardedProto != 0)
	replaceHeader(h, keyXForwardedHost, host, f&hasXForwardedHost != 0)
}

// replaceHeader sets the canonical key to value. When the client sent key
// (present), every line of it is removed first: fasthttp's Set replaces
// only the first of repeated lines, and a second "X-Forwarded-For" would
// reach the upstream.
func replaceHeader(h *fasthttp.RequestHeader, key, value []byte, present bool) {
	if present {
		h.DelBytes(key)
	}
	h.SetCanonical(key, value)
}

// trusted reports whether the direct peer is a trusted proxy.
func (p *Proxy) trusted(peer netip.Addr) bool {
	return p.opts.TrustedProxies != nil && p.opts.TrustedProxies.Trusted(peer)
}
