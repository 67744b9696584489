// Package hopbyhop is gatehouse's one table of the hop-by-hop header fields:
// the fields that describe one connection rather than the message, which a
// proxy must not forward in either direction (RFC 9110 §7.6.1). Every part
// that copies, stores or rewrites header fields across a hop uses it: the
// proxy strips them both ways, the cache never stores them, the headers
// plugin refuses rules that would set or remove them.
//
// The table holds Connection and the fields RFC 9110 §7.6.1 lists as
// connection-specific (Keep-Alive, TE, Transfer-Encoding, Upgrade, and
// Proxy-Connection, a pre-standard alias of Connection some clients still
// send), the two Proxy-* authentication fields, meant for the next proxy only
// (RFC 9110 §11.7.1, §11.7.2), and Trailer, which announces fields of this
// hop's chunked framing. The fields a Connection header
// names are hop-by-hop too; each user handles those itself, since which of
// them may be removed depends on when (see proxy.StripClientRequest).
package hopbyhop

// Fields are the hop-by-hop field names in the form fasthttp stores them
// (canonical MIME form: "Te", not "TE"), so a name read from a
// fasthttp header compares equal as it is. Do not modify.
var Fields = [...]string{
	"Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Proxy-Connection",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// Is reports whether name, in the canonical form fasthttp stores (as
// Fields), is a hop-by-hop field. It does not allocate.
func Is(name []byte) bool {
	switch string(name) {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}
