package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/plugins"
)

func init() {
	// test_errors returns the error X-Fail names, each carrying the value
	// of X-Secret in its text, as a careless plugin (or library) would.
	plugins.Register(plugins.Plugin{
		Name: "test_errors", Phase: plugins.PhaseRewrite,
		New: func(plugins.Spec) (plugins.Middleware, error) {
			return func(next fiber.Handler) fiber.Handler {
				return func(c *fiber.Ctx) error {
					secret := c.Get("X-Secret")
					switch c.Get("X-Fail") {
					case "fiber":
						return fiber.NewError(fiber.StatusBadRequest, "bad header value "+secret)
					case "plain":
						return fmt.Errorf("backend said %s", secret)
					case "wrapped":
						return fmt.Errorf("route x: %w", httperr.New(fiber.StatusTeapot, "i am a teapot"))
					case "fiber-2xx":
						return fiber.NewError(fiber.StatusOK, secret)
					}
					return next(c)
				}
			}, nil
		},
	})
}

// TestClientSeesOnlyGatehouseText: whatever a plugin returns, the client
// reads only text written for clients (httperr): a *fiber.Error keeps its
// status with its reason phrase, any other error is a logged 500.
func TestClientSeesOnlyGatehouseText(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "api")
	cfg := loadConfig(t, "errors.yaml", map[string]string{"API": up.URL})
	logs, addr := serveLogged(t, cfg)
	const secret = "SECRET-VALUE-0123"
	for _, tt := range []struct {
		fail   string
		status int
		msg    string
		logged bool
	}{
		{"fiber", 400, "bad request", false},
		{"plain", 500, "internal error", true},
		{"wrapped", 418, "i am a teapot", false},
		{"fiber-2xx", 500, "internal error", true},
	} {
		t.Run(tt.fail, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr+"/api/x", nil)
			req.Header.Set("X-Fail", tt.fail)
			req.Header.Set("X-Secret", secret)
			req.Header.Set("X-Request-Id", "errors-"+tt.fail)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := bodyOf(resp)
			if resp.StatusCode != tt.status || errorOf(t, body) != tt.msg || strings.Contains(body, secret) {
				t.Errorf("= %d %s, want %d {\"error\":%q}", resp.StatusCode, body, tt.status, tt.msg)
			}
			if logged := unhandledLogged(logs.String(), "errors-"+tt.fail); logged != tt.logged {
				t.Errorf("logged %v, want %v:\n%s", logged, tt.logged, logs.String())
			}
		})
	}
}

// unhandledLogged reports an "unhandled error" log line for the request id.
func unhandledLogged(logs, id string) bool {
	for line := range strings.SplitSeq(logs, "\n") {
		var rec struct {
			Msg       string
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "unhandled error" && rec.RequestID == id {
			return true
		}
	}
	return false
}
