// The example SPA behind gatehouse. No framework, no build step, no tokens:
// the browser holds only gatehouse's HttpOnly session cookie, which
// JavaScript can neither read nor send anywhere but this origin.

import { apiBase } from './config.js';

// ---------------------------------------------------------------------------
// The one fetch wrapper every API call goes through.
// ---------------------------------------------------------------------------

/** ApiError is a non-2xx answer; status 401 means "log in first". */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * api calls gatehouse (this origin, or apiBase from config.js) with the
 * session cookie and the CSRF header gatehouse requires on every
 * cookie-authenticated request (a cross-site page cannot add it without a
 * CORS preflight, which gatehouse grants only to its cors allowed_origins).
 * A 401 turns into the login prompt. onResponse, when given,
 * sees the Response first (its headers: X-Cache, Age).
 */
export async function api(path, { method = 'GET', body, onResponse } = {}) {
  const headers = { 'X-CSRF': '1', Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(apiBase + path, {
      method,
      credentials: 'include',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'The gateway is not reachable.');
  }
  if (onResponse) onResponse(res);
  const data = await res.json().catch(() => null);
  if (res.status === 401) {
    showLoginPrompt('Your session has ended or you are not signed in.');
    throw new ApiError(401, (data && data.error) || 'authentication required');
  }
  if (!res.ok) {
    throw new ApiError(res.status, (data && data.error) || `HTTP ${res.status}`);
  }
  return data;
}

// ---------------------------------------------------------------------------
// Small DOM helpers. Values from the server only ever go through
// textContent, never innerHTML.
// ---------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);
const show = (id, on = true) => { $(id).hidden = !on; };
const text = (id, value) => { $(id).textContent = value ?? '—'; };

function el(tag, content, className) {
  const node = document.createElement(tag);
  if (content !== undefined) node.textContent = content;
  if (className) node.className = className;
  return node;
}

const money = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'EUR' });
const day = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const stamp = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function duration(seconds) {
  if (!(seconds > 0)) return 'now';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min`;
}

function setError(message) {
  text('error', message);
  show('error', Boolean(message));
}

/**
 * syncButtons disables the buttons marked data-needs-session while signed
 * out: their APIs would only answer 401.
 */
function syncButtons() {
  document.querySelectorAll('[data-needs-session]').forEach((b) => { b.disabled = locked(b); });
}

function locked(button) {
  return button.hasAttribute('data-needs-session') && document.body.dataset.auth !== 'signed-in';
}

/** run wraps a click handler: disables the button, reports errors. */
function run(button, fn) {
  button.addEventListener('click', async () => {
    button.disabled = true;
    setError('');
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) setError(err.message);
    } finally {
      button.disabled = locked(button);
    }
  });
}

// ---------------------------------------------------------------------------
// Session: /auth/me, login, logout.
// ---------------------------------------------------------------------------

function currentPath() {
  return location.pathname + location.search;
}

function login() {
  // A top-level navigation (not fetch): the IdP's login page must load.
  // Split origin: gatehouse sends the browser back to this page's own
  // origin, which must be one of its cors allowed_origins.
  const back = apiBase ? location.origin + currentPath() : currentPath();
  location.assign(apiBase + '/auth/login?returnTo=' + encodeURIComponent(back));
}

function showLoginPrompt(reason, title = 'Please log in') {
  document.body.dataset.auth = 'signed-out';
  syncButtons();
  text('login-prompt-title', title);
  text('login-prompt-reason', reason);
  show('login-prompt');
  show('login-button');
  show('logout-button', false);
  show('user-chip', false);
  show('profile-card', false);
}

function showUser(me) {
  const p = me.profile || {};
  const name = p.name || p.preferred_username || p.email || me.userId;
  document.body.dataset.auth = 'signed-in';
  syncButtons();
  show('login-prompt', false);
  show('login-button', false);
  show('logout-button');
  show('user-chip');
  text('user-name', name);
  text('user-initials', initials(name));
  text('profile-name', p.name || p.preferred_username);
  text('profile-email', p.email);
  text('profile-sub', me.userId);
  text('session-expires', duration(me.sessionExpiresIn));
  show('profile-card');
  startServerTime();
}

// The live "Server time": the orders service's clock, one message a second,
// over a WebSocket through gatehouse (a websocket: true route). The
// handshake carries the session cookie and gatehouse checks its Origin (a
// WebSocket cannot send X-CSRF); gatehouse adds the access token. When the
// session ends (logout, here or elsewhere), gatehouse closes it with 1008.
let clock;
function startServerTime() {
  if (clock) return;
  clock = new WebSocket((apiBase || location.origin).replace(/^http/, 'ws') + '/api/live/time');
  clock.onmessage = (e) => text('server-time', new Date(e.data).toLocaleTimeString());
  clock.onclose = (e) => {
    clock = undefined;
    text('server-time', e.code === 1008 ? 'session ended' : 'disconnected');
  };
}

function initials(name) {
  return String(name).split(/[\s@._-]+/).filter(Boolean).slice(0, 2)
    .map((w) => w[0].toUpperCase()).join('');
}

async function loadSession() {
  try {
    showUser(await api('/auth/me'));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && sessionStorage.getItem(SIGNED_OUT)) {
      sessionStorage.removeItem(SIGNED_OUT);
      showLoginPrompt('Your session has ended here and at the identity provider.', 'You are signed out');
    } else if (err instanceof ApiError && err.status === 401) {
      showLoginPrompt('You are not signed in. Your session will live on the server; this page never sees a token.');
    } else {
      document.body.dataset.auth = 'error';
      setError(err.message);
    }
  }
}

// SIGNED_OUT marks, across the IdP's end-session round trip, that the next
// signed-out page follows a logout (a flag, never a token).
const SIGNED_OUT = 'gatehouse-example:signed-out';

async function logout() {
  const { logoutUrl } = await api('/auth/logout', { method: 'POST' });
  sessionStorage.setItem(SIGNED_OUT, '1');
  // The IdP ends its own session too, then sends the browser back here.
  location.assign(logoutUrl || '/');
}

// ---------------------------------------------------------------------------
// The APIs.
// ---------------------------------------------------------------------------

async function loadProfileAPI() {
  const p = await api('/api/profile');
  text('api-profile-sub', p.sub);
  text('api-profile-name', p.name);
  text('api-profile-email', p.email);
  text('api-profile-exp', p.tokenExpiresAt ? stamp.format(new Date(p.tokenExpiresAt)) : undefined);
  show('profile-api-result');
}

async function loadOrders() {
  const { orders } = await api('/api/orders');
  const rows = orders.map((o) => {
    const tr = document.createElement('tr');
    tr.dataset.testid = 'order-row';
    tr.append(
      el('td', o.id, 'mono'),
      el('td', o.product),
      el('td', String(o.quantity), 'num'),
      el('td', money.format(o.totalCents / 100), 'num'),
      el('td', o.status, `status status-${o.status}`),
      el('td', day.format(new Date(o.placedAt))),
    );
    return tr;
  });
  $('orders-body').replaceChildren(...rows);
  show('orders-table');
}

async function loadCatalog() {
  const { products } = await api('/api/catalog', { onResponse: showCacheState });
  $('catalog-list').replaceChildren(...products.map((p) => {
    const li = el('li');
    li.dataset.testid = 'catalog-item';
    li.append(el('span', p.name), el('span', money.format(p.priceCents / 100), 'num'));
    return li;
  }));
}

/**
 * showCacheState reports the gateway's cache plugin at work on the public
 * catalog route: X-Cache: MISS the first time, HIT (with Age) after.
 */
function showCacheState(res) {
  const state = res.headers.get('X-Cache');
  if (!state) return;
  const age = res.headers.get('Age');
  text('catalog-cache', `Gateway cache: ${state}` + (state === 'HIT' && age !== null ? ` (stored ${age} s ago)` : ''));
  show('catalog-cache');
}

// ---------------------------------------------------------------------------
// A tiny client-side router: /, /orders. Unknown paths show the overview.
// ---------------------------------------------------------------------------

function route() {
  const views = document.querySelectorAll('[data-view]');
  const known = [...views].some((v) => v.dataset.view === location.pathname);
  const path = known ? location.pathname : '/';
  views.forEach((v) => { v.hidden = v.dataset.view !== path; });
  document.querySelectorAll('.nav a').forEach((a) => {
    a.toggleAttribute('aria-current', a.getAttribute('href') === path);
  });
  openedView(path);
}

/** openedView loads what a view shows when it opens: the orders, when signed in. */
function openedView(path) {
  if (path === '/orders' && document.body.dataset.auth === 'signed-in') $('load-orders').click();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  if (a.getAttribute('href') !== location.pathname) history.pushState(null, '', a.getAttribute('href'));
  route();
});
window.addEventListener('popstate', route);

// ---------------------------------------------------------------------------
// Start.
// ---------------------------------------------------------------------------

$('login-button').addEventListener('click', login);
$('prompt-login-button').addEventListener('click', login);
run($('logout-button'), logout);
run($('load-profile'), loadProfileAPI);
run($('load-orders'), loadOrders);
run($('load-catalog'), loadCatalog);
route();
loadSession().then(() => openedView(location.pathname));
