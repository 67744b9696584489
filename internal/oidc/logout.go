package oidc

import (
	"context"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// BackChannelLogoutEvent is the events member a logout token must carry
// (OpenID Connect Back-Channel Logout 1.0 §2.4).
const BackChannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutToken is a validated back-channel logout token.
type LogoutToken struct {
	// Subject and SID say which sessions end; at least one is set.
	Subject, SID string
	// JTI is the token's id, which the caller keeps single-use until Expiry.
	JTI string
	// Expiry is the token's exp.
	Expiry jwt.NumericDate
}

// VerifyLogoutToken validates a logout token as Back-Channel Logout 1.0
// §2.6 asks: signature under the allowlist by a JWKS key, iss, aud
// containing client_id, iat and exp present (with leeway), a jti, sub or
// sid, an events claim holding the back-channel-logout member as a JSON
// object, and no nonce (so an ID token can never pass as a logout token). A
// typ header, when present, must be "logout+jwt" or "JWT".
func (p *Provider) VerifyLogoutToken(ctx context.Context, raw string) (*LogoutToken, error) {
	s, err := p.state()
	if err != nil {
		return nil, err
	}
	claims := Claims{}
	tok, err := s.parser.idToken.ParseWithClaims(raw, claims, s.keys.Keyfunc(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if typ, ok := tok.Header["typ"].(string); ok && !strings.EqualFold(typ, "logout+jwt") && !strings.EqualFold(typ, "JWT") {
		return nil, fmt.Errorf("%w: logout token typ %q", ErrInvalidToken, typ)
	}
	if _, ok := claims["iat"]; !ok {
		return nil, fmt.Errorf("%w: iat missing", ErrInvalidToken)
	}
	if _, ok := claims["nonce"]; ok {
		return nil, fmt.Errorf("%w: logout token carries a nonce", ErrInvalidToken)
	}
	events, _ := claims["events"].(map[string]any)
	if _, ok := events[BackChannelLogoutEvent].(map[string]any); !ok {
		return nil, fmt.Errorf("%w: events claim lacks the back-channel logout event", ErrInvalidToken)
	}
	lt := &LogoutToken{}
	lt.Subject, _ = claims["sub"].(string)
	lt.SID, _ = claims["sid"].(string)
	lt.JTI, _ = claims["jti"].(string)
	if lt.JTI == "" {
		return nil, fmt.Errorf("%w: jti missing", ErrInvalidToken)
	}
	if lt.Subject == "" && lt.SID == "" {
		return nil, fmt.Errorf("%w: neither sub nor sid", ErrInvalidToken)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, fmt.Errorf("%w: exp missing", ErrInvalidToken)
	}
	lt.Expiry = *exp
	if azp, ok := claims["azp"]; ok && azp != p.cfg.ClientID {
		return nil, fmt.Errorf("%w: azp is not the client", ErrInvalidToken)
	}
	return lt, nil
}
