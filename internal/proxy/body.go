package proxy

import (
	"context"
	"errors"
	"io"

	"github.com/valyala/fasthttp"
)

// errBodyTooLarge is what limitedBody returns once the client has sent more
// than the limit; it aborts the upstream request.
var errBodyTooLarge = errors.New("request body exceeds the limit")

// limitedBody is the client's streamed request body as the upstream request
// reads it, cut off after limit bytes (a chunked body has no Content-Length
// to check up front). It remembers the first error, so that Forward can tell
// a client failure from an upstream one.
type limitedBody struct {
	r     io.Reader
	limit int64 // <= 0: none
	read  int64
	err   error
}

func (p *Proxy) acquireLimitedBody(r io.Reader, limit int64) *limitedBody {
	lb, _ := p.reqBodies.Get().(*limitedBody)
	if lb == nil {
		lb = new(limitedBody)
	}
	*lb = limitedBody{r: r, limit: limit}
	return lb
}

func (p *Proxy) releaseLimitedBody(lb *limitedBody) {
	*lb = limitedBody{}
	p.reqBodies.Put(lb)
}

// Read implements io.Reader.
func (lb *limitedBody) Read(b []byte) (int, error) {
	if lb.err != nil {
		return 0, lb.err
	}
	if lb.limit > 0 && int64(len(b)) > lb.limit-lb.read+1 {
		// Read at most one byte past the limit: enough to know it is exceeded.
		b = b[:lb.limit-lb.read+1]
	}
	n, err := lb.r.Read(b)
	lb.read += int64(n)
	if lb.limit > 0 && lb.read > lb.limit {
		lb.err = errBodyTooLarge
		return 0, lb.err
	}
	if err != nil && err != io.EOF {
		lb.err = err
	}
	return n, err
}

// responseBody is the upstream response body as the client's response reads
// it. Closing it (fasthttp does, once the body is written or the client has
// gone) closes the upstream body — returning the connection to its pool when
// the body was read to the end, closing it otherwise — and releases the
// upstream response. An upstream failure in the middle of the body (reset,
// idle timeout) can no longer change the status the client got; it is logged
// and counted.
type responseBody struct {
	p     *Proxy
	t     *target
	reqID string
	resp  *fasthttp.Response
}

func (p *Proxy) acquireResponseBody(resp *fasthttp.Response, t *target, reqID string) *responseBody {
	rb, _ := p.respBods.Get().(*responseBody)
	if rb == nil {
		rb = &responseBody{p: p}
	}
	rb.resp, rb.t, rb.reqID = resp, t, reqID
	return rb
}

// Read implements io.Reader.
func (rb *responseBody) Read(b []byte) (int, error) {
	if rb.resp == nil {
		return 0, io.ErrClosedPipe
	}
	n, err := rb.resp.BodyStream().Read(b)
	if err != nil && err != io.EOF {
		rb.p.bodyFailed(context.Background(), rb.t, rb.reqID, err)
	}
	return n, err
}

// CloseWithError implements fasthttp.ReadCloserWithError: err is the error
// that ended writing the body to the client, nil on success.
func (rb *responseBody) CloseWithError(err error) error {
	resp := rb.resp
	if resp == nil {
		return nil
	}
	rb.resp, rb.t, rb.reqID = nil, nil, ""
	if s, ok := resp.BodyStream().(fasthttp.ReadCloserWithError); ok {
		_ = s.CloseWithError(err)
	}
	fasthttp.ReleaseResponse(resp)
	rb.p.respBods.Put(rb)
	return nil
}

// responseBody deliberately has no Close method: fasthttp calls Close before
// CloseWithError on a stream that has both, and a Close meaning "finished"
// would tell the upstream body the client got everything after a client
// disconnect, draining the rest of a large body instead of dropping it.
