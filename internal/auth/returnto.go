package auth

import (
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/cors"
)

// maxReturnTo bounds a returnTo value; longer ones fall back to "/". It
// travels sealed in the login cookie, which it keeps under 1 KiB.
const maxReturnTo = 512

// SafeReturnTo returns raw when it is a same-origin relative path that is
// safe to put in a Location header, and "/" otherwise. Accepted: a single '/'
// followed by printable ASCII without '\', where neither the value nor any of
// its percent-decodings starts with "//" or "/\" (a scheme-relative URL to
// another host once a browser or a later hop decodes it), carries a scheme, a
// host, or control characters (browsers drop TAB/CR/LF inside URLs, so
// "/\t/evil" becomes "//evil").
func SafeReturnTo(raw string) string {
	if raw == "" || len(raw) > maxReturnTo {
		return "/"
	}
	if !safePath(raw, true) {
		return "/"
	}
	s := raw
	for range 4 { // decode until stable; deeper nesting is refused
		if !safePath(s, false) {
			return "/"
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return "/"
		}
		if d == s {
			return raw
		}
		s = d
	}
	return "/"
}

// safePath checks one form of the value. raw (the form that goes into the
// Location header) must be printable ASCII without '\\' or spaces; a decoded
// form may hold any byte but control characters.
func safePath(s string, raw bool) bool {
	if len(s) == 0 || s[0] != '/' {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || (raw && (c == ' ' || c > 0x7f || c == '\\')) {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return !strings.HasPrefix(u.Path, "//")
}

// SafeReturnToOrigins is SafeReturnTo that also accepts an absolute URL on
// one of origins (the cors allowed_origins: the SPA of a split-origin
// deployment lives there): the value must start with exactly one of them,
// byte for byte as configured (lower case, no default port), followed by
// nothing or by a path SafeReturnTo accepts. So "https://app.example.com.evil.com",
// "https://app.example.com@evil.com", "https://app.example.com:443/",
// "https://app.example.com//evil.com", "https://app.example.com/\\evil" and
// their encodings all become "/". The whole value is at most 512 bytes.
func SafeReturnToOrigins(raw string, origins []string) string {
	if strings.HasPrefix(raw, "/") || len(raw) > maxReturnTo {
		return SafeReturnTo(raw)
	}
	for _, o := range origins {
		rest, ok := strings.CutPrefix(raw, o)
		if !ok {
			continue
		}
		if rest == "" {
			return raw
		}
		if rest[0] == '/' && SafeReturnTo(rest) == rest {
			return raw
		}
	}
	return "/"
}

// safeReturnTo applies SafeReturnToOrigins with the top-level cors
// allowed_origins.
func (a *Auth) safeReturnTo(raw string) string {
	return SafeReturnToOrigins(raw, cors.Origins(a.cfg.CORS))
}
