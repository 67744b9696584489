package config

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// The defaults, applied by applyDefaults and nowhere else. A zero value in
// the file (an absent key, an empty value, "0s", 0) means "use the default";
// write_timeout's default is itself 0 (no limit).
const (
	defaultListen          = "127.0.0.1:8080"
	defaultMaxBody         = 10 << 20
	defaultMaxHeaderBytes  = 16 << 10
	defaultMaxURILength    = 8192
	defaultReadTimeout     = 30 * time.Second
	defaultIdleTimeout     = 60 * time.Second
	defaultShutdownTimeout = 15 * time.Second
	defaultMaxConnections  = 10000
	// defaultHSTSMaxAge is one year: long enough that a browser that saw
	// the site once keeps to https between visits, the least the preload
	// lists accept, and what Mozilla's and the OWASP guidance name.
	defaultHSTSMaxAge = 365 * 24 * time.Hour

	defaultRefreshMargin      = 30 * time.Second
	defaultLeeway             = 30 * time.Second
	defaultPostLogoutRedirect = "/"

	defaultCSRFHeader      = "X-CSRF"
	defaultSessionIdle     = 30 * time.Minute
	defaultAbsoluteTimeout = 12 * time.Hour
	defaultStore           = "memory"
	defaultMaxSessions     = 100000

	defaultRouteTimeout = 30 * time.Second

	// defaultWebSocketMaxConnections and defaultWebSocketIdleTimeout apply
	// to routes with websocket: true.
	defaultWebSocketMaxConnections = 1000
	defaultWebSocketIdleTimeout    = 5 * time.Minute

	// defaultCORSMaxAge: Chromium caps Access-Control-Max-Age at 2h, Firefox
	// at 24h; 10 minutes spares most preflights without pinning a policy long.
	defaultCORSMaxAge = 10 * time.Minute
)

// defaultScopes and defaultAlgorithms are copied, never shared, so that a
// caller editing one Config cannot change another's.
func defaultScopes() []string { return []string{"openid", "profile", "email", "offline_access"} }

func defaultAlgorithms() []string { return []string{"RS256", "ES256", "PS256", "EdDSA"} }

// applyDefaults fills every unset field of cfg with its default and puts
// values in canonical form (public_url without a trailing "/",
// methods in upper case, static directories relative to the
// config file, defaults.plugins merged into each route). It runs before
// validation and has no other side effects.
func applyDefaults(cfg *Config) {
	s := &cfg.Server
	setDefault(&s.Listen, defaultListen)
	if s.PublicURL == nil {
		s.PublicURL = publicURLFor(s.Listen)
	}
	if u := s.PublicURL; u != nil && u.Path == "/" && u.RawPath == "" {
		u.Path = "" // https://app.example.com/ is the origin https://app.example.com
	}
	if s.MetricsFrom == nil {
		s.MetricsFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.PrefixFrom(netip.IPv6Loopback(), 128)}
	}
	setDefault(&s.MaxBody, defaultMaxBody)
	setDefault(&s.MaxHeaderBytes, defaultMaxHeaderBytes)
	setDefault(&s.MaxURILength, defaultMaxURILength)
	setDefault(&s.ReadTimeout, Duration(defaultReadTimeout))
	setDefault(&s.IdleTimeout, Duration(defaultIdleTimeout))
	setDefault(&s.ShutdownTimeout, Duration(defaultShutdownTimeout))
	setDefault(&s.MaxConnections, defaultMaxConnections)
	if s.ErrorPages != "" && !filepath.IsAbs(s.ErrorPages) {
		s.ErrorPages = filepath.Join(filepath.Dir(cfg.File), s.ErrorPages)
	}
	applyTLSDefaults(s, filepath.Dir(cfg.File))

	if o := cfg.OIDC; o != nil {
		if len(o.Scopes) == 0 {
			o.Scopes = defaultScopes()
		}
		if len(o.AllowedAlgorithms) == 0 {
			o.AllowedAlgorithms = defaultAlgorithms()
		}
		setDefault(&o.RefreshMargin, Duration(defaultRefreshMargin))
		setDefault(&o.Leeway, Duration(defaultLeeway))
		if o.PostLogoutRedirect == nil {
			o.PostLogoutRedirect = &url.URL{Path: defaultPostLogoutRedirect}
		}
		o.PostLogoutRedirect = onOrigin(o.PostLogoutRedirect, s.PublicURL)
		if o.ClientAuth == "" {
			o.ClientAuth = "none"
			if o.ClientSecret != "" {
				o.ClientAuth = "client_secret_basic"
			}
		}
	}

	ss := &cfg.Session
	if ss.CookieName == "" {
		switch https := s.HTTPS(); {
		case https && ss.CookieDomain == "":
			ss.CookieName = "__Host-gatehouse"
		case https:
			// __Host- forbids a Domain; __Secure- still makes browsers
			// refuse the cookie from a plain-http response.
			ss.CookieName = "__Secure-gatehouse"
		default:
			ss.CookieName = "gatehouse"
		}
	}
	setDefault(&ss.SameSite, http.SameSiteLaxMode)
	setDefault(&ss.CSRFHeader, defaultCSRFHeader)
	setDefault(&ss.IdleTimeout, Duration(defaultSessionIdle))
	setDefault(&ss.AbsoluteTimeout, Duration(defaultAbsoluteTimeout))
	setDefault(&ss.Store, defaultStore)
	setDefault(&ss.MaxSessions, defaultMaxSessions)

	corsDefaults(cfg.CORS)
	dir := filepath.Dir(cfg.File)
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		setDefault(&r.Timeout, Duration(defaultRouteTimeout))
		if r.WebSocket {
			setDefault(&r.WebSocketMaxConnections, defaultWebSocketMaxConnections)
			setDefault(&r.WebSocketIdleTimeout, Duration(defaultWebSocketIdleTimeout))
		}
		corsDefaults(r.CORS)
		if r.Auth == "" {
			r.Auth = AuthSession
			// A static route serves the SPA itself, to top-level navigations
			// that cannot carry the CSRF header: it is public.
			if cfg.OIDC == nil || r.Static != "" {
				r.Auth = AuthNone
			}
		}
		for j, m := range r.Methods {
			r.Methods[j] = strings.ToUpper(m)
		}
		if r.Static != "" && !filepath.IsAbs(r.Static) {
			r.Static = filepath.Join(dir, r.Static)
		}
		for name, p := range cfg.Defaults.Plugins {
			if _, own := r.Plugins[name]; own {
				continue
			}
			if r.Plugins == nil {
				r.Plugins = Plugins{}
			}
			p.Where = pluginWhere(loc{Where: routeLabel(r.Name, i)}, name)
			r.Plugins[name] = p
		}
	}
}

