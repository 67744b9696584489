package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clientip"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

func TestForwardPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		base    string // appended to the upstream URL
		prefix  string
		strip   bool
		path    string // as the client sends it
		wantURI string // as the upstream receives it
	}{
		{"plain", "", "/api/users", false, "/api/users/7", "/api/users/7"},
		{"base path", "/base", "/api/users", false, "/api/users/7", "/base/api/users/7"},
		{"base path with slash", "/base/", "/api/users", false, "/api/users/7", "/base/api/users/7"},
		{"strip", "", "/api/users", true, "/api/users/7", "/7"},
		{"strip with base", "/base", "/api/users", true, "/api/users/7", "/base/7"},
		{"strip leaves root", "", "/api/users", true, "/api/users", "/"},
		{"strip trailing slash", "", "/api/users", true, "/api/users/", "/"},
		{"strip root prefix", "", "/", true, "/a/b", "/a/b"},
		{"canonical path forwarded", "", "/api", false, "/api/public/%2e%2e/users//7", "/api/users/7"},
		{"escapes kept", "", "/files", false, "/files/a%20b%3f", "/files/a%20b%3F"},
		{"unreserved decoded", "", "/api", false, "/api/%75sers", "/api/users"},
		{"query byte for byte", "", "/api", false, "/api/q?b=%2F&a=1&a=2&c=x+y&d=%zz&e", "/api/q?b=%2F&a=1&a=2&c=x+y&d=%zz&e"},
		{"query with strip and base", "/v2", "/api", true, "/api/q?z=%41", "/v2/q?z=%41"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecorder(t, "u")
			r := route1("r", tt.prefix, up.srv.URL+tt.base)
			r.StripPrefix = tt.strip
			gw := newGateway(t, r, Options{})
			resp, body := get(t, gw.url+tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d %s, want 200", tt.path, resp.StatusCode, body)
			}
			if got := up.last(t).uri; got != tt.wantURI {
				t.Errorf("GET %s: upstream got %q, want %q", tt.path, got, tt.wantURI)
			}
		})
	}
}

