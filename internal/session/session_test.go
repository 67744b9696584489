package session

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
)

func TestNewManagerValidation(t *testing.T) {
	st, err := memory.New(memory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tests := []struct {
		name    string
		edit    func(*config.Session)
		public  *url.URL
		st      store.Store
		opts    []Option
		wantErr string // "" = valid
	}{
		{name: "valid", public: appURL()},
		{name: "valid http", public: &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}},
		{name: "nil public url", public: nil, wantErr: "nil public url"},
		{name: "nil store", public: appURL(), st: nil, wantErr: "nil store"},
		{name: "index limit 0", public: appURL(), opts: []Option{WithIndexLimit(0)}, wantErr: "index limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			s := store.Store(st)
			if tt.name == "nil store" {
				s = tt.st
			}
			_, err := NewManager(cfg, tt.public, s, tt.opts...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("NewManager = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("NewManager = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewLoadRoundTrip(t *testing.T) {
	e := newEnv(t)
	want := e.newSession(t, "alice", "sid-1")
	got, err := e.m.Load(t.Context(), e.cookie(want))
	if err != nil {
		t.Fatalf("Load(cookie) = %v, want nil", err)
	}
	if diff := sessionDiff(want, got); diff != "" {
		t.Fatalf("Load(cookie) %s", diff)
	}
}

// TestFreshID is the session-fixation rule: New never keeps an id, whatever
// the caller (or a browser) put in it, and ids do not repeat.
func TestFreshID(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	s := testSession("alice", "")
	for i := range 200 {
		planted := "attacker-chosen-id"
		if i > 0 {
			planted = s.ID // a browser replaying the id it was given
		}
		s.ID = planted
		if err := e.m.New(t.Context(), s); err != nil {
			t.Fatalf("New = %v", err)
		}
		if s.ID == planted || seen[s.ID] {
			t.Fatalf("New reused id %q (planted %q)", s.ID, planted)
		}
		if len(s.ID) != idLen {
			t.Fatalf("len(New id) = %d, want %d", len(s.ID), idLen)
		}
		seen[s.ID] = true
	}
}

func TestNewRequiresSubject(t *testing.T) {
	e := newEnv(t)
	if err := e.m.New(t.Context(), &Session{AccessToken: "x"}); err == nil {
		t.Fatal("New(no subject) = nil, want an error")
	}
}

func TestTimeouts(t *testing.T) {
	// idle 30m, absolute 2h (testConfig); touch interval 1m.
	type step = timeoutStep
	tests := []struct {
		name  string
		steps []step
	}{
		{"fresh", []step{{0, true}}},
		{"just before idle", []step{{30*time.Minute - time.Second, true}}},
		{"idle reached", []step{{30 * time.Minute, false}}},
		{"idle stays ended", []step{{31 * time.Minute, false}, {0, false}}},
		{"use keeps it alive past idle", []step{
			{20 * time.Minute, true}, {20 * time.Minute, true}, {20 * time.Minute, true}, {20 * time.Minute, true},
		}},
		{"idle after use", []step{{20 * time.Minute, true}, {30 * time.Minute, false}}},
		{"use within the touch interval does not extend idle", []step{
			{29 * time.Minute, true}, {30 * time.Second, true}, {30*time.Minute - 30*time.Second, false},
		}},
		{"absolute despite use", []step{
			{25 * time.Minute, true}, {25 * time.Minute, true}, {25 * time.Minute, true}, {25 * time.Minute, true},
			{19 * time.Minute, true}, {time.Minute, false},
		}},
	}
	for _, tt := range tests {
		for _, lax := range []bool{false, true} {
			name := tt.name
			if lax {
				name += " (store keeps everything)"
			}
			t.Run(name, func(t *testing.T) {
				var wrap func(store.Store) store.Store
				if lax {
					wrap = func(s store.Store) store.Store { return laxStore{s} }
				}
				testTimeoutSteps(t, newEnvOn(t, testConfig(), appURL(), wrap), tt.steps)
			})
		}
	}
}

type timeoutStep struct {
	advance time.Duration
	wantOK  bool
}

func testTimeoutSteps(t *testing.T, e *env, steps []timeoutStep) {
	t.Helper()
	s := e.newSession(t, "alice", "sid")
	c := e.cookie(s)
	var elapsed time.Duration
	for i, st := range steps {
		e.clock.Advance(st.advance)
		elapsed += st.advance
		_, err := e.m.Load(t.Context(), c)
		switch {
		case st.wantOK && err != nil:
			t.Fatalf("step %d: Load at +%s = %v, want a session", i, elapsed, err)
		case !st.wantOK && !errors.Is(err, ErrNoSession):
			t.Fatalf("step %d: Load at +%s = %v, want ErrNoSession", i, elapsed, err)
		}
	}
	if !steps[len(steps)-1].wantOK {
		// An ended session is gone from the store, not just refused.
		if _, err := e.st.Get(t.Context(), sessionKey(e.m.keys.storeDigest(s.ID))); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("store Get(ended session) = %v, want ErrNotFound", err)
		}
	}
}

// TestStoreTTLFollowsTimeouts checks that the store drops a session by itself
// at its idle deadline, and never later than its absolute deadline.
func TestStoreTTLFollowsTimeouts(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "alice", "")
	key := sessionKey(e.m.keys.storeDigest(s.ID))
	e.clock.Advance(30 * time.Minute)
	if n := e.st.Sweep(); n == 0 {
		t.Fatalf("Sweep() at the idle deadline removed nothing, want the session")
	}
	if _, err := e.st.Get(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("store Get at idle deadline = %v, want ErrNotFound", err)
	}

	s = e.newSession(t, "bob", "")
	key = sessionKey(e.m.keys.storeDigest(s.ID))
	c := e.cookie(s)
	for range 4 { // used every 29 minutes: idle never fires
		e.clock.Advance(29 * time.Minute)
		if _, err := e.m.Load(t.Context(), c); err != nil {
			t.Fatalf("Load = %v", err)
		}
	}
	e.clock.Advance(4 * time.Minute) // 2h after login
	if _, err := e.st.Get(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("store Get at absolute deadline = %v, want ErrNotFound", err)
	}
}

func TestLoadTouch(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "alice", "")
	key := sessionKey(e.m.keys.storeDigest(s.ID))
	c := e.cookie(s)
	before, _ := e.st.Get(t.Context(), key)

	e.clock.Advance(59 * time.Second)
	got, err := e.m.Load(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := e.st.Get(t.Context(), key)
	if !bytes.Equal(before, after) {
		t.Fatal("Load within the touch interval wrote to the store, want no write")
	}
	if !got.LastSeenAt.Equal(s.LastSeenAt) {
		t.Fatalf("LastSeenAt = %v, want unchanged %v", got.LastSeenAt, s.LastSeenAt)
	}

	e.clock.Advance(time.Second)
	got, err = e.m.Load(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastSeenAt.Equal(e.clock.Now()) {
		t.Fatalf("LastSeenAt after the touch interval = %v, want %v", got.LastSeenAt, e.clock.Now())
	}
	reread, err := e.m.Load(t.Context(), c)
	if err != nil || !reread.LastSeenAt.Equal(e.clock.Now()) {
		t.Fatalf("Load after touch: LastSeenAt = %v, %v, want %v stored", reread.LastSeenAt, err, e.clock.Now())
	}
}

// TestTouchRaces interleaves another writer between Load's read and its touch
// write: the touch must neither undo a token refresh nor revive a logout.
func TestTouchRaces(t *testing.T) {
	tests := []struct {
		name  string
		other func(e *env, s *Session) error
		check func(t *testing.T, e *env, s *Session)
	}{
		{
			name: "refresh saved meanwhile is kept",
			other: func(e *env, s *Session) error {
				r := *s
				r.AccessToken, r.RefreshToken = "NEW-ACCESS", "NEW-REFRESH"
				return e.m.Save(context.Background(), &r)
			},
			check: func(t *testing.T, e *env, s *Session) {
				got, err := e.m.Load(t.Context(), e.cookie(s))
				if err != nil || got.AccessToken != "NEW-ACCESS" || got.RefreshToken != "NEW-REFRESH" {
					t.Fatalf("Load after race = %v (access %q), want the refreshed tokens", err, got.AccessToken)
				}
			},
		},
		{
			name:  "logout meanwhile is not undone",
			other: func(e *env, s *Session) error { return e.m.Delete(context.Background(), s.ID) },
			check: func(t *testing.T, e *env, s *Session) {
				if _, err := e.m.Load(t.Context(), e.cookie(s)); !errors.Is(err, ErrNoSession) {
					t.Fatalf("Load after logout race = %v, want ErrNoSession", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, hs := newHookEnv(t)
			s := e.newSession(t, "alice", "")
			e.clock.Advance(5 * time.Minute) // the next Load touches
			var otherErr error
			hs.setHook("sess:", func() { otherErr = tt.other(e, s) })
			if _, err := e.m.Load(t.Context(), e.cookie(s)); err != nil {
				t.Fatalf("racing Load = %v, want the session it read", err)
			}
			if otherErr != nil {
				t.Fatalf("other writer = %v", otherErr)
			}
			tt.check(t, e, s)
		})
	}
}

// TestSaveRaces interleaves another writer between Save's read and its write.
func TestSaveRaces(t *testing.T) {
	tests := []struct {
		name    string
		other   func(e *env, s *Session) error
		wantErr error
		wantTok string // access token stored afterwards; "" = session gone
	}{
		{
			name:    "logout meanwhile is not undone",
			other:   func(e *env, s *Session) error { return e.m.Delete(context.Background(), s.ID) },
			wantErr: ErrNoSession,
		},
		{
			name: "a touch meanwhile does not lose the refresh",
			other: func(e *env, s *Session) error {
				_, err := e.m.Load(context.Background(), e.cookie(s))
				return err
			},
			wantTok: "REFRESHED",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, hs := newHookEnv(t)
			s := e.newSession(t, "alice", "")
			e.clock.Advance(5 * time.Minute) // a Load now touches
			var otherErr error
			hs.setHook("sess:", func() { otherErr = tt.other(e, s) })
			refreshed := *s
			refreshed.AccessToken = "REFRESHED"
			if err := e.m.Save(t.Context(), &refreshed); !errors.Is(err, tt.wantErr) {
				t.Fatalf("racing Save = %v, want %v", err, tt.wantErr)
			}
			if otherErr != nil {
				t.Fatalf("other writer = %v", otherErr)
			}
			got, err := e.m.Load(t.Context(), e.cookie(s))
			switch {
			case tt.wantTok == "" && !errors.Is(err, ErrNoSession):
				t.Fatalf("Load after race = %v, want ErrNoSession", err)
			case tt.wantTok != "" && (err != nil || got.AccessToken != tt.wantTok):
				t.Fatalf("Load after race = %v, want access token %q", err, tt.wantTok)
			}
		})
	}
}

func TestSave(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "alice", "")
	e.clock.Advance(10 * time.Second)
	s.AccessToken = "refreshed"
	s.AccessExpiresAt = e.clock.Now().Add(5 * time.Minute)
	if err := e.m.Save(t.Context(), s); err != nil {
		t.Fatalf("Save = %v", err)
	}
	got, err := e.m.Load(t.Context(), e.cookie(s))
	if err != nil {
		t.Fatal(err)
	}
	if diff := sessionDiff(s, got); diff != "" {
		t.Fatalf("Load after Save %s", diff)
	}

	t.Run("does not recreate a deleted session", func(t *testing.T) {
		if err := e.m.Delete(t.Context(), s.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.m.Save(t.Context(), s); !errors.Is(err, ErrNoSession) {
			t.Fatalf("Save(deleted) = %v, want ErrNoSession", err)
		}
		if _, err := e.m.Load(t.Context(), e.cookie(s)); !errors.Is(err, ErrNoSession) {
			t.Fatalf("Load after Save(deleted) = %v, want ErrNoSession", err)
		}
	})
	t.Run("does not extend past the absolute timeout", func(t *testing.T) {
		s := e.newSession(t, "bob", "")
		for range 5 { // keep it from idling out
			e.clock.Advance(25 * time.Minute)
			if err := e.m.Save(t.Context(), s); err != nil && e.clock.Now().Sub(s.CreatedAt) < 2*time.Hour {
				t.Fatalf("Save at +%s = %v", e.clock.Now().Sub(s.CreatedAt), err)
			}
		}
		if err := e.m.Save(t.Context(), s); !errors.Is(err, ErrNoSession) {
			t.Fatalf("Save after the absolute timeout = %v, want ErrNoSession", err)
		}
	})
	t.Run("does not revive an idled-out session the store still holds", func(t *testing.T) {
		e := newEnvOn(t, testConfig(), appURL(), func(s store.Store) store.Store { return laxStore{s} })
		s := e.newSession(t, "carol", "")
		e.clock.Advance(31 * time.Minute)
		if err := e.m.Save(t.Context(), s); !errors.Is(err, ErrNoSession) {
			t.Fatalf("Save after the idle timeout = %v, want ErrNoSession", err)
		}
	})
	t.Run("rejects a session without a valid id", func(t *testing.T) {
		for _, id := range []string{"", "short", strings.Repeat("!", idLen)} {
			if err := e.m.Save(t.Context(), &Session{ID: id, Subject: "x"}); err == nil {
				t.Errorf("Save(id %q) = nil, want an error", id)
			}
		}
	})
}

func TestLoadStoreFailure(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "alice", "")
	boom := errors.New("connection refused")
	m, err := NewManager(testConfig(), appURL(), failingStore{Store: e.st, err: boom}, WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Load(t.Context(), e.cookie(s))
	if !errors.Is(err, boom) || errors.Is(err, ErrNoSession) {
		t.Fatalf("Load(store down) = %v, want the store error (503), not ErrNoSession (401)", err)
	}
}

// TestEncryptionAtRest inspects every byte written to the store.
func TestEncryptionAtRest(t *testing.T) {
	var rec *recordingStore
	m := newEnvOn(t, testConfig(), appURL(), func(s store.Store) store.Store {
		rec = newRecordingStore(s)
		return rec
	}).m
	s := testSession("alice-subject", "idp-sid-42")
	if err := m.New(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	s.AccessToken = "SECOND-ACCESS-TOKEN-after-refresh"
	if err := m.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	rawID, err := base64.RawURLEncoding.DecodeString(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"session id":     s.ID,
		"id prefix":      s.ID[:12],
		"id suffix":      s.ID[len(s.ID)-12:],
		"raw id":         string(rawID[:12]),
		"hex id":         hex.EncodeToString(rawID[:8]),
		"cookie":         m.Cookie(s).Value,
		"access token":   "ACCESSTOKEN-alice",
		"second access":  s.AccessToken,
		"refresh token":  s.RefreshToken,
		"id token":       s.IDToken[36:80],
		"email claim":    "alice-subject@example.com",
		"name claim":     "Ada Lovelace",
		"subject":        s.Subject,
		"idp sid":        s.SID,
		"session secret": testSecret,
	}
	if len(rec.writes) < 3 { // session + subject index + sid index
		t.Fatalf("recorded %d writes, want at least 3", len(rec.writes))
	}
	for k, v := range rec.writes {
		for what, secret := range secrets {
			if strings.Contains(k, secret) {
				t.Errorf("store key %q contains the %s", k, what)
			}
			if bytes.Contains(v, []byte(secret)) {
				t.Errorf("store value under %q contains the %s", k, what)
			}
		}
	}
}

// TestStoredValueTampering: a value moved to another session's key, or
// altered, or under an unknown version, reads as no session.
func TestStoredValueTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(victim, other []byte) []byte
	}{
		{"swapped from another session", func(_, other []byte) []byte { return other }},
		{"bit flipped in ciphertext", func(v, _ []byte) []byte { v[len(v)/2] ^= 1; return v }},
		{"bit flipped in tag", func(v, _ []byte) []byte { v[len(v)-1] ^= 0x80; return v }},
		{"unknown version", func(v, _ []byte) []byte { v[0] = 99; return v }},
		{"truncated", func(v, _ []byte) []byte { return v[:20] }},
		{"empty", func([]byte, []byte) []byte { return []byte{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			victim := e.newSession(t, "victim", "")
			attacker := e.newSession(t, "attacker", "")
			vk := sessionKey(e.m.keys.storeDigest(victim.ID))
			ak := sessionKey(e.m.keys.storeDigest(attacker.ID))
			vv, _ := e.st.Get(t.Context(), vk)
			av, _ := e.st.Get(t.Context(), ak)
			if err := e.st.Set(t.Context(), vk, tt.tamper(vv, av), time.Hour); err != nil {
				t.Fatal(err)
			}
			if got, err := e.m.Load(t.Context(), e.cookie(victim)); !errors.Is(err, ErrNoSession) {
				t.Fatalf("Load(tampered) = %+v, %v, want ErrNoSession", got, err)
			}
		})
	}
}

func TestDeleteBySIDAndSubject(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a1 := e.newSession(t, "alice", "sid-A")
	a2 := e.newSession(t, "alice", "sid-A") // second tab / app in the same IdP session
	a3 := e.newSession(t, "alice", "sid-B")
	b1 := e.newSession(t, "bob", "sid-C")
	loggedOut := e.newSession(t, "alice", "")
	if err := e.m.Delete(ctx, loggedOut.ID); err != nil {
		t.Fatal(err)
	}
	alive := func(s *Session) bool {
		_, err := e.m.Load(ctx, e.cookie(s))
		return err == nil
	}

	steps := []struct {
		name   string
		do     func() (int, error)
		want   int
		alive  []*Session
		ended  []*Session
		errish bool
	}{
		{"by sid", func() (int, error) { return e.m.DeleteBySID(ctx, "sid-A") }, 2, []*Session{a3, b1}, []*Session{a1, a2}, false},
		{"by sid again", func() (int, error) { return e.m.DeleteBySID(ctx, "sid-A") }, 0, []*Session{a3, b1}, nil, false},
		{"unknown sid", func() (int, error) { return e.m.DeleteBySID(ctx, "sid-Z") }, 0, []*Session{a3, b1}, nil, false},
		{"by subject skips stale entries", func() (int, error) { return e.m.DeleteBySubject(ctx, "alice") }, 1, []*Session{b1}, []*Session{a3}, false},
		{"subjects are separate", func() (int, error) { return e.m.DeleteBySubject(ctx, "bob") }, 1, nil, []*Session{b1}, false},
		{"empty sid", func() (int, error) { return e.m.DeleteBySID(ctx, "") }, 0, nil, nil, true},
		{"empty subject", func() (int, error) { return e.m.DeleteBySubject(ctx, "") }, 0, nil, nil, true},
	}
	for _, st := range steps {
		n, err := st.do()
		if (err != nil) != st.errish || n != st.want {
			t.Fatalf("%s: = %d, %v, want %d, error %v", st.name, n, err, st.want, st.errish)
		}
		for _, s := range st.alive {
			if !alive(s) {
				t.Errorf("%s: session of %s/%s ended, want alive", st.name, s.Subject, s.SID)
			}
		}
		for _, s := range st.ended {
			if alive(s) {
				t.Errorf("%s: session of %s/%s alive, want ended", st.name, s.Subject, s.SID)
			}
		}
	}
}

// TestSIDLogoutDuringLogin: a back-channel logout of a sid that runs while a
// login of that sid is in flight ends that login's session too, wherever it
// falls in New.
func TestSIDLogoutDuringLogin(t *testing.T) {
	tests := []struct {
		name      string
		hookOn    string // key prefix whose read the logout follows; "" = before New
		wantCount int    // sessions DeleteBySID reports
	}{
		{"logout before the login", "", 0},
		{"logout before the index entry is written", "sidx:s:", 0},
		{"logout after the session is written", "sidx:x:", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, hs := newHookEnv(t)
			logout := func() (int, error) { return e.m.DeleteBySID(context.Background(), "sid-1") }
			var n int
			var logoutErr error
			if tt.hookOn == "" {
				n, logoutErr = logout()
			} else {
				hs.setHook(tt.hookOn, func() { n, logoutErr = logout() })
			}
			s := testSession("alice", "sid-1")
			newErr := e.m.New(t.Context(), s)
			if logoutErr != nil || n != tt.wantCount {
				t.Fatalf("DeleteBySID = %d, %v, want %d, nil", n, logoutErr, tt.wantCount)
			}
			if newErr != nil && !errors.Is(newErr, ErrNoSession) {
				t.Fatalf("New = %v, want nil or ErrNoSession", newErr)
			}
			if _, err := e.m.Load(t.Context(), e.cookie(s)); !errors.Is(err, ErrNoSession) {
				t.Fatalf("Load(session of a logged-out sid) = %v, want ErrNoSession", err)
			}
			// Other sids log in as usual.
			e.newSession(t, "alice", "sid-2")
		})
	}
}

func TestIndexLimit(t *testing.T) {
	t.Run("oldest session ends", func(t *testing.T) {
		e := newEnv(t, WithIndexLimit(3))
		var ss []*Session
		for range 4 {
			e.clock.Advance(time.Second)
			ss = append(ss, e.newSession(t, "alice", ""))
		}
		if _, err := e.m.Load(t.Context(), e.cookie(ss[0])); !errors.Is(err, ErrNoSession) {
			t.Fatalf("Load(oldest over the limit) = %v, want ErrNoSession", err)
		}
		for i, s := range ss[1:] {
			if _, err := e.m.Load(t.Context(), e.cookie(s)); err != nil {
				t.Fatalf("Load(session %d) = %v, want alive", i+1, err)
			}
		}
		if n, err := e.m.DeleteBySubject(t.Context(), "alice"); n != 3 || err != nil {
			t.Fatalf("DeleteBySubject = %d, %v, want 3, nil", n, err)
		}
	})
	t.Run("gone sessions are pruned before ending a live one", func(t *testing.T) {
		e := newEnv(t, WithIndexLimit(3))
		var ss []*Session
		for range 3 {
			ss = append(ss, e.newSession(t, "alice", ""))
		}
		if err := e.m.Delete(t.Context(), ss[1].ID); err != nil {
			t.Fatal(err)
		}
		ss = append(ss, e.newSession(t, "alice", ""))
		for _, i := range []int{0, 2, 3} {
			if _, err := e.m.Load(t.Context(), e.cookie(ss[i])); err != nil {
				t.Fatalf("Load(session %d) = %v, want alive", i, err)
			}
		}
	})
	t.Run("entries past the absolute timeout are dropped", func(t *testing.T) {
		e := newEnv(t, WithIndexLimit(2))
		e.newSession(t, "alice", "")
		e.newSession(t, "alice", "")
		e.clock.Advance(3 * time.Hour)
		s := e.newSession(t, "alice", "")
		key := e.m.keys.subjectIndexKey("alice")
		rec, err := e.st.Get(t.Context(), key)
		if err != nil || len(rec) != entryLen {
			t.Fatalf("index record = %d bytes, %v, want one entry (%d bytes)", len(rec), err, entryLen)
		}
		if _, err := e.m.Load(t.Context(), e.cookie(s)); err != nil {
			t.Fatalf("Load(new) = %v", err)
		}
	})
}

// TestIndexConcurrentLogins: concurrent logins of one user lose no index entry.
func TestIndexConcurrentLogins(t *testing.T) {
	e := newEnv(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if err := e.m.New(t.Context(), testSession("alice", "sid-1")); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent New = %v", err)
	}
	if got, err := e.m.DeleteBySID(t.Context(), "sid-1"); got != n || err != nil {
		t.Fatalf("DeleteBySID after %d concurrent logins = %d, %v, want %d, nil", n, got, err, n)
	}
}

func TestExpiresAt(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "alice", "")
	start := s.CreatedAt
	if got, want := e.m.ExpiresAt(s), start.Add(30*time.Minute); !got.Equal(want) {
		t.Fatalf("ExpiresAt(fresh) = %v, want idle deadline %v", got, want)
	}
	s.LastSeenAt = start.Add(110 * time.Minute)
	if got, want := e.m.ExpiresAt(s), start.Add(2*time.Hour); !got.Equal(want) {
		t.Fatalf("ExpiresAt(late) = %v, want absolute deadline %v", got, want)
	}
}
