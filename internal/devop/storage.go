package devop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage is a compact in-memory op.Storage: one confidential (or public)
// client, one user, RS256 signing keys that can be rotated.
type storage struct {
	mu sync.Mutex

	client *client
	user   User

	accessTTL  time.Duration
	refreshTTL time.Duration

	authRequests  map[string]*authRequest
	codes         map[string]string // code -> auth request id
	accessTokens  map[string]*token // id -> token
	refreshTokens map[string]*token // refresh token value -> token

	keys []*signingKey // keys[0] signs; all are published

	idSeq int
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is the published half of a signingKey.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }

type token struct {
	id           string
	refresh      string
	subject      string
	audience     []string
	scopes       []string
	expiration   time.Time
	authTime     time.Time
	amr          []string
	refreshUntil time.Time
}

func newSigningKey(id string) (*signingKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	return &signingKey{id: id, key: k}, nil
}

func (s *storage) newID(prefix string) string {
	s.idSeq++
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%x", prefix, s.idSeq, b)
}

// authRequest implements op.AuthRequest.
type authRequest struct {
	id        string
	clientID  string
	redirect  string
	state     string
	nonce     string
	scopes    []string
	respType  oidc.ResponseType
	respMode  oidc.ResponseMode
	challenge *oidc.CodeChallenge
	userID    string
	authTime  time.Time
	done      bool
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirect }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.respType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.respMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.userID }
func (a *authRequest) Done() bool                            { return a.done }

// refreshRequest implements op.RefreshTokenRequest.
type refreshRequest struct {
	t        *token
	clientID string
}

func (r *refreshRequest) GetAMR() []string                 { return r.t.amr }
func (r *refreshRequest) GetAudience() []string            { return r.t.audience }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.t.authTime }
func (r *refreshRequest) GetClientID() string              { return r.clientID }
func (r *refreshRequest) GetScopes() []string              { return r.t.scopes }
func (r *refreshRequest) GetSubject() string               { return r.t.subject }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.t.scopes = scopes }

var _ op.Storage = (*storage)(nil)

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(r.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired()
	}
	a := &authRequest{
		id: s.newID("ar"), clientID: r.ClientID, redirect: r.RedirectURI, state: r.State, nonce: r.Nonce,
		scopes: r.Scopes, respType: r.ResponseType, respMode: r.ResponseMode, userID: userID,
	}
	if r.CodeChallenge != "" {
		a.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.authRequests[a.id] = a
	return a, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authRequests[id]
	if !ok {
		return nil, errors.New("auth request not found")
	}
	return a, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("code invalid or expired")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.authRequests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

// checkLogin marks an auth request as authenticated by the test user.
func (s *storage) checkLogin(id, username, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authRequests[id]
	if !ok {
		return errors.New("auth request not found")
	}
	if username != s.user.Username || password != s.user.Password {
		return errors.New("wrong username or password")
	}
	a.userID, a.authTime, a.done = s.user.Subject, time.Now(), true
	return nil
}

func (s *storage) newAccessToken(subject string, audience, scopes []string, authTime time.Time, amr []string) *token {
	t := &token{
		id: s.newID("at"), subject: subject, audience: audience, scopes: scopes,
		expiration: time.Now().Add(s.accessTTL), authTime: authTime, amr: amr,
	}
	s.accessTokens[t.id] = t
	return t
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newAccessToken(r.GetSubject(), r.GetAudience(), r.GetScopes(), time.Now(), nil)
	return t.id, t.expiration, nil
}

// CreateAccessAndRefreshTokens issues an access token and a refresh token;
// with currentRefreshToken set it rotates: the old refresh token is spent.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var authTime time.Time
	var amr []string
	switch req := r.(type) {
	case *authRequest:
		authTime, amr = req.authTime, req.GetAMR()
	case *refreshRequest:
		authTime, amr = req.t.authTime, req.t.amr
	}
	if current != "" {
		old, ok := s.refreshTokens[current]
		if !ok || time.Now().After(old.refreshUntil) {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token spent or expired")
		}
		delete(s.refreshTokens, current)
		delete(s.accessTokens, old.id)
	}
	t := s.newAccessToken(r.GetSubject(), r.GetAudience(), r.GetScopes(), authTime, amr)
	t.refresh = s.newID("rt")
	t.refreshUntil = time.Now().Add(s.refreshTTL)
	s.refreshTokens[t.refresh] = t
	return t.id, t.refresh, t.expiration, nil
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, rt string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refreshTokens[rt]
	if !ok || time.Now().After(t.refreshUntil) {
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	cp := *t
	return &refreshRequest{t: &cp, clientID: s.client.id}, nil
}

func (s *storage) TerminateSession(_ context.Context, userID, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.refreshTokens {
		if t.subject == userID {
			delete(s.refreshTokens, k)
		}
	}
	for k, t := range s.accessTokens {
		if t.subject == userID {
			delete(s.accessTokens, k)
		}
	}
	return nil
}

func (s *storage) RevokeToken(_ context.Context, tokenOrID, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.refreshTokens[tokenOrID]; ok {
		delete(s.refreshTokens, tokenOrID)
		delete(s.accessTokens, t.id)
		return nil
	}
	delete(s.accessTokens, tokenOrID)
	return nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, rt string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refreshTokens[rt]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.subject, rt, nil
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[0], nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]op.Key, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, publicKey{k})
	}
	return out, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != s.client.id {
		return nil, errors.New("client not found")
	}
	cp := *s.client
	return &cp, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != s.client.id || s.client.secret == "" || secret != s.client.secret {
		return errors.New("invalid client credentials")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest puts the user's claims into the ID token.
func (s *storage) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	s.setUserinfo(ui, r.GetSubject(), scopes)
	return nil
}

func (s *storage) setUserinfo(ui *oidc.UserInfo, subject string, scopes []string) {
	u := s.user
	if subject != u.Subject {
		return
	}
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeOpenID:
			ui.Subject = u.Subject
		case oidc.ScopeEmail:
			ui.Email, ui.EmailVerified = u.Email, true
		case oidc.ScopeProfile:
			ui.Name, ui.PreferredUsername = u.Name, u.Username
		}
	}
}

func (s *storage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.accessTokens[tokenID]
	if !ok || time.Now().After(t.expiration) {
		return errors.New("token invalid or expired")
	}
	s.setUserinfo(ui, t.subject, t.scopes)
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, ir *oidc.IntrospectionResponse, tokenID, _, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.accessTokens[tokenID]
	if !ok || time.Now().After(t.expiration) {
		return errors.New("token invalid or expired")
	}
	ir.Active, ir.Subject, ir.Scope, ir.Expiration = true, t.subject, t.scopes, oidc.FromTime(t.expiration)
	return nil
}

// GetPrivateClaimsFromScopes adds the user's name and email to JWT access
// tokens, as Keycloak does by default, so that a service knows its caller
// from the token alone. (The op package strips the userinfo scopes —
// profile, email — before it calls this, so they cannot select the claims.)
func (s *storage) GetPrivateClaimsFromScopes(_ context.Context, userID, _ string, _ []string) (map[string]any, error) {
	u := s.user
	if userID != u.Subject {
		return nil, nil
	}
	return map[string]any{
		"name": u.Name, "preferred_username": u.Username,
		"email": u.Email, "email_verified": true,
	}, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("jwt profile is not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("jwt profile is not supported")
}

func (s *storage) Health(context.Context) error { return nil }
