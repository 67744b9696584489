package config

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/oidc"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
)

// minSecretLen is the shortest session.secret accepted: 32 bytes, a 256-bit key.
const minSecretLen = 32

// maxLeeway bounds oidc.leeway: a larger clock-skew allowance keeps expired
// tokens usable for longer than any honest clock drift needs.
const maxLeeway = 5 * time.Minute

// asymmetricAlgs are the JWS algorithms (RFC 7518 §3.1, RFC 8037) accepted
// in oidc.allowed_algorithms. "none" and the HMAC algorithms are refused: an
// HS* token is verified with a key the relying party shares (the client
// secret), which lets anyone holding that secret mint tokens, and key
// confusion attacks turn a public key into an HMAC secret.
var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// reservedPrefixes are the gateway's own endpoints; a route under them would
// shadow them (or be shadowed).
var reservedPrefixes = []string{"/auth", "/healthz", "/readyz", "/metrics"}

// validator checks a decoded, defaulted Config. It reports through the
// decoder, placing each problem at the value it is about (d.pos) and skipping
// values whose decoding already failed (d.failed). It does no I/O except
// checking that static directories exist.
type validator struct {
	d   *decoder
	cfg *Config
}

// errorf reports a problem about the value at field (a pointer into cfg),
// placed where that value was written or, when it was not written (a
// required key is missing), at fallback. A field that failed to decode was
// reported already and is skipped.
func (v *validator) errorf(field any, fallback Position, format string, args ...any) {
	if v.d.failed[field] {
		return
	}
	p, ok := v.d.pos[field]
	if !ok {
		p = fallback
	}
	v.d.errorf(p, loc{}, format, args...)
}

func (v *validator) validate() {
	if v.d.failed[v.cfg] {
		return // the document is not a mapping; nothing more to say
	}
	v.server()
	v.session()
	if v.cfg.OIDC != nil && !v.d.failed[&v.cfg.OIDC] && !v.d.failed[v.cfg.OIDC] {
		v.oidc()
	}
	v.routes()
	v.corsBlock(v.cfg.CORS, Position{}, "")
}

func (v *validator) server() {
	s := &v.cfg.Server
	if v.d.failed[s] {
		return
	}
	at := s.Pos
	listenOK := validHostPort(s.Listen)
	if !listenOK {
		v.errorf(&s.Listen, at, "server.listen %q is not host:port", s.Listen)
	}
	// A public_url derived from a bad listen address would repeat its problem.
	if _, written := v.d.text[&s.PublicURL]; written || listenOK {
		if msg := checkOrigin(s.PublicURL, v.urlText(&s.PublicURL)); msg != "" {
			v.errorf(&s.PublicURL, at, "server.public_url %q %s", v.urlText(&s.PublicURL), msg)
		}
	}
	v.positive(&s.MaxBody, at, "server.max_body", int64(s.MaxBody))
	v.positive(&s.MaxHeaderBytes, at, "server.max_header_bytes", int64(s.MaxHeaderBytes))
	v.positive(&s.MaxURILength, at, "server.max_uri_length", int64(s.MaxURILength))
	v.nonNegative(&s.ReadTimeout, at, "server.read_timeout", s.ReadTimeout)
	v.nonNegative(&s.WriteTimeout, at, "server.write_timeout", s.WriteTimeout)
	v.nonNegative(&s.IdleTimeout, at, "server.idle_timeout", s.IdleTimeout)
	v.nonNegative(&s.ShutdownTimeout, at, "server.shutdown_timeout", s.ShutdownTimeout)
	v.positive(&s.MaxConnections, at, "server.max_connections", int64(s.MaxConnections))
	v.errorPages()
	v.https(listenOK)
}

// minPreloadMaxAge is the least HSTS max-age the browsers' preload lists accept.
const minPreloadMaxAge = 365 * 24 * time.Hour

