package server

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
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

// logMethods are slog.Logger's methods that take key-value pairs, with the
// index of the first pair's key.
var logMethods = map[string]int{
	"Debug": 1, "Info": 1, "Warn": 1, "Error": 1,
	"DebugContext": 2, "InfoContext": 2, "WarnContext": 2, "ErrorContext": 2,
	"Log": 3, "LogAttrs": 3, "With": 0,
}

// attrFuncs are slog's Attr constructors, whose first argument is the key.
var attrFuncs = map[string]bool{
	"String": true, "Int": true, "Int64": true, "Uint64": true, "Float64": true,
	"Bool": true, "Time": true, "Duration": true, "Any": true, "Group": true,
}

// keySynonyms are keys once written for an idea that has its own key.
var keySynonyms = map[string]string{
	"err": "error", "errors": "error", "error_message": "error",
	"requestid": "request_id", "reqid": "request_id", "req_id": "request_id", "rid": "request_id",
	"elapsed": "duration", "latency": "duration",
}

// logKey is a literal key of a log line in gatehouse's source.
type logKey struct {
	key, at string
	value   ast.Expr // nil for a slog.Group
}

// sourceLogKeys returns the literal keys of every log call (slog.Logger's
// key-value methods with a literal message, slog's Attr constructors) in the
// module's non-test Go files.
func sourceLogKeys(t *testing.T, root string) []logKey {
	t.Helper()
	fset := token.NewFileSet()
	var keys []logKey
	literal := func(e ast.Expr) (string, bool) {
		b, ok := e.(*ast.BasicLit)
		if !ok || b.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(b.Value)
		return s, err == nil
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "slog" && attrFuncs[sel.Sel.Name] {
				if k, ok := literal(call.Args[0]); ok {
					var v ast.Expr
					if len(call.Args) == 2 {
						v = call.Args[1]
					}
					keys = append(keys, logKey{k, fset.Position(call.Pos()).String(), v})
				}
				return true
			}
			first, ok := logMethods[sel.Sel.Name]
			if !ok || len(call.Args) <= first {
				return true
			}
			if _, ok := literal(call.Args[max(first-1, 0)]); first > 0 && !ok {
				return true // no literal message: not a log call
			}
			for i := first; i+1 < len(call.Args); i++ {
				if k, ok := literal(call.Args[i]); ok {
					keys = append(keys, logKey{k, fset.Position(call.Args[i].Pos()).String(), call.Args[i+1]})
					i++
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// unitSuffix matches a key that names a unit: a duration is logged as a
// time.Duration under a plain name, and gatehouse's handler writes every
// duration in seconds (gateway/cli.NewLogger, TestLogDurationsInSeconds).
var unitSuffix = regexp.MustCompile(`_(ms|us|ns|s|sec|secs|seconds|millis)$`)

// TestLogKeysInSource: every log line in the source names an idea by its one
// key (request_id, error, duration: keySynonyms), in snake_case, and passes
// a duration as a time.Duration, never converted to a number of some unit.
func TestLogKeysInSource(t *testing.T) {
	t.Parallel()
	keys := sourceLogKeys(t, filepath.Join("..", ".."))
	var sawRequestID bool
	for _, k := range keys {
		sawRequestID = sawRequestID || k.key == "request_id" && strings.Contains(k.at, "observe.go")
		if want, ok := keySynonyms[k.key]; ok {
			t.Errorf("%s: log key %q, want %q", k.at, k.key, want)
		}
		if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(k.key) {
			t.Errorf("%s: log key %q, want snake_case", k.at, k.key)
		}
		if unitSuffix.MatchString(k.key) {
			t.Errorf("%s: log key %q names a unit, want a time.Duration under a plain name", k.at, k.key)
		}
		if call, ok := k.value.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
				switch sel.Sel.Name {
				case "Seconds", "Milliseconds", "Microseconds", "Nanoseconds":
					t.Errorf("%s: log key %q holds a duration converted by %s(), want the time.Duration", k.at, k.key, sel.Sel.Name)
				}
			}
		}
	}
	if len(keys) < 50 || !sawRequestID {
		t.Fatalf("found %d log keys, the access log's request_id among them: %v; is the scan still finding the log calls?", len(keys), sawRequestID)
	}
}
