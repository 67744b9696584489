package request

import "net/netip"

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
	// Read only: the map is shared with the other requests of the session.
	Claims map[string]any
	// AccessToken is sent upstream as "Authorization: Bearer <AccessToken>". The
	// proxy step sets it last, so no plugin can forge or remove it.
	AccessToken string
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
