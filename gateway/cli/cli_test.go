package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/gatehouse-dev/gatehouse/plugins/all"
)

func gatehouse(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidate(t *testing.T) {
	code, out, _ := gatehouse("validate", "-config", "testdata/good.yaml")
	if code != 0 || out != "testdata/good.yaml: ok (1 routes)\n" {
		t.Errorf("validate good.yaml = %d %q, want 0 and a one-line summary", code, out)
	}

	code, _, errs := gatehouse("validate", "-config", "testdata/bad.yaml")
	if code != 1 {
		t.Fatalf("validate bad.yaml exit = %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	pos := regexp.MustCompile(`^testdata/bad\.yaml:\d+:\d+: `)
	for _, want := range []string{"secret", `upstream "htp://x"`, "burst"} {
		found := false
		for _, l := range lines {
			if strings.Contains(l, want) {
				found = true
				if !pos.MatchString(l) {
					t.Errorf("problem %q is not in FILE:LINE:COL form", l)
				}
			}
		}
		if !found {
			t.Errorf("no problem mentioning %q in:\n%s", want, errs)
		}
	}
	if strings.Contains(errs, `"short"`) {
		t.Error("the session secret was echoed in an error")
	}

	if code, _, errs := gatehouse("validate", "-config", "testdata/missing.yaml"); code != 1 || !strings.Contains(errs, "missing.yaml") {
		t.Errorf("validate of a missing file = %d %q, want 1 naming the file", code, errs)
	}
}

func TestRunRefusesAnInvalidConfig(t *testing.T) {
	code, _, errs := gatehouse("-config", "testdata/bad.yaml")
	if code != 1 || !strings.Contains(errs, "not starting") {
		t.Errorf("run with bad.yaml = %d %q, want 1 and no start", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"-no-such-flag"}, {"validate", "extra"}, {"-log-level", "loud"},
		{"-log-format", "xml", "-config", "testdata/good.yaml"}} {
		if code, _, _ := gatehouse(args...); code != 2 {
			t.Errorf("gatehouse %v exit = %d, want 2", args, code)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	if code, _, errs := gatehouse("healthcheck", "-url", srv.URL); code != 0 {
		t.Errorf("healthcheck of a healthy server = %d %s, want 0", code, errs)
	}
	status = http.StatusServiceUnavailable
	if code, _, _ := gatehouse("healthcheck", "-url", srv.URL); code != 1 {
		t.Errorf("healthcheck of a 503 = %d, want 1", code)
	}
	srv.Close()
	if code, _, _ := gatehouse("healthcheck", "-url", srv.URL); code != 1 {
		t.Errorf("healthcheck of a closed server = %d, want 1", code)
	}
}

// TestLogDurationsInSeconds: every duration in a log line is a number of
// seconds, whatever the caller logged it as.
func TestLogDurationsInSeconds(t *testing.T) {
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, slog.LevelInfo, "json")
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("m", "duration", 1500*time.Millisecond,
		slog.Group("g", slog.Duration("retry_in", 250*time.Microsecond)), "count", 3)
	var line struct {
		Duration float64
		G        struct {
			RetryIn float64 `json:"retry_in"`
		}
		Count int
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if line.Duration != 1.5 || line.G.RetryIn != 0.00025 || line.Count != 3 {
		t.Errorf("log line %s, want duration 1.5, g.retry_in 0.00025, count 3", buf.String())
	}
}

// TestLogFormatText: -log-format text writes key=value lines for people,
// durations in seconds as in JSON.
func TestLogFormatText(t *testing.T) {
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, slog.LevelInfo, "text")
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("stopped", "took", 1500*time.Millisecond)
	if got := buf.String(); !strings.Contains(got, " level=INFO msg=stopped took=1.5\n") || strings.HasPrefix(got, "{") {
		t.Errorf("text log line %q, want level=INFO msg=stopped took=1.5", got)
	}
}