// https checks server.tls, server.redirect_http and server.hsts. Each of
// them serves a public_url the browser reaches over https: with an http
// one, gatehouse's redirect_uri, cookies and links would say http while
// the browser spoke TLS (or the reverse).
func (v *validator) https(listenOK bool) {
	s := &v.cfg.Server
	at := s.Pos
	https := s.HTTPS()
	if t := s.TLS; t != nil && !v.d.failed[&s.TLS] && !v.d.failed[t] {
		at := v.d.pos[&s.TLS] // a missing key is reported at "tls:"
		if !https {
			v.errorf(&s.TLS, at, "server.tls needs an https public_url, got %q", v.urlText(&s.PublicURL))
		}
		switch files := t.CertFile != "" || t.KeyFile != ""; {
		case files && t.ACME != nil:
			v.errorf(&t.ACME, at, "server.tls: use either cert_file and key_file or acme, not both")
		case t.ACME != nil:
			v.acme(t.ACME, v.d.pos[&t.ACME])
		case t.CertFile == "":
			v.errorf(&t.CertFile, at, "server.tls.cert_file is required (or server.tls.acme)")
		case t.KeyFile == "":
			v.errorf(&t.KeyFile, at, "server.tls.key_file is required with cert_file")
		}
	}
	if s.RedirectHTTP != "" {
		switch {
		case !validHostPort(s.RedirectHTTP):
			v.errorf(&s.RedirectHTTP, at, "server.redirect_http %q is not host:port", s.RedirectHTTP)
		case !https:
			v.errorf(&s.RedirectHTTP, at, "server.redirect_http needs an https public_url to redirect to, got %q", v.urlText(&s.PublicURL))
		case listenOK && s.RedirectHTTP == s.Listen:
			v.errorf(&s.RedirectHTTP, at, "server.redirect_http must differ from server.listen")
		}
	}
	h := &s.HSTS
	if h.Enabled != nil && *h.Enabled && !https {
		v.errorf(&h.Enabled, at, "server.hsts.enabled needs an https public_url: browsers ignore HSTS over http")
	}
	switch {
	case h.MaxAge < 0 || (h.MaxAge > 0 && h.MaxAge.D() < time.Second):
		v.errorf(&h.MaxAge, at, "server.hsts.max_age must be at least 1s, got %s", h.MaxAge)
	case h.Preload && (!h.IncludeSubdomains || h.MaxAge.D() < minPreloadMaxAge):
		v.errorf(&h.Preload, at, "server.hsts.preload needs include_subdomains: true and a max_age of at least %s", minPreloadMaxAge)
	}
}

// acme checks server.tls.acme: the domains autocert may ask certificates
// for (public_url's host among them), and where it keeps them.
// A missing key is reported at at.
func (v *validator) acme(a *ACME, at Position) {
	if len(a.Domains) == 0 {
		v.errorf(&a.Domains, at, "server.tls.acme.domains is required")
	}
	for i := range a.Domains {
		if msg := checkACMEDomain(a.Domains[i]); msg != "" {
			v.errorf(&a.Domains[i], at, "server.tls.acme.domains: %q %s", a.Domains[i], msg)
		}
	}
	if u := v.cfg.Server.PublicURL; u != nil && u.Hostname() != "" && len(a.Domains) > 0 &&
		!slices.Contains(a.Domains, strings.ToLower(u.Hostname())) {
		v.errorf(&a.Domains, at, "server.tls.acme.domains must include public_url's host %q", u.Hostname())
	}
	if a.CacheDir == "" {
		v.errorf(&a.CacheDir, at, "server.tls.acme.cache_dir is required: without it every start asks the CA anew")
	}
	if a.Email != "" && (!strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " ,<>\r\n")) {
		v.errorf(&a.Email, at, "server.tls.acme.email %q is not an email address", a.Email)
	}
	if a.DirectoryURL != "" && checkHTTPURL(a.DirectoryURL, false) != "" {
		v.errorf(&a.DirectoryURL, at, "server.tls.acme.directory_url %q is not an http(s) URL", a.DirectoryURL)
	}
}

// checkACMEDomain returns why d cannot be given an ACME certificate by
// gatehouse, or "": a lower-case DNS name with a dot; no IP address, no
// wildcard (autocert answers neither challenge for those).
func checkACMEDomain(d string) string {
	if strings.HasPrefix(d, "*.") {
		return "is a wildcard: ACME needs DNS-01 for those, which gatehouse does not answer"
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return "is an IP address, not a domain name"
	}
	if d == "" || strings.Trim(d, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" || strings.Contains(d, "..") ||
		!strings.Contains(d, ".") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
		return "is not a public domain name (lower case, with a dot)"
	}
	return ""
}