// applyTLSDefaults fills server.hsts and makes server.tls's paths relative
// to dir (the config file's directory).
func applyTLSDefaults(s *Server, dir string) {
	if s.HSTS.Enabled == nil {
		on := s.HTTPS()
		s.HSTS.Enabled = &on
	}
	setDefault(&s.HSTS.MaxAge, Duration(defaultHSTSMaxAge))
	if s.TLS == nil {
		return
	}
	paths := []*string{&s.TLS.CertFile, &s.TLS.KeyFile}
	if s.TLS.ACME != nil {
		paths = append(paths, &s.TLS.ACME.CacheDir)
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// corsDefaults sets a cors block's max_age default and puts its origins in
// the form browsers send in Origin: lower case, no trailing "/", no default
// port (https://App.example.com:443/ → https://app.example.com).
func corsDefaults(c *CORS) {
	if c == nil {
		return
	}
	setDefault(&c.MaxAge, Duration(defaultCORSMaxAge))
	for i, o := range c.AllowedOrigins {
		o = strings.ToLower(strings.TrimSuffix(o, "/"))
		switch {
		case strings.HasPrefix(o, "https://"):
			o = strings.TrimSuffix(o, ":443")
		case strings.HasPrefix(o, "http://"):
			o = strings.TrimSuffix(o, ":80")
		}
		c.AllowedOrigins[i] = o
	}
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// publicURLFor derives the default public_url from the listen address; an
// unspecified host (":8080", "0.0.0.0:8080") becomes localhost. It returns nil
// for an address that is not host:port (validation reports listen).
func publicURLFor(listen string) *url.URL {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
}

// onOrigin returns a path (a URL without scheme and host) on origin's
// scheme and host, the host in lower case as browsers send it; any other u,
// or a nil origin (reported by validation), as it is.
func onOrigin(u, origin *url.URL) *url.URL {
	if u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") || origin == nil {
		return u
	}
	abs := *u
	abs.Scheme, abs.Host = origin.Scheme, strings.ToLower(origin.Host)
	return &abs
}

// HTTPS reports whether public_url is an https URL: the browser reaches
// gatehouse over TLS, so cookies are Secure and HSTS applies.
func (s *Server) HTTPS() bool { return s.PublicURL != nil && s.PublicURL.Scheme == "https" }
