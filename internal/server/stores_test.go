package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/session"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	redisstore "github.com/gatehouse-dev/gatehouse/internal/store/redis"
	"github.com/gatehouse-dev/gatehouse/internal/store/redistest"
)

// storeRecoverWithin bounds the waits for a gateway to see a change of its
// Redis (discovery done, Redis back): readiness is cached for readyCacheFor
// and go-redis retries a failed dial about once a second.
const storeRecoverWithin = 20 * time.Second

// storesEnv returns the variables of testdata/stores.yaml for a gateway on
// ln with its state in store.
func storesEnv(t *testing.T, ln net.Listener, store string) (map[string]string, *oidctest.Provider) {
	t.Helper()
	public := "http://" + ln.Addr().String()
	op := oidctest.Start(t, oidctest.Options{RedirectURIs: []string{public + "/auth/callback"}})
	api := newRecorder(t)
	return map[string]string{"PUBLIC": public, "ISSUER": op.Issuer, "SECRET": op.ClientSecret,
		"API": api.URL, "STORE": store}, op
}

// readyChecks polls /readyz until the IdP's discovery has succeeded (it runs
// in the background) and returns the status and checks of that answer.
func readyChecks(b *browser) (int, map[string]string) {
	b.t.Helper()
	end := time.Now().Add(storeRecoverWithin)
	for {
		resp := b.do("GET", "/readyz")
		var body struct {
			Checks map[string]string `json:"checks"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			b.t.Fatalf("/readyz body: %v", err)
		}
		if body.Checks["oidc"] == "ok" {
			return resp.StatusCode, body.Checks
		}
		if time.Now().After(end) {
			b.t.Fatalf("/readyz: discovery not done within %s: %v", storeRecoverWithin, body.Checks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantStoreDown checks a clean refusal for want of the state store: 503
// with a JSON {"error": ...}.
func wantStoreDown(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	ct := resp.Header.Get("Content-Type")
	err := json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(ct, "application/json") || err != nil || body.Error == "" {
		t.Errorf("%s with Redis down = %d %s %q (%v), want 503 with a JSON error", what, resp.StatusCode, ct, body.Error, err)
	}
}

// mintCookie returns a session cookie the gateway of cfg accepts as well
// formed (signed with its session.secret) for a session its store does not
// hold: reading it needs the store.
func mintCookie(t *testing.T, cfg *config.Config) *http.Cookie {
	t.Helper()
	st, err := memory.New(memory.Options{MaxEntries: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m, err := session.NewManager(cfg.Session, cfg.Server.PublicURL, st)
	if err != nil {
		t.Fatal(err)
	}
	s := &session.Session{Subject: "someone"}
	if err := m.New(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	c := m.Cookie(s)
	return &http.Cookie{Name: c.Name, Value: c.Value}
}

// TestStartsWhileRedisDown: a gateway whose Redis is down at start-up
// starts, reports the store in /readyz, answers 503 where a request needs
// the store (rate_limit and cache as their settings say), reloads, and heals
// by itself once Redis is up: no restart.
func TestStartsWhileRedisDown(t *testing.T) {
	// openStores logs through the logger main gives redisstore.SetLogger.
	var logs lockedBuffer
	redisstore.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { redisstore.SetLogger(slog.Default()) })
	redis := redistest.New(t)
	redis.Stop()
	ln := listen(t)
	env, op := storesEnv(t, ln, redis.URL(0))
	cfg := loadConfig(t, "stores.yaml", env)
	srv, base := serve(t, cfg, ln)
	b := newBrowser(t, base)
	if got := logs.String(); !strings.Contains(got, `level=WARN msg="session.store: redis unreachable at start-up; gatehouse starts and keeps retrying`) {
		t.Errorf("start-up log = %q, want a WARN that Redis is unreachable and gatehouse keeps retrying", got)
	}

	status, checks := readyChecks(b)
	if status != http.StatusServiceUnavailable || checks["store"] != "state store unreachable" {
		t.Errorf("/readyz with Redis down = %d %v, want 503 with store failing", status, checks)
	}

	cookie := mintCookie(t, cfg)
	wantStoreDown(t, "a session route", b.do("GET", "/api/x", "X-CSRF", "1", "Cookie", cookie.String()))
	// The first step of a login that needs the store answers 503: the
	// login itself while login states are stored, else the callback.
	resp := b.do("GET", "/auth/login?returnTo=/")
	if resp.StatusCode == http.StatusFound {
		callback, err := op.Login(t.Context(), b.client, resp.Header.Get("Location"))
		if err != nil {
			t.Fatalf("OP login: %v", err)
		}
		resp = b.do("GET", callback)
	}
	wantStoreDown(t, "a login", resp)
	wantStoreDown(t, "rate_limit, on_error: deny", b.do("GET", "/strict/x"))
	for _, tc := range []struct{ what, path string }{
		{"rate_limit, on_error: allow", "/limited/x"},
		{"cache (falls through to the upstream)", "/cached/x"},
	} {
		if resp := b.do("GET", tc.path); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with Redis down = %d %s, want 200", tc.what, resp.StatusCode, bodyOf(resp))
		}
	}
	// A reload (SIGHUP) builds new plugin backends on the same Redis.
	if err := srv.Reload(loadConfig(t, "stores.yaml", env)); err != nil {
		t.Fatalf("Reload with Redis down = %v, want nil", err)
	}

	redis.Start()
	end := time.Now().Add(storeRecoverWithin)
	for {
		status, checks := readyChecks(b)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("/readyz = %d %v %s after Redis came up, want 200", status, checks, storeRecoverWithin)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.login(op, "/") // the browser keeps the cookie
	if resp := b.do("GET", "/api/x", "X-CSRF", "1"); resp.StatusCode != http.StatusOK {
		t.Errorf("session route after Redis came up = %d %s, want 200", resp.StatusCode, bodyOf(resp))
	}
	// The plugins' own clients work too: one shared budget of 1, one cache.
	for _, tc := range []struct {
		what, path string
		want       []int
		header     string
		wantHeader []string
	}{
		{"rate_limit", "/limited/x", []int{200, 429}, "", nil},
		{"cache", "/cached/x", []int{200, 200}, "X-Cache", []string{"MISS", "HIT"}},
	} {
		for i, want := range tc.want {
			resp := b.do("GET", tc.path)
			if resp.StatusCode != want {
				t.Errorf("%s after Redis came up, request %d = %d, want %d", tc.what, i+1, resp.StatusCode, want)
			}
			if tc.header != "" && resp.Header.Get(tc.header) != tc.wantHeader[i] {
				t.Errorf("%s after Redis came up, request %d %s = %q, want %q", tc.what, i+1, tc.header, resp.Header.Get(tc.header), tc.wantHeader[i])
			}
		}
	}
}

// lockedBuffer is a bytes.Buffer for log lines written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestStartsWhileRedisUnreachable: other ways of not reaching Redis at
// start-up do not stop the start either; /readyz reports the store.
func TestStartsWhileRedisUnreachable(t *testing.T) {
	t.Parallel()
	hung := redistest.New(t)
	hung.Freeze()
	for _, tc := range []struct{ name, url string }{
		// Deliberately transient: a Kubernetes Service name may not resolve
		// for a moment at start.
		{"name does not resolve", "redis://gatehouse-test-no-such-host.invalid:6379/0"},
		{"hung", hung.URL(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			env, _ := storesEnv(t, ln, tc.url)
			_, base := serve(t, loadConfig(t, "stores.yaml", env), ln)
			status, checks := readyChecks(newBrowser(t, base))
			if status != http.StatusServiceUnavailable || checks["store"] != "state store unreachable" {
				t.Errorf("/readyz = %d %v, want 503 with store failing", status, checks)
			}
		})
	}
}

// TestStartFailsOnRejectedRedis: a Redis that answers but refuses the
// configured credentials or database, or whose certificate does not verify,
// is a configuration error: New fails, without the password or the URL.
func TestStartFailsOnRejectedRedis(t *testing.T) {
	t.Parallel()
	const password = "s3cret-pw-4711"
	locked := redistest.New(t, redistest.WithArgs("--requirepass", password))
	plain := redistest.New(t, redistest.WithArgs("--databases", "4"))
	withTLS := redistest.NewTLS(t)
	withUser := func(url, userinfo string) string { return strings.Replace(url, "://", "://"+userinfo+"@", 1) }
	for _, tc := range []struct {
		name, url, addr, wantErr string
	}{
		{"wrong password", withUser(locked.URL(0), ":wrong-"+password), locked.Addr(), "WRONGPASS"},
		{"no password", locked.URL(0), locked.Addr(), "NOAUTH"},
		{"unknown user", withUser(locked.URL(0), "bob:"+password), locked.Addr(), "WRONGPASS"},
		{"database out of range", plain.URL(9), plain.Addr(), "DB index"},
		{"untrusted certificate", withTLS.URL(0), withTLS.Addr(), "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newWithStore(t, tc.url)
			msg := err.Error()
			if !strings.HasPrefix(msg, "session.store: ") || !strings.Contains(msg, tc.wantErr) {
				t.Errorf("New = %q, want a session.store error naming %q", msg, tc.wantErr)
			}
			for _, secret := range []string{password, tc.addr, "redis://", "rediss://"} {
				if strings.Contains(msg, secret) {
					t.Errorf("New = %q: repeats %q", msg, secret)
				}
			}
		})
	}
}