func (v *validator) positive(field any, at Position, name string, n int64) {
	if n <= 0 {
		v.errorf(field, at, "%s must be greater than 0, got %d", name, n)
	}
}

func (v *validator) nonNegative(field any, at Position, name string, d Duration) {
	if d < 0 {
		v.errorf(field, at, "%s must not be negative, got %s", name, d)
	}
}

func (v *validator) session() {
	s := &v.cfg.Session
	if v.d.failed[s] {
		return
	}
	at := s.Pos
	switch {
	case s.Secret == "":
		v.errorf(&s.Secret, at, "session.secret is required (at least %d bytes)", minSecretLen)
	case len(s.Secret) < minSecretLen:
		// Never echo the secret, nor its length.
		v.errorf(&s.Secret, at, "session.secret is too short: it must be at least %d bytes", minSecretLen)
	}
	if msg := checkCSRFHeader(s.CSRFHeader); msg != "" {
		v.errorf(&s.CSRFHeader, at, "session.csrf_header %q %s", s.CSRFHeader, msg)
	}
	https := v.cfg.Server.HTTPS()
	lower := strings.ToLower(s.CookieName)
	switch {
	case !isToken(s.CookieName):
		v.errorf(&s.CookieName, at, "session.cookie_name %q is not a valid cookie name", s.CookieName)
	case strings.HasPrefix(lower, "__host-") && (!https || s.CookieDomain != ""):
		v.errorf(&s.CookieName, at, "session.cookie_name %q: the __Host- prefix needs an https public_url and no cookie_domain", s.CookieName)
	case strings.HasPrefix(lower, "__secure-") && !https:
		v.errorf(&s.CookieName, at, "session.cookie_name %q: the __Secure- prefix needs an https public_url", s.CookieName)
	}
	if s.CookieDomain != "" {
		if msg := checkCookieDomain(s.CookieDomain, v.cfg.Server.PublicURL); msg != "" {
			v.errorf(&s.CookieDomain, at, "session.cookie_domain %q %s", s.CookieDomain, msg)
		}
	}
	idleOK, absOK := s.IdleTimeout > 0, s.AbsoluteTimeout > 0
	if !idleOK {
		v.errorf(&s.IdleTimeout, at, "session.idle_timeout must be greater than 0, got %s", s.IdleTimeout)
	}
	if !absOK {
		v.errorf(&s.AbsoluteTimeout, at, "session.absolute_timeout must be greater than 0, got %s", s.AbsoluteTimeout)
	}
	if idleOK && absOK && s.IdleTimeout > s.AbsoluteTimeout && !v.d.failed[&s.AbsoluteTimeout] {
		v.errorf(&s.IdleTimeout, at, "session.idle_timeout (%s) must not exceed session.absolute_timeout (%s)", s.IdleTimeout, s.AbsoluteTimeout)
	}
	if s.Store != "memory" {
		// The URL may hold a password: no message repeats it, redacted or not.
		u, err := url.Parse(s.Store)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			v.errorf(&s.Store, at, `session.store must be "memory" or a redis:// or rediss:// URL with a host`)
		} else if err := redisstore.CheckURL(s.Store); err != nil {
			// The parser the store and the plugins' Redis backends open it
			// with, without connecting: a bad database number or option is
			// reported here, once, not at start-up by each of them.
			v.errorf(&s.Store, at, "session.store: %v", err)
		}
	}
	v.positive(&s.MaxSessions, at, "session.max_sessions", int64(s.MaxSessions))
}

