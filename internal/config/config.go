// Package config turns routes.yaml into a typed, validated Config.
//
// Every value keeps the position it was read from, so that each problem can be
// reported in compiler form, FILE:LINE:COL: message. Loading expands ${VAR} and
// ${VAR:-default} from the environment, rejects unknown keys, applies defaults in
// one place (defaults.go) and collects every problem before returning.
//
// Environment expansion works on scalar values (never on keys) after the YAML
// is parsed, so positions stay those of the file. ${VAR} with VAR unset is an
// error ("environment variable VAR is not set"): a missing secret must not
// silently become "". ${VAR:-default} uses default when VAR is unset or empty;
// $$ is a literal "$"; any other "$" is kept as written. An expanded plain
// scalar is typed again from its new text, so `max_uri_length: ${N}` is an
// integer.
//
// A zero value in the file (an absent key, an empty value, 0, "0s") means
// "use the default" for every field that has one.
//
// Plugin blocks are kept raw (PluginConfig); plugin names are not checked
// here but by the server against the plugins registry.
package config

import (
	"net/http"
	"net/netip"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/conf"
)

// Config is a whole, validated routes.yaml.
type Config struct {
	// File is the path the config was loaded from; used in error messages.
	File string `yaml:"-"`

	Server   Server   `yaml:"server"`
	OIDC     *OIDC    `yaml:"oidc"` // nil when the file has no oidc block (only auth: none routes allowed)
	Session  Session  `yaml:"session"`
	Defaults Defaults `yaml:"defaults"`
	Routes   []Route  `yaml:"routes"`

	// CORS, when set, lets the listed browser origins call every route and
	// /auth/me and /auth/logout with credentials (split-origin deployments);
	// a route's own cors block replaces it for that route. Read at start-up
	// only (a reload that changes it is refused).
	CORS *CORS `yaml:"cors"`
}

// Server holds the listener settings and the limits applied to every client.
type Server struct {
	// Listen is the address to listen on. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// PublicURL is the origin the browser sees (scheme://host[:port]); the
	// redirect_uri is PublicURL + "/auth/callback". Default "http://" + Listen.
	// After loading it is an http or https URL with a host and nothing
	// else (no path, not even "/"; no user info, query or fragment); its
	// scheme is lower case.
	PublicURL *url.URL `yaml:"public_url"`
	// TrustedProxies lists CIDRs (or single IPs) whose X-Forwarded-* headers are
	// believed. Default none: the connection's peer address is the client.
	// After loading each is a masked prefix (10.1.2.3/8 is 10.0.0.0/8; a
	// single address is a prefix of its full length, an IPv4-mapped IPv6
	// address its IPv4 form).
	TrustedProxies []netip.Prefix `yaml:"trusted_proxies"`
	// MetricsFrom lists the CIDRs (or single IPs) allowed to read /metrics;
	// everyone else gets 404 (its labels name routes and upstream targets).
	// The client address is resolved through TrustedProxies. Default
	// loopback only: [127.0.0.0/8, ::1]. Prefixes as for TrustedProxies.
	MetricsFrom []netip.Prefix `yaml:"metrics_from"`
	// MaxBody is the request body limit in bytes ("10MB" in YAML). Default 10 MiB.
	MaxBody ByteSize `yaml:"max_body"`
	// MaxHeaderBytes bounds the request line plus headers; larger → 431. Default 16 KiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxURILength bounds the request URI; longer → 414. Default 8192.
	MaxURILength int `yaml:"max_uri_length"`
	// ReadTimeout bounds reading a whole request (headers and body). Default 30s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response. Default 0 = none (streamed
	// downloads and SSE would be cut otherwise); IdleTimeout still applies.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long. Default 60s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// ShutdownTimeout is how long in-flight requests may finish after SIGTERM. Default 15s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// MaxConnections bounds the client connections served at once (fasthttp's
	// Concurrency); beyond it a new connection gets a 503 and is closed.
	// Default 10000.
	MaxConnections int `yaml:"max_connections"`
	// ReadyRequires names routes whose upstream must have a reachable target
	// for /readyz to answer 200. Default none: readiness reports this
	// process's own ability to serve, and upstream health is only reported.
	ReadyRequires []string `yaml:"ready_requires"`
	// ErrorPages is a directory of Go html/template files that replace the
	// built-in HTML error page browser navigations get (internal/errorpage):
	// NNN.html for one status, error.html for the others. Relative to the
	// config file; parsed and trial-run at load. Default none: the
	// built-in page. Read only at start-up.
	ErrorPages string `yaml:"error_pages"`
	// TLS, when set, makes server.listen serve HTTPS itself: with a
	// certificate from files (re-read on SIGHUP and when they change) or
	// from ACME. Needs an https public_url. Default none: plain HTTP (TLS
	// ends in front of gatehouse, or nowhere in development).
	TLS *TLS `yaml:"tls"`
	// RedirectHTTP is an address (":80") for a second, plain-HTTP listener
	// that answers every request with 308 to public_url's origin plus the
	// request's path and query (never the request's Host header), and
	// serves ACME HTTP-01 challenges when tls.acme is set. Needs an https
	// public_url. Default none.
	RedirectHTTP string `yaml:"redirect_http"`
	// HSTS is the Strict-Transport-Security header sent on server.listen's
	// responses when public_url is https; never on plain-http public_url
	// nor on the redirect_http listener.
	HSTS HSTS `yaml:"hsts"`

	Pos Position `yaml:"-"`
}

