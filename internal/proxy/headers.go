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

// headers is what removeHopByHop needs of fasthttp's request and response
// headers.
type headers interface {
	Peek(key string) []byte
	PeekAll(key string) [][]byte
	DelBytes(key []byte)
	Del(key string)
}

// removeHopByHop deletes the hop-by-hop fields from h, first the ones
// Connection names (RFC 9110 §7.6.1), then the fixed list. Most messages
// carry none: nine allocation-free lookups find that out, cheaper than nine
// deletions (and than fasthttp's iterators, which allocate).
func removeHopByHop(h headers) {
	found := false
	for _, name := range hopByHop {
		if len(h.Peek(name)) > 0 {
			found = true
			break
		}
	}
	if !found {
		return
	}
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

// setForwarded writes X-Forwarded-For, -Proto and -Host. From a trusted
// proxy the client-sent values stand and the peer is appended to
// X-Forwarded-For; from anyone else they are replaced, and Forwarded and
// X-Real-Ip, which upstreams may believe as well, are removed.
func (p *Proxy) setForwarded(c *fiber.Ctx, h *fasthttp.RequestHeader) {
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
			replaceHeader(h, fiber.HeaderXForwardedFor, xff)
		} else {
			replaceHeader(h, fiber.HeaderXForwardedFor, ip)
		}
		if len(h.Peek(fiber.HeaderXForwardedProto)) == 0 {
			h.Set(fiber.HeaderXForwardedProto, proto)
		}
		if len(h.Peek(fiber.HeaderXForwardedHost)) == 0 {
			h.SetBytesV(fiber.HeaderXForwardedHost, ctx.Request.Header.Host())
		}
		return
	}
	h.Del(fiber.HeaderForwarded)
	h.Del("X-Real-Ip")
	replaceHeader(h, fiber.HeaderXForwardedFor, ip)
	host := ctx.Request.Header.Host()
	if p.publicProto != "" {
		// The client's Host header is its own choice: an upstream must see
		// the origin the gateway serves, whatever Host was sent.
		proto, host = p.publicProto, p.publicHost
	}
	h.Del(fiber.HeaderXForwardedProto)
	h.Set(fiber.HeaderXForwardedProto, proto)
	replaceHeader(h, fiber.HeaderXForwardedHost, host)
}

// replaceHeader sets key to value, removing every line the client sent
// under key: fasthttp's Set replaces only the first of repeated lines, and a
// second "X-Forwarded-For" would reach the upstream.
func replaceHeader(h *fasthttp.RequestHeader, key string, value []byte) {
	h.Del(key)
	h.SetBytesV(key, value)
}

// trusted reports whether the direct peer is a trusted proxy.
func (p *Proxy) trusted(peer netip.Addr) bool {
	return p.opts.TrustedProxies != nil && p.opts.TrustedProxies.Trusted(peer)
}
