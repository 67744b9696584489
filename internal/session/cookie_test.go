package session

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// flip changes the character at i to another valid base64url character.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestDecodeCookie(t *testing.T) {
	e := newEnv(t)
	const id = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_-E" // canonical, with the url-safe characters
	valid := e.m.encodeCookie(id)

	other := newEnv(t) // same store layout, different secret
	other.m.keys.init([]byte("another-secret-another-secret-another-secret"))

	// An id whose last character has non-zero padding bits: it decodes to the
	// same bytes as a canonical id under lax base64, so it must be refused
	// even when its MAC is valid.
	nonCanonical := e.m.encodeCookie(id[:idLen-1] + "F")

	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"valid", valid, true},
		{"empty", "", false},
		{"tampered id", flip(valid, 3), false},
		{"tampered mac", flip(valid, cookieLen-5), false},
		{"wrong secret", other.m.encodeCookie(id), false},
		{"truncated by one", valid[:cookieLen-1], false},
		{"id only", valid[:idLen], false},
		{"extended by one", valid + "A", false},
		{"padded", valid + "=", false},
		{"huge", strings.Repeat("A", 1<<20), false},
		{"separator replaced", valid[:idLen] + "A" + valid[idLen+1:], false},
		{"separator moved", valid[:idLen-1] + "." + valid[idLen-1:idLen] + valid[idLen+1:], false},
		{"standard base64 alphabet", e.m.encodeCookie(strings.NewReplacer("-", "+", "_", "/").Replace(id)), false},
		{"non-canonical id with valid mac", nonCanonical, false},
		{"whitespace", " " + valid[1:], false},
		{"mac of another id", valid[:idLen] + e.m.encodeCookie(flip(valid[:idLen], 0))[idLen:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := e.m.decodeCookie(tt.in)
			if ok != tt.ok {
				t.Fatalf("decodeCookie(%.60q) = %q, %v, want ok %v", tt.in, id, ok, tt.ok)
			}
			if ok && e.m.encodeCookie(id) != tt.in {
				t.Fatalf("encodeCookie(decodeCookie(%q)) = %q, want the input back", tt.in, e.m.encodeCookie(id))
			}
		})
	}
}

// TestLoadRejectsBadCookies: every malformed cookie ends in ErrNoSession
// without touching the store.
func TestLoadRejectsBadCookies(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "alice", "")
	good := e.cookie(s)
	m, err := NewManager(testConfig(), appURL(), failingStore{Store: e.st, err: errors.New("store must not be read")}, WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"", s.ID, flip(good, 0), flip(good, cookieLen-1), good + good, good[:cookieLen-2]} {
		if _, err := m.Load(t.Context(), c); !errors.Is(err, ErrNoSession) {
			t.Errorf("Load(%.50q) = %v, want ErrNoSession before any store read", c, err)
		}
	}
}

func FuzzDecodeCookie(f *testing.F) {
	m := newEnv(f).m
	valid := m.encodeCookie(strings.Repeat("x", idLen-1) + "A")
	for _, seed := range []string{valid, "", ".", valid[:idLen], valid + "=", strings.Repeat(".", cookieLen), flip(valid, 10)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id, ok := m.decodeCookie(in)
		if !ok {
			if id != "" {
				t.Fatalf("decodeCookie(%q) = %q, false, want an empty id", in, id)
			}
			return
		}
		// Only exactly what encodeCookie produces is accepted.
		if len(id) != idLen || m.encodeCookie(id) != in {
			t.Fatalf("decodeCookie(%q) accepted id %q, which does not encode back to the input", in, id)
		}
		if raw, err := base64.RawURLEncoding.Strict().DecodeString(id); err != nil || len(raw) != idBytes {
			t.Fatalf("decodeCookie(%q) accepted a malformed id %q", in, id)
		}
	})
}

// setCookie renders c through fiber and parses the Set-Cookie header back,
// so the test sees exactly what the browser gets.
func setCookie(t *testing.T, c *fiber.Cookie) (*fasthttp.Cookie, string) {
	t.Helper()
	app := fiber.New()
	ctx := app.AcquireCtx(&fasthttp.RequestCtx{})
	defer app.ReleaseCtx(ctx)
	ctx.Cookie(c)
	header := string(ctx.Response().Header.Peek(fiber.HeaderSetCookie))
	var parsed fasthttp.Cookie
	if err := parsed.Parse(header); err != nil {
		t.Fatalf("parsing Set-Cookie %q: %v", header, err)
	}
	return &parsed, header
}

