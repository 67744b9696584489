package config

import (
	"maps"
	"strings"
	"testing"
)

// TestAuthorizeParamsRefused: every parameter gatehouse owns, and every
// client credential, is refused at its key, in any case, and nothing else
// is reported.
func TestAuthorizeParamsRefused(t *testing.T) {
	owned := []string{
		"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
		"code_challenge", "code_challenge_method", "response_mode", "request", "request_uri",
		"client_secret", "client_assertion", "client_assertion_type",
	}
	for _, name := range owned {
		for _, spelled := range []string{name, strings.ToUpper(name)} {
			t.Run(spelled, func(t *testing.T) {
				src := "oidc:\n  issuer: https://idp.example.com\n  client_id: gh\n  authorize_params:\n    audience: api\n    " +
					spelled + ": x\n" + minimal
				_, err := Parse("routes.yaml", []byte(src), WithLookupEnv(env()))
				list, _ := err.(ErrorList)
				want := `"` + spelled + `" is gatehouse's own parameter`
				if len(list) != 1 || !strings.Contains(list[0].Msg, want) || list[0].Line != 6 || list[0].Col != 5 {
					t.Errorf("Parse() error =\n%v\nwant one problem at 6:5 containing %q", err, want)
				}
			})
		}
	}
}

// TestAuthorizeParamsAccepted: the parameters the IdP recipes use load as
// written, and an issuer keeps its trailing slash (Auth0's and authentik's
// end in "/", and discovery must match it exactly).
func TestAuthorizeParamsAccepted(t *testing.T) {
	src := `oidc:
  issuer: "https://tenant.eu.auth0.com/"
  client_id: gh
  authorize_params:
    audience: https://api.example.com
    prompt: "login consent"
    access_type: offline
    resource: https://api.example.com/
    domain_hint: example.com
` + minimal
	cfg, err := Parse("routes.yaml", []byte(src), WithLookupEnv(env()))
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	want := map[string]string{
		"audience": "https://api.example.com", "prompt": "login consent", "access_type": "offline",
		"resource": "https://api.example.com/", "domain_hint": "example.com",
	}
	if got := cfg.OIDC.AuthorizeParams; !maps.Equal(got, want) {
		t.Errorf("AuthorizeParams = %v, want %v", got, want)
	}
	if got, want := cfg.OIDC.Issuer, "https://tenant.eu.auth0.com/"; got != want {
		t.Errorf("Issuer = %q, want %q", got, want)
	}
}
