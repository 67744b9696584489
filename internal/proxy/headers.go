package proxy

import (
	"bytes"
	"net/netip"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/internal/hopbyhop"
)

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
	hasHopByHop        fields = 1 << iota // a hopbyhop.Fields field
	hasUnderscore                         // a name with "_"; see dropUnderscored
	hasExpect                             // Expect
	hasForwarded                          // other forwarding metadata; see isForwarding
	hasXForwardedFor                      // X-Forwarded-For
	hasXForwardedProto                    // X-Forwarded-Proto
	hasXForwardedHost                     // X-Forwarded-Host
	hasXRequestID                         // X-Request-Id
	hasAuthorization                      // Authorization
	hasMethodOverride                     // see isMethodOverride

	// hasForwarding is any field only a trusted proxy may send.
	hasForwarding = hasForwarded | hasXForwardedFor | hasXForwardedProto | hasXForwardedHost
)

// xForwardedPrefix begins every name of the X-Forwarded-* family.
const xForwardedPrefix = "X-Forwarded-"

// classify returns the field a canonical header name stands for, 0 for any
// other name.
func classify(name []byte) fields {
	if hopbyhop.Is(name) {
		return hasHopByHop
	}
	switch string(name) {
	case "Expect":
		return hasExpect
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
	if isForwarding(name) {
		return hasForwarded
	}
	if isMethodOverride(name) {
		return hasMethodOverride
	}
	if bytes.IndexByte(name, '_') >= 0 {
		return hasUnderscore
	}
	return 0
}

// isForwarding reports a request field that describes the client or the URL
// it asked for as a proxy in front saw them: upstream frameworks believe these
// to build links and redirects, to key caches and to log or limit by client
// address, so only a trusted proxy may send them (StripClientRequest drops
// them from anyone else). The set:
//
//   - the whole X-Forwarded-* family (For, Proto, Host, Port, Prefix, Ssl,
//     Scheme, Server, Uri, Method, …), any name beginning "X-Forwarded-" in any
//     case, a name with stray spaces included;
//   - Forwarded (RFC 7239) and X-Real-Ip;
//   - the original-URL fields of IIS, Symfony and nginx's auth_request:
//     X-Original-Url, X-Rewrite-Url, X-Original-Uri, X-Original-Host,
//     X-Original-Method, X-Original-Forwarded-For;
//   - X-Host, Front-End-Https and X-Url-Scheme, read as the host or the scheme
//     by some frameworks;
//   - the client-address fields of CDNs and load balancers that frameworks
//     read in place of X-Forwarded-For: Client-Ip, X-Client-Ip, True-Client-Ip,
//     X-Cluster-Client-Ip, Cf-Connecting-Ip.
func isForwarding(name []byte) bool {
	switch string(name) {
	case "Forwarded", "X-Real-Ip",
		"X-Original-Url", "X-Rewrite-Url", "X-Original-Uri", "X-Original-Host", "X-Original-Method",
		"X-Original-Forwarded-For", "X-Host", "Front-End-Https", "X-Url-Scheme",
		"Client-Ip", "X-Client-Ip", "True-Client-Ip", "X-Cluster-Client-Ip", "Cf-Connecting-Ip":
		return true
	}
	// fasthttp stores a name with an inner space as sent, uncanonicalised.
	return len(name) >= len(xForwardedPrefix) && (name[0]|0x20) == 'x' &&
		bytes.EqualFold(name[:len(xForwardedPrefix)], []byte(xForwardedPrefix))
}

// isMethodOverride reports a field that asks a framework (Rails, Laravel,
// Express's method-override, ASP.NET, Symfony) to run the request as another
// method than the request line's: X-Http-Method-Override, X-Http-Method,
// X-Method-Override. The method a route's methods: list and the auth gate's
// CSRF rules judged must be the one the upstream runs, so these are dropped
// from every client, a trusted proxy included.
func isMethodOverride(name []byte) bool {
	switch string(name) {
	case "X-Http-Method-Override", "X-Http-Method", "X-Method-Override":
		return true
	}
	return false
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
//
// It never deletes a field because a Connection header names it: by now the
// request carries the fields the auth gate and the plugins set, and a client
// naming X-User-Id or Authorization must not remove them (Traefik
// CVE-2024-45410). The client's nominations were applied at the edge, before
// anything wrote (StripClientRequest); the fixed list is removed again here
// in case anything set one since.
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

// stripResponse removes the hop-by-hop fields of an upstream response: the
// ones its Connection header names (the upstream's own fields; the gateway
// adds its fields afterwards) and the fixed list.
func stripResponse(h *fasthttp.ResponseHeader) {
	if scanResponse(h)&hasHopByHop != 0 {
		removeNominated(h)
		removeHopByHop(h)
	}
}

// StripClientRequest applies, to the client's request as it arrived, the
// rules about what the client may say about its connection and its route.
// The server runs it at its edge, before the auth gate or any plugin writes
// a field, so that nothing here can remove a field the gateway sets:
//
//   - every field the client's Connection header names is removed (RFC 9110
//     §7.6.1), except Host, Content-Length and Cookie, which describe the
//     message for every recipient and which the gateway reads (a sender must
//     not name such a field);
//   - the hop-by-hop fields themselves are removed (hopbyhop.Fields);
//   - unless the peer is a trusted proxy (trustedPeer), every forwarding
//     field (see isForwarding) is removed. The proxy then sets
//     X-Forwarded-For, -Proto and -Host of its own;
//   - the method-override fields (see isMethodOverride) are removed, from
//     every peer.
//
// A Connection: close keeps its meaning for the client's connection: fasthttp
// decided it before the handler ran, and the request still reports it.
// Nothing is allocated unless the client sent a forwarding field.
func StripClientRequest(h *fasthttp.RequestHeader, trustedPeer bool) {
	f := scanRequest(h)
	if f&hasHopByHop != 0 {
		closing := h.ConnectionClose()
		removeNominated(h)
		removeHopByHop(h)
		if closing {
			h.SetConnectionClose()
		}
	}
	if !trustedPeer && f&hasForwarding != 0 {
		dropForwarding(h)
	}
	if f&hasMethodOverride != 0 {
		dropFields(h, func(k []byte) bool { return classify(k) == hasMethodOverride })
	}
}

// headers is what removeHopByHop and removeNominated need of fasthttp's
// request and response headers.
type headers interface {
	PeekAll(key string) [][]byte
	DelBytes(key []byte)
	Del(key string)
}

// removeNominated deletes the fields h's Connection header names (RFC 9110
// §7.6.1), but never Host, Content-Length or Cookie (see
// StripClientRequest). Callers run it only when a scan found a hop-by-hop
// field (hasHopByHop), and on a request only before anything else wrote to
// it.
func removeNominated(h headers) {
	for _, v := range h.PeekAll(fiber.HeaderConnection) {
		for len(v) > 0 {
			var name []byte
			name, v, _ = bytes.Cut(v, []byte{','})
			name = bytes.TrimSpace(name)
			if len(name) > 0 && !endToEnd(name) {
				h.DelBytes(name)
			}
		}
	}
}

// endToEnd reports a connection option that names no field to remove: the
// options close and keep-alive, and the fields Host, Content-Length and
// Cookie.
func endToEnd(name []byte) bool {
	for _, s := range [...]string{"close", "keep-alive", fiber.HeaderHost, fiber.HeaderContentLength, fiber.HeaderCookie} {
		if bytes.EqualFold(name, []byte(s)) {
			return true
		}
	}
	return false
}

// removeHopByHop deletes the fixed hop-by-hop fields (hopbyhop.Fields) from
// h, in either direction. The fields a Connection header names are
// hop-by-hop as well: a response's are removed with these
// (copyResponseHeader), a request's at the server's edge
// (StripClientRequest), before the gateway sets any field. Callers run it
// only when a scan found one (hasHopByHop).
func removeHopByHop(h headers) {
	for _, name := range hopbyhop.Fields {
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
	dropFields(h, func(k []byte) bool { return bytes.IndexByte(k, '_') >= 0 })
}

// dropForwarding deletes every forwarding field (isForwarding) from h.
func dropForwarding(h *fasthttp.RequestHeader) {
	dropFields(h, func(k []byte) bool { return classify(k)&hasForwarding != 0 })
}

// dropFields deletes every field of h whose name match accepts. Deleting
// while iterating is unsafe, so the names are copied out first.
func dropFields(h *fasthttp.RequestHeader, match func(name []byte) bool) {
	var names [][]byte
	for k := range h.All() {
		if match(k) {
			names = append(names, bytes.Clone(k))
		}
	}
	for _, k := range names {
		h.DelBytes(k)
	}
}

// setForwarded writes X-Forwarded-For, -Proto and -Host. From a trusted
// proxy the client-sent values stand and the peer is appended to
// X-Forwarded-For; from anyone else they are replaced. (The client's other
// forwarding fields were dropped at the edge, StripClientRequest, so that
// one a plugin set reaches the upstream.) f is what scanRequest found in h.
func (p *Proxy) setForwarded(c *fiber.Ctx, h *fasthttp.RequestHeader, f fields) {
	ctx := c.Context()
	peer := peerOf(c)
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

// peerOf returns the address of c's direct peer.
func peerOf(c *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return peer.Unmap()
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
