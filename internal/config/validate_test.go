package config

import (
	"net/url"
	"strings"
	"testing"
)

func TestCheckPrefix(t *testing.T) {
	tests := []struct {
		in   string
		want string // substring of the problem; "" for a valid prefix
	}{
		{"/", ""},
		{"/api", ""},
		{"/api/v1", ""},
		{"/api/users:batch", ""},
		{"/a-b_c.d~e", ""},
		{"/authx", ""}, // only /auth and below are reserved
		{"/metricsapi", ""},
		{"", `start with "/"`},
		{"api", `start with "/"`},
		{"/api/", `end with "/"`},
		{"//api", `"//"`},
		{"/api//v1", `"//"`},
		{"/api/./v1", `"." or ".."`},
		{"/api/..", `"." or ".."`},
		{"/..", `"." or ".."`},
		{"/api%2e%2e", "'%'"},
		{"/api v1", "' '"},
		{"/api?x=1", "'?'"},
		{"/api#x", "'#'"},
		{"/api\\v1", `'\\'`},
		{"/auth", "reserved"},
		{"/auth/callback", "reserved"},
		{"/healthz", "reserved"},
		{"/readyz", "reserved"},
		{"/metrics", "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := checkPrefix(tt.in)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("checkPrefix(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckHTTPURL(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"http://127.0.0.1:9000", ""},
		{"https://api.internal", ""},
		{"http://[::1]:8080/base/path", ""},
		{"htp://x", "not an http(s) URL"},
		{"ftp://x", "not an http(s) URL"},
		{"127.0.0.1:9000", "not"},
		{"/relative", "not an http(s) URL"},
		{"http://", "no host"},
		{"http://:80", "no host"},
		{"http://u:p@h", "credentials"},
		{"http://h/?a=1", "query or fragment"},
		{"http://h/?", "query or fragment"},
		{"http://h/#frag", "query or fragment"},
		{"http://h:0", "invalid port"},
		{"http://h:65536", "invalid port"},
		{"http://h/a%2Fb", "%-encoding"},
		{"http://h\x00", "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := checkHTTPURL(tt.in, true)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("checkHTTPURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckOrigin(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"http://127.0.0.1:8080", true},
		{"https://app.example.com", true},
		{"https://app.example.com/app", false},
		{"https://app.example.com?x", false},
		{"app.example.com", false},
	}
	for _, tt := range tests {
		if got := checkOriginText(tt.in); (got == "") != tt.ok {
			t.Errorf("checkOrigin(%q) = %q, want ok %v", tt.in, got, tt.ok)
		}
	}
}

// TestCheckCSRFHeader covers the rule that the CSRF header must be one a
// cross-site page cannot send without a preflight, and one the SPA can set.
func TestCheckCSRFHeader(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"X-CSRF", true},
		{"X-Requested-With", true},
		{"x-csrf-token", true},
		{"Accept", false},
		{"accept-language", false},
		{"Content-Language", false},
		{"Content-Type", false},
		{"Range", false},
		{"Cookie", false},
		{"Origin", false},
		{"Sec-Fetch-Site", false},
		{"Proxy-Authorization", false},
		{"X CSRF", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := checkCSRFHeader(tt.in); (got == "") != tt.ok {
				t.Errorf("checkCSRFHeader(%q) = %q, want ok %v", tt.in, got, tt.ok)
			}
		})
	}
}

func TestCheckCookieDomain(t *testing.T) {
	tests := []struct {
		domain, publicURL string
		ok                bool
	}{
		{"example.com", "https://app.example.com", true},
		{".example.com", "https://app.example.com", true},
		{"app.example.com", "https://app.example.com", true},
		{"EXAMPLE.com", "https://app.example.com", true},
		{"example.org", "https://app.example.com", false},
		{"ample.com", "https://app.example.com", false}, // suffix, but not on a label boundary
		{"example.com", "http://127.0.0.1:8080", false},
		{"example.com:443", "https://app.example.com", false},
		{"exa mple.com", "https://app.example.com", false},
		{"a..com", "https://a..com", false},
	}
	for _, tt := range tests {
		t.Run(tt.domain+" "+tt.publicURL, func(t *testing.T) {
			pub, err := url.Parse(tt.publicURL)
			if err != nil {
				t.Fatal(err)
			}
			if got := checkCookieDomain(tt.domain, pub); (got == "") != tt.ok {
				t.Errorf("checkCookieDomain(%q, %q) = %q, want ok %v", tt.domain, tt.publicURL, got, tt.ok)
			}
		})
	}
}

func TestIsLocalPath(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"/", true},
		{"/login-failed", true},
		{"/a/b?x=1", true},
		{"//evil.example", false},
		{`/\evil.example`, false},
		{"https://evil.example/", false},
		{"evil", false},
		{"/a\r\nLocation: x", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isLocalPath(tt.in); got != tt.ok {
			t.Errorf("isLocalPath(%q) = %v, want %v", tt.in, got, tt.ok)
		}
	}
}

