package request

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestClientNetwork(t *testing.T) {
	tests := []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an ip", "not an ip"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ClientNetwork(tt.in); got != tt.want {
				t.Errorf("ClientNetwork(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzClientNetwork: the key of an IPv4 address (mapped or not) is the
// address; an IPv6 address's key is its /64, shared by every address of
// that /64; nothing panics.
func FuzzClientNetwork(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "::ffff:10.0.0.1", "2001:db8::1", "fe80::1%eth0", "", "::", "1.2.3.4.5", "[::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		key := ClientNetwork(in)
		a, err := netip.ParseAddr(in)
		if err != nil {
			if key != in {
				t.Fatalf("ClientNetwork(%q) = %q, want the input for an unparsable address", in, key)
			}
			return
		}
		a = a.Unmap().WithZone("")
		if a.Is4() {
			if key != a.String() {
				t.Fatalf("ClientNetwork(%q) = %q, want %q", in, key, a.String())
			}
			return
		}
		p, err := netip.ParsePrefix(key)
		if err != nil || p.Bits() != 64 || !p.Contains(a) {
			t.Fatalf("ClientNetwork(%q) = %q, want the /64 holding it", in, key)
		}
		// Another address of the same /64 shares the key.
		b := a.As16()
		b[15] ^= 0xff
		if other := ClientNetwork(netip.AddrFrom16(b).String()); other != key {
			t.Fatalf("ClientNetwork of a neighbour of %q = %q, want %q", in, other, key)
		}
	})
}

// The allocation-free forms agree with ClientIP and ClientNetwork, for the
// peer and for addresses resolved through trusted proxies.
func TestAppendClientIPAndNetwork(t *testing.T) {
	for _, resolved := range []string{"", "203.0.113.7", "::ffff:203.0.113.7", "2001:db8:1:2:3:4:5:6"} {
		t.Run(resolved, func(t *testing.T) {
			app := fiber.New()
			app.Get("/", func(c *fiber.Ctx) error {
				s := From(c) // the peer, 0.0.0.0 under app.Test
				if resolved != "" {
					s.Client = netip.MustParseAddr(resolved)
				}
				if got, want := string(s.AppendClientIP([]byte("x"))), "x"+s.ClientIP(); got != want {
					t.Errorf("AppendClientIP = %q, want %q", got, want)
				}
				if got, want := string(s.AppendClientNetwork([]byte("x"))), "x"+ClientNetwork(s.ClientIP()); got != want {
					t.Errorf("AppendClientNetwork = %q, want %q", got, want)
				}
				if From(c) != s {
					t.Error("From returned another State the second time")
				}
				return nil
			})
			resp, err := app.Test(httptest.NewRequest("GET", "/", nil))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
	var unknown State
	if unknown.ClientIP() != "" || len(unknown.AppendClientIP(nil)) != 0 || len(unknown.AppendClientNetwork(nil)) != 0 {
		t.Error("an unknown client has an address")
	}
}
