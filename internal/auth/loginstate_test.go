package auth

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/oidc/oidctest"
	"github.com/gatehouse-dev/gatehouse/internal/seal"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
)

// startBare starts a login from a browser without cookies behind the client
// address addr, and returns the authorize URL's query and the login cookie.
func (h *harness) startBare(addr, returnTo string) (url.Values, *http.Cookie) {
	h.t.Helper()
	r := doWith(h.t, &http.Client{CheckRedirect: h.client.CheckRedirect}, http.MethodGet,
		h.url+PathLogin+"?returnTo="+url.QueryEscape(returnTo), nil, "X-Test-Client-IP", addr)
	if r.StatusCode != http.StatusFound {
		h.t.Fatalf("GET /auth/login = %d %s, want 302", r.StatusCode, readBody(h.t, r))
	}
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, loginCookiePrefix) {
			return u.Query(), c
		}
	}
	h.t.Fatalf("GET /auth/login set no login cookie: %v", r.Header.Values("Set-Cookie"))
	return nil, nil
}

// callbackBare answers the login of q at the callback with code, sending
// only cookie (none when nil).
func (h *harness) callbackBare(q url.Values, code string, cookie *http.Cookie) *http.Response {
	h.t.Helper()
	v := url.Values{"code": {code}, "state": {q.Get("state")}}
	var headers []string
	if cookie != nil {
		headers = []string{"Cookie", cookie.Name + "=" + cookie.Value}
	}
	return doWith(h.t, &http.Client{CheckRedirect: h.client.CheckRedirect}, http.MethodGet,
		h.url+PathCallback+"?"+v.Encode(), nil, headers...)
}

// laxTokenEndpoint makes iss redeem "the-code" for any login, as often as
// asked (a real OP redeems a code once; this one lets the gateway's own
// single-use rule be seen), issuing an ID token with the nonce of q.
func laxTokenEndpoint(iss *oidctest.Issuer, nonce func() string) {
	iss.SetTokenHandler(func(form url.Values) (int, any) {
		if form.Get("code") != "the-code" || form.Get("code_verifier") == "" {
			return http.StatusBadRequest, map[string]string{"error": "invalid_grant"}
		}
		return http.StatusOK, map[string]any{
			"access_token": "at-1", "token_type": "Bearer", "expires_in": 300,
			"refresh_token": "rt-1", "id_token": iss.Sign(iss.Claims(nonce())),
		}
	})
}

// TestManyLoginsFromOneAddress: 120 logins started from one client address
// (an office behind NAT at 9:00) all succeed, and starting them stores nothing.
func TestManyLoginsFromOneAddress(t *testing.T) {
	t.Parallel()
	_, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	states := make(map[string]bool)
	for i := range 120 {
		q, ck := h.startBare("198.51.100.7", "/secret-path")
		state := q.Get("state")
		if states[state] {
			t.Fatalf("login #%d reused state %q", i+1, state)
		}
		states[state] = true
		sealed, err := base64.RawURLEncoding.DecodeString(ck.Value)
		if err != nil {
			t.Fatalf("login cookie is not base64url: %v", err)
		}
		for _, plain := range []string{q.Get("nonce"), "secret-path", state} {
			if strings.Contains(ck.Value, plain) || strings.Contains(string(sealed), plain) {
				t.Fatalf("login cookie holds %q in clear", plain)
			}
		}
	}
	if n := h.storeLen(); n != 0 {
		t.Errorf("store keys after 120 login starts = %d, want 0", n)
	}
}

