package headers

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
	"github.com/gatehouse-dev/gatehouse/request"
)

func TestNewRejects(t *testing.T) {
	t.Parallel()
	plugintest.CheckLoadErrors(t, New, []plugintest.LoadError{
		{Name: "authorization set", Block: "request:\n  set: {Authorization: \"Bearer x\"}", Want: "header Authorization cannot be changed", Pos: "routes.yaml:2:9:"},
		{Name: "authorization any case", Block: "request:\n  set: {authorization: x}", Want: "Authorization cannot be changed", Pos: "routes.yaml:2:9:"},
		{Name: "authorization add", Block: "request:\n  add: {Authorization: x}", Want: "Authorization cannot be changed", Pos: "routes.yaml:2:9:"},
		{Name: "authorization remove", Block: "request:\n  remove: [Authorization]", Want: "Authorization cannot be changed", Pos: "routes.yaml:2:3:"},
		{Name: "request framing", Block: "request:\n  set: {Transfer-Encoding: chunked}", Want: "Transfer-Encoding cannot be changed", Pos: "routes.yaml:2:9:"},
		{Name: "host", Block: "request:\n  set: {Host: evil}", Want: "Host cannot be changed", Pos: "routes.yaml:2:9:"},
		{Name: "response framing", Block: "response:\n  set: {Content-Length: \"0\"}", Want: "Content-Length cannot be changed", Pos: "routes.yaml:2:9:"},
		{Name: "bad name", Block: "request:\n  set: {\"X User\": a}", Want: `"X User" is not a valid header name`, Pos: "routes.yaml:2:9:"},
		{Name: "bad remove name", Block: "response:\n  remove: [\"a:b\"]", Want: `"a:b" is not a valid header name`, Pos: "routes.yaml:2:3:"},
		{Name: "unknown placeholder", Block: "request:\n  set: {X-Home: \"{env.HOME}\"}", Want: "unknown placeholder {env.HOME}", Pos: "routes.yaml:2:9:"},
		{Name: "duplicate across lists", Block: "request:\n  remove: [X-A]\n  set: {x-a: b}", Want: "X-A is already in request remove", Pos: "routes.yaml:3:9:"},
		{Name: "unknown key", Block: "request:\n  replace: {X-A: b}", Want: "replace", Pos: "routes.yaml:2:3:"},
		{Name: "every problem", Block: "request:\n  set: {Authorization: x, X-Home: \"{env.HOME}\"}\n  remove: [Host]\nrespons: {}\nresponse:\n  add: {Connection: close}",
			Want: "Authorization cannot be changed", Pos: "routes.yaml:2:9:", Also: []string{
				"routes.yaml:2:27: " + `route "test": plugin: request set X-Home: at offset 0: unknown placeholder {env.HOME}`,
				"routes.yaml:3:3: " + `route "test": plugin: request remove: header Host cannot be changed`,
				`routes.yaml:4:1: route "test": plugin: unknown key "respons" (did you mean "response"?)`,
				"routes.yaml:6:9: " + `route "test": plugin: response add: header Connection cannot be changed`,
			}},
	})
}

// echo is an upstream that records the request headers it received.
type echo struct{ got http.Header }

func (e *echo) handler(c *fiber.Ctx) error {
	e.got = http.Header{}
	c.Request().Header.VisitAll(func(k, v []byte) { e.got.Add(string(k), string(v)) })
	c.Set("Server", "upstream/1.0")
	c.Set("X-Upstream", "yes")
	return c.SendString("ok")
}

var testIdentities = map[string]*request.Identity{
	"alice": {SessionID: "s-alice", Subject: "alice", Claims: map[string]any{
		"sub": "alice", "email": "alice@example.com", "age": float64(42), "admin": true,
		"groups": []any{"dev", "ops"}, "address": map[string]any{"city": "x"},
		"nested": []any{"a", []any{"b"}}, "evil": "x\r\nX-Admin: true", "nul": "a\x00b", "big": float64(1e21),
	}},
}

