package config

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid config: a secret and nothing else.
const minimal = "session:\n  secret: ${SESSION_SECRET}\n"

func mustParse(t *testing.T, src string, lookup LookupEnv) *Config {
	t.Helper()
	cfg, err := Parse("routes.yaml", []byte(src), WithLookupEnv(lookup))
	if err != nil {
		t.Fatalf("Parse() error:\n%v\nsource:\n%s", err, src)
	}
	return cfg
}

// urlStrings returns the URLs as text, for comparisons.
func urlStrings(us []*url.URL) []string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = u.String()
	}
	return s
}

func TestLoadValid(t *testing.T) {
	cfg, err := Load("testdata/valid.yaml", WithLookupEnv(env()))
	if err != nil {
		t.Fatalf("Load(valid.yaml) = %v", err)
	}
	if len(cfg.Routes) != 3 {
		t.Fatalf("Load(valid.yaml) has %d routes, want 3", len(cfg.Routes))
	}
	users, orders, web := cfg.Routes[0], cfg.Routes[1], cfg.Routes[2]
	tests := []struct {
		name      string
		got, want any
	}{
		{"file", cfg.File, "testdata/valid.yaml"},
		{"max_body", cfg.Server.MaxBody, ByteSize(10 << 20)},
		{"client_secret expanded", cfg.OIDC.ClientSecret, "client-s3cret"},
		{"client_auth with a secret", cfg.OIDC.ClientAuth, "client_secret_basic"},
		{"session secret expanded", cfg.Session.Secret, testSecret},
		{"single upstream", urlStrings(users.Upstreams), []string{"http://127.0.0.1:9101"}},
		{"upstream list", urlStrings(orders.Upstreams), []string{"http://127.0.0.1:9201", "http://127.0.0.1:9202/base"}},
		{"methods upper-cased", users.Methods, []string{"GET", "POST", "PUT", "DELETE"}},
		{"route timeout", users.Timeout.D(), 5 * time.Second},
		{"route timeout default", orders.Timeout.D(), 30 * time.Second},
		{"auth", orders.Auth, AuthBearer},
		{"required_scopes", orders.RequiredScopes, []string{"orders:read"}},
		{"required_claims", orders.RequiredClaims, map[string]string{"tenant": "acme", "roles": "admin"}},
		{"no required_claims", users.RequiredClaims, map[string]string(nil)},
		{"static relative to the file", web.Static, filepath.Join("testdata", "web")},
		{"route plugins", pluginNames(users.Plugins), []string{"cache", "headers", "rate_limit"}},
		{"default plugins merged", pluginNames(orders.Plugins), []string{"headers"}},
		{"merged plugin names its route", orders.Plugins["headers"].Where, `route "orders": plugin headers`},
		{"own plugin replaces default", users.Plugins["headers"].Pos, Position{Line: 38, Col: 7}},
		{"defaults kept", pluginNames(cfg.Defaults.Plugins), []string{"headers"}},
		{"defaults where", cfg.Defaults.Plugins["headers"].Where, "defaults: plugin headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("Load(valid.yaml) %s = %#v, want %#v", tt.name, tt.got, tt.want)
			}
		})
	}
}

