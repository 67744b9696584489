package server

import (
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRequestErrorsNeverEchoTheRequest sends heads fasthttp cannot read, each
// carrying a session cookie and an Authorization header, and checks that no
// byte of either value comes back (fasthttp's error text quotes up to 200
// bytes from each end of the raw head, and Fiber sent that text as the body:
// a page script could read its own HttpOnly cookie) nor reaches the log. The
// answer is gatehouse's own JSON text.
func TestRequestErrorsNeverEchoTheRequest(t *testing.T) {
	t.Parallel()
	const cookie = "gatehouse=SESSIONSECRETcookieVALUE0123456789"
	const bearer = "Bearer AUTHORIZATIONSECRETtokenVALUE9876543210"
	secrets := []string{"SESSIONSECRETcookieVALUE", "AUTHORIZATIONSECRETtokenVALUE"}
	secretHeaders := "Cookie: " + cookie + "\r\nAuthorization: " + bearer + "\r\n"
	tests := []struct {
		name, head string
		status     int
		msg        string
	}{
		{"control byte in a value", "GET /api/users/1 HTTP/1.1\r\nHost: gw\r\n" + secretHeaders + "X-Evil: a\x01b\r\n\r\n", 400, "bad request"},
		{"control byte before the secrets", "GET /api/users/1 HTTP/1.1\r\nHost: gw\r\nX-Evil: a\x01b\r\n" + secretHeaders + "\r\n", 400, "bad request"},
		{"no colon", "GET /api/users/1 HTTP/1.1\r\nHost: gw\r\n" + secretHeaders + "NoColonHere\r\n\r\n", 400, "bad request"},
		{"bad content length", "POST /api/users/1 HTTP/1.1\r\nHost: gw\r\n" + secretHeaders + "Content-Length: 1x\r\n\r\n", 400, "bad request"},
		{"bad protocol", "GET /api/users/1 HTTP/9.x\r\nHost: gw\r\n" + secretHeaders + "\r\n", 400, "bad request"},
		{"head too large", "GET /api/users/1 HTTP/1.1\r\nHost: gw\r\n" + secretHeaders + "X-Pad: " + strings.Repeat("p", 7000) + "\r\n\r\n", 431, "request header too large"},
		{"unknown method", "BREW /api/users/1 HTTP/1.1\r\nHost: gw\r\n" + secretHeaders + "\r\n", 501, "method not implemented"},
	}
	users := newUpstream(t, "users")
	cfg := loadConfig(t, "core.yaml", map[string]string{"USERS": users.URL, "PUBLIC": users.URL, "FILES": users.URL})
	logs, addr := serveLogged(t, cfg)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, tt.head); err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(conn)
			for _, s := range secrets {
				if strings.Contains(string(raw), s) {
					t.Fatalf("the response holds the request's secret %q:\n%q", s, raw)
				}
			}
			head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
			if want := "HTTP/1.1 " + itoa(tt.status) + " "; !strings.HasPrefix(head, want) {
				t.Fatalf("status line of %q, want %q", head, want)
			}
			if !strings.Contains(head, "Content-Type: application/json") {
				t.Errorf("not JSON: %q", head)
			}
			var e map[string]string
			if err := json.Unmarshal([]byte(body), &e); err != nil || e["error"] != tt.msg || len(e) != 1 {
				t.Errorf("body %q, want {\"error\":%q}", body, tt.msg)
			}
		})
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log holds the request's secret %q:\n%s", s, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "request refused before routing") {
		t.Errorf("refused requests are not logged:\n%s", logs.String())
	}
}

func itoa(n int) string { return statusLabel(n) }

// TestMultipartBodyNotReadBeforeTheHandler: a multipart/form-data POST to a
// GET-only route is refused (405) once fasthttp has its first 8 KiB of body
// (what it always reads ahead); its multipart pre-parsing would first wait
// for, and buffer, the whole body (then answer 408 after read_timeout, since
// this client never sends the rest).
func TestMultipartBodyNotReadBeforeTheHandler(t *testing.T) {
	t.Parallel()
	users := newUpstream(t, "users")
	cfg := loadConfig(t, "core.yaml", map[string]string{"USERS": users.URL, "PUBLIC": users.URL, "FILES": users.URL})
	cfg.Server.MaxBody = 1 << 20
	_, base := serve(t, cfg, listen(t))
	part := "--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n" + strings.Repeat("x", 9000)
	status, body := rawRequest(t, base, "POST /api/public/x HTTP/1.1\r\nHost: gw\r\n"+
		"Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"+part)
	if status != 405 {
		t.Fatalf("multipart POST to a GET route = %d %s, want 405 before the whole body", status, body)
	}
}
