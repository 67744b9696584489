package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
)

// TestRefreshExpiryEarlierWins: the access token's expiry is the earlier of
// expires_in and the JWT's own exp; a refresh without a new refresh token
// keeps the old one; invalid_grant is reported as ErrInvalidGrant.
func TestRefreshExpiryEarlierWins(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewIssuer(t)
	p := readyProvider(t, iss, nil)
	jwtExp := time.Now().Add(2 * time.Minute).Truncate(time.Second)
	access := iss.Sign(jwt.MapClaims{"sub": "user-1", "exp": jwtExp.Unix()})
	tests := []struct {
		name      string
		expiresIn int
		access    string
		want      time.Time
		wantRT    string
	}{
		{"jwt exp earlier", 3600, access, jwtExp, "rt-new"},
		{"expires_in earlier", 30, access, time.Now().Add(30 * time.Second), "rt-new"},
		{"opaque token", 600, "opaque", time.Now().Add(10 * time.Minute), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss.SetTokenHandler(func(form url.Values) (int, any) {
				if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != "rt-old" {
					return http.StatusBadRequest, map[string]string{"error": "invalid_request"}
				}
				body := map[string]any{"access_token": tt.access, "token_type": "Bearer", "expires_in": tt.expiresIn}
				if tt.wantRT != "" {
					body["refresh_token"] = tt.wantRT
				}
				return http.StatusOK, body
			})
			toks, err := p.Refresh(context.Background(), "rt-old", "user-1")
			if err != nil {
				t.Fatal(err)
			}
			if d := toks.Expiry.Sub(tt.want); d < -5*time.Second || d > 5*time.Second {
				t.Errorf("Refresh() expiry = %v, want about %v", toks.Expiry, tt.want)
			}
			wantRT := tt.wantRT
			if wantRT == "" {
				wantRT = "rt-old"
			}
			if toks.RefreshToken != wantRT {
				t.Errorf("Refresh() refresh token = %q, want %q", toks.RefreshToken, wantRT)
			}
		})
	}
	t.Run("invalid_grant", func(t *testing.T) {
		iss.SetTokenHandler(func(url.Values) (int, any) {
			return http.StatusBadRequest, map[string]string{"error": "invalid_grant"}
		})
		if _, err := p.Refresh(context.Background(), "rt-old", "user-1"); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("Refresh() error = %v, want ErrInvalidGrant", err)
		}
	})
	t.Run("id token with another sub", func(t *testing.T) {
		iss.SetTokenHandler(func(url.Values) (int, any) {
			c := iss.Claims("")
			c["sub"] = "someone-else"
			return http.StatusOK, map[string]any{"access_token": "a", "token_type": "Bearer", "expires_in": 60, "id_token": iss.Sign(c)}
		})
		if _, err := p.Refresh(context.Background(), "rt-old", "user-1"); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Refresh() with a changed sub error = %v, want ErrInvalidToken", err)
		}
	})
}