// TestLoginCookie: the login cookie's attributes, and its size with the
// longest returnTo kept.
func TestLoginCookie(t *testing.T) {
	t.Parallel()
	_, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	longest := "/" + strings.Repeat("a", maxReturnTo-1)
	for _, tt := range []struct{ name, returnTo string }{{"root", "/"}, {"longest returnTo", longest}} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(http.MethodGet, PathLogin+"?returnTo="+url.QueryEscape(tt.returnTo), nil)
			var header string
			for _, v := range r.Header.Values("Set-Cookie") {
				if strings.HasPrefix(v, loginCookiePrefix) {
					header = v
				}
			}
			ck := r.Cookies()[0]
			if header == "" || len(r.Cookies()) != 1 || !strings.HasPrefix(ck.Name, loginCookiePrefix) {
				t.Fatalf("GET /auth/login set %v, want one login cookie", r.Header.Values("Set-Cookie"))
			}
			if !ck.HttpOnly || ck.Path != PathCallback || ck.SameSite != http.SameSiteLaxMode ||
				ck.MaxAge != int(loginTTL/time.Second) || ck.Secure {
				t.Errorf("login cookie = %+v, want HttpOnly, Path=%s, SameSite=Lax, Max-Age=%d, not Secure over http",
					ck, PathCallback, int(loginTTL/time.Second))
			}
			if len(header) >= 1024 {
				t.Errorf("Set-Cookie for the login cookie is %d bytes, want < 1024", len(header))
			}
			t.Logf("returnTo of %d bytes: Set-Cookie %d bytes, value %d", len(tt.returnTo), len(header), len(ck.Value))
		})
	}
	t.Run("longest returnTo comes back", func(t *testing.T) {
		iss := oidctest.NewIssuer(t)
		h := newHarness(t, harnessOpts{issuer: iss.URL, clientSecret: "s"})
		h.waitReady()
		r := callbackFor(t, iss, h, longest, nil, func(n string) string { return iss.Sign(iss.Claims(n)) })
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != longest {
			t.Errorf("callback = %d to %d bytes, want 302 to the %d-byte returnTo", r.StatusCode, len(r.Header.Get("Location")), len(longest))
		}
	})
}

