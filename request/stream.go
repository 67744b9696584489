package request

import (
	"io"

	"github.com/valyala/fasthttp"
)

// BodyStream is an upstream response body set with
// fasthttp.Response.SetBodyStream that a plugin may read in part and then
// hand back to the response. fasthttp closes the stream it replaces, which
// would cut the connection to the upstream under a plugin that only wanted
// the first bytes; Detach avoids that. The proxy wraps the upstream body
// with NewBodyStream; a plugin that finds one (Response.BodyStream()) may
// read a prefix and call Restream.
//
// fasthttp closes a BodyStream with CloseWithError; it passes the error on to
// the wrapped reader's CloseWithError (or calls its Close), unless the stream
// was detached.
type BodyStream struct {
	prefix   []byte
	r        io.Reader
	detached bool
}

// NewBodyStream wraps r, which the BodyStream now owns.
func NewBodyStream(r io.Reader) *BodyStream { return &BodyStream{r: r} }

// Read implements io.Reader: the restored prefix first, then the wrapped reader.
func (s *BodyStream) Read(p []byte) (int, error) {
	if len(s.prefix) > 0 {
		n := copy(p, s.prefix)
		s.prefix = s.prefix[n:]
		return n, nil
	}
	return s.r.Read(p)
}

// CloseWithError closes the wrapped reader, reporting why reading stopped
// (nil at EOF); see fasthttp.ReadCloserWithError. It does nothing once the
// stream has been detached.
func (s *BodyStream) CloseWithError(err error) error {
	if s.detached {
		return nil
	}
	s.detached = true // close once
	// Prefer CloseWithError: it tells the upstream body whether the client
	// got everything (keep the connection) or not (drop it rather than
	// drain the rest).
	if c, ok := s.r.(fasthttp.ReadCloserWithError); ok {
		return c.CloseWithError(err)
	}
	if c, ok := s.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Restream puts a partly read stream back as resp's body: the bytes already
// read (prefix) followed by the rest of s. bodySize is as for SetBodyStream
// (-1 when unknown). s must not be used afterwards.
func Restream(resp *fasthttp.Response, s *BodyStream, prefix []byte, bodySize int) {
	next := &BodyStream{prefix: append(prefix, s.prefix...), r: s.r}
	s.detached = true // SetBodyStream closes s: that must not close s.r
	resp.SetBodyStream(next, bodySize)
}
