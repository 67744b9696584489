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
//	                             RefreshToken (each token packed, see
//	                             packToken), Claims as JSON ("" when nil,
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
	for _, f := range [...]string{s.Subject, s.SID} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	var packed []byte
	for _, tok := range [...]string{s.IDToken, s.AccessToken, s.RefreshToken} {
		packed = packToken(packed[:0], tok)
		b = binary.AppendUvarint(b, uint64(len(packed)))
		b = append(b, packed...)
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
		if f == &s.IDToken || f == &s.AccessToken || f == &s.RefreshToken {
			tok, err := unpackToken(b[start:end], *f)
			if err != nil {
				return nil, errCodec
			}
			*f = tok
		}
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

// Tokens are stored packed: a compact JWT (three base64url segments, as most
// IdPs issue access and ID tokens) as its decoded bytes, a quarter smaller
// than its text, which matters at 100 000 sessions. Any other token is kept
// as it is. The first byte tells which:
//
//	tagJWT:  uvarint length + bytes, three times (header, payload, signature)
//	tagRaw:  the token follows as it is (used when it could be read as a tag)
//	other:   the token as it is (a printable token never starts with a tag)
const (
	tagJWT byte = 1
	tagRaw byte = 2
)

// packToken appends tok's stored form to dst.
func packToken(dst []byte, tok string) []byte {
	if segs := strings.Split(tok, "."); len(segs) == 3 {
		start := len(dst)
		dst = append(dst, tagJWT)
		ok := true
		for _, seg := range segs {
			raw, err := base64.RawURLEncoding.DecodeString(seg)
			// Only a canonical encoding unpacks to the very same text.
			if err != nil || base64.RawURLEncoding.EncodeToString(raw) != seg {
				ok = false
				break
			}
			dst = binary.AppendUvarint(dst, uint64(len(raw)))
			dst = append(dst, raw...)
		}
		if ok {
			return dst
		}
		dst = dst[:start]
	}
	if len(tok) > 0 && (tok[0] == tagJWT || tok[0] == tagRaw) {
		dst = append(dst, tagRaw)
	}
	return append(dst, tok...)
}

// unpackToken returns the token packToken stored as p; text is p as a
// string, returned (without a copy) when the token was stored as it is.
func unpackToken(p []byte, text string) (string, error) {
	if len(p) == 0 {
		return "", nil
	}
	switch p[0] {
	case tagRaw:
		return text[1:], nil
	case tagJWT:
	default:
		return text, nil
	}
	rest := p[1:]
	var segs [3][]byte
	n := 2 // the dots
	for i := range segs {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) {
			return "", errCodec
		}
		segs[i], rest = rest[k:k+int(l)], rest[k+int(l):]
		n += base64.RawURLEncoding.EncodedLen(len(segs[i]))
	}
	if len(rest) != 0 {
		return "", errCodec
	}
	out := make([]byte, 0, n)
	for i, seg := range segs {
		if i > 0 {
			out = append(out, '.')
		}
		out = base64.RawURLEncoding.AppendEncode(out, seg)
	}
	return string(out), nil
}