// TestCallbackRefusesLoginCookie: a callback whose login cookie is missing,
// altered, expired, from another login, gateway or secret gets 400 before
// the IdP is asked, and stores nothing.
func TestCallbackRefusesLoginCookie(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	// Another gateway (other public_url) with the same session.secret and IdP.
	other := newHarness(t, harnessOpts{issuer: iss.URL, clientSecret: "s"})
	other.waitReady()
	otherKey, err := seal.Derive([]byte(strings.Repeat("x", 32)), labelLoginState)
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, err := seal.New(otherKey, loginSealVersion)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	now := start
	h.auth.now = func() time.Time { return now }
	var nonce string
	laxTokenEndpoint(iss, func() string { return nonce })

	// edit returns the cookie with its decoded value changed by f.
	edit := func(ck *http.Cookie, f func([]byte) []byte) *http.Cookie {
		b, err := base64.RawURLEncoding.DecodeString(ck.Value)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Cookie{Name: ck.Name, Value: base64.RawURLEncoding.EncodeToString(f(b))}
	}
	tests := []struct {
		name    string
		cookie  func(q url.Values, ck *http.Cookie) *http.Cookie
		advance time.Duration
		ok      bool
	}{
		{name: "control: its own cookie, just before expiry", advance: loginTTL - time.Second, ok: true,
			cookie: func(_ url.Values, ck *http.Cookie) *http.Cookie { return ck }},
		{name: "no cookie", cookie: func(url.Values, *http.Cookie) *http.Cookie { return nil }},
		{name: "empty cookie", cookie: func(_ url.Values, ck *http.Cookie) *http.Cookie {
			return &http.Cookie{Name: ck.Name, Value: ""}
		}},
		{name: "expired (sealed expiry, cookie still sent)", advance: loginTTL,
			cookie: func(_ url.Values, ck *http.Cookie) *http.Cookie { return ck }},
		{name: "tampered ciphertext", cookie: func(_ url.Values, ck *http.Cookie) *http.Cookie {
			return edit(ck, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
		}},
		{name: "version byte changed (downgrade)", cookie: func(_ url.Values, ck *http.Cookie) *http.Cookie {
			return edit(ck, func(b []byte) []byte { b[0] = 0; return b })
		}},
		{name: "truncated", cookie: func(_ url.Values, ck *http.Cookie) *http.Cookie {
			return edit(ck, func(b []byte) []byte { return b[:len(b)-1] })
		}},
		{name: "not base64url", cookie: func(_ url.Values, ck *http.Cookie) *http.Cookie {
			return &http.Cookie{Name: ck.Name, Value: "%%%%"}
		}},
		{name: "oversized", cookie: func(_ url.Values, ck *http.Cookie) *http.Cookie {
			return &http.Cookie{Name: ck.Name, Value: ck.Value + strings.Repeat("A", maxLoginCookie)}
		}},
		{name: "another tab's login cookie under this login's name", cookie: func(_ url.Values, ck *http.Cookie) *http.Cookie {
			_, ck2 := h.startBare("198.51.100.7", "/")
			return &http.Cookie{Name: ck.Name, Value: ck2.Value}
		}},
		{name: "another tab's login cookie under its own name", cookie: func(url.Values, *http.Cookie) *http.Cookie {
			_, ck2 := h.startBare("198.51.100.7", "/")
			return ck2
		}},
		{name: "sealed under another session.secret", cookie: func(q url.Values, ck *http.Cookie) *http.Cookie {
			ls := newLoginState("/", now.Add(loginTTL))
			state := q.Get("state")
			v := otherSecret.Seal(nil, state, ls.marshal(), h.auth.loginAD(state))
			return &http.Cookie{Name: ck.Name, Value: base64.RawURLEncoding.EncodeToString(v)}
		}},
		{name: "from another gateway with the same secret", cookie: func(q url.Values, ck *http.Cookie) *http.Cookie {
			// The other gateway's login, answered here with its own state.
			q2, ck2 := other.startBare("198.51.100.7", "/")
			q.Set("state", q2.Get("state"))
			return &http.Cookie{Name: h.auth.loginCookieName(q2.Get("state")), Value: ck2.Value}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = start
			q, ck := h.startBare("198.51.100.7", "/after")
			nonce = q.Get("nonce")
			send := tt.cookie(q, ck)
			now = start.Add(tt.advance)
			calls, keys := iss.TokenCalls(), h.storeLen()
			r := h.callbackBare(q, "the-code", send)
			body := readBody(t, r)
			if tt.ok {
				if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/after" {
					t.Fatalf("callback = %d %s, want 302 to /after", r.StatusCode, body)
				}
				return
			}
			if r.StatusCode != http.StatusBadRequest || !strings.Contains(body, msgInvalidState) {
				t.Errorf("callback = %d %s, want 400 %q", r.StatusCode, body, msgInvalidState)
			}
			if n := iss.TokenCalls() - calls; n != 0 {
				t.Errorf("token endpoint called %d times, want 0", n)
			}
			if n := h.storeLen(); n != keys {
				t.Errorf("store keys = %d after the callback, want %d (nothing stored)", n, keys)
			}
			if names := setCookieNames(r); len(names) != 0 {
				t.Errorf("callback set cookies %v, want none", names)
			}
		})
	}
}

// blindReads hides every stored value from Get, as when two replays of one
// callback both read before either wrote its single-use record.
type blindReads struct{ store.Store }

func (blindReads) Get(context.Context, string) ([]byte, error) { return nil, store.ErrNotFound }

