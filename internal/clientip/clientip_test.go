package clientip

import (
	"net/netip"
	"testing"
)

func TestResolve(t *testing.T) {
	r := New(prefixes("10.0.0.0/8", "192.168.1.1/32", "::1/128"))
	tests := []struct {
		name, peer, xff, want string
	}{
		{"untrusted peer ignores xff", "203.0.113.9", "1.2.3.4", "203.0.113.9"},
		{"trusted peer, no xff", "10.1.1.1", "", "10.1.1.1"},
		{"trusted peer, one client", "10.1.1.1", "198.51.100.7", "198.51.100.7"},
		{"spoofed left-most entry is not believed", "10.1.1.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"},
		{"chain of trusted proxies", "10.1.1.1", "198.51.100.7, 10.2.2.2, 192.168.1.1", "198.51.100.7"},
		{"all trusted gives left-most", "10.1.1.1", "10.3.3.3, 10.2.2.2", "10.3.3.3"},
		{"garbage stops the walk", "10.1.1.1", "198.51.100.7, not-an-ip, 10.2.2.2", "10.2.2.2"},
		{"ipv4-mapped peer", "::ffff:10.1.1.1", "198.51.100.7", "198.51.100.7"},
		{"ipv6 loopback trusted", "::1", "2001:db8::1", "2001:db8::1"},
		{"untrusted single address neighbour", "192.168.1.2", "1.1.1.1", "192.168.1.2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Resolve(netip.MustParseAddr(tc.peer), []byte(tc.xff))
			if got.String() != tc.want {
				t.Errorf("Resolve(%s, %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

// prefixes parses CIDRs as config gives them to New.
func prefixes(cidrs ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, c := range cidrs {
		ps = append(ps, netip.MustParsePrefix(c))
	}
	return ps
}

func FuzzResolve(f *testing.F) {
	r := New(prefixes("10.0.0.0/8"))
	for _, s := range []string{"", "1.2.3.4", "1.2.3.4, 10.0.0.1", ",,,", " , 10.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, xff string) {
		got := r.Resolve(netip.MustParseAddr("10.0.0.1"), []byte(xff))
		if !got.IsValid() {
			t.Fatalf("Resolve(%q) returned an invalid address", xff)
		}
	})
}
