package route

import "bytes"

// HasParams reports whether the canonical path holds a ';' path parameter
// (RFC 3986 §3.3), literal or encoded as %3B, in any segment. Servlet
// containers (Tomcat, Jetty) and Spring cut "/admin;x" to "/admin" before
// routing, so a path with parameters names another path to them than to a
// prefix match: the server refuses it unless the matched route opts in.
func HasParams(path []byte) bool {
	return bytes.IndexByte(path, ';') >= 0 || bytes.Contains(path, pctSemicolon)
}

var pctSemicolon = []byte("%3B") // Normalize writes escapes in upper case

// StripParams appends to dst[:0] the canonical path with every segment's
// parameters removed (from its first ';' or %3B to the end of the segment)
// and the segments left empty dropped, and returns it: "/a;x/b;y=1/c" is
// "/a/b/c", "/a/;x/b" is "/a/b". It is the path a servlet container routes
// on, which the route table then matches. A trailing slash is kept.
func StripParams(dst, path []byte) []byte {
	dst = append(dst[:0], '/')
	for seg := range bytes.SplitSeq(path[1:], []byte("/")) {
		if i := paramStart(seg); i >= 0 {
			seg = seg[:i]
		}
		if len(seg) == 0 {
			continue
		}
		if len(dst) > 1 {
			dst = append(dst, '/')
		}
		dst = append(dst, seg...)
	}
	if len(path) > 1 && path[len(path)-1] == '/' && len(dst) > 1 {
		dst = append(dst, '/')
	}
	return dst
}

// paramStart returns the index of seg's first ';' or %3B, or -1.
func paramStart(seg []byte) int {
	i := bytes.IndexByte(seg, ';')
	if j := bytes.Index(seg, pctSemicolon); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	return i
}