func pluginNames(p Plugins) []string {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func TestPositions(t *testing.T) {
	cfg, err := Load("testdata/valid.yaml", WithLookupEnv(env()))
	if err != nil {
		t.Fatalf("Load(valid.yaml) = %v", err)
	}
	tests := []struct {
		name string
		got  Position
		want Position
	}{
		{"server", cfg.Server.Pos, Position{Line: 1, Col: 1}},
		{"oidc", cfg.OIDC.Pos, Position{Line: 7, Col: 1}},
		{"session", cfg.Session.Pos, Position{Line: 15, Col: 1}},
		{"route users", cfg.Routes[0].Pos, Position{Line: 29, Col: 5}},
		{"route orders", cfg.Routes[1].Pos, Position{Line: 42, Col: 5}},
		{"route web", cfg.Routes[2].Pos, Position{Line: 50, Col: 5}},
		{"plugin rate_limit", cfg.Routes[0].Plugins["rate_limit"].Pos, Position{Line: 37, Col: 7}},
		{"plugin cache", cfg.Routes[0].Plugins["cache"].Pos, Position{Line: 41, Col: 7}},
		{"default plugin", cfg.Defaults.Plugins["headers"].Pos, Position{Line: 25, Col: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s Pos = %v, want %v", tt.name, tt.got, tt.want)
			}
		})
	}
	p := cfg.Routes[0].Plugins["rate_limit"]
	var rl struct {
		Rate  int      `yaml:"rate"`
		Per   Duration `yaml:"per"`
		Burst int      `yaml:"burst"`
	}
	if err := p.Decode(&rl); err != nil || rl.Rate != 10 || rl.Per.D() != time.Second || rl.Burst != 20 {
		t.Errorf("Decode(rate_limit) = %+v, %v; want {10 1s 20}, nil", rl, err)
	}
	if got, want := p.ErrorAt("burst", "burst must be <= rate").Error(),
		`testdata/valid.yaml:37:39: route "users": plugin rate_limit: burst must be <= rate`; got != want {
		t.Errorf("ErrorAt(burst) = %q, want %q", got, want)
	}
}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, minimal+"routes:\n  - {name: a, prefix: /a, upstream: \"http://127.0.0.1:1\", methods: [get]}\n", env())
	r := cfg.Routes[0]
	tests := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Server.Listen, "127.0.0.1:8080"},
		{"public_url", cfg.Server.PublicURL.String(), "http://127.0.0.1:8080"},
		{"max_body", cfg.Server.MaxBody, ByteSize(10 << 20)},
		{"max_header_bytes", cfg.Server.MaxHeaderBytes, ByteSize(16 << 10)},
		{"max_uri_length", cfg.Server.MaxURILength, 8192},
		{"read_timeout", cfg.Server.ReadTimeout.D(), 30 * time.Second},
		{"write_timeout", cfg.Server.WriteTimeout.D(), time.Duration(0)},
		{"idle_timeout", cfg.Server.IdleTimeout.D(), 60 * time.Second},
		{"shutdown_timeout", cfg.Server.ShutdownTimeout.D(), 15 * time.Second},
		{"no oidc", cfg.OIDC, (*OIDC)(nil)},
		{"cookie_name over http", cfg.Session.CookieName, "gatehouse"},
		{"same_site", cfg.Session.SameSite, http.SameSiteLaxMode},
		{"csrf_header", cfg.Session.CSRFHeader, "X-CSRF"},
		{"session idle_timeout", cfg.Session.IdleTimeout.D(), 30 * time.Minute},
		{"absolute_timeout", cfg.Session.AbsoluteTimeout.D(), 12 * time.Hour},
		{"store", cfg.Session.Store, "memory"},
		{"max_sessions", cfg.Session.MaxSessions, 100000},
		{"route timeout", r.Timeout.D(), 30 * time.Second},
		{"route auth without oidc", r.Auth, AuthNone},
		{"methods upper-cased", r.Methods, []string{"GET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("default %s = %#v, want %#v", tt.name, tt.got, tt.want)
			}
		})
	}
}

func TestDefaultsDependingOnOtherValues(t *testing.T) {
	oidc := "oidc: {issuer: \"https://idp.example.com\", client_id: gh}\n"
	tests := []struct {
		name string
		src  string
		get  func(*Config) any
		want any
	}{
		{"cookie __Host- over https", "server: {public_url: \"https://app.example.com/\"}\n" + minimal,
			func(c *Config) any { return c.Session.CookieName }, "__Host-gatehouse"},
		{"cookie __Secure- over https with a domain", "server: {public_url: \"https://app.example.com\"}\n" + minimal + "  cookie_domain: example.com\n",
			func(c *Config) any { return c.Session.CookieName }, "__Secure-gatehouse"},
		{"public_url trailing slash trimmed", "server: {public_url: \"https://app.example.com/\"}\n" + minimal,
			func(c *Config) any { return c.Server.PublicURL.String() }, "https://app.example.com"},
		{"public_url from listen", "server: {listen: \"[::1]:9090\"}\n" + minimal,
			func(c *Config) any { return c.Server.PublicURL.String() }, "http://[::1]:9090"},
		{"public_url for an unspecified host", "server: {listen: \":9090\"}\n" + minimal,
			func(c *Config) any { return c.Server.PublicURL.String() }, "http://localhost:9090"},
		{"oidc defaults", oidc + minimal,
			func(c *Config) any {
				o := c.OIDC
				return []any{o.Scopes, o.AllowedAlgorithms, o.RefreshMargin.D(), o.Leeway.D(), o.PostLogoutRedirect.String(), o.ClientAuth}
			},
			[]any{[]string{"openid", "profile", "email", "offline_access"}, []string{"RS256", "ES256", "PS256", "EdDSA"},
				30 * time.Second, 30 * time.Second, "http://127.0.0.1:8080/", "none"}},
		{"post_logout_redirect path on public_url's origin",
			"server: {public_url: \"https://App.Example.com/\"}\noidc: {issuer: \"https://idp.example.com\", client_id: gh, post_logout_redirect: \"/bye?x=1\"}\n" + minimal,
			func(c *Config) any { return c.OIDC.PostLogoutRedirect.String() }, "https://app.example.com/bye?x=1"},
		{"post_logout_redirect absolute as written",
			"oidc: {issuer: \"https://idp.example.com\", client_id: gh, post_logout_redirect: \"https://www.example.com/Bye\"}\n" + minimal,
			func(c *Config) any { return c.OIDC.PostLogoutRedirect.String() }, "https://www.example.com/Bye"},
		{"client_auth basic with a secret", "oidc: {issuer: \"https://idp.example.com\", client_id: gh, client_secret: x}\n" + minimal,
			func(c *Config) any { return c.OIDC.ClientAuth }, "client_secret_basic"},
		{"route auth session with oidc", oidc + minimal + "routes: [{name: a, prefix: /a, upstream: \"http://h\"}]\n",
			func(c *Config) any { return c.Routes[0].Auth }, AuthSession},
		{"same_site in any case", minimal + "  same_site: Strict\n",
			func(c *Config) any { return c.Session.SameSite }, http.SameSiteStrictMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.src, env())
			if got := tt.get(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse() %s = %#v, want %#v", tt.name, got, tt.want)
			}
		})
	}
}

