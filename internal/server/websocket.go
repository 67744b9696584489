package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/cors"
	"github.com/gatehouse-dev/gatehouse/internal/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/safego"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/request"
)

// WebSocket close codes gatehouse sends (RFC 6455 §7.4.1).
const (
	closeNormal       = 1000 // the idle timeout
	closeGoingAway    = 1001 // shutdown
	closePolicy       = 1008 // the session (or bearer token) ended
	closeReasonIdle   = "idle timeout"
	closeReasonGone   = "going away"
	closeReasonPolicy = "session ended"
)

// Timing of a socket's end.
const (
	// closeGrace bounds the wait, once a socket is ending, for the upstream
	// to finish the frame it is sending (the close frame can only follow a
	// whole frame) and for the client to answer the close frame.
	closeGrace = 2 * time.Second
	// handoverTimeout bounds the wait between the 101 being queued and
	// fasthttp handing the connection over (Hijack); fasthttp never calls
	// the hijack handler when writing the 101 fails, and the upstream
	// connection must not leak then.
	handoverTimeout = 30 * time.Second
	// sessionCheckEvery is how often an open socket reads its session from
	// the store (without touching it, session.Manager.Peek): a logout on
	// another replica, or a failed refresh, ends its sockets within this.
	sessionCheckEvery = 15 * time.Second
	// peekTimeout bounds one such read.
	peekTimeout = 5 * time.Second
)

// msgTooManyWebSockets answers a handshake beyond websocket_max_connections.
const msgTooManyWebSockets = "too many websocket connections"

// isUpgrade reports whether the edge marked c's request as a WebSocket
// handshake (request.State.Upgrade, set before the edge removes the
// Connection and Upgrade fields).
func isUpgrade(c *fiber.Ctx) bool { return request.From(c).Upgrade }

// isWebSocketUpgrade reports a valid WebSocket opening handshake (RFC 6455
// §4.2.1): GET, Connection naming the upgrade option, Upgrade naming
// websocket, Sec-WebSocket-Version 13, a Sec-WebSocket-Key of 16 bytes in
// base64, and no body (the bytes after the head belong to the socket).
// It allocates nothing.
func isWebSocketUpgrade(h *fasthttp.RequestHeader) bool {
	// A connection that is to close after the answer (Connection: close,
	// HTTP/1.0) is never handed over by fasthttp: a 101 on it would leave the
	// upstream's socket and a slot of the route held for nothing.
	if !h.IsGet() || h.ConnectionClose() || (h.ContentLength() != 0 && h.ContentLength() != -2) {
		return false
	}
	if !hasToken(h.PeekAll(fiber.HeaderUpgrade), "websocket") ||
		!hasToken(h.PeekAll(fiber.HeaderConnection), "upgrade") {
		return false
	}
	if string(h.Peek(fiber.HeaderSecWebSocketVersion)) != "13" {
		return false
	}
	key := h.Peek(fiber.HeaderSecWebSocketKey)
	var raw [18]byte
	n, err := base64.StdEncoding.Decode(raw[:], key)
	return len(key) == 24 && err == nil && n == 16
}

// hasToken reports whether one of the comma-separated lists holds tok
// (case-insensitive).
func hasToken(lines [][]byte, tok string) bool {
	for _, v := range lines {
		for len(v) > 0 {
			var item []byte
			item, v, _ = bytes.Cut(v, []byte{','})
			if bytes.EqualFold(bytes.TrimSpace(item), []byte(tok)) {
				return true
			}
		}
	}
	return false
}

// wsRoute is the WebSocket side of a route with websocket: true.
type wsRoute struct {
	srv     *Server
	route   *config.Route
	px      *proxy.Proxy
	origins []string // allowed besides public_url's (the route's cors origins)
	max     int64
	idle    time.Duration
	open    atomic.Int64
}

