package session

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// The plaintext of a stored session is a compact binary record (smaller and
// cheaper to read than JSON with field names, which matters at 100 000
// sessions and on every request):
//
//	version byte (codecVersion)
//	6 × (uvarint length, bytes): Subject, SID, IDToken, AccessToken,
//	                             RefreshToken, Claims as JSON ("" when nil,
//	                             claimsFromIDToken when they are exactly
//	                             the ID token's payload, as they usually are:
//	                             that saves storing them twice)
//	3 × varint Unix nanoseconds: AccessExpiresAt, CreatedAt, LastSeenAt
//	                             (0 for the zero time)
//
// The ID is not part of it: it is the value's name and its additional data.
const codecVersion = 1

// claimsFromIDToken is the claims field meaning "the ID token's payload"; no
// JSON text starts with a NUL byte.
const claimsFromIDToken = "\x00"

// maxField bounds one decoded field; values are authenticated, so this only
// guards against a bug writing nonsense.
const maxField = 1 << 20

var errCodec = errors.New("session: malformed stored session")

// encode serialises s without its ID.
func encode(s *Session) ([]byte, error) {
	var claims []byte
	if s.Claims != nil {
		if c, err := idTokenClaims(s.IDToken); err == nil && reflect.DeepEqual(c, s.Claims) {
			claims = []byte(claimsFromIDToken)
		} else if claims, err = json.Marshal(s.Claims); err != nil {
			return nil, fmt.Errorf("session: encoding claims: %w", err)
		}
	}
	n := 1 + len(s.Subject) + len(s.SID) + len(s.IDToken) + len(s.AccessToken) +
		len(s.RefreshToken) + len(claims) + 6*binary.MaxVarintLen32 + 3*binary.MaxVarintLen64
	b := make([]byte, 1, n)
	b[0] = codecVersion
	for _, f := range [...]string{s.Subject, s.SID, s.IDToken, s.AccessToken, s.RefreshToken} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(len(claims)))
	b = append(b, claims...)
	for _, t := range [...]time.Time{s.AccessExpiresAt, s.CreatedAt, s.LastSeenAt} {
		b = binary.AppendVarint(b, unixNano(t))
	}
	return b, nil
}

// decode parses what encode wrote. The string fields share one copy of b.
// Claims come from cc when it has them decoded already (nil cc: always decode).
func decode(b []byte, cc *claimsCache) (*Session, error) {
	if len(b) < 1 || b[0] != codecVersion {
		return nil, errCodec
	}
	all := string(b) // one allocation for every string field
	off := 1
	var s Session
	var claims string
	for _, f := range [...]*string{&s.Subject, &s.SID, &s.IDToken, &s.AccessToken, &s.RefreshToken, &claims} {
		n, k := binary.Uvarint(b[off:])
		if k <= 0 || n > maxField || n > uint64(len(b)-off-k) {
			return nil, errCodec
		}
		start, end := off+k, off+k+int(n)
		off = end
		*f = all[start:end]
	}
	b = b[off:]
	for _, t := range [...]*time.Time{&s.AccessExpiresAt, &s.CreatedAt, &s.LastSeenAt} {
		v, k := binary.Varint(b)
		if k <= 0 {
			return nil, errCodec
		}
		b = b[k:]
		if v != 0 {
			*t = time.Unix(0, v)
		}
	}
	if len(b) != 0 {
		return nil, errCodec
	}
	var err error
	switch {
	case claims == claimsFromIDToken:
		s.Claims, err = cachedClaims(cc, s.IDToken, idTokenClaims)
	case len(claims) > 0:
		s.Claims, err = cachedClaims(cc, claims, jsonClaims)
	}
	if err != nil || (len(claims) > 0 && s.Claims == nil) {
		return nil, errCodec
	}
	return &s, nil
}

// cachedClaims decodes src with parse, through cc when there is one.
func cachedClaims(cc *claimsCache, src string, parse func(string) (map[string]any, error)) (map[string]any, error) {
	if cc == nil {
		return parse(src)
	}
	return cc.get(src, parse)
}

// jsonClaims decodes stored claims JSON.
func jsonClaims(src string) (map[string]any, error) {
	var c map[string]any
	if err := json.Unmarshal([]byte(src), &c); err != nil {
		return nil, err
	}
	return c, nil
}

// idTokenClaims decodes the payload of a JWT in compact form, without
// verifying anything: it is only used to avoid storing the claims of an ID
// token that was verified at login and is stored sealed.
func idTokenClaims(tok string) (map[string]any, error) {
	_, rest, ok1 := strings.Cut(tok, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return nil, errCodec
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, errCodec
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil || c == nil {
		return nil, errCodec
	}
	return c, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
