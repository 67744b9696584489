package cache

import "bytes"

// cacheControl holds the Cache-Control directives the cache acts on
// (RFC 9111 §5.2). Absent ages are -1.
type cacheControl struct {
	noStore, noCache, private, public, mustRevalidate bool
	maxAge, sMaxAge                                   int64
}

// parseCacheControl reads one or more Cache-Control field values. It errs on
// the safe side where RFC 9111 allows a choice: a qualified private="..." or
// no-cache="..." counts as unqualified, and a directive repeated with
// different ages keeps the smallest (§4.2.1: invalid freshness means stale).
func parseCacheControl(values ...[]byte) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1}
	for _, v := range values {
		for len(v) > 0 {
			var item []byte
			item, v = nextItem(v)
			name, arg := item, []byte(nil)
			if i := bytes.IndexByte(item, '='); i >= 0 {
				name, arg = bytes.TrimSpace(item[:i]), unquote(bytes.TrimSpace(item[i+1:]))
			}
			var lower [16]byte // the longest directive we know is 16 bytes
			if len(name) > len(lower) {
				continue
			}
			for i, c := range name {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				lower[i] = c
			}
			switch string(lower[:len(name)]) {
			case "no-store":
				cc.noStore = true
			case "no-cache":
				cc.noCache = true
			case "private":
				cc.private = true
			case "public":
				cc.public = true
			case "must-revalidate", "proxy-revalidate":
				cc.mustRevalidate = true
			case "max-age":
				cc.maxAge = minAge(cc.maxAge, parseAge(arg))
			case "s-maxage":
				cc.sMaxAge = minAge(cc.sMaxAge, parseAge(arg))
			}
		}
	}
	return cc
}

// nextItem splits off the next comma-separated directive, honouring quoted
// strings (a quoted argument may contain commas).
func nextItem(v []byte) (item, rest []byte) {
	inQuote := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			return bytes.TrimSpace(v[:i]), v[i+1:]
		}
	}
	return bytes.TrimSpace(v), nil
}

func unquote(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	return b
}

// parseAge reads a delta-seconds (RFC 9111 §1.2.2); an invalid value is 0
// (stale), a huge one saturates.
func parseAge(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		if n = n*10 + int64(c-'0'); n > 1<<31 {
			return 1 << 31 // §1.2.2: larger values are sent on as 2^31
		}
	}
	return n
}

func minAge(old, n int64) int64 {
	if old < 0 || n < old {
		return n
	}
	return old
}

// cacheableStatus lists the status codes stored: the ones RFC 9110 §15.1
// makes heuristically cacheable (the ttl acts as the heuristic), minus 206
// (range requests are not cached).
var cacheableStatus = map[int]bool{
	200: true, 203: true, 204: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true,
}
