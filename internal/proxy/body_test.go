package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func TestBodyLimitContentLength(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
	})
	gw := newGateway(t, route1("r", "/", up), Options{MaxBody: 1000})

	req, _ := http.NewRequest(http.MethodPost, gw.url+"/", bytes.NewReader(make([]byte, 1000)))
	if resp, body := do(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST 1000 bytes = %d %s, want 200", resp.StatusCode, body)
	}
	tests := []struct {
		name string
		size int
	}{
		{"one byte over", 1001},
		{"far over", 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hits.Load()
			// Only the first 8 KiB of the body are sent (fasthttp reads that
			// much before calling the handler): the answer must come from
			// the Content-Length, not from reading the body.
			sent := min(tt.size, 8<<10)
			got := rawRequest(t, gw.url, "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: "+
				strconv.Itoa(tt.size)+"\r\n\r\n"+strings.Repeat("x", sent))
			if !strings.HasPrefix(got, "413 ") || !strings.Contains(got, `{"error":"request body too large"}`) {
				t.Errorf("POST with Content-Length %d = %q, want 413 request body too large", tt.size, got)
			}
			if hits.Load() != before {
				t.Errorf("a body over the limit by Content-Length reached the upstream")
			}
		})
	}
}

func TestBodyLimitChunked(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	})
	gw := newGateway(t, route1("r", "/", up), Options{MaxBody: limit})

	t.Run("at the limit", func(t *testing.T) {
		// An io.Reader of unknown length makes net/http send the body chunked.
		req, _ := http.NewRequest(http.MethodPost, gw.url+"/", struct{ io.Reader }{io.LimitReader(zeros{}, limit)})
		req.ContentLength = -1
		resp, got := do(t, req)
		if resp.StatusCode != http.StatusOK || string(got) != strconv.Itoa(limit) {
			t.Errorf("POST chunked %d bytes = %d %s, want 200 %d", limit, resp.StatusCode, got, limit)
		}
	})
	t.Run("over the limit", func(t *testing.T) {
		// One chunk announced larger than the limit, of which limit+1
		// bytes are sent: the gateway must stop there and answer 413.
		// (Sending no more than it reads keeps the close clean.)
		raw := "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(2*limit, 16) + "\r\n" + strings.Repeat("x", limit+1)
		got := rawRequest(t, gw.url, raw)
		if !strings.HasPrefix(got, "413 ") || !strings.Contains(got, `{"error":"request body too large"}`) {
			t.Errorf("POST chunked over the limit = %q, want 413 request body too large", got)
		}
	})
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// heapGrowth runs f and returns how many bytes the whole process allocated
// meanwhile. Upstream, gateway and client all run in this process, so a
// gateway that buffered a body would allocate at least its size.
func heapGrowth(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestLargeDownloadIsStreamed(t *testing.T) {
	const size = 100 << 20
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = io.CopyN(w, zeros{}, size)
	})
	gw := newGateway(t, route1("r", "/", up), Options{})
	var n int64
	grew := heapGrowth(func() {
		resp, err := http.Get(gw.url + "/big")
		if err != nil {
			t.Fatalf("GET /big: %v", err)
		}
		defer resp.Body.Close()
		n, err = io.Copy(io.Discard, resp.Body)
		if err != nil {
			t.Fatalf("reading /big: %v", err)
		}
	})
	if n != size {
		t.Fatalf("GET /big returned %d bytes, want %d", n, size)
	}
	if grew > 30<<20 {
		t.Errorf("a %d MB download allocated %d MB in the process, want < 30 MB (the body must be streamed)", size>>20, grew>>20)
	}
}

func TestLargeUploadIsStreamed(t *testing.T) {
	const size = 100 << 20
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	})
	gw := newGateway(t, route1("r", "/", up), Options{MaxBody: 200 << 20})
	var got string
	grew := heapGrowth(func() {
		req, _ := http.NewRequest(http.MethodPost, gw.url+"/upload", io.LimitReader(zeros{}, size))
		req.ContentLength = size
		resp, body := do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /upload = %d %s, want 200", resp.StatusCode, body)
		}
		got = string(body)
	})
	if got != strconv.Itoa(size) {
		t.Fatalf("upstream read %s bytes, want %d", got, size)
	}
	if grew > 30<<20 {
		t.Errorf("a %d MB upload allocated %d MB in the process, want < 30 MB (the body must be streamed)", size>>20, grew>>20)
	}
}

// TestEventStreamFlushed proves that each event reaches the client before
// the upstream writes the next: the upstream waits for the test's signal,
// which the test gives only after reading the event through the gateway.
// A buffering gateway deadlocks here (and the test times out).
func TestEventStreamFlushed(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	done := make(chan struct{})
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for i := range 3 {
			_, _ = io.WriteString(w, "data: event "+strconv.Itoa(i)+"\n\n")
			f.Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	})
	gw := newGateway(t, route1("events", "/", up), Options{})
	resp, err := http.Get(gw.url + "/events")
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading event %d: %v", i, err)
		}
		if want := "data: event " + strconv.Itoa(i) + "\n"; line != want {
			t.Fatalf("event %d = %q, want %q", i, line, want)
		}
		if _, err := br.ReadString('\n'); err != nil { // the blank line
			t.Fatalf("reading event %d end: %v", i, err)
		}
		next <- struct{}{}
	}
	<-done
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("after the last event got %q, want the end of the stream", rest)
	}
}

// TestClientDisconnectClosesUpstream: when the client goes away in the
// middle of an endless response, the gateway must close the upstream
// connection, so the upstream's writes fail and its handler ends.
func TestClientDisconnectClosesUpstream(t *testing.T) {
	t.Parallel()
	upstreamGone := make(chan struct{})
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(upstreamGone)
		buf := make([]byte, 32<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	gw := newGateway(t, route1("r", "/", up), Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.url, "http://"))
	if err != nil {
		t.Fatalf("dial gateway: %v", err)
	}
	if _, err := io.WriteString(conn, "GET /stream HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, err := io.CopyN(io.Discard, conn, 1<<20); err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	_ = conn.Close()
	<-upstreamGone // hangs (test timeout) if the upstream connection leaks
}
