package session

import (
	"encoding/hex"
	"testing"
	"time"
)

// sealedBeforeSealPackage is a session record as the store held it before
// sessions were sealed by internal/seal (sealed by the session package's own
// AES-GCM code under testSecret for the id "golden-session-id"). Sessions in
// Redis outlive an upgrade: this value must keep opening.
const sealedBeforeSealPackage = "01e78a7c19b3a684aded52b5e4a011795d73d6c45f6e2fcf23a112a9cba543966bc3ea9086084ca2ae035579848c68989e04832a956b0fcff59c565c1ac3ee98e979881e58b190f4105c3fc64f832d1dae7d4b08398a58daa6d5262b2df779b9"

func TestOpenSessionSealedByOlderRelease(t *testing.T) {
	e := newEnv(t)
	value, err := hex.DecodeString(sealedBeforeSealPackage)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.m.open("golden-session-id", value)
	if err != nil {
		t.Fatalf("open(older value) = %v, want the session", err)
	}
	want := &Session{
		ID: "golden-session-id", Subject: "alice", SID: "sid-1", Claims: map[string]any{"name": "Alice"},
		IDToken: "idt", AccessToken: "at", RefreshToken: "rt",
		AccessExpiresAt: time.Unix(1800000000, 0).UTC(),
		CreatedAt:       time.Unix(1700000000, 0).UTC(),
		LastSeenAt:      time.Unix(1700000100, 0).UTC(),
	}
	if diff := sessionDiff(want, got); diff != "" {
		t.Errorf("open(older value) %s", diff)
	}
	if _, err := e.m.open("another-session-id", value); err == nil {
		t.Error("open(older value) under another id = nil error, want one")
	}
}
