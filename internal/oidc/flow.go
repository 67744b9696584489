package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
)

// ErrInvalidGrant is returned by Refresh when the IdP refuses the refresh
// token (RFC 6749 §5.2 invalid_grant): the session cannot continue.
var ErrInvalidGrant = errors.New("invalid_grant")

// Tokens are the result of a code exchange or a refresh.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	IDToken      string
	// Expiry is when the access token expires: the earlier of expires_in and,
	// when the access token is a JWT, its exp. Zero when neither is known.
	Expiry time.Time
	// IDClaims are the validated ID token's claims (nil when none came back).
	IDClaims Claims
}

// OwnedAuthParam reports whether name (in any case) is an authorization
// request parameter that Config.AuthParams may not carry: one the flow sets
// itself (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1),
// one that would replace or bypass the flow's (response_mode; request and
// request_uri, RFC 9101), or a client credential, which must never travel
// in a URL the browser sees. Names are compared case-insensitively: no
// IdP needs a "State".
func OwnedAuthParam(name string) bool {
	switch strings.ToLower(name) {
	case "response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
		"code_challenge", "code_challenge_method", "response_mode", "request", "request_uri",
		"client_secret", "client_assertion", "client_assertion_type":
		return true
	}
	return false
}

// AuthCodeURL returns the authorization request URL for an
// authorization-code flow with PKCE S256 (RFC 7636), state and nonce, plus
// Config.AuthParams.
func (p *Provider) AuthCodeURL(state, nonce, verifier string) (string, error) {
	s, err := p.state()
	if err != nil {
		return "", err
	}
	opts := make([]oauth2.AuthCodeOption, 0, len(p.cfg.AuthParams)+3)
	for name, value := range p.cfg.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(name, value))
	}
	// The flow's own parameters come last: a later option replaces an earlier one.
	opts = append(opts, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))
	return s.oauth.AuthCodeURL(state, opts...), nil
}

// Exchange redeems an authorization code with the PKCE verifier, then
// validates the ID token against nonce. A response without an ID token fails.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce string) (*Tokens, error) {
	s, err := p.state()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, p.client), DefaultHTTPTimeout)
	defer cancel()
	tok, err := s.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchanging code: %w", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, fmt.Errorf("%w: token response has no id_token", ErrInvalidToken)
	}
	claims, err := p.VerifyIDToken(ctx, rawID, nonce)
	if err != nil {
		return nil, err
	}
	return p.tokens(tok, rawID, claims), nil
}

// Refresh runs the refresh_token grant. ErrInvalidGrant means the IdP refused
// the refresh token; other errors are transient (IdP down, timeout). A
// returned ID token is validated (no nonce) and must keep the same sub.
func (p *Provider) Refresh(ctx context.Context, refreshToken, subject string) (*Tokens, error) {
	s, err := p.state()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, p.client), DefaultHTTPTimeout)
	defer cancel()
	// A TokenSource over an expired token forces exactly one refresh_token grant.
	tok, err := s.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			return nil, fmt.Errorf("refreshing token: %w", ErrInvalidGrant)
		}
		return nil, fmt.Errorf("refreshing token: %w", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	var claims Claims
	if rawID != "" {
		if claims, err = p.VerifyIDToken(ctx, rawID, ""); err != nil {
			return nil, err
		}
		// Core §12.2: a refreshed ID token's sub must be the original one.
		if sub, _ := claims["sub"].(string); subject != "" && sub != subject {
			return nil, fmt.Errorf("%w: refreshed id_token changed sub", ErrInvalidToken)
		}
	}
	out := p.tokens(tok, rawID, claims)
	if out.RefreshToken == "" {
		out.RefreshToken = refreshToken // no rotation: keep the old one (RFC 6749 §6)
	}
	return out, nil
}

func (p *Provider) tokens(tok *oauth2.Token, rawID string, claims Claims) *Tokens {
	t := &Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: rawID, IDClaims: claims, Expiry: tok.Expiry}
	// A JWT access token's own exp wins when it is earlier. It was issued to
	// us over TLS by the token endpoint; it is read here only for its expiry.
	if exp := unverifiedExp(tok.AccessToken); !exp.IsZero() && (t.Expiry.IsZero() || exp.Before(t.Expiry)) {
		t.Expiry = exp
	}
	return t
}

func unverifiedExp(raw string) time.Time {
	if strings.Count(raw, ".") != 2 {
		return time.Time{}
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
		return time.Time{}
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return time.Time{}
	}
	return exp.Time
}

// CanRevoke reports whether discovery advertised a revocation_endpoint.
func (p *Provider) CanRevoke() bool {
	s, err := p.state()
	return err == nil && s.meta.RevocationEndpoint != ""
}

// Revoke revokes a refresh token at the revocation_endpoint (RFC 7009). It
// is a no-op without one.
func (p *Provider) Revoke(ctx context.Context, refreshToken string) error {
	s, err := p.state()
	if err != nil {
		return err
	}
	if s.meta.RevocationEndpoint == "" || refreshToken == "" {
		return nil
	}
	form := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}
	basic := p.cfg.ClientSecret != "" && p.cfg.ClientAuth != "client_secret_post"
	if !basic {
		form.Set("client_id", p.cfg.ClientID)
		if p.cfg.ClientSecret != "" {
			form.Set("client_secret", p.cfg.ClientSecret)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultHTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.meta.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("building revocation request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		// RFC 6749 §2.3.1: client_id and secret are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(p.cfg.ClientID), url.QueryEscape(p.cfg.ClientSecret))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("revoking token: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxTokenResponseBytes))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revoking token: status %d", resp.StatusCode)
	}
	return nil
}

// EndSessionURL returns the RP-initiated logout URL (OpenID Connect
// RP-Initiated Logout 1.0) with id_token_hint, client_id and
// post_logout_redirect_uri, or "" when discovery advertised no end_session_endpoint.
func (p *Provider) EndSessionURL(idTokenHint, postLogoutRedirect string) string {
	s, err := p.state()
	if err != nil || s.meta.EndSessionEndpoint == "" {
		return ""
	}
	u, err := url.Parse(s.meta.EndSessionEndpoint)
	if err != nil {
		return ""
	}
	q := u.Query()
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	q.Set("client_id", p.cfg.ClientID)
	if postLogoutRedirect != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirect)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
