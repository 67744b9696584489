// Where the SPA finds gatehouse. '' (the default) is this page's own origin:
// the SPA served by a gatehouse static: route, or by a reverse proxy that
// sends /api and /auth to gatehouse.
//
// Split origin (the SPA on https://app.example.com, gatehouse on
// https://api.example.com): serve a config.js that names gatehouse's
// public_url, list the SPA's origin in gatehouse's cors.allowed_origins, and
// let the page's Content-Security-Policy connect there (connect-src). See
// docs/quickstart.md.
export const apiBase = '';
