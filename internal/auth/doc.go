package auth

// The login flow, as implemented here (for the README and operators):
//
//  1. GET /auth/login?returnTo=/path — 503 {"error":"identity provider
//     unavailable"} until discovery of oidc.issuer has succeeded (retried in
//     the background with exponential backoff, 500ms doubling to 30s; /readyz
//     reports why). Otherwise a 256-bit state, a 256-bit nonce and a 256-bit
//     PKCE verifier are drawn, and the gateway stores nothing: the nonce,
//     the verifier, returnTo and an expiry 10 minutes ahead are sealed
//     (AES-256-GCM, internal/seal: version byte, random nonce; the key is
//     HMAC(HKDF-SHA256(session.secret, "gatehouse login state v1"), state),
//     the additional data public_url's origin, the issuer, client_id and the
//     state) into an HttpOnly, SameSite=Lax cookie gatehouse_login_<8 hex of
//     SHA-256(state)> (Path=/auth/callback, Max-Age 600, __Secure- prefixed
//     and Secure over https; under 1 KiB), one per login so several tabs can
//     log in at once. Every replica with the same session.secret opens it.
//     With nothing stored there is no per-address limit: any number of
//     browsers behind one address (an office NAT, a carrier's CGNAT) may
//     start logins. returnTo is kept only when it is a same-origin path of
//     at most 512 bytes (SafeReturnTo), or an absolute URL exactly on a
//     top-level cors allowed origin with such a path (SafeReturnToOrigins),
//     else "/". 302 to the IdP's
//     authorization_endpoint with response_type=code, S256 challenge, state,
//     nonce and oidc.scopes.
//  2. GET /auth/callback — the login cookie named by the state is cleared.
//     error=... from the IdP → 401 {"error":"login failed: <code>"}; with
//     oidc.error_redirect set, every callback failure is instead a 302 to
//     error_redirect?error=<code> (access_denied…, invalid_state,
//     login_failed, idp_unavailable). Otherwise the cookie is opened: missing,
//     longer than 1024 bytes, altered, sealed under another secret, for
//     another state (another tab's cookie), another gateway or IdP, or past
//     its sealed expiry (whatever the cookie's Max-Age) → 400 "invalid login
//     state" before the IdP is asked, nothing stored. An RFC 9207 iss
//     parameter must equal the issuer (and is required when the IdP advertises
//     authorization_response_iss_parameter_supported). Single use: a record
//     "login-used:"+SHA-256(state) in the auth store refuses a replayed
//     callback (URL and cookie) with 400 before the IdP is asked; it is
//     written (SetNX, so two racing replays cannot both pass) only after the
//     code exchange succeeded, for the rest of the login's validity plus the
//     leeway, so no request without a code the IdP accepts makes the gateway
//     store anything. The code is exchanged with the verifier
//     (client_secret_basic by default, client_secret_post, or a public client)
//     and the ID token validated (internal/oidc, nonce included). Any failure
//     → 401, no session, no cookie. On success a new session is created (a
//     session the browser already had is ended: no fixation), its cookie set,
//     and the browser sent to returnTo.
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
//     backchannel_logout_uri): a valid logout_token
//     (application/x-www-form-urlencoded) ends every session of its sid, or
//     of its sub when it has no sid; its jti is accepted once. The caller is
//     not authenticated until the token is checked, so at most 64 KiB of the
//     body is read: 413 {"error":"request body too large"} for a larger
//     Content-Length at once, for a chunked body as soon as it passes 64 KiB.
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
// the still-valid token or answer 503. The server wraps its proxy step in
// RetryWithRenewedToken (refresh.go): when an upstream answers 401 to a
// session's token, an idempotent request without a body has the token
// renewed (the same single flight and lock; no grant when another request
// renewed it meanwhile) and is forwarded once more; anything else, a bearer
// or anonymous request, or a session without a refresh token keeps the
// upstream's 401. auth: bearer validates "Authorization: Bearer <JWT>" (allowlisted
// algorithm, iss, aud = route audience or client_id, exp/iat required, nbf,
// leeway; ID tokens refused) → 401 with WWW-Authenticate. auth: any is session
// when the cookie is present, else bearer. Every mode removes the session
// cookie from the forwarded Cookie header. A route's required_scopes (bearer
// tokens only: "scope" or "scp" claim) and required_claims (bearer token or
// session ID token claims; equality, or membership in a list claim) → 403,
// for bearer callers with WWW-Authenticate: Bearer error="insufficient_scope"
// (and scope="..." when a scope was missing); see requirements.go.