// TestCookieAttributes follows each session block through the real loader,
// which names the cookie (from public_url's scheme and cookie_domain) and
// sets SameSite (lax unless same_site says strict), to the Set-Cookie.
func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		public     string
		session    string // more keys of the session block
		wantName   string
		wantSecure bool
		wantDomain string
		wantSame   fasthttp.CookieSameSite
	}{
		{"http", "http://127.0.0.1:8080", "", "gatehouse", false, "", fasthttp.CookieSameSiteLaxMode},
		{"https", "https://app.example", "", "__Host-gatehouse", true, "", fasthttp.CookieSameSiteLaxMode},
		{"https with domain", "https://app.example.com", ", cookie_domain: example.com", "__Secure-gatehouse", true, "example.com", fasthttp.CookieSameSiteLaxMode},
		{"strict", "https://app.example", ", same_site: Strict", "__Host-gatehouse", true, "", fasthttp.CookieSameSiteStrictMode},
		{"custom name", "https://app.example", ", cookie_name: __Host-sess", "__Host-sess", true, "", fasthttp.CookieSameSiteLaxMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("routes.yaml", []byte(`server: {public_url: "`+tt.public+`"}
session: {secret: "`+testSecret+`", absolute_timeout: 2h`+tt.session+`}`))
			if err != nil {
				t.Fatal(err)
			}
			e := newEnvOn(t, cfg.Session, cfg.Server.PublicURL, nil)
			m, clock := e.m, e.clock
			if m.CookieName() != tt.wantName {
				t.Fatalf("CookieName() = %q, want %q", m.CookieName(), tt.wantName)
			}
			s := testSession("alice", "")
			if err := m.New(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			clock.Advance(30 * time.Minute)

			check := func(c *fasthttp.Cookie, header string) {
				t.Helper()
				if string(c.Key()) != tt.wantName || !c.HTTPOnly() || string(c.Path()) != "/" ||
					c.Secure() != tt.wantSecure || string(c.Domain()) != tt.wantDomain || c.SameSite() != tt.wantSame {
					t.Errorf("Set-Cookie = %q, want name %q, HttpOnly, Path=/, Secure %v, Domain %q, SameSite %v",
						header, tt.wantName, tt.wantSecure, tt.wantDomain, tt.wantSame)
				}
			}

			c, header := setCookie(t, m.Cookie(s))
			check(c, header)
			if string(c.Value()) != m.encodeCookie(s.ID) {
				t.Errorf("cookie value = %q, want the signed id", c.Value())
			}
			// Max-Age is what remains of the 2h absolute timeout: 1h30m.
			if c.MaxAge() != int((90 * time.Minute).Seconds()) {
				t.Errorf("Set-Cookie %q: Max-Age = %d, want %d", header, c.MaxAge(), int((90 * time.Minute).Seconds()))
			}

			cleared, header := setCookie(t, m.ClearCookie())
			check(cleared, header)
			if len(cleared.Value()) != 0 || !strings.Contains(header, "max-age=0") {
				t.Errorf("ClearCookie Set-Cookie = %q, want an empty value and max-age=0", header)
			}
		})
	}
}

func TestCookieAfterAbsoluteTimeout(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "alice", "")
	e.clock.Advance(2*time.Hour + time.Second)
	c, header := setCookie(t, e.m.Cookie(s))
	if len(c.Value()) != 0 || !strings.Contains(header, "max-age=0") {
		t.Fatalf("Cookie(ended session) = %q, want a deleting cookie", header)
	}
}

func TestCookieValue(t *testing.T) {
	e := newEnv(t)
	app := fiber.New()
	tests := []struct {
		name   string
		header string
		want   string
	}{
		{"present", "a=1; __Host-gatehouse=abc.def; b=2", "abc.def"},
		{"absent", "a=1; gatehouse=abc", ""},
		{"no cookie header", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rc fasthttp.RequestCtx
			if tt.header != "" {
				rc.Request.Header.Set(fiber.HeaderCookie, tt.header)
			}
			c := app.AcquireCtx(&rc)
			defer app.ReleaseCtx(c)
			if got := e.m.CookieValue(c); got != tt.want {
				t.Fatalf("CookieValue(Cookie: %q) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

// TestCookieNameFromConfig follows a routes.yaml through the real loader
// (whose defaults name the cookie) to the Set-Cookie: with cookie_domain on
// https the cookie is __Secure- (a __Host- cookie cannot carry a Domain),
// Secure and scoped to the domain; without it, host-only __Host-.
func TestCookieNameFromConfig(t *testing.T) {
	tests := []struct {
		name, yaml, wantName, wantDomain string
		wantSecure                       bool
	}{
		{"https, cookie_domain", `server: {public_url: "https://api.example.com"}
session: {secret: "` + testSecret + `", cookie_domain: example.com}`, "__Secure-gatehouse", "example.com", true},
		{"https, host-only", `server: {public_url: "https://api.example.com"}
session: {secret: "` + testSecret + `"}`, "__Host-gatehouse", "", true},
		{"http, cookie_domain", `server: {public_url: "http://api.example.com"}
session: {secret: "` + testSecret + `", cookie_domain: example.com}`, "gatehouse", "example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("routes.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			e := newEnvOn(t, cfg.Session, cfg.Server.PublicURL, nil)
			s := testSession("alice", "")
			if err := e.m.New(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			c := e.m.Cookie(s)
			if c.Name != tt.wantName || c.Domain != tt.wantDomain || c.Secure != tt.wantSecure || !c.HTTPOnly {
				t.Errorf("cookie %s Domain=%q Secure=%v HttpOnly=%v, want %s Domain=%q Secure=%v HttpOnly",
					c.Name, c.Domain, c.Secure, c.HTTPOnly, tt.wantName, tt.wantDomain, tt.wantSecure)
			}
		})
	}
}