// newWSRoute builds the WebSocket side of r, which forwards through px.
func (s *Server) newWSRoute(cfg *config.Config, r *config.Route, px *proxy.Proxy) *wsRoute {
	return &wsRoute{srv: s, route: r, px: px, origins: cors.Origins(cors.For(cfg, r)),
		max: int64(r.WebSocketMaxConnections), idle: r.WebSocketIdleTimeout.D()}
}

// admit runs before the route's auth gate: a WebSocket handshake must pass
// the Origin check (auth.AdmitUpgrade) that stands in for the CSRF header.
func (w *wsRoute) admit(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if isUpgrade(c) {
			if err := w.srv.auth.AdmitUpgrade(c, w.route, w.origins); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// terminal is the route's last step: a WebSocket handshake is served by
// serve, any other request by next (the proxy).
func (w *wsRoute) terminal(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if isUpgrade(c) {
			return w.serve(c)
		}
		return next(c)
	}
}

// serve passes an admitted handshake (auth gate and plugins done) to the
// upstream: 503 beyond websocket_max_connections; on the upstream's 101 the
// client gets it and the connection is handed to a socket; any other
// answer is relayed as it came.
func (w *wsRoute) serve(c *fiber.Ctx) error {
	if len(c.Request().Header.Peek(fiber.HeaderSecWebSocketKey)) == 0 {
		// A Connection nomination removed it at the edge.
		return httperr.New(fiber.StatusBadRequest, "bad request")
	}
	if w.open.Add(1) > w.max {
		w.open.Add(-1)
		return httperr.New(fiber.StatusServiceUnavailable, msgTooManyWebSockets)
	}
	up, err := w.px.Upgrade(c)
	if err != nil || up == nil {
		w.open.Add(-1)
		return err
	}
	s := w.newSocket(c, up)
	c.Context().Hijack(s.run)
	s.handover = time.AfterFunc(handoverTimeout, s.abandon)
	return nil
}

// newSocket records what the socket needs of the request: c and its
// buffers are gone once the handler returns, so every string is copied.
func (w *wsRoute) newSocket(c *fiber.Ctx, up *proxy.Upgraded) *socket {
	s := &socket{
		route: w,
		up:    up,
		log: w.srv.logger.With(slog.String("route", w.route.Name),
			slog.String("request_id", request.From(c).ID)),
		done: make(chan struct{}),
	}
	if id := request.From(c).Identity; id != nil {
		s.sessionID = strings.Clone(id.SessionID)
		s.subject = strings.Clone(id.Subject)
		if sid, ok := id.Claims["sid"].(string); ok {
			s.sid = strings.Clone(sid)
		}
		if exp, ok := id.Claims["exp"].(float64); ok && s.sessionID == "" {
			s.tokenExpiry = time.Unix(int64(exp), 0)
		}
	}
	return s
}

// socket is one open WebSocket: the client's hijacked connection and the
// upstream's, with bytes pumped both ways unparsed, except that frame
// boundaries from the upstream are followed (frameCursor) so that a close
// frame gatehouse sends never lands inside one of the upstream's frames.
type socket struct {
	route  *wsRoute
	up     *proxy.Upgraded
	client net.Conn
	log    *slog.Logger

	// Who the socket belongs to (copies): a session's id, IdP sid and
	// subject, or for a bearer token its expiry.
	sessionID, sid, subject string
	tokenExpiry             time.Time

	// handover ends the socket if fasthttp never hands the connection over.
	handover *time.Timer
	// started is set by run or abandon, whichever comes first.
	started atomic.Bool
	// last is when a byte last passed, either way (Unix nanoseconds).
	last atomic.Int64
	// ending is the close code the socket is ending with (0: not ending).
	ending atomic.Int32
	// endBy is when an ending socket stops waiting (Unix nanoseconds).
	endBy atomic.Int64
	// frames follows the upstream's frames; only the down pump uses it.
	frames frameCursor
	done   chan struct{}
}

// abandon closes the upstream connection of a socket fasthttp never
// handed over.
func (s *socket) abandon() {
	if s.started.CompareAndSwap(false, true) {
		_ = s.up.Conn.Close()
		s.route.open.Add(-1)
	}
}

// run is the hijack handler: it pumps until the socket is over. fasthttp
// closes the client connection when it returns. A panic ends this socket
// only: it is logged (safego.Recover) after serve's cleanup ran.
func (s *socket) run(client net.Conn) {
	if !s.started.CompareAndSwap(false, true) {
		return // abandoned
	}
	s.handover.Stop()
	s.client = client
	defer safego.Recover(s.log, "websocket")
	s.serve()
}

// serve registers the socket, runs the pumps and the session watch, and
// cleans up after them.
func (s *socket) serve() {
	reg := s.route.srv.sockets
	defer s.route.open.Add(-1)
	opened := time.Now()
	defer func() {
		// code says why: 1008 the session or token ended, 1000 idle, 1001
		// shutdown or one side went away.
		s.log.Info("websocket: closed", "code", s.ending.Load(), "open_for", time.Since(opened).Round(time.Millisecond))
	}()
	defer func() { _ = s.up.Conn.Close() }()
	s.last.Store(time.Now().UnixNano())
	if !reg.add(s) {
		s.end(closeGoingAway) // shutting down
	}
	defer reg.remove(s)
	defer close(s.done)
	// Even if a pump panicked: once serve is over nothing may touch the
	// client connection (fasthttp reuses it), and end is a no-op when ending
	// is set.
	defer s.ending.CompareAndSwap(0, closeGoingAway)
	if s.sessionID != "" || !s.tokenExpiry.IsZero() {
		safego.Go(s.log, "websocket session watch", s.watch)
	}
	upDone := make(chan struct{})
	safego.Go(s.log, "websocket client to upstream", func() {
		defer close(upDone)
		s.pumpUp()
	})
	sentClose := s.pumpDown()
	_ = s.up.Conn.Close()
	s.ending.CompareAndSwap(0, closeGoingAway) // pumpUp stops at endBy
	if sentClose {
		// Let the client answer the close frame (pumpUp reads it) before
		// fasthttp closes the connection.
		s.endBy.Store(time.Now().Add(closeGrace).UnixNano())
	} else {
		s.endBy.Store(time.Now().UnixNano())
	}
	_ = s.client.SetReadDeadline(time.Unix(0, s.endBy.Load()))
	<-upDone
}

// end asks the socket to close with code: the upstream's current frame is
// finished (within closeGrace), then the close frame sent and both
// connections closed. It never blocks; the first code wins.
func (s *socket) end(code int32) {
	if s.ending.CompareAndSwap(0, code) {
		s.endBy.Store(time.Now().Add(closeGrace).UnixNano())
		// Wake the pumps' reads (see pumpDown for why this cannot be missed).
		now := time.Now()
		_ = s.up.Conn.SetReadDeadline(now)
		if s.client != nil {
			_ = s.client.SetReadDeadline(now)
		}
	}
}

// deadline is when the pump's next read gives up: the idle deadline, or
// once the socket is ending, its endBy.
func (s *socket) deadline() time.Time {
	if s.ending.Load() != 0 {
		return time.Unix(0, s.endBy.Load())
	}
	return time.Unix(0, s.last.Load()).Add(s.route.idle)
}

// timedOut handles a read deadline passing: false when the pump should stop
// (ending and out of time); otherwise, when the socket has been idle for
// the idle timeout, it starts ending it.
func (s *socket) timedOut() bool {
	if s.ending.Load() != 0 {
		return time.Now().UnixNano() < s.endBy.Load()
	}
	if time.Since(time.Unix(0, s.last.Load())) >= s.route.idle {
		s.end(closeNormal)
	}
	return true
}

// setReadDeadline sets conn's read deadline to s.deadline() and reports
// whether it still stands, having been set; if not (the socket started
// ending, or traffic moved the idle deadline, meanwhile) the caller sets it
// again. So a wake-up by end cannot be lost: end stores the code and endBy
// before it moves the read deadline to now; a pump whose check saw neither
// set its deadline before end moved it.
func (s *socket) setReadDeadline(conn net.Conn) (ok bool, err error) {
	dl := s.deadline()
	if err := conn.SetReadDeadline(dl); err != nil {
		return false, err
	}
	return s.deadline().Equal(dl), nil
}

// pumpDown copies the upstream to the client until either side ends, or
// until the socket ends: then it sends the close frame once the upstream's
// frame in progress is complete. It reports whether it sent one.
func (s *socket) pumpDown() bool {
	buf := make([]byte, 32<<10)
	for {
		if ok, err := s.setReadDeadline(s.up.Conn); err != nil {
			return false
		} else if !ok {
			continue
		}
		code := s.ending.Load()
		if code != 0 && s.frames.atBoundary() {
			return s.sendClose(code)
		}
		n, err := s.up.Reader.Read(buf)
		if n > 0 {
			k := s.frames.advance(buf[:n], code != 0)
			if !s.write(s.client, buf[:k]) {
				return false
			}
		}
		if err != nil && (!isTimeout(err) || !s.timedOut()) {
			return false
		}
	}
}

// pumpUp copies the client to the upstream until either side ends, or
// until the socket has ended and the client had its time to answer.
func (s *socket) pumpUp() {
	buf := make([]byte, 32<<10)
	for {
		if ok, err := s.setReadDeadline(s.client); err != nil {
			return
		} else if !ok {
			continue
		}
		n, err := s.client.Read(buf)
		if n > 0 && !s.write(s.up.Conn, buf[:n]) {
			if s.ending.Load() == 0 {
				s.end(closeGoingAway) // the upstream is gone
			}
			return
		}
		if err != nil && (!isTimeout(err) || !s.timedOut()) {
			if s.ending.Load() == 0 {
				// The client is gone: nobody to send a close frame to.
				_ = s.up.Conn.Close()
			}
			return
		}
	}
}

// write writes b to conn within the idle timeout and records the activity.
func (s *socket) write(conn net.Conn, b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if err := conn.SetWriteDeadline(time.Now().Add(s.route.idle)); err != nil {
		return false
	}
	if _, err := conn.Write(b); err != nil {
		return false
	}
	s.last.Store(time.Now().UnixNano())
	return true
}

// sendClose writes a close frame with code and its reason to the client.
func (s *socket) sendClose(code int32) bool {
	reason := closeReasonPolicy
	switch code {
	case closeNormal:
		reason = closeReasonIdle
	case closeGoingAway:
		reason = closeReasonGone
	}
	_ = s.client.SetWriteDeadline(time.Now().Add(closeGrace))
	_, err := s.client.Write(closeFrame(uint16(code), reason))
	return err == nil
}

// closeFrame is a server's close frame (RFC 6455 §5.5.1): FIN and opcode
// 0x8, unmasked, the code in network order and the reason (under 124 bytes).
func closeFrame(code uint16, reason string) []byte {
	f := make([]byte, 4, 4+len(reason))
	f[0], f[1] = 0x88, byte(2+len(reason))
	binary.BigEndian.PutUint16(f[2:], code)
	return append(f, reason...)
}

// watch ends the socket with 1008 when what authenticated it ends. For a
// session: it reads the session from the store every sessionCheckEvery and
// at the moment it would idle or age out (its expiry as of the last read),
// without touching it, so the socket's own traffic never keeps a session
// alive; a session gone (logout on any replica, back-channel logout, a
// refused refresh, the idle or absolute timeout) ends the socket. A store
// failure keeps the socket and is logged. For a bearer token: at its exp.
func (s *socket) watch() {
	srv := s.route.srv
	timer := time.NewTimer(0)
	defer timer.Stop()
	expires := s.tokenExpiry
	for {
		select {
		case <-s.done:
			return
		case <-timer.C:
		}
		if s.sessionID == "" {
			if !time.Now().Before(expires) {
				s.end(closePolicy)
				return
			}
		} else {
			ctx, cancel := context.WithTimeout(srv.ctx, peekTimeout)
			sess, err := srv.sessions.Peek(ctx, s.sessionID)
			cancel()
			switch {
			case errors.Is(err, session.ErrNoSession):
				s.end(closePolicy)
				return
			case err != nil:
				s.log.Warn("websocket: checking the session", "error", err)
			default:
				expires = srv.sessions.ExpiresAt(sess)
			}
		}
		wait := srv.wsSessionCheck
		if until := time.Until(expires); !expires.IsZero() && until < wait {
			wait = max(until, 0)
		}
		timer.Reset(wait)
	}
}

// isTimeout reports a deadline error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sockets is the registry of a server's open WebSockets. Logouts end their
// session's sockets through it (it is the auth package's
// SessionObserver); Shutdown ends them all.
type sockets struct {
	mu     sync.Mutex
	open   map[*socket]struct{}
	closed bool
}

func newSockets() *sockets { return &sockets{open: map[*socket]struct{}{}} }

// add registers s; false once the server is shutting down.
func (r *sockets) add(s *socket) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.open[s] = struct{}{}
	return true
}