// TestValidationRules checks each rule through Parse: a config that breaks
// exactly one rule must report it (at a position) and nothing else.
func TestValidationRules(t *testing.T) {
	oidc := "oidc:\n  issuer: https://idp.example.com\n  client_id: gh\n"
	route := "routes:\n  - name: api\n    prefix: /api\n    upstream: http://127.0.0.1:9000\n"
	tests := []struct {
		name, src, want string
	}{
		{"alg none", oidc + "  allowed_algorithms: [none]\n" + minimal, `"none" is not allowed`},
		{"alg HS256", oidc + "  allowed_algorithms: [RS256, HS256]\n" + minimal, `"HS256" is not allowed`},
		{"alg HS512", oidc + "  allowed_algorithms: [HS512]\n" + minimal, `"HS512" is not allowed`},
		{"alg lower case", oidc + "  allowed_algorithms: [rs256]\n" + minimal, `"rs256" is not allowed`},
		{"alg unknown", oidc + "  allowed_algorithms: [XX999]\n" + minimal, `"XX999" is not allowed`},
		{"post_logout_redirect another host's path", oidc + "  post_logout_redirect: //evil.example/x\n" + minimal, "must be a path"},
		{"post_logout_redirect relative", oidc + "  post_logout_redirect: bye\n" + minimal, "must be a path"},
		{"issuer missing", "oidc:\n  client_id: gh\n" + minimal, "oidc.issuer is required"},
		{"client_id missing", "oidc:\n  issuer: https://idp.example.com\n" + minimal, "oidc.client_id is required"},
		{"client_secret_post without secret", oidc + "  client_auth: client_secret_post\n" + minimal, "needs oidc.client_secret"},
		{"none with a secret", oidc + "  client_auth: none\n  client_secret: x\n" + minimal, "client_secret is set"},
		{"same_site none", minimal + "  same_site: none\n", `"lax" or "strict"`},
		{"__Host- over http", minimal + "  cookie_name: __Host-x\n", "__Host- prefix"},
		{"__Host- lower case over http", minimal + "  cookie_name: __host-x\n", "__Host- prefix"},
		{"__Secure- over http", minimal + "  cookie_name: __Secure-x\n", "__Secure- prefix"},
		{"__Host- with a domain", "server:\n  public_url: https://a.example.com\n" + minimal + "  cookie_name: __Host-x\n  cookie_domain: example.com\n", "__Host- prefix"},
		{"cookie name not a token", minimal + "  cookie_name: \"a;b\"\n", "not a valid cookie name"},
		{"idle zero", minimal + "  idle_timeout: -1s\n", "idle_timeout must be greater than 0"},
		{"absolute below idle", minimal + "  idle_timeout: 2h\n  absolute_timeout: 1h\n", "must not exceed"},
		{"store scheme", minimal + "  store: memcache://h\n", "session.store"},
		{"store without host", minimal + "  store: redis://\n", "session.store"},
		{"listen without port", "server:\n  listen: 127.0.0.1\n" + minimal, "not host:port"},
		{"listen bad port", "server:\n  listen: 127.0.0.1:http\n" + minimal, "not host:port"},
		{"public_url with a path", "server:\n  public_url: https://a.example.com/app\n" + minimal, "without a path"},
		{"public_url not http", "server:\n  public_url: ws://a.example.com\n" + minimal, "not an http(s) URL"},
		{"public_url not a URL", "server:\n  public_url: \"http://[::1\"\n" + minimal, `server.public_url "http://[::1" is not a valid URL`},
		{"public_url with an empty fragment", "server:\n  public_url: \"https://a.example.com/#\"\n" + minimal, "must not have a query or fragment"},
		{"public_url a mapping", "server:\n  public_url: {a: b}\n" + minimal, "want a URL"},
		{"trusted proxy", "server:\n  trusted_proxies: [10.0.0.0/8, bogus]\n" + minimal, `"bogus" is not an IP address or CIDR`},
		{"trusted proxy prefix too long", "server:\n  trusted_proxies: [10.0.0.0/33]\n" + minimal, `"10.0.0.0/33" is not an IP address or CIDR`},
		{"trusted proxy host name", "server:\n  trusted_proxies: [example.com]\n" + minimal, `"example.com" is not an IP address or CIDR`},
		{"trusted proxy empty", "server:\n  trusted_proxies: [\"\"]\n" + minimal, `"" is not an IP address or CIDR`},
		{"metrics_from null entry", "server:\n  metrics_from: [~]\n" + minimal, "server.metrics_from: want an IP address or CIDR"},
		{"max_header_bytes negative", "server:\n  max_header_bytes: -1\n" + minimal, "want a size"},
		{"route auth needs oidc", minimal + route + "    auth: bearer\n", "auth bearer needs an oidc block"},
		{"route default auth is session with oidc", oidc + minimal + route + "    methods: [GET, \"G(T\"]\n", `method "G(T"`},
		{"upstream does not parse", minimal + "routes:\n  - {name: a, prefix: /a, upstream: \"http://h:port:x/\"}\n", `upstream "http://h:port:x/" is not a valid URL`},
		{"upstream in a list with a query", minimal + "routes:\n  - {name: a, prefix: /a, upstream: [\"http://h\", \"http://g/?x\"]}\n", `upstream "http://g/?x" must not have a query`},
		{"duplicate route name", oidc + minimal + route + "  - name: api\n    prefix: /b\n    upstream: http://h\n", "name is already used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("routes.yaml", []byte(tt.src), WithLookupEnv(env()))
			if err == nil {
				t.Fatalf("Parse() = nil error, want %q\nsource:\n%s", tt.want, tt.src)
			}
			list := err.(ErrorList)
			if len(list) != 1 || !strings.Contains(list[0].Msg, tt.want) || list[0].Line == 0 {
				t.Errorf("Parse() error =\n%v\nwant exactly one positioned problem containing %q", err, tt.want)
			}
		})
	}
}
