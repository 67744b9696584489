package proxy

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzStripRequest: whatever fields a client sends, none that is hop-by-hop
// (in any spelling), named by Connection, named with an underscore, or
// Expect survives stripRequest, and the scan's view agrees with a search by
// name of what the client sent.
func FuzzStripRequest(f *testing.F) {
	for _, s := range []string{
		"Keep-Alive: 5", "te: trailers", "X_Forwarded_For: 1.2.3.4", "Connection: x-a\r\nX-A: 1",
		"Expect: 100-continue", "PROXY-AUTHORIZATION: x", "Upgrade: h2c", "X-Kept: k", "Trailer: X-T",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, fields string) {
		raw := "GET / HTTP/1.1\r\nHost: gw\r\n" + fields + "\r\n\r\n"
		var h fasthttp.RequestHeader
		if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return // not a request fasthttp's server would hand over
		}
		var named [][]byte // what Connection names
		for _, v := range h.PeekAll("Connection") {
			for n := range bytes.SplitSeq(v, []byte(",")) {
				if n = bytes.TrimSpace(n); len(n) > 0 {
					named = append(named, bytes.ToLower(n))
				}
			}
		}
		stripRequest(&h)
		for k, v := range h.All() {
			lk := strings.ToLower(string(k))
			for _, hop := range hopByHop {
				if lk == strings.ToLower(hop) {
					t.Fatalf("hop-by-hop %s: %q survived in %q", k, v, raw)
				}
			}
			if lk == "expect" || strings.Contains(lk, "_") {
				t.Fatalf("%s: %q survived in %q", k, v, raw)
			}
			for _, n := range named {
				if lk == string(n) && lk != "host" && lk != "content-length" && lk != "content-type" {
					t.Fatalf("%s, named by Connection, survived in %q", k, raw)
				}
			}
		}
	})
}
