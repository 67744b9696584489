// Package route turns a raw request path into the one canonical path the
// gateway uses for matching and forwarding, and finds the route whose prefix
// is the longest match for it.
//
// The canonical path is computed once per request (Normalize) and then used
// both by the route Table and by the proxy. Matching and forwarding the same
// bytes is what closes the classic gateway bypasses: if the gateway matched
// one spelling of a path and the upstream resolved another
// ("/api/public/..%2fadmin"), per-route rules could be walked around.
package route

// Normalize appends the canonical form of raw, a request path exactly as it
// arrived on the wire (still percent-encoded, e.g. fasthttp's
// URI().PathOriginal()), to dst[:0] and returns it. ok is false when the path
// must be refused (the server answers 400): it does not start with '/', holds
// an invalid %-escape, a control character or NUL (literal or encoded), or a
// "..;" / ".;" segment.
//
// The canonical form:
//   - %2F and %5C and a literal '\' are path separators, like '/';
//   - %-escapes of unreserved characters (RFC 3986 §2.3: ALPHA DIGIT - . _ ~)
//     are decoded (RFC 3986 §6.2.2.2), so "%2e%2e" is "..", and "/api/%61dmin"
//     is "/api/admin" — an upstream would decode them anyway, so the gateway
//     must route on the decoded form;
//   - every other escape stays encoded, with upper-case hex ("%3f" → "%3F");
//     it is decoded exactly once, so "%252e" is the literal "%252E", never ".";
//   - a literal byte that may not appear in a path segment (RFC 3986 §3.3
//     pchar), such as a space, '?', '#' or a non-ASCII byte, is encoded;
//   - dot-segments are resolved (RFC 3986 §5.2.4) without climbing above the
//     root, and empty segments (duplicate slashes) are dropped;
//   - a trailing slash is kept ("/a/" stays "/a/", "/a/b/.." is "/a/").
//
// The result always starts with '/', contains no empty, "." or ".." segment and
// no %2F, %2E or %5C, and Normalize(Normalize(x)) == Normalize(x).
//
// Normalize does not allocate when cap(dst) >= 3*len(raw)+1.
func Normalize(dst, raw []byte) ([]byte, bool) {
	dst = append(dst[:0], '/')
	if len(raw) == 0 {
		return dst, true
	}
	if raw[0] != '/' && raw[0] != '\\' {
		return dst, false
	}
	segStart := len(dst) // index just after the '/' that opened the current segment
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		encoded := false
		if c == '%' {
			if i+2 >= len(raw) {
				return dst, false
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return dst, false
			}
			c = hi<<4 | lo
			encoded = true
			i += 2
		}
		switch {
		case c == '/' || c == '\\':
			var ok bool
			if dst, segStart, ok = endSegment(dst, segStart, true); !ok {
				return dst, false
			}
		case c < 0x20 || c == 0x7f:
			return dst, false
		case isUnreserved(c) || (!encoded && isPchar(c)):
			dst = append(dst, c)
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&0xf])
		}
	}
	dst, _, ok := endSegment(dst, segStart, false)
	return dst, ok
}

// endSegment finishes the segment dst[segStart:]: it drops empty and "."
// segments, pops the previous segment for "..", and otherwise closes the
// segment with a '/' when sep is true. It returns the new dst and segStart.
func endSegment(dst []byte, segStart int, sep bool) ([]byte, int, bool) {
	seg := dst[segStart:]
	switch {
	case len(seg) == 0:
		return dst, segStart, true
	case len(seg) == 1 && seg[0] == '.':
		return dst[:segStart], segStart, true
	case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
		dst = dst[:segStart]
		if segStart > 1 {
			// dst ends with "/prev/"; cut back to just after the '/' before prev.
			i := segStart - 2
			for dst[i] != '/' {
				i--
			}
			dst = dst[:i+1]
		}
		return dst, len(dst), true
	case isDotParam(seg):
		// "..;x" and ".;x" are ".." and "." to servers that strip path
		// parameters (Tomcat, Jetty); refusing them is simpler than guessing.
		return dst, segStart, false
	}
	if sep {
		dst = append(dst, '/')
	}
	return dst, len(dst), true
}

// isDotParam reports whether seg is "." or ".." followed by a ';' parameter,
// literal or encoded as %3B.
func isDotParam(seg []byte) bool {
	i := 0
	for i < len(seg) && i < 2 && seg[i] == '.' {
		i++
	}
	if i == 0 || i == len(seg) {
		return false
	}
	rest := seg[i:]
	return rest[0] == ';' || len(rest) >= 3 && rest[0] == '%' && rest[1] == '3' && rest[2] == 'B'
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isUnreserved reports whether c is an RFC 3986 §2.3 unreserved character.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPchar reports whether the literal byte c may stand in a path segment as is
// (RFC 3986 §3.3 pchar minus pct-encoded: unreserved, sub-delims, ':' and '@').
func isPchar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}
