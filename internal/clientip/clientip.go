// Package clientip finds the real client address of a request that may have
// come through trusted reverse proxies.
//
// X-Forwarded-For is a list every hop appends to, so only its right-hand part,
// written by proxies we trust, is believable: the client address is the
// right-most entry that is not a trusted proxy. A request whose direct peer is
// not trusted is taken at its word of nothing: the peer is the client. (Taking
// the left-most entry, as many hand-written BFFs do, lets any client choose its
// own IP for rate limits and logs.)
package clientip

import (
	"bytes"
	"net/netip"
)

// Resolver decides which addresses are trusted proxies.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns the Resolver that trusts the proxies in trusted, prefixes as
// config gives server.trusted_proxies (masked, single addresses at full
// length, IPv4-mapped addresses as IPv4). It keeps trusted.
func New(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: trusted}
}

// Trusted reports whether addr is a trusted proxy.
func (r *Resolver) Trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range r.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Any reports whether any proxy is trusted at all.
func (r *Resolver) Any() bool { return len(r.trusted) > 0 }

// Resolve returns the client address for a request from peer carrying the
// X-Forwarded-For value xff (possibly empty, possibly several header lines
// joined with ","). Malformed entries stop the walk: what lies left of them
// cannot be trusted, so the last good address is the answer.
func (r *Resolver) Resolve(peer netip.Addr, xff []byte) netip.Addr {
	peer = peer.Unmap()
	if !r.Trusted(peer) || len(xff) == 0 {
		return peer
	}
	client := peer
	for len(xff) > 0 {
		i := bytes.LastIndexByte(xff, ',')
		entry := bytes.TrimSpace(xff[i+1:])
		if i < 0 {
			xff = nil
		} else {
			xff = xff[:i]
		}
		a, err := netip.ParseAddr(string(entry))
		if err != nil {
			return client
		}
		a = a.Unmap()
		client = a
		if !r.Trusted(a) {
			return a
		}
	}
	return client
}