func (v *validator) oidc() {
	o := v.cfg.OIDC
	at := o.Pos
	if o.Issuer == "" {
		v.errorf(&o.Issuer, at, "oidc.issuer is required")
	} else if msg := checkHTTPURL(o.Issuer, false); msg != "" {
		v.errorf(&o.Issuer, at, "oidc.issuer %q %s", o.Issuer, msg)
	}
	if o.ClientID == "" {
		v.errorf(&o.ClientID, at, "oidc.client_id is required")
	}
	switch o.ClientAuth {
	case "client_secret_basic", "client_secret_post":
		if o.ClientSecret == "" {
			v.errorf(&o.ClientAuth, at, "oidc.client_auth %s needs oidc.client_secret", o.ClientAuth)
		}
	case "none":
		if o.ClientSecret != "" {
			v.errorf(&o.ClientAuth, at, "oidc.client_auth is none but oidc.client_secret is set")
		}
	default:
		v.errorf(&o.ClientAuth, at, "oidc.client_auth must be client_secret_basic, client_secret_post or none, got %q", o.ClientAuth)
	}
	if !slices.Contains(o.Scopes, "openid") {
		v.errorf(&o.Scopes, at, `oidc.scopes must include "openid"`)
	}
	for i := range o.Scopes {
		if !isScopeToken(o.Scopes[i]) {
			v.errorf(&o.Scopes[i], at, "oidc.scopes: %q is not a valid scope", o.Scopes[i])
		}
	}
	for i := range o.AllowedAlgorithms {
		if a := o.AllowedAlgorithms[i]; !slices.Contains(asymmetricAlgs, a) {
			v.errorf(&o.AllowedAlgorithms[i], at,
				"oidc.allowed_algorithms: %q is not allowed; use asymmetric algorithms (%s)", a, strings.Join(asymmetricAlgs, ", "))
		}
	}
	v.nonNegative(&o.RefreshMargin, at, "oidc.refresh_margin", o.RefreshMargin)
	v.nonNegative(&o.Leeway, at, "oidc.leeway", o.Leeway)
	if o.Leeway.D() > maxLeeway {
		v.errorf(&o.Leeway, at, "oidc.leeway must be at most %s, got %s", maxLeeway, o.Leeway)
	}
	// Checked as written: a path was made absolute by applyDefaults.
	if raw := v.urlText(&o.PostLogoutRedirect); !isLocalPath(raw) && checkURL(o.PostLogoutRedirect, raw, false) != "" {
		v.errorf(&o.PostLogoutRedirect, at, `oidc.post_logout_redirect %q must be a path starting with "/" or an absolute http(s) URL`, raw)
	}
	if o.ErrorRedirect != "" && !isLocalPath(o.ErrorRedirect) {
		v.errorf(&o.ErrorRedirect, at, `oidc.error_redirect %q must be a same-origin path starting with "/"`, o.ErrorRedirect)
	}
	v.authorizeParams(o)
}

// authorizeParams checks oidc.authorize_params, each problem at its key.
func (v *validator) authorizeParams(o *OIDC) {
	names := slices.Sorted(maps.Keys(o.AuthorizeParams)) // stable messages
	for _, name := range names {
		value, at := o.AuthorizeParams[name], entryOf(o.AuthorizeParams, name)
		switch {
		case strings.TrimSpace(name) == "":
			v.errorf(at, o.Pos, "oidc.authorize_params: a parameter name must not be empty")
		case oidc.OwnedAuthParam(name):
			v.errorf(at, o.Pos, "oidc.authorize_params: %q is gatehouse's own parameter (or a client credential) and cannot be set here", name)
		case v.d.failed[at]:
			// Its value did not decode (reported already).
		case value == "":
			// Most likely an unset ${VAR:-}: an empty parameter is a mistake.
			v.errorf(at, o.Pos, "oidc.authorize_params: %q needs a non-empty value", name)
		case strings.EqualFold(name, "prompt") && slices.Contains(strings.Fields(value), "none"):
			v.errorf(at, o.Pos, "oidc.authorize_params: prompt %q would fail every login of a user not already signed in at the IdP", value)
		}
	}
}

