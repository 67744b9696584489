package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is a scriptable issuer for negative tests: discovery, a JWKS and a
// token endpoint whose answers the test controls, and helpers to sign
// tokens — including the malformed and malicious ones a hostile IdP or an
// attacker would present. Use Start for the happy paths against a real OP.
type Issuer struct {
	// URL is the issuer identifier (the server's base URL).
	URL string
	// Server is the underlying test server.
	Server *httptest.Server
	// Key signs tokens by default; KID is its key id in the JWKS.
	Key *rsa.PrivateKey
	KID string
	// ClientID is the audience Claims uses.
	ClientID string

	mu           sync.Mutex
	jwks         []byte
	cacheControl string
	jwksFetches  int
	meta         map[string]any
	token        func(form url.Values) (int, any)
	tokenCalls   int
}

// NewIssuer starts an Issuer for client "gatehouse" with one RSA key.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generating key: %v", err)
	}
	i := &Issuer{Key: key, KID: "k1", ClientID: "gatehouse"}
	i.Server = httptest.NewServer(http.HandlerFunc(i.serve))
	t.Cleanup(i.Server.Close)
	i.URL = i.Server.URL
	i.jwks = JWKS(map[string]*rsa.PublicKey{i.KID: &key.PublicKey})
	i.meta = map[string]any{
		"issuer":                 i.URL,
		"authorization_endpoint": i.URL + "/authorize",
		"token_endpoint":         i.URL + "/token",
		"jwks_uri":               i.URL + "/jwks",
		"revocation_endpoint":    i.URL + "/revoke",
		"end_session_endpoint":   i.URL + "/logout",
	}
	return i
}

func (i *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	defer i.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(i.meta)
	case "/jwks":
		i.jwksFetches++
		if i.cacheControl != "" {
			w.Header().Set("Cache-Control", i.cacheControl)
		}
		_, _ = w.Write(i.jwks)
	case "/token":
		i.tokenCalls++
		if err := r.ParseForm(); err != nil || i.token == nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
			return
		}
		status, body := i.token(r.PostForm)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	case "/revoke":
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

// SetMetadata sets (or, with nil, deletes) a discovery document field.
func (i *Issuer) SetMetadata(name string, v any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if v == nil {
		delete(i.meta, name)
		return
	}
	i.meta[name] = v
}

// SetJWKS replaces the JWKS body and its Cache-Control header.
func (i *Issuer) SetJWKS(body []byte, cacheControl string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwks, i.cacheControl = body, cacheControl
}

// JWKSFetches counts requests to the JWKS.
func (i *Issuer) JWKSFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksFetches
}

// TokenCalls counts requests to the token endpoint.
func (i *Issuer) TokenCalls() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.tokenCalls
}

// SetTokenHandler sets the token endpoint's answer: status and a JSON body.
func (i *Issuer) SetTokenHandler(h func(form url.Values) (status int, body any)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.token = h
}

// Claims returns valid ID-token claims for the client, issued now.
func (i *Issuer) Claims(nonce string) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": i.URL, "sub": "user-1", "aud": i.ClientID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"email": "user@example.test",
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	return c
}

// Sign signs claims with RS256 under Key and KID.
func (i *Issuer) Sign(claims jwt.MapClaims) string {
	return SignWith(jwt.SigningMethodRS256, i.Key, i.KID, claims)
}

// SignWith signs claims with any method and key; kid "" omits the header.
// It panics on a signing error (a broken test).
func SignWith(method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t := jwt.NewWithClaims(method, claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		panic("oidctest: signing: " + err.Error())
	}
	return s
}

// JWKS returns a JWK Set holding the given RSA public keys (use sig, alg RS256).
func JWKS(keys map[string]*rsa.PublicKey) []byte {
	set := struct {
		Keys []map[string]string `json:"keys"`
	}{}
	for kid, k := range keys {
		set.Keys = append(set.Keys, RSAJWK(kid, k))
	}
	b, _ := json.Marshal(set)
	return b
}

// RSAJWK returns the JWK members of an RSA public key.
func RSAJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
	}
}