func TestForwardMethodBodyAndHost(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, "u")
	gw := newGateway(t, route1("r", "/", up.srv.URL), Options{})
	req, _ := http.NewRequest(http.MethodPost, gw.url+"/x", strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Custom", "v")
	req.Host = "public.example"
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusOK || string(body) != "ok from u" {
		t.Fatalf("POST /x = %d %q, want 200 %q", resp.StatusCode, body, "ok from u")
	}
	got := up.last(t)
	wantHost := strings.TrimPrefix(up.srv.URL, "http://")
	checks := []struct{ what, got, want string }{
		{"method", got.method, "POST"},
		{"body", string(got.body), `{"a":1}`},
		{"Content-Type", got.header.Get("Content-Type"), "application/json"},
		{"X-Custom", got.header.Get("X-Custom"), "v"},
		{"Host", got.host, wantHost},
		{"X-Forwarded-Host", got.header.Get("X-Forwarded-Host"), "public.example"},
		{"User-Agent", got.header.Get("User-Agent"), "Go-http-client/1.1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("upstream %s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if resp.Header.Get("X-Upstream") != "u" {
		t.Errorf("response X-Upstream = %q, want %q", resp.Header.Get("X-Upstream"), "u")
	}
}

func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		trusted   []netip.Prefix
		publicURL *url.URL
		send      map[string]string
		want      map[string]string // "" means absent
	}{
		{
			name:      "untrusted peer with a public URL: the public origin, not the client's Host",
			publicURL: &url.URL{Scheme: "https", Host: "app.example:8443"},
			send:      map[string]string{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
			want:      map[string]string{"X-Forwarded-Host": "app.example:8443", "X-Forwarded-Proto": "https"},
		},
		{
			name: "untrusted peer: client values replaced",
			send: map[string]string{
				"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
				"Forwarded": "for=6.6.6.6", "X-Real-Ip": "6.6.6.6",
			},
			want: map[string]string{
				"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "gw.example",
				"Forwarded": "", "X-Real-Ip": "",
			},
		},
		{
			name:    "trusted peer: client values extended",
			trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			send: map[string]string{
				"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example",
				"Forwarded": "for=203.0.113.9",
			},
			want: map[string]string{
				"X-Forwarded-For": "203.0.113.9, 127.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example",
				"Forwarded": "for=203.0.113.9",
			},
		},
		{
			name:    "trusted peer without values",
			trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			want: map[string]string{
				"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "gw.example",
			},
		},
		{
			name:    "other trusted network does not count",
			trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			send:    map[string]string{"X-Forwarded-For": "6.6.6.6"},
			want:    map[string]string{"X-Forwarded-For": "127.0.0.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRecorder(t, "u")
			trusted := clientip.New(tt.trusted)
			gw := newGateway(t, route1("r", "/", up.srv.URL), Options{TrustedProxies: trusted, PublicURL: tt.publicURL})
			req, _ := http.NewRequest(http.MethodGet, gw.url+"/", nil)
			req.Host = "gw.example"
			for k, v := range tt.send {
				req.Header.Set(k, v)
			}
			if resp, body := do(t, req); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET / = %d %s, want 200", resp.StatusCode, body)
			}
			h := up.last(t).header
			for k, want := range tt.want {
				if got := strings.Join(h.Values(k), ", "); got != want {
					t.Errorf("upstream %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestRequestIDForwarded(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, "u")
	gw := newGateway(t, route1("r", "/", up.srv.URL), Options{})
	tests := []struct{ name, locals, header, want string }{
		{"from locals", "id-locals", "id-header", "id-locals"},
		{"from header", "", "id-header", "id-header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, gw.url+"/", nil)
			req.Header.Set("X-Request-Id", tt.header)
			if tt.locals != "" {
				req.Header.Set("X-Test-Locals-Id", tt.locals)
			}
			do(t, req)
			if got := up.last(t).header.Get("X-Request-Id"); got != tt.want {
				t.Errorf("upstream X-Request-Id = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRoundRobin(t *testing.T) {
	t.Parallel()
	ups := []*recorder{newRecorder(t, "a"), newRecorder(t, "b"), newRecorder(t, "c")}
	gw := newGateway(t, route1("r", "/", ups[0].srv.URL, ups[1].srv.URL, ups[2].srv.URL), Options{})
	for range 9 {
		if resp, body := get(t, gw.url+"/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET / = %d %s, want 200", resp.StatusCode, body)
		}
	}
	for _, up := range ups {
		if n := len(up.requests()); n != 3 {
			t.Errorf("upstream %s got %d of 9 requests, want 3", up.name, n)
		}
	}
}

func TestKeepAlivePool(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, "u")
	gw := newGateway(t, route1("r", "/", up.srv.URL), Options{})
	for range 10 {
		get(t, gw.url+"/")
	}
	up.mu.Lock()
	conns := up.conns
	up.mu.Unlock()
	if conns != 1 {
		t.Errorf("10 sequential requests opened %d upstream connections, want 1", conns)
	}
}

// errorBody decodes the gateway's JSON error.
func errorBody(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	return e.Error
}

func TestRefusedIs502(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		statuses []int
	)
	dead := "http://" + deadAddr(t)
	gw := newGateway(t, route1("users", "/", dead), Options{
		OnUpstreamError: func(target string, status int) {
			if target != dead {
				t.Errorf("OnUpstreamError target = %q, want %q", target, dead)
			}
			mu.Lock()
			statuses = append(statuses, status)
			mu.Unlock()
		},
	})
	req, _ := http.NewRequest(http.MethodGet, gw.url+"/x", nil)
	req.Header.Set("X-Request-Id", "req-42")
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("GET /x = %d, want 502", resp.StatusCode)
	}
	if got := errorBody(t, body); got != "upstream unavailable" {
		t.Errorf("error = %q, want %q", got, "upstream unavailable")
	}
	if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "dial") {
		t.Errorf("error body %q leaks internals", body)
	}
	logs := gw.logs.String()
	for _, want := range []string{"route=users", "upstream=" + dead, "request_id=req-42", "connection refused"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log %q does not contain %q", logs, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 1 || statuses[0] != http.StatusBadGateway {
		t.Errorf("OnUpstreamError statuses = %v, want [502]", statuses)
	}
}

func TestResetIs502(t *testing.T) {
	t.Parallel()
	// An upstream that accepts and closes at once, as a crashing service does.
	addr := closingUpstream(t)
	gw := newGateway(t, route1("r", "/", "http://"+addr), Options{})
	resp, body := get(t, gw.url+"/")
	if resp.StatusCode != http.StatusBadGateway || errorBody(t, body) != "upstream unavailable" {
		t.Errorf("GET / = %d %s, want 502 upstream unavailable", resp.StatusCode, body)
	}
}

func TestTimeoutIs504(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	r := route1("slow", "/", up)
	r.Timeout = config.Duration(100 * time.Millisecond)
	gw := newGateway(t, r, Options{})
	resp, body := get(t, gw.url+"/")
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("GET / = %d %s, want 504", resp.StatusCode, body)
	}
	if got := errorBody(t, body); got != "upstream timeout" {
		t.Errorf("error = %q, want %q", got, "upstream timeout")
	}
}

func TestTimeoutIsNotRetried(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	calls := make(chan struct{}, 10)
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		calls <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	r := route1("slow", "/", up)
	r.Timeout = config.Duration(50 * time.Millisecond)
	gw := newGateway(t, r, Options{})
	get(t, gw.url+"/")
	if n := len(calls); n != 1 {
		t.Errorf("a timed-out GET reached the upstream %d times, want 1", n)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	gw := newGateway(t, route1("r", "/", up), Options{})
	resp, _ := get(t, gw.url+"/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/elsewhere" {
		t.Errorf("GET / = %d Location %q, want 302 /elsewhere", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestResponseStatusAndHeaders(t *testing.T) {
	t.Parallel()
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "a=1; Path=/")
		w.Header().Add("Set-Cookie", "b=2; Path=/")
		w.Header().Set("X-Multi", "1")
		w.Header().Add("X-Multi", "2")
		w.Header().Set("Server", "upstream/1.0")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("created"))
	})
	gw := newGateway(t, route1("r", "/", up), Options{})
	resp, body := get(t, gw.url+"/")
	if resp.StatusCode != http.StatusCreated || string(body) != "created" {
		t.Fatalf("GET / = %d %q, want 201 %q", resp.StatusCode, body, "created")
	}
	checks := []struct{ name, got, want string }{
		{"Set-Cookie", strings.Join(resp.Header.Values("Set-Cookie"), " | "), "a=1; Path=/ | b=2; Path=/"},
		{"X-Multi", strings.Join(resp.Header.Values("X-Multi"), ","), "1,2"},
		{"Server", resp.Header.Get("Server"), "upstream/1.0"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("response %s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, "u")
	dead := "http://" + deadAddr(t)
	tests := []struct {
		name      string
		upstreams []string
		wantErr   bool
	}{
		{"one alive", []string{up.srv.URL}, false},
		{"dead then alive", []string{dead, up.srv.URL}, false},
		{"all dead", []string{dead}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := route1("r", "/", tt.upstreams...)
			p, err := New(&r, Options{IdleTimeout: testIdleTimeout})
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			defer p.Close()
			if err := p.Check(t.Context()); (err != nil) != tt.wantErr {
				t.Errorf("Check() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestNewErrors: New needs what config always gives (an upstream, a route
// timeout, the idle timeout); what an upstream URL may be is config's rule.
func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		upstreams []string
		timeout   time.Duration
		idle      time.Duration
		want      string
	}{
		{"none", nil, time.Second, time.Second, "no upstream"},
		{"no route timeout", []string{"http://h"}, 0, time.Second, "timeout must be set"},
		{"no idle timeout", []string{"http://h"}, time.Second, 0, "timeout must be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := route1("r", "/", tt.upstreams...)
			r.Timeout = config.Duration(tt.timeout)
			_, err := New(&r, Options{IdleTimeout: tt.idle})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%v) error = %v, want it to contain %q", tt.upstreams, err, tt.want)
			}
		})
	}
}

func TestGatewayResponseHeadersKept(t *testing.T) {
	t.Parallel()
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "from-upstream")
		w.Header().Add("X-Request-Id", "again-from-upstream")
		w.Header().Add("Set-Cookie", "up=1")
		w.Header().Set("X-Upstream", "u")
	})
	gw := newGateway(t, route1("r", "/", up), Options{})
	req, _ := http.NewRequest(http.MethodGet, gw.url+"/", nil)
	req.Header.Set("X-Test-Gateway-Header", "from-gateway")
	resp, _ := do(t, req)
	checks := []struct{ name, got, want string }{
		{"X-Request-Id", strings.Join(resp.Header.Values("X-Request-Id"), ","), "from-gateway"},
		{"X-Upstream", resp.Header.Get("X-Upstream"), "u"},
		{"Set-Cookie", strings.Join(resp.Header.Values("Set-Cookie"), " | "), "up=1 | gw=1; path=/; SameSite=Lax"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("response %s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

// TestStreamOutlivesRouteTimeout: the route timeout bounds the wait for the
// first response byte only; a response whose bytes keep coming may take
// longer (fasthttp's own absolute deadline would cut it).
func TestStreamOutlivesRouteTimeout(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first,")
		w.(http.Flusher).Flush()
		// The pause is the point of the test: the stream must survive
		// silence longer than the route timeout (but under IdleTimeout).
		time.Sleep(timeout + timeout/2)
		_, _ = io.WriteString(w, "second")
	})
	r := route1("r", "/", up)
	r.Timeout = config.Duration(timeout)
	gw := newGateway(t, r, Options{IdleTimeout: time.Minute})
	resp, body := get(t, gw.url+"/")
	if resp.StatusCode != http.StatusOK || string(body) != "first,second" {
		t.Errorf("GET / = %d %q, want 200 %q", resp.StatusCode, body, "first,second")
	}
}

// TestIdleUpstreamIsCut: an upstream that stops sending in the middle of a
// body is cut off after IdleTimeout and its connection closed. A streamed
// (large) body has already started, so the client sees a truncated response;
// a small one is read whole before the response starts, so the client gets
// a clean 504.
func TestIdleUpstreamIsCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		length int
	}{
		{"streamed", maxBufferedBody + 1},
		{"buffered", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closed := make(chan struct{})
			up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(tc.length))
				_, _ = io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				<-r.Context().Done() // the gateway closed the connection
				close(closed)
			})
			gw := newGateway(t, route1("r", "/", up), Options{IdleTimeout: 100 * time.Millisecond})
			resp, err := http.Get(gw.url + "/")
			if tc.length > maxBufferedBody {
				// The response head may or may not have reached the client
				// before the cut (fasthttp buffers it with the first body
				// bytes); either way the client must see an error, not a
				// complete response.
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr == nil {
						t.Errorf("GET / = %d, %d bytes, complete; want a truncated response", resp.StatusCode, len(body))
					}
				}
			} else {
				if err != nil {
					t.Fatalf("GET /: %v", err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "upstream timeout") {
					t.Errorf("GET / = %d %q, want 504 upstream timeout", resp.StatusCode, body)
				}
			}
			<-closed
			// The failure is logged before the gateway drops the client connection.
			if logs := gw.logs.String(); !strings.Contains(logs, "upstream response body failed") || !strings.Contains(logs, "status=504") {
				t.Errorf("log = %q, want the mid-body timeout logged with status=504", logs)
			}
		})
	}
}

func TestExpectContinueNotForwarded(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, "u")
	gw := newGateway(t, route1("r", "/", up.srv.URL), Options{})
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, gw.url+"/", strings.NewReader("payload"))
	req.Header.Set("Expect", "100-continue")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST with Expect: %v", err)
	}
	resp.Body.Close()
	got := up.last(t)
	if resp.StatusCode != http.StatusOK || string(got.body) != "payload" {
		t.Fatalf("POST with Expect = %d, upstream body %q; want 200 %q", resp.StatusCode, got.body, "payload")
	}
	if e := got.header.Get("Expect"); e != "" {
		t.Errorf("upstream Expect = %q, want none", e)
	}
}

