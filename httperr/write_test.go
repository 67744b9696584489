package httperr

import (
	"errors"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/request"
)

// TestHandler: the answer every error gets, in the server and in the test
// harnesses alike: the status and text Answer allows, what the chain had
// written discarded except the headers an error keeps, no-store, nosniff,
// Vary and the request id; a page instead of JSON when Page writes one.
func TestHandler(t *testing.T) {
	type answer struct {
		Status int
		Body   string
		Header map[string]string
	}
	jsonHeader := func(extra ...string) map[string]string {
		h := map[string]string{
			"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Vary": "Accept, Sec-Fetch-Mode",
			"X-Request-Id": "req-1", "Content-Type": "application/json", "X-Upstream": "", "Retry-After": "",
		}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	page := func(c *fiber.Ctx, status int) bool {
		if c.Get("Accept") != "text/html" {
			return false
		}
		c.Response().Header.SetContentType("text/html")
		c.Response().SetBodyString("<p>page</p>")
		return true
	}
	tests := []struct {
		name         string
		err          error
		retryAfter   bool // the chain set Retry-After (kept) before failing
		accept       string
		want         answer
		wantInternal bool
	}{
		{name: "httperr", err: New(429, "rate limit exceeded"), retryAfter: true,
			want: answer{429, `{"error":"rate limit exceeded"}`, jsonHeader("Retry-After", "7")}},
		{name: "wrapped httperr", err: errors.Join(errors.New("route x"), New(404, "not found")),
			want: answer{404, `{"error":"not found"}`, jsonHeader()}},
		{name: "fiber error keeps only its status", err: fiber.NewError(400, "raw text with a token"),
			want: answer{400, `{"error":"bad request"}`, jsonHeader()}},
		{name: "anything else", err: errors.New("dial tcp 10.0.0.7:8080: refused"),
			want: answer{500, `{"error":"internal error"}`, jsonHeader()}, wantInternal: true},
		{name: "page", err: New(502, "bad gateway"), accept: "text/html",
			want: answer{502, "<p>page</p>", jsonHeader("Content-Type", "text/html")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var internal []error
			app := fiber.New(fiber.Config{ErrorHandler: Handler(page, func(_ *fiber.Ctx, err error) { internal = append(internal, err) })})
			app.Get("/", func(c *fiber.Ctx) error {
				request.From(c).ID = "req-1"
				c.Set("X-Upstream", "half way") // an upstream's header, then a failure
				if tt.retryAfter {
					c.Set("Retry-After", "7")
				}
				c.Response().SetBodyString("partial body")
				return tt.err
			})
			req := httptest.NewRequest("GET", "/", nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			got := answer{Status: resp.StatusCode, Body: string(body), Header: map[string]string{}}
			for name := range tt.want.Header {
				got.Header[name] = resp.Header.Get(name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answer to %v (-want +got):\n%s", tt.err, diff)
			}
			if gotInternal := len(internal) == 1 && internal[0] == tt.err; gotInternal != tt.wantInternal || len(internal) > 1 {
				t.Errorf("internal callback got %v, want it called (with the error) = %v", internal, tt.wantInternal)
			}
		})
	}
}
