package proxy

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/gatehouse-dev/gatehouse/internal/route"
	"github.com/gatehouse-dev/gatehouse/request"
)

// gateway is a Fiber app in front of one Proxy, listening on loopback, set
// up the way internal/server runs it: streamed request bodies, the path
// normalised before Forward, errors as JSON.
type gateway struct {
	url   string
	proxy *Proxy
	logs  *logtest.Buffer
}

// newGateway starts a gateway for r. Before Forward it stores requestID (when
// not empty) as the request's id (request.State.ID), as the server does.
func newGateway(t testing.TB, r config.Route, opts Options) *gateway {
	t.Helper()
	logs := &logtest.Buffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = testIdleTimeout
	}
	p, err := New(&r, opts)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", r, err)
	}
	app := newApp(p)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		_ = app.Shutdown()
		p.Close()
	})
	return &gateway{url: "http://" + ln.Addr().String(), proxy: p, logs: logs}
}

func newApp(p *Proxy) *fiber.App {
	app := fiber.New(fiber.Config{
		StreamRequestBody:     true,
		DisableStartupMessage: true,
		ErrorHandler:          httperr.Handler(nil, nil),
	})
	var bufs sync.Pool // *[]byte, as the server keeps them
	app.Use(func(c *fiber.Ctx) error {
		st := request.From(c)
		if id := c.Get("X-Test-Locals-Id"); id != "" {
			st.ID = id
		} else if id := c.Get("X-Request-Id"); id != "" {
			st.ID = id // the server's observe, which runs first
		}
		// The server's edge, before anything writes to the request.
		StripClientRequest(&c.Request().Header, p.trusted(peerOf(c)))
		bp, _ := bufs.Get().(*[]byte)
		if bp == nil {
			bp = new([]byte)
		}
		defer bufs.Put(bp)
		path, ok := route.Normalize(*bp, c.Request().URI().PathOriginal())
		*bp = path
		if !ok {
			return fiber.NewError(fiber.StatusBadRequest, "bad path")
		}
		c.Request().URI().SetPathBytes(path)
		if id := c.Get("X-Test-Gateway-Header"); id != "" {
			// A header the gateway sets before forwarding (request id middleware).
			c.Set("X-Request-Id", id)
			c.Cookie(&fiber.Cookie{Name: "gw", Value: "1"})
		}
		if v := c.Get("X-Test-Plugin-Set"); v != "" {
			// A field a plugin sets ("name: value"), as the headers plugin
			// does, after the edge and before Forward.
			name, value, _ := strings.Cut(v, ": ")
			c.Request().Header.Del(name)
			c.Request().Header.Set(name, value)
		}
		if tok := c.Get("X-Test-Identity-Token"); tok != "" {
			// What the auth gate records for a logged-in caller.
			st.Identity = &request.Identity{Subject: "alice", AccessToken: tok}
		}
		return p.Forward(c)
	})
	return app
}

// recorded is what an upstream saw of one request.
type recorded struct {
	method, uri, host string
	header            http.Header
	body              []byte
}

// recorder is an httptest upstream that records every request and answers
// 200 "ok from <name>".
type recorder struct {
	name string
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
	// conns counts the TCP connections the upstream accepted.
	conns int
}

func newRecorder(t testing.TB, name string) *recorder {
	t.Helper()
	rec := &recorder{name: name}
	rec.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body})
		rec.mu.Unlock()
		w.Header().Set("X-Upstream", name)
		_, _ = io.WriteString(w, "ok from "+name)
	}))
	rec.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rec.mu.Lock()
			rec.conns++
			rec.mu.Unlock()
		}
	}
	rec.srv.Start()
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

func (rec *recorder) last(t testing.TB) recorded {
	t.Helper()
	reqs := rec.requests()
	if len(reqs) == 0 {
		t.Fatalf("upstream %s got no request", rec.name)
	}
	return reqs[len(reqs)-1]
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// do sends a request to the gateway with a client that keeps no state
// between tests and follows no redirect.
func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	client := &http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, body
}

func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("NewRequest(%q): %v", url, err)
	}
	return do(t, req)
}

// rawRequest writes raw to the gateway on a new connection and returns the
// whole response, read until the gateway closes or the response ends.
func rawRequest(t testing.TB, gwURL, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", gwURL[len("http://"):])
	if err != nil {
		t.Fatalf("dial gateway: %v", err)
	}
	defer conn.Close()
	// A safety net against a hung gateway, not a timing assertion.
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_ = resp.Header.Write(&b)
	body, _ := io.ReadAll(resp.Body)
	return resp.Status + "\n" + b.String() + "\n" + string(body)
}

// testIdleTimeout is server.idle_timeout's default, which the server passes
// to every proxy.
const testIdleTimeout = time.Minute

func route1(name, prefix string, upstreams ...string) config.Route {
	return config.Route{Name: name, Prefix: prefix, Upstreams: urls(upstreams...), Timeout: config.Duration(10 * time.Second)}
}

// urls parses upstream URLs as config does (a test's own URLs parse).
func urls(raw ...string) []*url.URL {
	us := make([]*url.URL, len(raw))
	for i, s := range raw {
		u, err := url.Parse(s)
		if err != nil {
			panic(err)
		}
		us[i] = u
	}
	return us
}

// newHandlerUpstream starts an httptest upstream running h and returns its URL.
func newHandlerUpstream(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// serveTCP accepts loopback connections and runs handle on each in its own
// goroutine, closing the connection afterwards; it returns the address.
func serveTCP(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// closingUpstream accepts connections and closes each at once, without a
// byte of response; it returns its address.
func closingUpstream(t testing.TB) string {
	t.Helper()
	return serveTCP(t, func(net.Conn) {})
}