func (r *sockets) remove(s *socket) {
	r.mu.Lock()
	delete(r.open, s)
	r.mu.Unlock()
}

// count is the number of open sockets.
func (r *sockets) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.open)
}

// SessionsEnded ends (1008) the sockets of the sessions e names; a
// subject's means its session sockets, not those of bearer tokens. It
// implements auth.SessionObserver.
func (r *sockets) SessionsEnded(e auth.SessionEnd) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.open {
		if s.sessionID == "" {
			continue
		}
		if e.ID != "" && s.sessionID == e.ID || e.SID != "" && s.sid == e.SID ||
			e.Subject != "" && s.subject == e.Subject {
			s.end(closePolicy)
		}
	}
}

// closeAll ends every socket (1001) and refuses new ones.
func (r *sockets) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for s := range r.open {
		s.end(closeGoingAway)
	}
}

// frameCursor follows the frame boundaries of a WebSocket byte stream
// (RFC 6455 §5.2) by reading each frame's header and counting its payload,
// which it never looks at.
type frameCursor struct {
	head    [14]byte // the current frame's header so far
	headLen int      // bytes of it seen
	need    int      // its full length, known once 2 bytes are seen (0 before)
	payload uint64   // payload bytes of the current frame still to come
}

// atBoundary reports whether the bytes seen end with a whole frame.
func (f *frameCursor) atBoundary() bool { return f.headLen == 0 && f.payload == 0 }

// advance follows p and returns how many of its bytes it consumed: all of
// them, or with stop, those up to the first frame boundary (0 when already
// at one).
func (f *frameCursor) advance(p []byte, stop bool) int {
	i := 0
	for i < len(p) {
		if stop && f.atBoundary() {
			return i
		}
		if f.payload > 0 {
			n := min(uint64(len(p)-i), f.payload)
			f.payload -= n
			i += int(n)
			continue
		}
		f.head[f.headLen] = p[i]
		f.headLen++
		i++
		if f.headLen == 2 {
			f.need = 2
			switch f.head[1] & 0x7f {
			case 126:
				f.need += 2
			case 127:
				f.need += 8
			}
			if f.head[1]&0x80 != 0 {
				f.need += 4 // masking key
			}
		}
		if f.headLen >= 2 && f.headLen == f.need {
			switch n := f.head[1] & 0x7f; n {
			case 126:
				f.payload = uint64(binary.BigEndian.Uint16(f.head[2:4]))
			case 127:
				f.payload = binary.BigEndian.Uint64(f.head[2:10])
			default:
				f.payload = uint64(n)
			}
			f.headLen, f.need = 0, 0
		}
	}
	return i
}