// TLS configures HTTPS on server.listen: exactly one of a certificate pair
// (CertFile and KeyFile) or ACME. TLS 1.2 is the least version accepted,
// with Go's default cipher suites and curves.
type TLS struct {
	// CertFile is a PEM file holding the certificate, optionally followed
	// by its intermediate chain. A relative path is relative to the config
	// file's directory.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile's certificate (relative
	// paths as for CertFile).
	KeyFile string `yaml:"key_file"`
	// ACME, when set, obtains and renews the certificate from an ACME CA
	// (Let's Encrypt by default) instead of CertFile/KeyFile.
	ACME *ACME `yaml:"acme"`
}

// ACME configures automatic certificates (golang.org/x/crypto/acme/autocert).
// The CA validates a domain by TLS-ALPN-01 on server.listen (which must be
// reachable on port 443) or by HTTP-01 on server.redirect_http (port 80).
type ACME struct {
	// Domains are the host names certificates are requested for; a TLS
	// handshake for any other name is refused. Required.
	Domains []string `yaml:"domains"`
	// Email is the contact address given to the CA (expiry notices). Optional.
	Email string `yaml:"email"`
	// CacheDir holds the account key and the certificates across restarts
	// (and between replicas sharing it). Required: without it every start
	// would ask the CA anew and soon hit its rate limits. A relative path is
	// relative to the config file's directory.
	CacheDir string `yaml:"cache_dir"`
	// DirectoryURL is the CA's ACME directory. Default Let's Encrypt's
	// production directory.
	DirectoryURL string `yaml:"directory_url"`
}

// HSTS configures the Strict-Transport-Security response header (RFC 6797).
type HSTS struct {
	// Enabled defaults to true when public_url is https and is refused as
	// true with an http public_url.
	Enabled *bool `yaml:"enabled"`
	// MaxAge is how long browsers keep to https for this host; whole
	// seconds. Default 8760h (one year).
	MaxAge Duration `yaml:"max_age"`
	// IncludeSubdomains adds includeSubDomains: every subdomain too.
	// Default false.
	IncludeSubdomains bool `yaml:"include_subdomains"`
	// Preload adds preload (asking to be on browsers' built-in lists);
	// it needs include_subdomains and a max_age of at least a year.
	// Default false: preloading is hard to undo, so only on request.
	Preload bool `yaml:"preload"`
}

// OIDC configures the relying party (the gateway's login against the IdP).
type OIDC struct {
	// Issuer is the IdP's issuer URL; discovery reads Issuer + "/.well-known/openid-configuration".
	Issuer string `yaml:"issuer"`
	// ClientID is the gateway's client_id at the IdP. Required.
	ClientID string `yaml:"client_id"`
	// ClientSecret is empty for a public client.
	ClientSecret string `yaml:"client_secret"`
	// ClientAuth is "client_secret_basic" (default with a secret),
	// "client_secret_post", or "none" (default without a secret: a public client).
	ClientAuth string `yaml:"client_auth"`
	// Scopes requested at login. Default [openid, profile, email, offline_access].
	Scopes []string `yaml:"scopes"`
	// AuthorizeParams are extra query parameters of the authorization
	// request, the browser's redirect to the IdP: Auth0's audience (JWT
	// access tokens), Google's access_type: offline and prompt: consent
	// (refresh tokens), Entra's domain_hint. Default none. Refused at load:
	// the parameters gatehouse sets itself (response_type, client_id,
	// redirect_uri, scope, state, nonce, code_challenge,
	// code_challenge_method), those that would replace its request
	// (response_mode, request, request_uri), client credentials
	// (client_secret, client_assertion, client_assertion_type), in any
	// case; empty names and values; and prompt none, which fails every
	// login of a user not signed in at the IdP.
	AuthorizeParams map[string]string `yaml:"authorize_params"`
	// RefreshMargin: access tokens are refreshed this long before they expire. Default 30s.
	RefreshMargin Duration `yaml:"refresh_margin"`
	// PostLogoutRedirect is where the IdP sends the browser after end-session;
	// a path is resolved against server.public_url. Default "/". After
	// loading it is an absolute http(s) URL (a path resolved against
	// public_url's origin, its host in lower case).
	PostLogoutRedirect *url.URL `yaml:"post_logout_redirect"`
	// ErrorRedirect, when set, is a same-origin path the browser is sent to when
	// login fails (with ?error=...); otherwise a JSON error is returned.
	ErrorRedirect string `yaml:"error_redirect"`
	// AllowedAlgorithms is the JWS algorithm allowlist for ID and access tokens.
	// Default [RS256, ES256, PS256, EdDSA]. "none" and HS* are refused at load.
	AllowedAlgorithms []string `yaml:"allowed_algorithms"`
	// Leeway is the clock skew tolerated on exp/iat/nbf. Default 30s.
	Leeway Duration `yaml:"leeway"`

	Pos Position `yaml:"-"`
}

