package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// duplicateKeys returns the top-level keys that occur more than once in one
// JSON log line (encoding/json would silently keep the last of them).
func duplicateKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("log line is not a JSON object: %s", line)
	}
	seen := map[string]bool{}
	var dups []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		key := tok.(string)
		if seen[key] {
			dups = append(dups, key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
	}
	return dups
}

// TestLogKeysOncePerLine: every line the server logs names each idea under
// one key, once ("upstream request failed" carried route twice), and errors
// under "error", never "err".
func TestLogKeysOncePerLine(t *testing.T) {
	t.Parallel()
	users := newUpstream(t, "users")
	cfg := loadConfig(t, "core.yaml", map[string]string{"USERS": users.URL, "PUBLIC": users.URL, "FILES": users.URL})
	logs, addr := serveLogged(t, cfg)
	base := "http://" + addr
	rawRequest(t, base, get("/api/users/1"))
	rawRequest(t, base, get("/nowhere"))
	users.Close()
	if status, _ := rawRequest(t, base, get("/api/users/1")); status != 502 {
		t.Fatalf("GET to a closed upstream = %d, want 502", status)
	}

	var sawUpstreamFailure bool
	for _, line := range bytes.Split(bytes.TrimSpace([]byte(logs.String())), []byte("\n")) {
		l := string(line)
		if dups := duplicateKeys(t, l); len(dups) > 0 {
			t.Errorf("keys %q more than once in %s", dups, l)
		}
		if strings.Contains(l, `"err":`) {
			t.Errorf(`"err" instead of "error" in %s`, l)
		}
		sawUpstreamFailure = sawUpstreamFailure || strings.Contains(l, `"upstream request failed"`)
	}
	if !sawUpstreamFailure {
		t.Errorf("no upstream request failed line in:\n%s", logs.String())
	}
}
