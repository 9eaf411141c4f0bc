// The hub's REST API with the bearer token the console signed in for. The token lives in sessionStorage (this tab
// only, gone when the web-view or tab closes) and never in a URL.

const TOKEN_KEY = 'orderhub.console.token';

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.message || problem.detail)) || `请求失败（${status}）`);
    this.status = status;
    this.code = (problem && problem.code) || String(status);
    this.problem = problem;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Called when the API answers 401: the session ended (signed out, expired, account changed). */
let onUnauthenticated = () => {};
export function whenSignedOut(fn) {
  onUnauthenticated = fn;
}

export async function request(method, path, { query, body, auth = true, headers: extra } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, v);
    const qs = params.toString();
    if (qs) url += (url.includes('?') ? '&' : '?') + qs;
  }
  const headers = { Accept: 'application/json', ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const bearer = token();
  if (auth && bearer) headers.Authorization = 'Bearer ' + bearer;
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, { code: 'network', message: '网络不可用，请稍后重试' });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && auth) onUnauthenticated();
    throw new ApiError(response.status, data);
  }
  return data;
}

export const get = (path, query) => request('GET', path, { query });
export const post = (path, body, headers) => request('POST', path, { body: body === undefined ? {} : body, headers });

/** A fresh Idempotency-Key (crypto.randomUUID needs a secure context; a hub on a LAN address is plain http). */
export function idempotencyKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Back-office sign-in with username and password. */
export async function loginWithPassword(username, password) {
  const session = await request('POST', '/api/v1/auth/login', { body: { username, password }, auth: false });
  setToken(session.access_token);
  return session;
}

/** Inside the mini-program's web-view: the page was opened with ?code=<wx.login code>; exchange it. */
export async function loginWithWechatCode(code) {
  const session = await request('POST', '/mp/v1/auth/login', { body: { code }, auth: false });
  setToken(session.access_token);
  return session;
}

export async function logout() {
  try {
    if (token()) await request('POST', '/api/v1/auth/logout', { body: {} });
  } catch {
    // signed out already: nothing to do
  }
  setToken(null);
}