// Session configures the server-side session and its cookie.
type Session struct {
	// Secret signs/encrypts the session cookie and stored sessions; >= 32 bytes. Required.
	Secret string `yaml:"secret"`
	// CookieName defaults to "__Host-gatehouse" when public_url is https and
	// there is no CookieDomain, "__Secure-gatehouse" when it is https with a
	// CookieDomain, else "gatehouse".
	CookieName string `yaml:"cookie_name"`
	// CookieDomain, when set, scopes the cookie to a parent domain (no __Host- prefix then).
	CookieDomain string `yaml:"cookie_domain"`
	// SameSite is the cookie's SameSite attribute: "lax" (default) or
	// "strict", in any case; http.SameSiteLaxMode or http.SameSiteStrictMode
	// after loading, never another value.
	SameSite http.SameSite `yaml:"same_site"`
	// CSRFHeader must be present (value "1") on cookie-authenticated requests. Default "X-CSRF".
	CSRFHeader string `yaml:"csrf_header"`
	// IdleTimeout ends a session unused this long. Default 30m.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// AbsoluteTimeout ends a session this long after login, used or not. Default 12h.
	AbsoluteTimeout Duration `yaml:"absolute_timeout"`
	// Store is "memory" (default) or a redis:// / rediss:// URL.
	Store string `yaml:"store"`
	// MaxSessions bounds the memory store. Default 100000.
	MaxSessions int `yaml:"max_sessions"`

	Pos Position `yaml:"-"`
}

// Defaults holds settings applied to every route unless the route overrides them.
type Defaults struct {
	// Plugins are merged into each route's plugins; a route's own entry for the
	// same plugin name replaces the default entry whole.
	Plugins Plugins `yaml:"plugins"`
}

// AuthMode says how a route authenticates its callers.
type AuthMode string

// The route auth modes.
const (
	AuthSession AuthMode = "session" // a browser session cookie (default)
	AuthBearer  AuthMode = "bearer"  // an inbound Authorization: Bearer JWT
	AuthAny     AuthMode = "any"     // either of the above
	AuthNone    AuthMode = "none"    // public: forwarded without a token
)

