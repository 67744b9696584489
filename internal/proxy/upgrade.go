package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1" // #nosec G505: RFC 6455's handshake check, not a security hash
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"time"

	"github.com/gatehouse-dev/gatehouse/request"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// maxUpgradeRefusalBody bounds the body of an upstream's answer other than
// 101 to a WebSocket handshake, which is read whole and relayed.
const maxUpgradeRefusalBody = 64 << 10

// errNotWebSocket: a 101 whose Upgrade is not websocket, or whose
// Sec-WebSocket-Accept does not answer the request's key: whatever the
// upstream speaks next is not a WebSocket, and relaying it raw would let
// the client talk to the upstream past the gateway.
var errNotWebSocket = errors.New("upstream's 101 is not a websocket handshake answer")

// websocketGUID is RFC 6455's fixed suffix of the accept computation (§4.2.2).
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptFor is the Sec-WebSocket-Accept that answers key.
func acceptFor(key []byte) string {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(websocketGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Upgraded is an upstream connection that has accepted a WebSocket
// handshake (101 Switching Protocols). The caller owns it: it has no
// deadlines, and must be closed.
type Upgraded struct {
	// Conn is the connection to the upstream (TLS for an https target).
	Conn net.Conn
	// Reader reads Conn; it holds the bytes the upstream sent right after
	// its 101, if any, so read the upstream through it, never through Conn.
	Reader *bufio.Reader
}

// Upgrade sends c's WebSocket handshake to one of the route's targets, on a
// connection of its own (never a pooled one), and reads the answer's head.
// The request is prepared as Forward prepares one — the same target
// selection, hop-by-hop fields and Connection nominations removed, fresh
// X-Forwarded-*, X-Request-Id, and the gateway's Authorization from the auth
// gate's identity — then carries Connection: Upgrade and Upgrade: websocket
// of the gateway's own (the client's were removed at the edge; the
// Sec-WebSocket-* fields pass as sent). The handshake, from dialling to the
// answer's head, must end before c.UserContext() does (the route's
// timeout).
//
// On 101 with Upgrade: websocket and the Sec-WebSocket-Accept that
// answers the request's key, c's response gets the upstream's status
// and end-to-end fields (Sec-WebSocket-Accept, -Protocol, -Extensions, …)
// with Connection: Upgrade and Upgrade: websocket, and the connection is
// returned. Any other answer is relayed as a normal response (its body read
// whole, at most 64 KiB) and (nil, nil) is returned. Errors are httperr:
// 502 "upstream unavailable" (no target reachable, a reset, a 101 to
// another protocol), 504 "upstream timeout".
func (p *Proxy) Upgrade(c *fiber.Ctx) (*Upgraded, error) {
	st := request.From(c)
	ctx := c.UserContext() // a plugin may have narrowed it
	in := &c.Context().Request
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	p.prepareHeader(c, st, &req.Header)
	h := &req.Header
	h.Set(fiber.HeaderConnection, "Upgrade")
	h.Set(fiber.HeaderUpgrade, "websocket")

	var (
		t    *target
		conn net.Conn
		err  error
	)
	for range len(p.targets) {
		t = p.pick()
		st.Upstream = t.url
		p.setURI(req, in, t)
		if conn, err = p.dialUpgrade(ctx, t); err == nil {
			break
		}
		p.failed(c, t, req, err)
	}
	if err != nil {
		return nil, statusError(err)
	}
	up, err := p.handshake(ctx, c, conn, req)
	if err != nil {
		_ = conn.Close()
		p.report(ctx, t, requestID(c, st), "upstream websocket handshake failed", err, false)
		return nil, statusError(err)
	}
	t.succeeded()
	return up, nil
}

// dialUpgrade connects to t (TLS for https, HTTP/1.1 only) within ctx and
// the dial timeout. Its errors are *dialError: t never saw the request.
func (p *Proxy) dialUpgrade(ctx context.Context, t *target) (net.Conn, error) {
	d := net.Dialer{Timeout: p.opts.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", t.client.Addr)
	if err != nil {
		return nil, &dialError{err: err}
	}
	if t.scheme != "https" {
		return conn, nil
	}
	cfg := &tls.Config{}
	if p.opts.TLSConfig != nil {
		cfg = p.opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		host, _, splitErr := net.SplitHostPort(t.client.Addr)
		if splitErr != nil {
			host = t.client.Addr
		}
		cfg.ServerName = host
	}
	cfg.NextProtos = []string{"http/1.1"} // a WebSocket handshake is HTTP/1.1
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, &dialError{err: err}
	}
	return tc, nil
}

// handshake writes req on conn and reads the answer's head into c's
// response; see Upgrade.
func (p *Proxy) handshake(ctx context.Context, c *fiber.Ctx, conn net.Conn, req *fasthttp.Request) (*Upgraded, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(p.timeout)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	bw := bufio.NewWriter(conn)
	if err := req.Write(bw); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, DefaultMaxResponseHeaderBytes)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := resp.Header.Read(br); err != nil {
		return nil, err
	}
	out := &c.Response().Header
	if resp.Header.StatusCode() != fiber.StatusSwitchingProtocols {
		if err := resp.ReadBody(br, maxUpgradeRefusalBody); err != nil {
			return nil, err
		}
		p.copyResponseHeader(out, &resp.Header)
		c.Response().SetBody(resp.Body())
		_ = conn.Close()
		return nil, nil
	}
	if !bytes.EqualFold(bytes.TrimSpace(resp.Header.Peek(fiber.HeaderUpgrade)), []byte("websocket")) ||
		string(resp.Header.Peek(fiber.HeaderSecWebSocketAccept)) != acceptFor(req.Header.Peek(fiber.HeaderSecWebSocketKey)) {
		return nil, errNotWebSocket
	}
	p.copyResponseHeader(out, &resp.Header)
	out.Set(fiber.HeaderConnection, "Upgrade")
	out.Set(fiber.HeaderUpgrade, "websocket")
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return &Upgraded{Conn: conn, Reader: br}, nil
}