// newWithStore returns New's error for stores.yaml with session.store set
// to url after loading (past config.Load's own check), failing the test if
// New succeeds.
func newWithStore(t *testing.T, url string) error {
	t.Helper()
	env, _ := storesEnv(t, listen(t), "redis://:hunter2@127.0.0.1:6379/0")
	cfg := loadConfig(t, "stores.yaml", env)
	cfg.Session.Store = url
	srv, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		_ = srv.Shutdown(t.Context())
		t.Fatal("New = nil error, want the start to fail")
	}
	return err
}

// TestStartFailsOnMalformedStoreURL: a session.store URL that cannot work
// fails New, without the password, even in a Config not checked by
// config.Load (which refuses it first, on the session.store line: the
// config package's golden store.yaml).
func TestStartFailsOnMalformedStoreURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, url, wantErr string }{
		{"database not a number", "redis://:hunter2@127.0.0.1:6379/x", "invalid database number"},
		{"unknown option", "redis://:hunter2@127.0.0.1:6379/0?bogus=1", "unexpected option"},
		{"timeout disabled", "redis://:hunter2@127.0.0.1:6379/0?read_timeout=-1s", "read_timeout must be positive"},
		{"cluster with a database", "redis://:hunter2@127.0.0.1:6379/2?cluster=true", "no database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newWithStore(t, tc.url)
			if msg := err.Error(); !strings.HasPrefix(msg, "session.store: ") || !strings.Contains(msg, tc.wantErr) || strings.Contains(msg, "hunter2") {
				t.Errorf("New = %q, want a session.store error naming %q, without the password", msg, tc.wantErr)
			}
		})
	}
}