func (v *validator) routes() {
	if v.d.failed[&v.cfg.Routes] {
		return
	}
	names := map[string]int{}
	prefixes := map[string]int{}
	for i := range v.cfg.Routes {
		r := &v.cfg.Routes[i]
		if v.d.failed[r] {
			continue
		}
		label := routeLabel(r.Name, i)
		at := r.Pos
		rerr := func(field any, format string, args ...any) {
			v.errorf(field, at, label+": "+format, args...)
		}
		switch j, dup := names[r.Name]; {
		case r.Name == "":
			rerr(&r.Name, "name is required")
		case dup:
			rerr(&r.Name, "name is already used by the route at line %d", v.cfg.Routes[j].Pos.Line)
		case !isRouteName(r.Name):
			rerr(&r.Name, "name may contain only letters, digits, '-', '_' and '.'")
		default:
			names[r.Name] = i
		}

		if r.Prefix == "" {
			rerr(&r.Prefix, "prefix is required")
		} else if msg := checkPrefix(r.Prefix); msg != "" {
			rerr(&r.Prefix, "prefix %q %s", r.Prefix, msg)
		} else if j, dup := prefixes[r.Prefix]; dup {
			rerr(&r.Prefix, "prefix %q is already used by %s", r.Prefix, routeLabel(v.cfg.Routes[j].Name, j))
		} else {
			prefixes[r.Prefix] = i
		}

		switch hasUp, hasStatic := len(r.Upstreams) > 0, r.Static != ""; {
		case hasUp && hasStatic:
			rerr(&r.Static, "upstream and static are mutually exclusive")
		case !hasUp && !hasStatic && !v.d.failed[&r.Upstreams] && !v.d.failed[&r.Static]:
			rerr(&r.Upstreams, "needs an upstream or a static directory")
		case hasStatic:
			if fi, err := os.Stat(r.Static); err != nil || !fi.IsDir() {
				rerr(&r.Static, "static directory %q does not exist", r.Static)
			}
		}
		for j := range r.Upstreams {
			raw := v.urlText(&r.Upstreams[j])
			if msg := checkURL(r.Upstreams[j], raw, true); msg != "" {
				rerr(&r.Upstreams[j], "upstream %q %s", raw, msg)
			}
		}
		for j := range r.Methods {
			if !isToken(r.Methods[j]) {
				rerr(&r.Methods[j], "method %q is not a valid HTTP method", r.Methods[j])
			}
		}
		if r.Timeout <= 0 {
			rerr(&r.Timeout, "timeout must be greater than 0, got %s", r.Timeout)
		}
		switch r.Auth {
		case AuthSession, AuthBearer, AuthAny:
			if v.cfg.OIDC == nil {
				rerr(&r.Auth, "auth %s needs an oidc block", r.Auth)
			}
			if r.Static != "" {
				// Page loads are top-level navigations: they cannot send the
				// CSRF header a session route demands, nor a bearer token.
				rerr(&r.Auth, "a static route is served without authentication: use auth: none (the APIs it calls are the protected part)")
			}
		case AuthNone:
		default:
			rerr(&r.Auth, "auth must be session, bearer, any or none, got %q", r.Auth)
		}
		v.routeRequirements(r, rerr)
		v.routeWebSocket(r, rerr)
		v.corsBlock(r.CORS, at, label+": ")
	}
	v.readyRequires(names)
}

// maxCORSMaxAge bounds cors.max_age: Firefox's own cap; Chromium's is 2h.
const maxCORSMaxAge = 24 * time.Hour

// corsBlock checks a cors block (nil: none); label prefixes its messages
// ("" at the top level, `route "x": ` on a route). Only exact http(s)
// origins are accepted: credentials go with every allowed origin, so a
// wildcard, "null" (any page can run in a sandboxed frame) or a plain-http
// origin beside an https public_url (a network attacker can script it)
// would hand the user's session to others.
func (v *validator) corsBlock(c *CORS, at Position, label string) {
	if c == nil || v.d.failed[c] {
		return
	}
	if at == (Position{}) {
		at = c.Pos
	}
	https := v.cfg.Server.HTTPS()
	for i := range c.AllowedOrigins {
		o := &c.AllowedOrigins[i]
		switch msg := checkOriginText(*o); {
		case strings.Contains(*o, "*"):
			v.errorf(o, at, "%scors.allowed_origins: %q: wildcards are not allowed; list each origin", label, *o)
		case *o == "null":
			v.errorf(o, at, `%scors.allowed_origins: "null" is not allowed: any page can send it from a sandboxed frame`, label)
		case msg != "":
			v.errorf(o, at, "%scors.allowed_origins: %q %s", label, *o, msg)
		case https && strings.HasPrefix(*o, "http://"):
			v.errorf(o, at, "%scors.allowed_origins: %q is plain http while public_url is https: "+
				"a network attacker could run script as that origin and read the user's data", label, *o)
		}
	}
	if c.MaxAge < 0 || c.MaxAge.D() > maxCORSMaxAge {
		v.errorf(&c.MaxAge, at, "%scors.max_age must be between 0 and %s, got %s", label, maxCORSMaxAge, c.MaxAge)
	}
}

