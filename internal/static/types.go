package static

import (
	"mime"
	"path"
	"strings"
)

// knownTypes maps the extensions a web front end ships to their Content-Type.
// It is the handler's own table, so that answers do not depend on the host's
// /etc/mime.types; other extensions fall back to mime.TypeByExtension and then
// application/octet-stream. Text types carry charset=utf-8.
var knownTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8", // RFC 9239
	".mjs":         "text/javascript; charset=utf-8",
	".cjs":         "text/javascript; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".xml":         "application/xml",
	".txt":         "text/plain; charset=utf-8",
	".md":          "text/markdown; charset=utf-8",
	".csv":         "text/csv; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/x-icon",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".wasm":        "application/wasm",
	".pdf":         "application/pdf",
	".mp4":         "video/mp4",
	".webm":        "video/webm",
	".mp3":         "audio/mpeg",
	".zip":         "application/zip",
}

// contentType returns the Content-Type for a file name.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := knownTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// hasKnownExtension reports whether the last segment of name ends in an
// extension of knownTypes: such a request asks for a file (a script, an
// image), so a miss is 404 and never the SPA's index.html. Client-side routes
// with a dot ("/users/jane.doe") have no known extension and still fall back.
func hasKnownExtension(name string) bool {
	_, ok := knownTypes[strings.ToLower(path.Ext(name))]
	return ok
}

// isHTML reports whether a Content-Type is an HTML document.
func isHTML(ctype string) bool { return strings.HasPrefix(ctype, "text/html") }

// compressible reports whether a Content-Type is worth compressing: text,
// scripts, JSON, XML, SVG and WebAssembly. Images, fonts (woff/woff2 are
// compressed already), video and archives are not.
func compressible(ctype string) bool {
	t, _, _ := strings.Cut(ctype, ";")
	switch {
	case strings.HasPrefix(t, "text/"):
		return true
	case strings.HasSuffix(t, "+json"), strings.HasSuffix(t, "+xml"):
		return true
	}
	switch t {
	case "application/json", "application/xml", "application/javascript", "application/wasm",
		"font/ttf", "font/otf", "image/x-icon":
		return true
	}
	return false
}

// isHashed reports whether a file name carries a content hash, so that its
// content can never change under the same name and it may be cached forever.
//
// The rule: the base name without its extension is split at '.' and '-';
// some part after the first is 8 to 64 characters of [A-Za-z0-9_] holding at
// least one digit and at least one letter. It matches the names bundlers
// emit — "app.3f9a1c2b.js" (webpack), "index-BXk2p9aQ.js" (Vite/Rollup),
// "main.3f9a1c2b.chunk.css" — and not "jquery-3.7.1.min.js",
// "react-dom.production.js" or "report-20240101.pdf". A missed hash only
// costs a revalidation (304); a false match would pin a stale file in
// browsers for a year, so the rule errs on the side of missing: a Vite hash
// without a digit, or containing '-', is not recognised.
func isHashed(name string) bool {
	base := path.Base(name)
	stem := strings.TrimSuffix(base, path.Ext(base))
	first := true
	for part := range strings.FieldsFuncSeq(stem, func(r rune) bool { return r == '.' || r == '-' }) {
		if first {
			first = false
			continue
		}
		if hashLike(part) {
			return true
		}
	}
	return false
}

func hashLike(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	digit, letter := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digit = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letter = true
		case c == '_':
		default:
			return false
		}
	}
	return digit && letter
}
