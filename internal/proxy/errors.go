package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// The messages clients see; causes are only logged.
const (
	msgUnavailable  = "upstream unavailable"
	msgTimeout      = "upstream timeout"
	msgBodyTooLarge = "request body too large"
	msgBadBody      = "request body incomplete"
)

// statusOf maps an upstream failure to the status the client gets: 504 when
// the upstream did not answer in time, 502 for everything else (refused,
// reset, DNS, closed, garbage, no free connection).
func statusOf(err error) int {
	if isTimeout(err) && !isDialError(err) {
		return fiber.StatusGatewayTimeout
	}
	return fiber.StatusBadGateway
}

// statusError is the fiber error Forward returns for an upstream failure.
func statusError(err error) error {
	if statusOf(err) == fiber.StatusGatewayTimeout {
		return httperr.New(fiber.StatusGatewayTimeout, msgTimeout)
	}
	return httperr.New(fiber.StatusBadGateway, msgUnavailable)
}

// clientError is the fiber error for a failure reading the client's body.
func clientError(err error) error {
	if errors.Is(err, errBodyTooLarge) {
		return httperr.New(fiber.StatusRequestEntityTooLarge, msgBodyTooLarge)
	}
	return httperr.New(fiber.StatusBadRequest, msgBadBody)
}

func isDialError(err error) bool {
	var de *dialError
	return errors.As(err, &de)
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isStaleConn reports whether err looks like a pooled keep-alive connection
// that the upstream closed before we used it (safe to retry once).
func isStaleConn(err error) bool {
	if isTimeout(err) {
		return false
	}
	return errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// ejects reports whether the failure err of req says the target itself is
// down: it refused the connection or could not be reached, or it dropped an
// idempotent request — which fasthttp had already retried, so it was not
// just one stale pooled connection. A single dropped POST does not eject
// (an upstream closing an idle keep-alive connection looks just like that),
// nor does a timeout: a slow answer is the route's problem, not a dead
// target's.
func ejects(err error, req *fasthttp.Request) bool {
	return isDialError(err) || isStaleConn(err) && isIdempotent(req)
}
