// Package httperr is the error a gatehouse handler, the auth gate, the proxy
// or a plugin returns to answer the client with a status and a message.
//
// The server's error handler sends a message to the client only when it comes
// from an *Error: text gatehouse (or a plugin's author) wrote for clients.
// Any other error's text never reaches the client, whoever produced it:
// fasthttp's (which quotes the raw request head, Cookie and Authorization
// included), Fiber's, a library's, an upstream's or the IdP's. A *fiber.Error
// keeps its status and gets the status's own phrase ("not found"); anything
// else is logged and answered 500 {"error":"internal error"}.
//
// Messages are short, lower case, constant sentences: never an error's
// Error(), a header, a path or any other value taken from the request.
//
// Handler is that error handler, and Write the answer it writes; the test
// harnesses that stand in for the server use them too.
package httperr

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Error is an HTTP error answer: Status and the client-visible Message.
type Error struct {
	Status  int
	Message string
}

// New returns an Error with status and msg, a constant text for clients.
func New(status int, msg string) *Error {
	return &Error{Status: status, Message: msg}
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// Answer returns the status and the message a client gets for err (the
// policy above, in one place): an *Error's own; a *fiber.Error's status with
// its reason phrase in lower case ("not found"); for anything else, or a
// *fiber.Error whose status is not an error status, 500 "internal error".
// internal reports that last case: the error's detail belongs in a log.
func Answer(err error) (status int, msg string, internal bool) {
	var he *Error
	if errors.As(err, &he) {
		return he.Status, he.Message, false
	}
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code >= 400 && fe.Code <= 599 {
		return fe.Code, strings.ToLower(http.StatusText(fe.Code)), false
	}
	return http.StatusInternalServerError, "internal error", true
}