func TestHeadAndNoContent(t *testing.T) {
	t.Parallel()
	up := newHandlerUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/none" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Length", "5")
		w.Header().Set("ETag", `"v1"`)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, "hello")
		}
	})
	gw := newGateway(t, route1("r", "/", up), Options{})
	tests := []struct {
		name, method, path string
		status             int
		length             int64
		body               string
	}{
		{"GET", http.MethodGet, "/", 200, 5, "hello"},
		{"HEAD keeps the length", http.MethodHead, "/", 200, 5, ""},
		{"204", http.MethodGet, "/none", 204, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, gw.url+tt.path, nil)
			resp, body := do(t, req)
			if resp.StatusCode != tt.status || resp.ContentLength != tt.length || string(body) != tt.body {
				t.Errorf("%s %s = %d, length %d, %q; want %d, length %d, %q",
					tt.method, tt.path, resp.StatusCode, resp.ContentLength, body, tt.status, tt.length, tt.body)
			}
			if cl := resp.Header.Get("Content-Length"); tt.status == 204 && cl != "" {
				t.Errorf("%s %s Content-Length = %q, want none on a 204 (RFC 9110 §8.6)", tt.method, tt.path, cl)
			}
			if tt.status == 200 && resp.Header.Get("ETag") != `"v1"` {
				t.Errorf("%s %s ETag = %q, want %q", tt.method, tt.path, resp.Header.Get("ETag"), `"v1"`)
			}
		})
	}
}
