package plugins

import "context"

// requestIDKey is the context key of the request id.
type requestIDKey struct{}

// WithRequestID returns ctx carrying the gateway's request id. The server
// sets it on every request's context (c.UserContext()), beside the route's
// deadline.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id ctx carries, or "" when none: code
// that only has a request's context (a store, an IdP call) can name the
// request in its logs.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
