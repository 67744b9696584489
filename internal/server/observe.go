package server

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/request"
	"github.com/gofiber/fiber/v2"
)

// keyRequestID is X-Request-Id as fasthttp stores it (SetCanonical skips
// normalising the name per request).
var keyRequestID = []byte("X-Request-Id")

// maxRequestIDLen bounds a client-sent X-Request-Id; longer or odd ones are replaced.
const maxRequestIDLen = 128

// validRequestID accepts ids made of visible ASCII without separators that
// could break a log line or a header: [A-Za-z0-9._:-], 1..128 characters.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for _, b := range id {
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9',
			b == '-', b == '_', b == '.', b == ':':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 128 random bits in hex. A request id is a label, not
// a secret: math/rand/v2's runtime-seeded generator makes collisions as
// unlikely as crypto/rand would, without a getrandom system call per request.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// observe is the outermost middleware: it assigns the request id (propagating a
// well-formed client one), runs the chain, turns its error into the response
// through the error handler, then writes one JSON access log line and records
// the metrics. Handling the error here (as Fiber's logger does) makes the status
// in the log and the metrics the one the client really gets.
func (s *Server) observe(c *fiber.Ctx) error {
	start := c.Context().Time() // the clock read once per request: see LazyRequestTime in New
	var id string
	if in := c.Request().Header.Peek(fiber.HeaderXRequestID); validRequestID(in) {
		id = string(in)
	} else {
		id = newRequestID()
	}
	st := request.Begin(c, id, s.clientOf(c))
	defer st.End()
	c.SetUserContext(st.Context())

	if err := s.next(c); err != nil {
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			s.logger.Error("writing error response", "error", herr, "request_id", id)
			c.Status(fiber.StatusInternalServerError)
		}
		if err == errPanicked {
			// After the error handler, which resets the response: whatever
			// the panicking code left half done, the connection is not reused.
			c.Context().SetConnectionClose()
		}
	}

	// Set last, so that it is the gateway's id whatever the upstream sent.
	var idBuf [maxRequestIDLen]byte
	c.Response().Header.SetCanonical(keyRequestID, append(idBuf[:0], id...))
	status := c.Response().StatusCode()
	elapsed := time.Since(start)
	s.metrics.observe(st.Route, methodLabel(c.Method()), status, elapsed)
	if ctx := st.Context(); s.logger.Enabled(ctx, slog.LevelInfo) {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", id),
			slog.String("method", c.Method()),
			slog.String("path", string(c.Request().URI().PathOriginal())),
			slog.String("route", st.Route),
			slog.Int("status", status),
			slog.Duration("duration", elapsed),
			slog.String("upstream", st.Upstream),
			slog.String("client_ip", st.ClientIP()),
		)
	}
	return nil
}

// statusLabel returns the status code as a metric label without allocating
// for the common codes.
func statusLabel(code int) string {
	if code >= 100 && code < 600 {
		return statusLabels[code-100]
	}
	return strconv.Itoa(code)
}

var statusLabels = func() (l [500]string) {
	for i := range l {
		l[i] = strconv.Itoa(i + 100)
	}
	return l
}()

// clientOf returns c's client address: the connection's peer, or, when the
// peer is one of server.trusted_proxies, the address X-Forwarded-For names
// behind it.
func (s *Server) clientOf(c *fiber.Ctx) netip.Addr {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !s.clientIP.Any() {
		return peer
	}
	// Every X-Forwarded-For line counts: they form one list (RFC 9110 §5.3).
	var xff []byte
	switch lines := c.Request().Header.PeekAll(fiber.HeaderXForwardedFor); len(lines) {
	case 0:
	case 1:
		xff = lines[0]
	default:
		xff = bytes.Join(lines, []byte(","))
	}
	return s.clientIP.Resolve(peer, xff)
}
