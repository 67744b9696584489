package session

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestLoadDecodesOnce: a session used again, unchanged, is not decrypted and
// decoded again (the decoded record and the verified cookie are kept), on a
// store that can match a value in place (memory) and on one that cannot.
func TestLoadDecodesOnce(t *testing.T) {
	tests := []struct {
		name      string
		wrap      func(store.Store) store.Store
		maxAllocs float64
	}{
		{"memory store", nil, 1}, // the returned copy
		{"store without Matcher", func(s store.Store) store.Store { return laxStore{s} }, 2}, // and Get's copy
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvOn(t, testConfig(), appURL(), tt.wrap)
			c := e.cookie(e.newSession(t, "alice", "sid"))
			ctx := t.Context()
			if _, err := e.m.Load(ctx, c); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(20, func() {
				if _, err := e.m.Load(ctx, c); err != nil {
					t.Fatal(err)
				}
			}); n > tt.maxAllocs {
				t.Errorf("Load of an unchanged session: %v allocations, want at most %v (decoded again?)", n, tt.maxAllocs)
			}
		})
	}
}

// TestLoadSeesOtherWriters: what another Manager (another replica) does to a
// session on the shared store shows in this Manager's very next Load,
// although it holds the session decoded: a refresh's new token, a logout, a
// back-channel logout, a session evicted over the index limit.
func TestLoadSeesOtherWriters(t *testing.T) {
	tests := []struct {
		name      string
		change    func(ctx context.Context, b *Manager, s *Session) error
		wantToken string // "" for ErrNoSession
	}{
		{"refresh", func(ctx context.Context, b *Manager, s *Session) error {
			s.AccessToken = "at-refreshed"
			return b.Save(ctx, s)
		}, "at-refreshed"},
		{"logout", func(ctx context.Context, b *Manager, s *Session) error {
			return b.Delete(ctx, s.ID)
		}, ""},
		{"back-channel logout by sid", func(ctx context.Context, b *Manager, s *Session) error {
			_, err := b.DeleteBySID(ctx, s.SID)
			return err
		}, ""},
		{"back-channel logout by subject", func(ctx context.Context, b *Manager, s *Session) error {
			_, err := b.DeleteBySubject(ctx, s.Subject)
			return err
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			b, err := NewManager(testConfig(), appURL(), e.st, WithClock(e.clock.Now), WithLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			s := e.newSession(t, "alice", "sid")
			c := e.cookie(s)
			for range 2 { // decoded and kept by both
				if _, err := e.m.Load(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			sb, err := b.Load(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.change(ctx, b, sb); err != nil {
				t.Fatal(err)
			}
			got, err := e.m.Load(ctx, c)
			switch {
			case tt.wantToken == "" && !errors.Is(err, ErrNoSession):
				t.Fatalf("Load after the other replica's %s = %v, %v, want ErrNoSession", tt.name, got, err)
			case tt.wantToken != "" && (err != nil || got.AccessToken != tt.wantToken):
				t.Fatalf("Load after the other replica's %s = %v, %v, want access token %q", tt.name, got, err, tt.wantToken)
			}
		})
	}
}

// TestLoadCopies: a caller changing the session Load returned (a refresh
// does, before Save) changes nothing another request gets.
func TestLoadCopies(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := e.cookie(e.newSession(t, "alice", "sid"))
	s1, err := e.m.Load(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	want := s1.AccessToken
	s1.AccessToken, s1.Subject = "changed", "mallory"
	s2, err := e.m.Load(ctx, c)
	if err != nil || s2.AccessToken != want || s2.Subject != "alice" {
		t.Fatalf("second Load = %+v, %v; want the stored session, not the first caller's changes", s2, err)
	}
}

// TestLoadCachedValueUnderOtherID: with the cache in place, a stored value
// copied under another session's key still does not open (the cache is keyed
// by store key and checks the id; the copy is opened and refused).
func TestLoadCachedValueUnderOtherID(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	alice := e.newSession(t, "alice", "sid-a")
	bob := e.newSession(t, "bob", "sid-b")
	if _, err := e.m.Load(ctx, e.cookie(alice)); err != nil {
		t.Fatal(err)
	}
	aliceKey := sessionKey(e.m.keys.storeDigest(alice.ID))
	raw, err := e.st.Get(ctx, aliceKey)
	if err != nil {
		t.Fatal(err)
	}
	bobKey := sessionKey(e.m.keys.storeDigest(bob.ID))
	if err := e.st.Set(ctx, bobKey, raw, e.m.IdleTimeout()); err != nil {
		t.Fatal(err)
	}
	// Bob's key now holds alice's value, and the cache holds alice's record
	// for it under alice's key.
	if s, err := e.m.Load(ctx, e.cookie(bob)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Load of bob's cookie with alice's value = %+v, %v, want ErrNoSession", s, err)
	}
}
