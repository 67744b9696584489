package static

import (
	"net/url"
	"strings"
)

// fileName maps rel, the request path below the route's prefix (canonical,
// starting with '/' or empty, %-escapes of non-special characters possibly
// left in), to a slash-separated name relative to the served directory, and
// reports whether rel ended in '/' (a directory was asked for).
//
// The name is "" for the directory itself. ok is false when the path must be
// answered 404 without touching the file system:
//   - an invalid %-escape, or one that decodes to '/' (the server's normaliser
//     already turned %2F into a separator: one surviving here is an attempt
//     to smuggle a separator past a prefix check);
//   - a NUL, control character or '\' anywhere, literal or encoded ('\' is a
//     separator on Windows);
//   - an empty segment other than a trailing slash;
//   - a segment starting with '.': "." and ".." (traversal) and dotfiles such
//     as .env, .git or .htpasswd, which are never served.
//
// The normaliser resolves dot-segments before the request reaches the
// handler; fileName checks again so that a handler mounted elsewhere, or a
// normaliser bug, cannot turn into a read outside the root (defence in depth;
// os.Root is the last line).
func fileName(rel string) (name string, dir, ok bool) {
	if rel == "" || rel == "/" {
		return "", true, true
	}
	if rel[0] != '/' {
		return "", false, false
	}
	name = rel[1:]
	if strings.HasSuffix(name, "/") {
		name, dir = name[:len(name)-1], true
	}
	if strings.IndexByte(name, '%') >= 0 {
		if name, ok = unescape(name); !ok {
			return "", false, false
		}
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) {
			c := name[i]
			if c < 0x20 || c == 0x7f || c == '\\' {
				return "", false, false
			}
			if c != '/' {
				continue
			}
		}
		// name[start:i] is a whole segment.
		if i == start || name[start] == '.' {
			return "", false, false
		}
		start = i + 1
	}
	return name, dir, true
}

// unescape decodes every %XX in s. It fails on a malformed escape and on an
// escaped '/', which must never become a separator after routing.
func unescape(s string) (string, bool) {
	if strings.Contains(s, "%2f") || strings.Contains(s, "%2F") {
		return "", false
	}
	out, err := url.PathUnescape(s)
	return out, err == nil
}