// TestCallbackReplay: a callback replayed with its login cookie (an attacker
// holding both) is refused with 400 even by an IdP that would redeem the
// code again: the gateway's single-use record refuses it, before the IdP is
// asked or, when the replay raced the first use, after.
func TestCallbackReplay(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		blind    bool
		idpCalls int // token endpoint calls the replay makes
	}{
		{"replay", false, 0},
		{"replay racing the first use", true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem, err := memory.New(memory.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = mem.Close() })
			var st store.Store = mem
			if tt.blind {
				st = blindReads{mem}
			}
			iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s", authStore: st})
			q, ck := h.startBare("198.51.100.7", "/after")
			laxTokenEndpoint(iss, func() string { return q.Get("nonce") })
			first := h.callbackBare(q, "the-code", ck)
			if first.StatusCode != http.StatusFound {
				t.Fatalf("first callback = %d %s, want 302", first.StatusCode, readBody(t, first))
			}
			records, sessions := mem.Len(), h.storeLen()
			calls := iss.TokenCalls()
			r := h.callbackBare(q, "the-code", ck)
			if body := readBody(t, r); r.StatusCode != http.StatusBadRequest || !strings.Contains(body, msgInvalidState) {
				t.Errorf("replayed callback = %d %s, want 400 %q", r.StatusCode, body, msgInvalidState)
			}
			if names := setCookieNames(r); len(names) != 0 {
				t.Errorf("replayed callback set cookies %v, want none", names)
			}
			if n := iss.TokenCalls() - calls; n != tt.idpCalls {
				t.Errorf("token endpoint calls for the replay = %d, want %d", n, tt.idpCalls)
			}
			if r, s := mem.Len(), h.storeLen(); r != records || s != sessions {
				t.Errorf("auth and session store keys after the replay = %d, %d; want %d, %d (nothing stored)", r, s, records, sessions)
			}
		})
	}
}

// TestFailedCallbackStoresNothing: a callback the IdP refuses (error=, a
// code it does not redeem, an ID token that fails validation) leaves no
// single-use record: only a login the IdP accepted writes one.
func TestFailedCallbackStoresNothing(t *testing.T) {
	t.Parallel()
	iss, h := startIssuerHarness(t, harnessOpts{clientSecret: "s"})
	var nonce string
	laxTokenEndpoint(iss, func() string { return nonce })
	tests := []struct {
		name   string
		query  func(q url.Values) url.Values
		status int
	}{
		{"IdP error", func(q url.Values) url.Values {
			return url.Values{"error": {"access_denied"}, "state": {q.Get("state")}}
		}, http.StatusUnauthorized},
		{"code not redeemed", func(q url.Values) url.Values {
			return url.Values{"code": {"another-code"}, "state": {q.Get("state")}}
		}, http.StatusUnauthorized},
		{"foreign iss", func(q url.Values) url.Values {
			return url.Values{"code": {"the-code"}, "state": {q.Get("state")}, "iss": {"https://evil.example"}}
		}, http.StatusUnauthorized},
		{"no code", func(q url.Values) url.Values {
			return url.Values{"state": {q.Get("state")}}
		}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, ck := h.startBare("198.51.100.7", "/")
			nonce = q.Get("nonce")
			r := doWith(t, &http.Client{CheckRedirect: h.client.CheckRedirect}, http.MethodGet,
				h.url+PathCallback+"?"+tt.query(q).Encode(), nil, "Cookie", ck.Name+"="+ck.Value)
			if r.StatusCode != tt.status {
				t.Errorf("callback = %d %s, want %d", r.StatusCode, readBody(t, r), tt.status)
			}
			if n := h.storeLen(); n != 0 {
				t.Errorf("store keys after a failed callback = %d, want 0", n)
			}
		})
	}
	t.Run("ID token refused", func(t *testing.T) {
		r := callbackWith(t, iss, h, nil, func(string) string { return iss.Sign(iss.Claims("another-login")) })
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("callback with a bad nonce = %d, want 401", r.StatusCode)
		}
		if n := h.storeLen(); n != 0 {
			t.Errorf("store keys after a refused ID token = %d, want 0", n)
		}
	})
	t.Run("control: an accepted login writes its record", func(t *testing.T) {
		q, ck := h.startBare("198.51.100.7", "/")
		nonce = q.Get("nonce")
		laxTokenEndpoint(iss, func() string { return nonce })
		if r := h.callbackBare(q, "the-code", ck); r.StatusCode != http.StatusFound {
			t.Fatalf("callback = %d %s, want 302", r.StatusCode, readBody(t, r))
		}
		if _, err := h.store.Get(t.Context(), usedKey(q.Get("state"))); err != nil {
			t.Errorf("single-use record after a login: %v, want one", err)
		}
	})
}
