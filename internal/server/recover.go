package server

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/gatehouse-dev/gatehouse/request"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// errPanicked is what a request whose handler panicked returns to the error
// handler: a bare 500 {"error":"internal error"}. The panic itself was
// logged, with its stack, where it was recovered.
var errPanicked = errors.New("handler panicked")

// newPanicCounter registers gatehouse_panics_total on reg.
func newPanicCounter(reg prometheus.Registerer) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_panics_total",
		Help: "Panics recovered while serving a request (each answered 500 with its connection closed).",
	})
	reg.MustRegister(c)
	return c
}

// next runs the rest of c's chain. A panic anywhere in it (the auth gate, a
// plugin, built-in or third-party, the proxy) fails this one request: it is
// logged with its stack and counted, the connection is closed after the
// answer (whatever the panicking code left half done on it is not reused),
// and next returns errPanicked. Every other request and connection carries on.
func (s *Server) next(c *fiber.Ctx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.recovered(c.Context(), v)
			err = errPanicked
		}
	}()
	return c.Next()
}

// recovered logs and counts a panic recovered while serving ctx's request.
func (s *Server) recovered(ctx *fasthttp.RequestCtx, v any) {
	s.panics.Inc()
	var id, route string
	if st := request.FromFastHTTP(ctx); st != nil {
		id, route = st.ID, st.Route
	}
	s.logger.LogAttrs(ctx, slog.LevelError, "panic while serving a request",
		slog.String("request_id", id),
		slog.String("route", route),
		slog.String("method", methodLabel(string(ctx.Method()))),
		slog.String("panic", fmt.Sprint(v)),
		slog.String("stack", string(debug.Stack())),
	)
}

// guard wraps the server's fasthttp handler, outside Fiber: a panic that
// escapes everything inside (Fiber's own code, the error handler) is
// recovered here and answered 500, and a method Fiber cannot route is
// answered 501 in gatehouse's JSON form instead of Fiber's plain-text 400.
func (s *Server) guard(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		defer func() {
			if v := recover(); v != nil {
				s.recovered(ctx, v)
				ctx.Response.Reset()
				writeEdgeError(ctx, fiber.StatusInternalServerError, "internal error", "")
				ctx.SetConnectionClose()
			}
		}()
		if !routableMethod(ctx.Method()) {
			s.metrics.observe("", "OTHER", fiber.StatusNotImplemented, 0)
			writeEdgeError(ctx, fiber.StatusNotImplemented, "method not implemented", newRequestID())
			ctx.SetConnectionClose()
			return
		}
		next(ctx)
	}
}

// routableMethod reports a method Fiber routes (its default RequestMethods,
// the standard ones: standardMethods).
func routableMethod(m []byte) bool {
	return methodLabel(string(m)) != "OTHER" // string(m) does not escape: no allocation
}
