package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken wraps every token validation failure.
var ErrInvalidToken = errors.New("invalid token")

// parsers are the configured golang-jwt parsers; golang-jwt v5 checks exp,
// iat, iss and aud only when asked, so each is asked for explicitly.
type parsers struct {
	idToken *jwt.Parser
	leeway  time.Duration
	algs    []string
	issuer  string
	now     func() time.Time
}

func (p *Provider) newParsers(issuer string) *parsers {
	return &parsers{
		idToken: jwt.NewParser(
			jwt.WithValidMethods(p.cfg.AllowedAlgorithms),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(p.cfg.ClientID),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(p.cfg.Leeway),
			jwt.WithTimeFunc(p.now),
		),
		leeway: p.cfg.Leeway,
		algs:   p.cfg.AllowedAlgorithms,
		issuer: issuer,
		now:    p.now,
	}
}

// accessParser builds the parser for a bearer token whose aud must contain audience.
func (ps *parsers) accessParser(audience string) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods(ps.algs),
		jwt.WithIssuer(ps.issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ps.leeway),
		jwt.WithTimeFunc(ps.now),
	)
}

// Claims are a validated token's claims.
type Claims = jwt.MapClaims

// VerifyIDToken validates an ID token (OpenID Connect Core §3.1.3.7):
// signature by a JWKS key under the allowlist, iss, aud containing client_id,
// azp equal to client_id when present (required with several audiences), exp
// and iat present and within leeway, a sub, and the nonce of the login.
// An empty wantNonce (refresh responses) skips only the nonce check.
func (p *Provider) VerifyIDToken(ctx context.Context, raw, wantNonce string) (Claims, error) {
	s, err := p.state()
	if err != nil {
		return nil, err
	}
	claims := Claims{}
	if _, err := s.parser.idToken.ParseWithClaims(raw, claims, s.keys.Keyfunc(ctx)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := checkCommon(claims, p.cfg.ClientID); err != nil {
		return nil, err
	}
	if wantNonce != "" {
		got, _ := claims["nonce"].(string)
		if subtle.ConstantTimeCompare([]byte(got), []byte(wantNonce)) != 1 {
			return nil, fmt.Errorf("%w: nonce mismatch", ErrInvalidToken)
		}
	}
	return claims, nil
}

// VerifyAccessToken validates a JWT access token presented to a bearer route:
// signature under the allowlist, iss, aud containing audience (the route's, or
// client_id), exp and iat required, nbf honoured, all with leeway, and a
// sub. azp is not checked: in an access token it names the client the token
// was issued to (any API client), not this gateway.
func (p *Provider) VerifyAccessToken(ctx context.Context, raw, audience string) (Claims, error) {
	s, err := p.state()
	if err != nil {
		return nil, err
	}
	if audience == "" {
		audience = p.cfg.ClientID
	}
	claims := Claims{}
	if _, err := s.parser.accessParser(audience).ParseWithClaims(raw, claims, s.keys.Keyfunc(ctx)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := checkCommon(claims, ""); err != nil {
		return nil, err
	}
	// An ID token is not an access token (OpenID Connect Core §2; RFC 9068
	// §4), yet it is signed by the same keys and its aud is client_id. The
	// browser sees ID tokens (id_token_hint in the logout URL), so refuse
	// anything carrying ID-token-only claims.
	for _, c := range []string{"nonce", "at_hash", "c_hash"} {
		if _, ok := claims[c]; ok {
			return nil, fmt.Errorf("%w: an id token is not an access token", ErrInvalidToken)
		}
	}
	return claims, nil
}

// checkCommon applies what golang-jwt does not: iat must be present (WithIssuedAt
// only checks it when present), sub must be a non-empty string, and the azp
// rule. wantAZP == "" skips the azp rule.
func checkCommon(c Claims, wantAZP string) error {
	if _, ok := c["iat"]; !ok {
		return fmt.Errorf("%w: iat missing", ErrInvalidToken)
	}
	if sub, _ := c["sub"].(string); sub == "" {
		return fmt.Errorf("%w: sub missing", ErrInvalidToken)
	}
	if wantAZP == "" {
		return nil
	}
	aud, _ := c.GetAudience()
	azp, hasAZP := c["azp"]
	// Core §3.1.3.7 items 4 and 5: several audiences need an azp, and a present azp must be us.
	if len(aud) > 1 && !hasAZP {
		return fmt.Errorf("%w: several audiences without azp", ErrInvalidToken)
	}
	if hasAZP && azp != wantAZP {
		return fmt.Errorf("%w: azp is not the client", ErrInvalidToken)
	}
	return nil
}
