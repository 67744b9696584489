package plugins

import (
	"net/netip"

	"github.com/gofiber/fiber/v2"
)

// Identity is who the auth gate found behind a request. Plugins read it to key
// rate limits and caches per session and to substitute {claim.*} placeholders.
// It is nil on auth: none routes and for anonymous requests on auth: any routes.
type Identity struct {
	// SessionID is the server-side session's id (empty for bearer tokens).
	// Never send it anywhere: it is the browser's credential.
	SessionID string
	// Subject is the sub claim.
	Subject string
	// Claims are the ID token's claims (session) or the validated JWT's (bearer).
	Claims map[string]any
	// AccessToken is sent upstream as "Authorization: Bearer <AccessToken>". The
	// proxy step sets it last, so no plugin can forge or remove it.
	AccessToken string
}

// identityKey is the fiber.Ctx Locals key of the request's *Identity.
type identityKey struct{}

// SetIdentity records the request's identity; only the auth gate calls it.
func SetIdentity(c *fiber.Ctx, id *Identity) { c.Locals(identityKey{}, id) }

// IdentityOf returns the request's identity, or nil when there is none.
func IdentityOf(c *fiber.Ctx) *Identity {
	id, _ := c.Locals(identityKey{}).(*Identity)
	return id
}

// ClientIPKey is the fiber.Ctx Locals key under which the server keeps the
// client address resolved through server.trusted_proxies (a string).
const ClientIPKey = "gatehouse.clientip"

// ClientIP returns the request's client address: the one resolved through
// the trusted proxies when there are any, else the connection's peer. Use it
// instead of c.IP(), which knows nothing of trusted proxies.
func ClientIP(c *fiber.Ctx) string {
	if ip, ok := c.Locals(ClientIPKey).(string); ok {
		return ip
	}
	return c.IP()
}

// AppendClientIP appends ClientIP(c) to dst. Unlike ClientIP it does not
// allocate when the peer is the client (no trusted proxies).
func AppendClientIP(dst []byte, c *fiber.Ctx) []byte {
	if ip, ok := c.Locals(ClientIPKey).(string); ok {
		return append(dst, ip...)
	}
	if a, ok := netip.AddrFromSlice(c.Context().RemoteIP()); ok {
		return a.Unmap().AppendTo(dst)
	}
	return append(dst, c.IP()...)
}

// ClientNetwork is the key of a client address for per-client budgets (rate
// limits, login attempts): an IPv4 address (also IPv4-mapped IPv6) as it is,
// an IPv6 address as its /64 — one host usually holds a whole /64, so
// rotating addresses inside it must not buy new budgets. An unparsable
// address (none should reach here) is its own key.
func ClientNetwork(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	return string(appendNetwork(nil, a))
}

// AppendClientNetwork appends ClientNetwork(ClientIP(c)) to dst, without
// allocating when the peer is the client.
func AppendClientNetwork(dst []byte, c *fiber.Ctx) []byte {
	var a netip.Addr
	if ip, ok := c.Locals(ClientIPKey).(string); ok {
		var err error
		if a, err = netip.ParseAddr(ip); err != nil {
			return append(dst, ip...)
		}
	} else if a, ok = netip.AddrFromSlice(c.Context().RemoteIP()); !ok {
		return append(dst, c.IP()...)
	}
	return appendNetwork(dst, a)
}

// appendNetwork appends a's budget key: IPv4 as is, IPv6 as its /64.
func appendNetwork(dst []byte, a netip.Addr) []byte {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.AppendTo(dst)
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.AppendTo(dst)
	}
	return p.AppendTo(dst)
}