// readyRequires checks that server.ready_requires names proxied routes.
func (v *validator) readyRequires(names map[string]int) {
	s := &v.cfg.Server
	for i := range s.ReadyRequires {
		name := &s.ReadyRequires[i]
		j, ok := names[*name]
		switch {
		case !ok:
			v.errorf(name, s.Pos, "server.ready_requires: no route is named %q", *name)
		case len(v.cfg.Routes[j].Upstreams) == 0:
			v.errorf(name, s.Pos, "server.ready_requires: route %q has no upstream to check", *name)
		}
	}
}

// routeWebSocket checks the websocket keys: they need websocket: true, and
// a websocket route needs an upstream and positive limits. (Defaults are
// set only on websocket routes, so a limit set elsewhere is the user's.)
func (v *validator) routeWebSocket(r *Route, rerr func(field any, format string, args ...any)) {
	if !r.WebSocket {
		if r.WebSocketMaxConnections != 0 {
			rerr(&r.WebSocketMaxConnections, "websocket_max_connections needs websocket: true")
		}
		if r.WebSocketIdleTimeout != 0 {
			rerr(&r.WebSocketIdleTimeout, "websocket_idle_timeout needs websocket: true")
		}
		return
	}
	if r.Static != "" {
		rerr(&r.WebSocket, "websocket needs an upstream, not a static directory")
	}
	if r.WebSocketMaxConnections < 0 {
		rerr(&r.WebSocketMaxConnections, "websocket_max_connections must be greater than 0, got %d", r.WebSocketMaxConnections)
	}
	if r.WebSocketIdleTimeout < 0 {
		rerr(&r.WebSocketIdleTimeout, "websocket_idle_timeout must be greater than 0, got %s", r.WebSocketIdleTimeout)
	}
}

// routeRequirements checks required_scopes and required_claims.
func (v *validator) routeRequirements(r *Route, rerr func(field any, format string, args ...any)) {
	if len(r.RequiredScopes) > 0 && r.Auth != AuthBearer && r.Auth != AuthAny {
		rerr(&r.RequiredScopes, "required_scopes needs auth: bearer or any (sessions carry no scopes; use required_claims), got auth %s", r.Auth)
	}
	for j := range r.RequiredScopes {
		if !isScopeToken(r.RequiredScopes[j]) {
			rerr(&r.RequiredScopes[j], "required_scopes: %q is not a valid scope", r.RequiredScopes[j])
		}
	}
	if len(r.RequiredClaims) == 0 {
		return
	}
	if r.Auth == AuthNone {
		rerr(&r.RequiredClaims, "required_claims needs an authenticated route (auth session, bearer or any), got auth none")
	}
	names := make([]string, 0, len(r.RequiredClaims))
	for name := range r.RequiredClaims {
		names = append(names, name)
	}
	slices.Sort(names) // stable messages
	for _, name := range names {
		switch {
		case strings.TrimSpace(name) == "":
			rerr(&r.RequiredClaims, "required_claims: a claim name must not be empty")
		case r.RequiredClaims[name] == "":
			// Most likely an unset ${VAR:-}: an empty requirement is a mistake.
			rerr(&r.RequiredClaims, "required_claims: %q needs a non-empty string value", name)
		}
	}
}

func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || strings.ContainsAny(host, " /?#@") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535 && port == strconv.Itoa(n)
}

// checkOriginText is checkOrigin for a URL not parsed yet.
func checkOriginText(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid URL"
	}
	return checkOrigin(u, s)
}

// checkOrigin returns why u, parsed from s, is not an http(s) origin
// (scheme://host[:port]), or "".
func checkOrigin(u *url.URL, s string) string {
	if msg := checkURL(u, s, false); msg != "" {
		return msg
	}
	if u.Path != "" || u.RawPath != "" {
		return "must be an origin (scheme://host[:port]) without a path"
	}
	return ""
}

// checkHTTPURL is checkURL for a URL not parsed yet.
func checkHTTPURL(s string, upstream bool) string {
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid URL"
	}
	return checkURL(u, s, upstream)
}

