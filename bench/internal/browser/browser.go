// Package browser logs the development OP's user in through a running
// gatehouse exactly as a browser does: gatehouse's /auth/login, the OP's
// redirects and login form, and gatehouse's /auth/callback, each redirect
// taken by hand with the cookies a browser would keep. The benchmark tools
// share it: bench/oplogin prints the session cookie it gets for wrk, and
// bench/soakload logs its virtual users in and out with it.
package browser

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// maxHops bounds each run of redirects followed within the OP.
const maxHops = 10

// Browser is one browser: its own cookie jar, over a transport that may be
// shared with others. Redirects are never followed automatically.
type Browser struct {
	// Client sends every request; its Jar keeps the browser's cookies.
	Client *http.Client
	// Gateway is gatehouse's base URL (its public_url), without a trailing slash.
	Gateway string
}

// New returns a browser for the gatehouse at gateway, sending over rt
// (http.DefaultTransport when nil), each request bounded by timeout.
func New(gateway string, rt http.RoundTripper, timeout time.Duration) *Browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &Browser{
		Gateway: strings.TrimSuffix(gateway, "/"),
		Client: &http.Client{
			Transport: rt, Jar: jar, Timeout: timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Login logs user in: GET /auth/login, the OP's redirects to its login page,
// the login form post, the OP's redirects back and GET /auth/callback. It
// returns the session cookie gatehouse set; the jar keeps it too, so that
// later requests through b.Client carry it.
func (b *Browser) Login(user, password string) (*http.Cookie, error) {
	next, err := b.hop("GET", b.Gateway+"/auth/login?returnTo=/", nil)
	if err != nil {
		return nil, err
	}
	// Follow the OP's redirects to its login page.
	for i := 0; i < maxHops && !strings.Contains(next, "authRequestID="); i++ {
		if next, err = b.hop("GET", next, nil); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(next)
	if err != nil {
		return nil, err
	}
	form := url.Values{"id": {u.Query().Get("authRequestID")}, "username": {user}, "password": {password}}
	next, err = b.hop("POST", u.Scheme+"://"+u.Host+"/login", form)
	if err != nil {
		return nil, err
	}
	// Follow the OP until it sends the browser back to gatehouse.
	for i := 0; i < maxHops && !strings.HasPrefix(next, b.Gateway); i++ {
		if next, err = b.hop("GET", next, nil); err != nil {
			return nil, err
		}
	}
	if _, err := b.hop("GET", next, nil); err != nil {
		return nil, err
	}
	if ck := b.SessionCookie(); ck != nil {
		return ck, nil
	}
	return nil, errors.New("logged in, but gatehouse set no session cookie")
}

// SessionCookie returns gatehouse's session cookie from the jar, or nil.
func (b *Browser) SessionCookie() *http.Cookie {
	gu, err := url.Parse(b.Gateway)
	if err != nil {
		return nil
	}
	for _, ck := range b.Client.Jar.Cookies(gu) {
		if ck.Name == "gatehouse" || ck.Name == "__Host-gatehouse" {
			return ck
		}
	}
	return nil
}

// Logout logs out as the SPA does: POST /auth/logout with the CSRF header
// csrf (its value "1"), then a navigation to the logoutUrl it answers, which
// gatehouse redirects to the OP's end-session endpoint (not followed).
func (b *Browser) Logout(csrf string) error {
	req, err := http.NewRequest("POST", b.Gateway+"/auth/logout", nil)
	if err != nil {
		return err
	}
	req.Header.Set(csrf, "1")
	resp, err := b.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("POST /auth/logout: %d", resp.StatusCode)
	}
	var body struct {
		LogoutURL string `json:"logoutUrl"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil {
		return fmt.Errorf("POST /auth/logout: %w", err)
	}
	target := body.LogoutURL
	if strings.HasPrefix(target, "/") {
		target = b.Gateway + target
	}
	_, err = b.hop("GET", target, nil)
	return err
}

// hop performs one request and returns the absolute redirect target.
func (b *Browser) hop(method, target string, form url.Values) (string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // keep the connection reusable
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("%s %s: %d without a redirect", method, redact(target), resp.StatusCode)
	}
	return loc.String(), nil
}

// redact drops a URL's query (codes, states, handles) from error messages.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery = ""
	return u.String()
}
