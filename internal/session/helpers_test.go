package session

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// appURL is the public_url most tests serve: https, so the cookie is Secure.
func appURL() *url.URL { return &url.URL{Scheme: "https", Host: "app.example"} }

// quiet discards the log lines tests provoke on purpose.
var quiet = slog.New(slog.DiscardHandler)

const testSecret = "0123456789abcdef0123456789abcdef-test-secret"

// testConfig is a session block with short, distinct timeouts.
func testConfig() config.Session {
	// What config gives for an https public_url without a cookie_domain
	// (TestCookieAttributes follows the real loader).
	return config.Session{
		Secret:          testSecret,
		CookieName:      "__Host-gatehouse",
		SameSite:        http.SameSiteLaxMode,
		IdleTimeout:     config.Duration(30 * time.Minute),
		AbsoluteTimeout: config.Duration(2 * time.Hour),
	}
}

// env is a manager on a fake clock over a memory store.
type env struct {
	m     *Manager
	st    *memory.Store
	clock *storetest.Clock
}

func newEnv(t testing.TB, opts ...Option) *env {
	t.Helper()
	return newEnvOn(t, testConfig(), appURL(), nil, opts...)
}

// newEnvOn is newEnv with a config, a public URL and, when wrap is not nil, a
// wrapper around the memory store (to record or interleave store calls).
func newEnvOn(t testing.TB, cfg config.Session, publicURL *url.URL, wrap func(store.Store) store.Store, opts ...Option) *env {
	t.Helper()
	clock := storetest.NewClock()
	st, err := memory.New(memory.Options{Now: clock.Now, SweepInterval: time.Hour})
	if err != nil {
		t.Fatalf("memory.New = %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var used store.Store = st
	if wrap != nil {
		used = wrap(st)
	}
	m, err := NewManager(cfg, publicURL, used, append([]Option{WithClock(clock.Now), WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatalf("NewManager = %v", err)
	}
	return &env{m: m, st: st, clock: clock}
}

// newHookEnv is an env whose store runs a hook after the next session read.
func newHookEnv(t testing.TB) (*env, *hookStore) {
	t.Helper()
	var hs *hookStore
	e := newEnvOn(t, testConfig(), appURL(), func(s store.Store) store.Store {
		hs = &hookStore{Store: s}
		return hs
	})
	return e, hs
}

// setHook arms h to run fn after the next Get of a key starting with prefix
// ("sess:" for sessions, "sidx:s:" for sid indexes, "sidx:x:" for sid
// tombstones).
func (h *hookStore) setHook(prefix string, fn func()) {
	h.mu.Lock()
	h.prefix, h.afterGet = prefix, fn
	h.mu.Unlock()
}

// fakeJWT returns a JWT-shaped string of about n bytes, unique per label.
func fakeJWT(label string, n int) string {
	body := strings.Repeat(label, n/len(label)+1)[:n-40]
	return "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + body + ".sig"
}

// idToken returns a JWT-shaped ID token carrying claims and a fake RS256
// signature: 256 bytes, base64url-encoded as a real one is (342 characters).
func idToken(claims map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + base64.RawURLEncoding.EncodeToString(payload) +
		"." + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 256))
}

// testSession is a session as the login flow would build it: Claims are the
// ID token's claims.
func testSession(sub, sid string) *Session {
	claims := map[string]any{
		"iss": "https://idp.example", "aud": "gatehouse", "sub": sub, "sid": sid,
		"email": sub + "@example.com", "name": "Ada Lovelace", "email_verified": true,
		"iat": float64(1764158400), "exp": float64(1764162000), "nonce": "n-0S6_WzA2Mj",
		"groups": []any{"a", "b"},
	}
	return &Session{
		Subject:         sub,
		SID:             sid,
		Claims:          claims,
		IDToken:         idToken(claims),
		AccessToken:     fakeJWT("ACCESSTOKEN-"+sub, 900),
		RefreshToken:    "REFRESHTOKEN-" + sub + "-opaque-0123456789",
		AccessExpiresAt: time.Date(2026, 11, 26, 12, 5, 0, 0, time.UTC),
	}
}

func (e *env) newSession(t testing.TB, sub, sid string) *Session {
	t.Helper()
	s := testSession(sub, sid)
	if err := e.m.New(t.Context(), s); err != nil {
		t.Fatalf("New(%q, %q) = %v", sub, sid, err)
	}
	return s
}

func (e *env) cookie(s *Session) string { return e.m.Cookie(s).Value }

// sessionDiff describes how got differs from want ("" when equal): the
// exported fields, times as instants.
func sessionDiff(want, got *Session) string {
	if d := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Session{})); d != "" {
		return "(-want +got)\n" + d
	}
	return ""
}

// recordingStore remembers every key and value written through it.
type recordingStore struct {
	store.Store
	mu     sync.Mutex
	writes map[string][]byte
}

func newRecordingStore(s store.Store) *recordingStore {
	return &recordingStore{Store: s, writes: map[string][]byte{}}
}

func (r *recordingStore) record(key string, value []byte) {
	r.mu.Lock()
	r.writes[key] = append([]byte(nil), value...)
	r.mu.Unlock()
}

func (r *recordingStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	r.record(key, value)
	return r.Store.Set(ctx, key, value, ttl)
}

func (r *recordingStore) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	r.record(key, value)
	return r.Store.SetNX(ctx, key, value, ttl)
}

func (r *recordingStore) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	r.record(key, value)
	return r.Store.CompareAndSwap(ctx, key, old, value, ttl)
}

// hookStore runs a hook once, right after the next Get of a key with a given
// prefix returns, to interleave another writer with a Manager call.
type hookStore struct {
	store.Store
	mu       sync.Mutex
	prefix   string
	afterGet func()
}

func (h *hookStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := h.Store.Get(ctx, key)
	h.mu.Lock()
	var hook func()
	if h.afterGet != nil && strings.HasPrefix(key, h.prefix) {
		hook, h.afterGet = h.afterGet, nil
	}
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	return v, err
}

// failingStore fails every call with err.
type failingStore struct {
	store.Store
	err error
}

func (f failingStore) Get(context.Context, string) ([]byte, error) { return nil, f.err }

// laxStore ignores the TTLs it is given and keeps everything for a day: it
// shows that the timeouts are enforced by the Manager, not only by the
// store's expiry (a store restored from a backup, or one whose TTLs are
// misconfigured, must not revive sessions).
type laxStore struct{ store.Store }

const laxTTL = 24 * time.Hour

func (l laxStore) Set(ctx context.Context, key string, value []byte, _ time.Duration) error {
	return l.Store.Set(ctx, key, value, laxTTL)
}

func (l laxStore) SetNX(ctx context.Context, key string, value []byte, _ time.Duration) (bool, error) {
	return l.Store.SetNX(ctx, key, value, laxTTL)
}

func (l laxStore) CompareAndSwap(ctx context.Context, key string, old, value []byte, _ time.Duration) (bool, error) {
	return l.Store.CompareAndSwap(ctx, key, old, value, laxTTL)
}

func (l laxStore) Touch(ctx context.Context, key string, _ time.Duration) error {
	return l.Store.Touch(ctx, key, laxTTL)
}