func TestRequestRewrites(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		block    string
		identity string
		sent     map[string]string
		want     map[string][]string // header -> values upstream saw; nil slice = absent
	}{
		{name: "static set replaces client value", block: "request: {set: {X-From: gatehouse}}",
			sent: map[string]string{"X-From": "client"}, want: map[string][]string{"X-From": {"gatehouse"}}},
		{name: "claim", block: "request: {set: {X-User-Id: \"{claim.sub}\"}}", identity: "alice",
			want: map[string][]string{"X-User-Id": {"alice"}}},
		{name: "spoofed identity removed when no session", block: "request: {set: {X-User-Id: \"{claim.sub}\"}}",
			sent: map[string]string{"X-User-Id": "admin"}, want: map[string][]string{"X-User-Id": nil}},
		{name: "spoofed identity removed when claim missing", block: "request: {set: {X-Tenant: \"{claim.tenant}\"}}", identity: "alice",
			sent: map[string]string{"X-Tenant": "other"}, want: map[string][]string{"X-Tenant": nil}},
		{name: "CRLF in claim dropped, not injected", block: "request: {set: {X-Note: \"{claim.evil}\"}}", identity: "alice",
			sent: map[string]string{"X-Note": "client"}, want: map[string][]string{"X-Note": nil, "X-Admin": nil}},
		{name: "NUL in claim dropped", block: "request: {set: {X-Note: \"{claim.nul}\"}}", identity: "alice",
			want: map[string][]string{"X-Note": nil}},
		{name: "number and bool", block: "request: {set: {X-Age: \"{claim.age}\", X-Admin: \"{claim.admin}\", X-Big: \"{claim.big}\"}}", identity: "alice",
			want: map[string][]string{"X-Age": {"42"}, "X-Admin": {"true"}, "X-Big": {"1000000000000000000000"}}},
		{name: "array joined", block: "request: {set: {X-Groups: \"{claim.groups}\"}}", identity: "alice",
			want: map[string][]string{"X-Groups": {"dev,ops"}}},
		{name: "object skipped", block: "request: {set: {X-Addr: \"{claim.address}\"}}", identity: "alice",
			sent: map[string]string{"X-Addr": "client"}, want: map[string][]string{"X-Addr": nil}},
		{name: "nested array skipped", block: "request: {set: {X-N: \"{claim.nested}\"}}", identity: "alice",
			want: map[string][]string{"X-N": nil}},
		{name: "request placeholders", block: "request: {set: {X-Req: \"{request.id}|{request.method}|{request.path}|{route.name}|{request.ip}\"}}",
			want: map[string][]string{"X-Req": {plugintest.RequestID + "|GET|/api/x|test|0.0.0.0"}}},
		{name: "escaped braces", block: "request: {set: {X-Lit: \"{{claim.sub}}\"}}", identity: "alice",
			want: map[string][]string{"X-Lit": {"{claim.sub}"}}},
		{name: "add keeps client value", block: "request: {add: {X-Via: gatehouse}}",
			sent: map[string]string{"X-Via": "client"}, want: map[string][]string{"X-Via": {"client", "gatehouse"}}},
		{name: "add with missing claim adds nothing", block: "request: {add: {X-Email: \"{claim.email}\"}}",
			want: map[string][]string{"X-Email": nil}},
		{name: "remove", block: "request: {remove: [x-debug, Cookie]}",
			sent: map[string]string{"X-Debug": "1", "Cookie": "a=b"}, want: map[string][]string{"X-Debug": nil, "Cookie": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := New(plugintest.Spec(t, tt.block))
			if err != nil {
				t.Fatalf("New(%q) = %v", tt.block, err)
			}
			up := &echo{}
			app := plugintest.NewApp(mw, up.handler, testIdentities)
			req := httptest.NewRequest(http.MethodGet, "/api/x", nil)
			for k, v := range tt.sent {
				req.Header.Set(k, v)
			}
			req.Header.Set(plugintest.IdentityHeader, tt.identity)
			plugintest.Do(t, app, req)
			for name, want := range tt.want {
				got := up.got.Values(name)
				if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
					t.Errorf("upstream header %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestResponseRewrites(t *testing.T) {
	t.Parallel()
	block := "response: {set: {X-Frame-Options: DENY, X-Route: \"{route.name}\"}, add: {X-Upstream: gw}, remove: [Server]}"
	mw, err := New(plugintest.Spec(t, block))
	if err != nil {
		t.Fatalf("New(%q) = %v", block, err)
	}
	resp, _ := plugintest.Do(t, plugintest.NewApp(mw, (&echo{}).handler, nil), httptest.NewRequest(http.MethodGet, "/", nil))
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q, want DENY", got)
	}
	if got := resp.Header.Get("X-Route"); got != "test" {
		t.Errorf("X-Route = %q, want test", got)
	}
	if got := resp.Header.Get("Server"); got != "" {
		t.Errorf("Server = %q, want removed", got)
	}
	if got := resp.Header.Values("X-Upstream"); len(got) != 2 || got[1] != "gw" {
		t.Errorf("X-Upstream = %q, want [yes gw]", got)
	}
}

// TestDroppedValueLogged: a claim with a line break is reported, without
// echoing the value (it is attacker-influenced and could forge log lines).
func TestDroppedValueLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	spec := plugintest.Spec(t, "request: {set: {X-Note: \"{claim.evil}\"}}")
	spec.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	mw, err := New(spec)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	up := &echo{}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(plugintest.IdentityHeader, "alice")
	plugintest.Do(t, plugintest.NewApp(mw, up.handler, testIdentities), req)
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "header=X-Note") || !strings.Contains(out, plugintest.RequestID) {
		t.Errorf("log = %q, want a warning naming the header and the request id", out)
	}
	if strings.Contains(out, "X-Admin") {
		t.Errorf("log = %q, want the claim value left out", out)
	}
}