// checkURL returns why u, parsed from s, is not an absolute http(s) URL
// with a host and without credentials, query or fragment, or "". A path is
// allowed; upstream refuses %-encoding in it. A nil u was written empty
// (or did not parse, which is reported already).
func checkURL(u *url.URL, s string, upstream bool) string {
	switch {
	case u == nil:
		return "is not an http(s) URL"
	case u.Opaque != "":
		return "is not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "is not an http(s) URL"
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	case u.User != nil:
		return "must not contain credentials"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a query or fragment"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "has an invalid port"
		}
	}
	if upstream && strings.Contains(u.EscapedPath(), "%") {
		return "must not contain %-encoding in its path"
	}
	return ""
}

// checkPrefix returns why a route prefix is not in the canonical form the
// router matches against (after path normalisation), or "". A prefix that
// could never match a normalised path would silently never apply.
func checkPrefix(p string) string {
	if !strings.HasPrefix(p, "/") {
		return `must start with "/"`
	}
	if p == "/" {
		return ""
	}
	if strings.HasSuffix(p, "/") {
		return `must not end with "/"`
	}
	for i := range len(p) {
		if !isPathChar(p[i]) {
			return fmt.Sprintf("contains %q; use only unencoded path characters", p[i])
		}
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		switch seg {
		case "":
			return `must not contain "//"`
		case ".", "..":
			return `must not contain "." or ".." segments`
		}
	}
	for _, r := range reservedPrefixes {
		if p == r || strings.HasPrefix(p, r+"/") {
			return "is reserved for the gateway's own endpoints"
		}
	}
	return ""
}

// urlText returns the text the URL at field was written as, or, when
// config derived it (a default), its String; "" for none.
func (v *validator) urlText(field **url.URL) string {
	if s, ok := v.d.text[field]; ok {
		return s
	}
	if *field != nil {
		return (*field).String()
	}
	return ""
}

// isPathChar reports whether c may appear unencoded in a canonical path:
// RFC 3986 pchar without "%" (pct-encoded), plus "/".
func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

// isToken reports whether s is an RFC 9110 token (header names, methods,
// cookie names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isScopeToken reports whether s is an RFC 6749 §3.3 scope-token.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}

func isRouteName(s string) bool {
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// isLocalPath reports whether s is a same-origin path: it starts with "/"
// and not with "//" or "/\" (which browsers treat as another host).
func isLocalPath(s string) bool {
	return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.HasPrefix(s, `/\`) &&
		!strings.ContainsAny(s, "\r\n\t")
}

// csrfUnusable lists header names that cannot carry the CSRF check. A
// CORS-safelisted request header (Fetch standard §2.2.2) can be sent by a
// cross-site page without a preflight, which is exactly what the check must
// prevent; a forbidden request header (Fetch §2.2.2) cannot be set by the
// SPA's own fetch at all.
var csrfUnusable = []string{
	"accept", "accept-language", "content-language", "content-type", "range",
	"accept-charset", "accept-encoding", "access-control-request-headers", "access-control-request-method",
	"connection", "content-length", "cookie", "cookie2", "date", "dnt", "expect", "host", "keep-alive",
	"origin", "referer", "set-cookie", "te", "trailer", "transfer-encoding", "upgrade", "via",
}

func checkCSRFHeader(h string) string {
	if !isToken(h) {
		return "is not a valid header name"
	}
	l := strings.ToLower(h)
	if slices.Contains(csrfUnusable, l) || strings.HasPrefix(l, "proxy-") || strings.HasPrefix(l, "sec-") {
		return "cannot be used: cross-site pages may send it freely, or browsers forbid scripts to set it"
	}
	return ""
}

// checkCookieDomain returns why domain cannot scope the session cookie for
// publicURL, or "": browsers drop a cookie whose Domain does not cover the
// host that set it (RFC 6265 §5.3 step 6).
func checkCookieDomain(domain string, publicURL *url.URL) string {
	d := strings.ToLower(strings.TrimPrefix(domain, "."))
	if d == "" || strings.Trim(d, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" || strings.Contains(d, "..") {
		return "is not a domain name"
	}
	u := publicURL
	if u == nil || u.Hostname() == "" {
		return "" // public_url is reported on its own
	}
	host := strings.ToLower(u.Hostname())
	if _, err := netip.ParseAddr(host); err == nil {
		return "cannot be used when public_url's host is an IP address"
	}
	if host != d && !strings.HasSuffix(host, "."+d) {
		return fmt.Sprintf("does not cover public_url's host %q", host)
	}
	return ""
}
