package auth

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
)

// endedLog is a SessionObserver that records what it is told.
type endedLog struct {
	mu   sync.Mutex
	seen []SessionEnd
}

func (l *endedLog) SessionsEnded(e SessionEnd) {
	l.mu.Lock()
	l.seen = append(l.seen, e)
	l.mu.Unlock()
}

func (l *endedLog) all() []SessionEnd {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

// TestSessionObserverTold: logout and back-channel logout tell the
// observer which sessions ended (the server closes their WebSockets); a
// refused logout tells it nothing.
func TestSessionObserverTold(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	log := &endedLog{}
	h.auth.ended = log

	// A refused back-channel token ends nothing.
	if r := postLogoutToken(t, h, "not-a-token"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad logout token = %d", r.StatusCode)
	}
	// Back-channel logout by sid, then by subject.
	loginWithSID(t, iss, h, "idp-session-1")
	if r := postLogoutToken(t, h, iss.Sign(logoutClaims(iss, "jti-o1"))); r.StatusCode != http.StatusOK {
		t.Fatalf("back-channel logout = %d", r.StatusCode)
	}
	c := logoutClaims(iss, "jti-o2")
	delete(c, "sid")
	c["sub"] = "user-1"
	if r := postLogoutToken(t, h, iss.Sign(c)); r.StatusCode != http.StatusOK {
		t.Fatalf("back-channel logout by sub = %d", r.StatusCode)
	}
	// The browser's logout.
	h.client.Jar = newJar()
	cookie := loginWithSID(t, iss, h, "idp-session-2")
	s, err := h.sessions.Load(context.Background(), cookie)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.do(http.MethodPost, PathLogout, nil, "X-CSRF", "1"); r.StatusCode != http.StatusOK {
		t.Fatalf("logout = %d %s", r.StatusCode, readBody(t, r))
	}
	want := []SessionEnd{{SID: "idp-session-1"}, {Subject: "user-1"}, {ID: s.ID}}
	if got := log.all(); !slices.Equal(got, want) {
		t.Errorf("observer told %+v, want %+v", got, want)
	}
}