// Route maps a path prefix to an upstream (or a static directory).
type Route struct {
	// Name identifies the route in logs, metrics and errors. Required, unique.
	Name string `yaml:"name"`
	// Prefix is matched on a path-segment boundary after path normalisation. Required, unique.
	Prefix string `yaml:"prefix"`
	// Upstreams are the target base URLs, load-balanced round-robin. YAML accepts
	// one URL or a list under "upstream". Exactly one of upstream and static is
	// required. Each is an absolute http(s) URL with a host and no credentials,
	// query or fragment; its path, if any, is a base path (never %-encoded).
	Upstreams []*url.URL `yaml:"upstream,single"`
	// Static is a directory served for this prefix (SPA with index.html
	// fallback). A relative path is made relative to the config file's
	// directory at load, and the directory must exist.
	Static string `yaml:"static"`
	// StripPrefix removes Prefix from the path before forwarding. Default false.
	StripPrefix bool `yaml:"strip_prefix"`
	// AllowPathParams lets paths with ";" parameters in a segment (RFC 3986
	// §3.3: /a;v=1/b) reach this route: matching uses each segment without its
	// ";..." part and the upstream gets the path as sent. Default false: a
	// segment holding ";" or "%3B" is refused with 400 before matching, since
	// Tomcat, Jetty and Spring strip the parameter and would serve a path no
	// route authorised.
	AllowPathParams bool `yaml:"allow_path_params"`
	// Methods is an optional allow-list, upper-cased at load; others get 405.
	Methods []string `yaml:"methods"`
	// Timeout bounds the upstream round trip (until response headers), and
	// is the request's deadline from the moment it is routed: every I/O the
	// request causes (session store, IdP, plugin backends) takes a context
	// that ends then. Default 30s.
	Timeout Duration `yaml:"timeout"`
	// WebSocket lets the route carry WebSocket upgrades (RFC 6455). A GET
	// with Connection: upgrade, Upgrade: websocket, Sec-WebSocket-Version:
	// 13 and a Sec-WebSocket-Key passes the auth gate and the route's
	// plugins (the cache plugin does not run on a websocket route), is sent
	// to the upstream with the gateway's Authorization, and after the
	// upstream's 101 gatehouse relays bytes both ways. A cookie-authenticated
	// handshake must carry an Origin equal to public_url's origin or one of
	// the route's cors allowed_origins (else 403): the Origin check stands in
	// for the CSRF header, which a browser's WebSocket cannot send. A
	// session's sockets are closed (1008) when it ends. Needs an upstream.
	// Default false.
	WebSocket bool `yaml:"websocket"`
	// WebSocketMaxConnections bounds the route's open WebSockets (on this
	// process); a handshake beyond it gets 503 before the upstream is asked.
	// Default 1000.
	WebSocketMaxConnections int `yaml:"websocket_max_connections"`
	// WebSocketIdleTimeout closes a WebSocket through which no byte has
	// passed, either way, for this long. Default 5m.
	WebSocketIdleTimeout Duration `yaml:"websocket_idle_timeout"`
	// Auth is how callers authenticate. Default "session" (or "none" when the file has no oidc block).
	Auth AuthMode `yaml:"auth"`
	// Audience is the aud a bearer token must carry on this route. Default oidc.client_id.
	Audience string `yaml:"audience"`
	// RequiredScopes must all be granted to a bearer token: each must be in
	// its "scope" claim (space-separated) or its "scp" claim (a list, or a
	// space-separated string). Otherwise 403 with WWW-Authenticate: Bearer
	// error="insufficient_scope" (RFC 6750 §3.1). Only with auth bearer or
	// any, and checked on bearer tokens only: a session (the browser app on
	// an auth: any route) carries no scopes; restrict sessions with
	// RequiredClaims. Each must be an RFC 6749 scope-token.
	RequiredScopes []string `yaml:"required_scopes"`
	// RequiredClaims maps a claim name to the value the caller's claim must
	// have: equal to it (a string, or a number or boolean written as in
	// JSON), or, when the claim is a list, one of its elements. All must
	// match. Checked on the bearer token's claims, and on a session's ID
	// token claims (auth session, and any with a cookie); otherwise 403
	// (bearer: WWW-Authenticate error="insufficient_scope"). Not with auth
	// none. Names and values must not be empty.
	RequiredClaims map[string]string `yaml:"required_claims"`
	// Plugins maps plugin names to their config; the run order is each
	// plugin's phase. After loading it also holds the defaults.plugins
	// entries the route did not override (with Where naming this route).
	Plugins Plugins `yaml:"plugins"`
	// CORS replaces the top-level cors block for this route (nil: the
	// top-level one applies). An empty allowed_origins turns CORS off here.
	CORS *CORS `yaml:"cors"`

	Pos Position `yaml:"-"`
}

// CORS is a cross-origin policy for browser calls with credentials
// (Fetch standard §3.2): exact origins only, never a wildcard.
type CORS struct {
	// AllowedOrigins are the origins (scheme://host[:port], as a browser
	// sends them in Origin) allowed to call with the session cookie. No
	// wildcard, no "null", no path; http origins only while public_url is
	// http. Lower-cased, and a default port dropped, at load.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MaxAge is how long a browser may cache a preflight's answer
	// (Access-Control-Max-Age, whole seconds). Default 10m; at most 24h.
	MaxAge Duration `yaml:"max_age"`

	Pos Position `yaml:"-"`
}

// The types a plugin names live in the public package conf, so that a
// plugin in another module compiles; config uses them under these names.
type (
	// Plugins maps a plugin name to its raw YAML block.
	Plugins = conf.Plugins
	// PluginConfig is one plugin's raw YAML block (see conf.PluginConfig).
	PluginConfig = conf.PluginConfig
	// Problems collects every problem of one plugin block (see conf.Problems).
	Problems = conf.Problems
	// Position is a place in the config file (1-based line and column).
	Position = conf.Position
	// Duration is a time.Duration read from strings like "5s" (see conf.Duration).
	Duration = conf.Duration
	// ByteSize is a size in bytes read from strings like "10MB" (see conf.ByteSize).
	ByteSize = conf.ByteSize
	// Error is one configuration problem at a place in a file (see conf.Error).
	Error = conf.Error
	// ErrorList is every problem found in a config, sorted by position (see conf.ErrorList).
	ErrorList = conf.ErrorList
)