// TestPrefixes checks that server.trusted_proxies and metrics_from come out
// as the prefixes clientip matches against, whatever form they were
// written in, and that metrics_from defaults to loopback.
func TestPrefixes(t *testing.T) {
	tests := []struct {
		name, server string
		trusted      []string
		metrics      []string
	}{
		{"defaults", "{}", nil, []string{"127.0.0.0/8", "::1/128"}},
		{"cidr", "{trusted_proxies: [10.0.0.0/8], metrics_from: [\"2001:db8::/32\"]}", []string{"10.0.0.0/8"}, []string{"2001:db8::/32"}},
		{"host bits masked", "{trusted_proxies: [10.1.2.3/8]}", []string{"10.0.0.0/8"}, []string{"127.0.0.0/8", "::1/128"}},
		{"single addresses", "{trusted_proxies: [192.168.1.1, \"::1\", \"::ffff:10.1.1.1\"]}",
			[]string{"192.168.1.1/32", "::1/128", "10.1.1.1/32"}, []string{"127.0.0.0/8", "::1/128"}},
		{"empty list: nobody", "{metrics_from: []}", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, "server: "+tt.server+"\n"+minimal, env())
			for _, c := range []struct {
				key  string
				got  []netip.Prefix
				want []string
			}{{"trusted_proxies", cfg.Server.TrustedProxies, tt.trusted}, {"metrics_from", cfg.Server.MetricsFrom, tt.metrics}} {
				var got []string
				if c.got != nil {
					got = []string{}
				}
				for _, p := range c.got {
					got = append(got, p.String())
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("server.%s = %q, want %q", c.key, got, c.want)
				}
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	lookup := env("PORT", "9000", "HOST", "api.internal", "LIMIT", "5", "DOLLAR", "$HOME",
		"STRUCT", "{a: 1}\nsession: {secret: x}")
	tests := []struct {
		name string
		src  string
		get  func(*Config) any
		want any
	}{
		{"set", "server: {listen: \"127.0.0.1:${PORT}\"}\n",
			func(c *Config) any { return c.Server.Listen }, "127.0.0.1:9000"},
		{"default used when unset", "server: {listen: \"${NOPE:-127.0.0.1:7000}\"}\n",
			func(c *Config) any { return c.Server.Listen }, "127.0.0.1:7000"},
		{"default used when empty", "server: {listen: \"${EMPTY:-127.0.0.1:7001}\"}\n",
			func(c *Config) any { return c.Server.Listen }, "127.0.0.1:7001"},
		{"plain scalar resolved again as an integer", "server:\n  max_uri_length: ${LIMIT}\n",
			func(c *Config) any { return c.Server.MaxURILength }, 5},
		{"escaped dollar", "oidc: {issuer: \"https://idp\", client_id: \"a$$b\"}\n",
			func(c *Config) any { return c.OIDC.ClientID }, "a$b"},
		{"lone dollar kept", "oidc: {issuer: \"https://idp\", client_id: \"^a$\"}\n",
			func(c *Config) any { return c.OIDC.ClientID }, "^a$"},
		{"value cannot inject YAML structure", "oidc:\n  issuer: \"https://idp\"\n  client_id: ${STRUCT}\n",
			func(c *Config) any { return c.OIDC.ClientID }, "{a: 1}\nsession: {secret: x}"},
		{"value not expanded twice", "oidc: {issuer: \"https://idp\", client_id: \"${DOLLAR}\"}\n",
			func(c *Config) any { return c.OIDC.ClientID }, "$HOME"},
		{"upstream list", "routes: [{name: a, prefix: /a, auth: none, upstream: [\"http://${HOST}:${PORT}\", \"http://b\"]}]\n",
			func(c *Config) any { return urlStrings(c.Routes[0].Upstreams) }, []string{"http://api.internal:9000", "http://b"}},
		{"inside plugin blocks", "routes: [{name: a, prefix: /a, auth: none, upstream: \"http://h\", plugins: {x: {n: \"${LIMIT}\"}}}]\n",
			func(c *Config) any {
				var v struct{ N int }
				if err := c.Routes[0].Plugins["x"].Decode(&v); err != nil {
					return err
				}
				return v.N
			}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, minimal+tt.src, lookup)
			if got := tt.get(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse() %s = %#v, want %#v", tt.name, got, tt.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	lookup := env("A", "alpha", "WITH_BRACE", "x}y")
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "pre-${A}-post", want: "pre-alpha-post"},
		{in: "${A}${A}", want: "alphaalpha"},
		{in: "${EMPTY}", want: ""},
		{in: "${UNSET:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${A:-fallback}", want: "alpha"},
		{in: "${UNSET:-}", want: ""},
		{in: "${WITH_BRACE}", want: "x}y"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "$$$${A}", want: "$${A}"},
		{in: "cost $5", want: "cost $5"},
		{in: "end$", want: "end$"},
		{in: "${UNSET}", err: "environment variable UNSET is not set"},
		{in: "${A", err: `unterminated "${"`},
		{in: "${}", err: `invalid environment variable name ""`},
		{in: "${A B}", err: `invalid environment variable name "A B"`},
		{in: "${9A}", err: `invalid environment variable name "9A"`},
		{in: "${A:default}", err: `invalid environment variable name "A:default"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expand(tt.in, lookup)
			switch {
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("expand(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.err)
			case tt.err == "" && (err != nil || got != tt.want):
				t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestSecretsNotEchoed checks that problems with values that may hold
// secrets never repeat them.
func TestSecretsNotEchoed(t *testing.T) {
	tests := []struct {
		name, src, secret string
	}{
		{"short session secret", "session: {secret: \"tiny-s3cret-value\"}\n", "tiny-s3cret-value"},
		{"short secret from env", "session: {secret: \"${SHORT}\"}\n", "envs3cret"},
		{"store with a password", minimal + "  store: \"redis//:pw-s3cret@host:6379\"\n", "pw-s3cret"},
		{"store with an unknown scheme", minimal + "  store: \"memcache://:pw-s3cret@host\"\n", "pw-s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("routes.yaml", []byte(tt.src), WithLookupEnv(env("SHORT", "envs3cret")))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want one", tt.src)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("Parse(%q) error %q echoes the secret", tt.src, err)
			}
			if !strings.Contains(err.Error(), "routes.yaml:") {
				t.Errorf("Parse(%q) error %q has no position", tt.src, err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(%q) = %v, want an error naming the path and wrapping os.ErrNotExist", path, err)
	}
}

// TestAliasBomb checks that a "billion laughs" document is refused quickly
// instead of being expanded.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(minimal + "defaults:\n  plugins:\n    x:\n      l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i <= 8; i++ {
		b.WriteString("      l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*l" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	cfg, err := Parse("routes.yaml", []byte(b.String()), WithLookupEnv(env()))
	if err != nil {
		t.Fatalf("Parse() = %v; the raw plugin block is not decoded by Parse", err)
	}
	var v struct {
		L8 [][][][][][][][][]string `yaml:"l8"`
	}
	err = cfg.Defaults.Plugins["x"].Decode(&v)
	if err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Errorf("Decode(alias bomb) = %v, want a too complex error", err)
	}
}
