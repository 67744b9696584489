package oidc

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// TestNewRefusesOwnedAuthParams: the flow's own authorization parameters
// and client credentials cannot come in through AuthParams, in any case.
func TestNewRefusesOwnedAuthParams(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
		"code_challenge_method", "response_mode", "request", "request_uri",
		"client_secret", "client_assertion", "client_assertion_type", "State", "REDIRECT_URI",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{Issuer: "https://idp.example", ClientID: "c", AllowedAlgorithms: testAlgs, AuthParams: map[string]string{"audience": "a", name: "x"}})
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("New with AuthParams %q = %v, want an error naming it", name, err)
			}
		})
	}
	if _, err := New(Config{Issuer: "https://idp.example", ClientID: "c", AllowedAlgorithms: testAlgs, AuthParams: map[string]string{"audience": "a", "prompt": "consent"}}); err != nil {
		t.Errorf("New with audience and prompt = %v, want nil", err)
	}
}

// TestAuthCodeURLParams: AuthParams are added once each, encoded, beside
// the flow's parameters and any query the IdP's authorization endpoint has
// itself (Entra External ID and Azure AD B2C name their policy so); a
// change to the caller's map after New changes nothing.
func TestAuthCodeURLParams(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	iss.SetMetadata("authorization_endpoint", iss.URL+"/authorize?p=B2C_1_signin")
	params := map[string]string{"audience": "https://api.example.com/?a=1&b=2", "access_type": "offline"}
	p := readyProvider(t, iss, func(c *Config) { c.AuthParams = params })
	params["prompt"] = "none"
	raw, err := p.AuthCodeURL("st", "no", strings.Repeat("v", 43))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for name, want := range map[string]string{
		"p": "B2C_1_signin", "audience": "https://api.example.com/?a=1&b=2", "access_type": "offline",
		"state": "st", "nonce": "no", "response_type": "code", "client_id": iss.ClientID, "code_challenge_method": "S256",
	} {
		if got := q[name]; len(got) != 1 || got[0] != want {
			t.Errorf("AuthCodeURL() %s = %q, want [%q]", name, got, want)
		}
	}
	if q.Has("prompt") {
		t.Errorf("AuthCodeURL() has prompt %q, added to the caller's map after New", q.Get("prompt"))
	}
}
