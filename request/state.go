// Package request is what gatehouse knows about one request, shared by the
// server, the auth gate, every plugin and the proxy: one State per request,
// created by the server when the request arrives and read through From.
//
// It replaces the string-keyed fiber.Ctx Locals the parts used to pass
// values through: each was a linear scan with interface comparisons, and the
// keys were spelt out in several packages. A State is one Locals entry, the
// first of the request, so From finds it at once.
//
// Who writes what: the server sets ID, Client, Route and the deadline; the
// auth gate sets Identity; the proxy sets Upstream. Plugins read them. A
// State must not be kept beyond its request except through its Context,
// which may be (a single-flight refresh outlives the request that started
// it).
package request

import (
	"context"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// State is one request's state. The zero value is a request without id,
// route, identity or deadline whose client is unknown.
type State struct {
	// ID is the request id: the client's X-Request-Id when well formed,
	// else a random one. It is logged on every line about the request and
	// sent upstream.
	ID string
	// Route is the name of the route the request was dispatched to ("" for
	// the gateway's own endpoints and before routing).
	Route string
	// Client is the client's address: the connection's peer, or the address
	// resolved through server.trusted_proxies. Invalid when unknown.
	Client netip.Addr
	// Identity is who the auth gate found behind the request; nil on auth:
	// none routes and for anonymous requests on auth: any routes.
	Identity *Identity
	// Upstream is the target the proxy forwarded to ("" when none).
	Upstream string
	// Upgrade marks a WebSocket handshake the edge admitted (see the
	// server's websocket routes); everything else is a plain request.
	Upgrade bool

	ctx requestContext
}

// stateKey is the fiber.Ctx Locals key of the request's *State.
type stateKey struct{}

// Begin attaches a new State with id and client to c and returns it; the
// server calls it first thing for every request. Its context has no
// deadline until SetDeadline.
func Begin(c *fiber.Ctx, id string, client netip.Addr) *State {
	s := &State{ID: id, Client: client}
	s.ctx.state = s
	c.Locals(stateKey{}, s)
	return s
}

// From returns c's State. Outside gatehouse's server (a plugin's unit test
// without plugintest) there is none yet: From then attaches an empty one
// whose client is the connection's peer, so it never returns nil.
func From(c *fiber.Ctx) *State {
	if s, ok := c.Locals(stateKey{}).(*State); ok {
		return s
	}
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return Begin(c, "", peer.Unmap())
}

// Context returns the request's context: it carries the State (FromContext,
// IDFrom), ends at the deadline set by SetDeadline (the route's timeout), and
// is cancelled when the request is over (End). The server also makes it
// c.UserContext().
func (s *State) Context() context.Context { return &s.ctx }

// SetDeadline sets the time the request's context ends at. The server calls
// it once, when it dispatches the request, before anything uses the context.
func (s *State) SetDeadline(t time.Time) { s.ctx.deadline = t }

// End cancels the request's context (context.Canceled) unless it has ended
// already; the server calls it when the request is over.
func (s *State) End() { s.ctx.finish(context.Canceled) }

// ClientIP returns Client as text ("" when unknown). It allocates; hot paths
// use AppendClientIP.
func (s *State) ClientIP() string {
	if !s.Client.IsValid() {
		return ""
	}
	return s.Client.String()
}

// AppendClientIP appends ClientIP() to dst without allocating.
func (s *State) AppendClientIP(dst []byte) []byte {
	if !s.Client.IsValid() {
		return dst
	}
	return s.Client.AppendTo(dst)
}

// AppendClientNetwork appends the client's budget key (ClientNetwork) to
// dst without allocating.
func (s *State) AppendClientNetwork(dst []byte) []byte {
	if !s.Client.IsValid() {
		return dst
	}
	return appendNetwork(dst, s.Client)
}

// FromFastHTTP returns the State of the fasthttp request ctx, or nil when
// none was attached: for code that runs outside Fiber's handler (the
// server's last-resort recover).
func FromFastHTTP(ctx *fasthttp.RequestCtx) *State {
	s, _ := ctx.UserValue(stateKey{}).(*State)
	return s
}
