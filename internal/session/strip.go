package session

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// AppendCutCookie appends to dst the Cookie field value line without the
// cookie pairs named name, and returns the extended buffer. Everything else
// is kept byte for byte and in order; only the separators next to a cut pair
// go with it ("a=1; gatehouse=S; b=2" → "a=1; b=2"). A line left with no
// pair appends nothing.
//
// A pair is what lies between two ';': its name is the text before its first
// '=', without surrounding spaces and tabs, compared exactly (cookie names
// are case-sensitive); a pair without '=' has no name (RFC 6265bis §5.6) and
// is kept. Quotes do not protect a ';': RFC 6265 §4.1.1 allows none in a
// cookie-value, even quoted, browsers and servers split at every ';' (Go's
// net/http readCookies, Tomcat, Node's cookie, fasthttp), and so does the
// gate when it reads the session cookie. So `a="x; gatehouse=S"; b=2` is the
// pairs `a="x`, `gatehouse=S"` and `b=2`, and becomes `a="x; b=2`: no byte
// of the session pair survives for any parser downstream, quote-aware or not.
func AppendCutCookie(dst, line []byte, name string) []byte {
	start := len(dst)
	kept := 0
	cut := false
	for rest, more := line, true; more; {
		var pair []byte
		pair, rest, more = bytes.Cut(rest, []byte{';'})
		if named(pair, name) {
			cut = true
			continue
		}
		switch {
		case kept > 0:
			dst = append(dst, ';')
		case cut:
			// The first pair kept after a cut one: its leading space was
			// the separator after the pair that went.
			pair = bytes.TrimLeft(pair, " \t")
		}
		dst = append(dst, pair...)
		kept++
	}
	if len(bytes.Trim(dst[start:], " \t;")) == 0 {
		return dst[:start]
	}
	return dst
}

// named reports whether the cookie pair's name is name (a pair without '='
// has none).
func named(pair []byte, name string) bool {
	n, _, ok := bytes.Cut(pair, []byte{'='})
	return ok && string(bytes.Trim(n, " \t")) == name
}

// StripCookie removes every cookie named name from every Cookie line of the
// request h, as the client sent them (AppendCutCookie), and forwards the
// others byte for byte and in order, each line as its own field; a line
// left empty goes. fasthttp's own cookie handling cannot do this: once
// anything has read a cookie it re-serialises all of them from its parse,
// which drops values holding '"' (`j={"a":1}`), unquotes `q="a b"` and joins
// the lines.
//
// It reads the Cookie lines from the head as received (RawHeaders), so it
// must run before anything but the reading of cookies has changed the
// request's Cookie field: the auth gate runs it before any plugin, and the
// server's edge never removes Cookie. Afterwards h's parsed cookies are
// empty (h.Cookie finds none); the lines are plain fields that Del("Cookie")
// still removes.
func StripCookie(h *fasthttp.RequestHeader, name string) {
	var stack [1024]byte
	found, special := false, false
	raw := h.RawHeaders()
	for len(raw) > 0 {
		var line []byte
		line, raw, _ = bytes.Cut(raw, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break // the blank line that ends the head
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		if !bytes.EqualFold(field, keyCookie) {
			continue
		}
		if !found {
			found = true
			h.DelAllCookies()
			// With special headers off, a Cookie line is stored and written
			// as a plain field, not parsed into h's cookies.
			special = !h.DisableSpecialHeader()
		}
		if v := AppendCutCookie(stack[:0], bytes.Trim(value, " \t"), name); len(v) > 0 {
			h.AddBytesKV(keyCookie, v)
		}
	}
	if special {
		h.EnableSpecialHeader()
	}
}

// keyCookie is the Cookie field's canonical name.
var keyCookie = []byte("Cookie")
