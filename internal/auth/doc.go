package auth

// The login flow, as implemented here (for the README and operators):
//
//  1. GET /auth/login?returnTo=/path — 429 {"error":"too many login
//     attempts"} with Retry-After beyond 10 logins a minute (bursts of 20)
//     from one client address (behind server.trusted_proxies, the resolved
//     one; IPv6 per /64): each login stores a state, and one client must
//     not fill the store. 503 {"error":"identity provider
//     unavailable"} until discovery of oidc.issuer has succeeded (retried in
//     the background with exponential backoff, 500ms doubling to 30s; /readyz
//     reports why). Otherwise: a 256-bit state, a 256-bit nonce and a PKCE
//     verifier are sealed (AES-256-GCM) under a fresh 256-bit key and stored
//     as "login:"+state for 10 minutes; the key goes to the browser in an
//     HttpOnly, SameSite=Lax cookie gatehouse_login_<8 hex of SHA-256(state)>
//     (Path=/auth/callback, __Secure- prefixed and Secure over https), one per
//     login so several tabs can log in at once. returnTo is kept only when it
//     is a same-origin path (SafeReturnTo), else "/". 302 to the IdP's
//     authorization_endpoint with response_type=code, S256 challenge, state,
//     nonce and oidc.scopes.
//  2. GET /auth/callback — the state record is taken (single use: a replayed
//     callback URL gets 400 "invalid login state", as does a callback in a
//     browser without the login cookie). error=... from the IdP → 401
//     {"error":"login failed: <code>"}; with oidc.error_redirect set, every
//     callback failure is instead a 302 to error_redirect?error=<code>
//     (access_denied…, invalid_state, login_failed, idp_unavailable). An RFC
//     9207 iss parameter must equal the issuer (and is required when the IdP
//     advertises authorization_response_iss_parameter_supported). The code is
//     exchanged with the verifier (client_secret_basic by default,
//     client_secret_post, or a public client) and the ID token validated
//     (internal/oidc). Any failure → 401, no session, no cookie. On success
//     a new session is created (a session the browser already had is ended:
//     no fixation), its cookie set, and the browser sent to returnTo.
//  3. GET /auth/me — needs the CSRF header and a session: {"userId": sub,
//     "profile": the ID token's claims minus protocol claims (iss, sub, aud,
//     azp, exp, iat, nbf, auth_time, nonce, at_hash, c_hash, s_hash, sid, jti,
//     acr, amr, client_id), "sessionExpiresIn": seconds}. Never a token.
//  4. POST /auth/logout — fetch with the CSRF header → 200 {"logoutUrl":
//     ...}; an HTML form post (application/x-www-form-urlencoded, no CSRF
//     header) must show Origin = public_url's origin or Sec-Fetch-Site:
//     same-origin, and gets a 302 to the URL. The session is deleted, its
//     refresh token revoked (RFC 7009) when the IdP has a
//     revocation_endpoint (failures are logged only), the cookie cleared.
//     The URL is the end_session_endpoint with id_token_hint, client_id and
//     post_logout_redirect_uri (oidc.post_logout_redirect resolved against
//     public_url), or that redirect itself when the IdP has none. Because it
//     carries the ID token, the JSON answer never contains it: the URL is
//     parked under a single-use handle (2 minutes) and the SPA gets
//     /auth/logout/continue?h=HANDLE, which 302s to it.
//  5. POST /auth/backchannel-logout — for the IdP (register it as
//     backchannel_logout_uri): a valid logout_token ends every session of its
//     sid, or of its sub when it has no sid; its jti is accepted once.
//
// Routes (Gate): auth: session needs the cookie (401 JSON without, never a
// redirect), the CSRF header "1" (403) and, on unsafe methods, no foreign
// Origin (403); CORS preflights are refused (403, no Access-Control-Allow-*).
// The access token is refreshed when it expires within oidc.refresh_margin —
// one refresh per session at a time (single flight), the rotated refresh token
// saved; invalid_grant ends the session (401 "session expired"); an IdP outage
// keeps a still-valid token in use and backs off per session (1s..30s), then
// 503. Across replicas sharing session.store (Redis), a per-session lock in
// the store (10s TTL; the grant is bounded to 8s so it ends under the lock)
// lets one replica refresh; the others poll (5ms doubling to 200ms, at most
// 12s), re-read the session and use the new token, or after the bound serve
// the still-valid token or answer 503. auth: bearer validates "Authorization: Bearer <JWT>" (allowlisted
// algorithm, iss, aud = route audience or client_id, exp/iat required, nbf,
// leeway; ID tokens refused) → 401 with WWW-Authenticate. auth: any is session
// when the cookie is present, else bearer. Every mode removes the session
// cookie from the forwarded Cookie header. A route's required_scopes (bearer
// tokens only: "scope" or "scp" claim) and required_claims (bearer token or
// session ID token claims; equality, or membership in a list claim) → 403,
// for bearer callers with WWW-Authenticate: Bearer error="insufficient_scope"
// (and scope="..." when a scope was missing); see requirements.go.
