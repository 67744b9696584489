package request

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// closeRecorder records how it was closed.
type closeRecorder struct {
	io.Reader
	closes   int
	closeErr []error
}

func (r *closeRecorder) Close() error { r.closes++; return nil }

func (r *closeRecorder) CloseWithError(err error) error {
	r.closeErr = append(r.closeErr, err)
	return nil
}

func TestRestream(t *testing.T) {
	src := &closeRecorder{Reader: strings.NewReader("hello, streamed world")}
	var resp fasthttp.Response
	resp.SetBodyStream(NewBodyStream(src), -1)
	bs := resp.BodyStream().(*BodyStream)
	prefix := make([]byte, 7)
	if _, err := io.ReadFull(bs, prefix); err != nil {
		t.Fatalf("reading the prefix: %v", err)
	}
	Restream(&resp, bs, prefix, -1)
	if src.closes != 0 || len(src.closeErr) != 0 {
		t.Fatalf("Restream closed the upstream body (Close %d, CloseWithError %d), want it open", src.closes, len(src.closeErr))
	}
	if got := string(resp.Body()); got != "hello, streamed world" {
		t.Errorf("body after Restream = %q, want %q", got, "hello, streamed world")
	}
	if src.closes != 0 || len(src.closeErr) != 1 || src.closeErr[0] != nil {
		t.Errorf("after reading to the end: Close %d, CloseWithError %v; want 0 and [nil]", src.closes, src.closeErr)
	}
}

func TestBodyStreamCloseOnce(t *testing.T) {
	src := &closeRecorder{Reader: strings.NewReader("x")}
	bs := NewBodyStream(src)
	cause := errors.New("client gone")
	bs.CloseWithError(cause)
	bs.CloseWithError(nil)
	if src.closes != 0 || len(src.closeErr) != 1 || src.closeErr[0] != cause {
		t.Errorf("closed twice: Close %d, CloseWithError %v; want 0 and [%v] (the cause passed on, once)", src.closes, src.closeErr, cause)
	}
	plain := &plainCloser{Reader: strings.NewReader("x")}
	NewBodyStream(plain).CloseWithError(nil)
	if plain.closes != 1 {
		t.Errorf("a reader with only Close: closed %d times, want 1", plain.closes)
	}
}

// plainCloser has Close only.
type plainCloser struct {
	io.Reader
	closes int
}

func (r *plainCloser) Close() error { r.closes++; return nil }
