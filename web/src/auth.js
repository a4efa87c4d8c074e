// Sign-in for the reference client. A token handed over in the page's fragment
// (#token=…, never sent to the server) is used as is; otherwise the development
// issuer mints one (POST /api/v1/dev/token, only while no real issuer is
// configured) for ?user= (default "player") with ?role=. Tokens are short-lived,
// so a fresh one is fetched before the current one expires; WebSockets stay up
// regardless, bound to the sign-in made by POST /api/v1/login.
const REFRESH_MARGIN_S = 30;

let current = null; // { token, expiresAt (ms) }
let refreshTimer = 0;

function fragmentToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  return hash.get('token');
}

async function devToken(query) {
  const body = { user: query.get('user') || 'player' };
  if (query.get('role')) body.role = query.get('role');
  const res = await fetch('/api/v1/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.detail || `development sign-in failed (${res.status})`);
  return { token: json.token, expiresAt: Date.now() + json.expires_in * 1000 };
}

function expiry(token) {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return payload.exp * 1000;
  } catch {
    return Date.now() + 60_000;
  }
}

async function refresh(query) {
  const handed = fragmentToken();
  current = handed ? { token: handed, expiresAt: expiry(handed) } : await devToken(query);
  clearTimeout(refreshTimer);
  const inMs = current.expiresAt - Date.now() - REFRESH_MARGIN_S * 1000;
  if (!handed && inMs > 0) refreshTimer = setTimeout(() => refresh(query).catch(console.warn), inMs);
  return current.token;
}

// Signs in (creating the server-side sign-in) and returns a valid token.
export async function signIn(query) {
  const token = await refresh(query);
  const res = await fetch('/api/v1/login', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) {
    const json = await res.json().catch(() => ({}));
    throw new Error(json.detail || `sign-in failed (${res.status})`);
  }
  return token;
}

// A currently valid token (refreshing it if it is about to expire).
export async function token(query) {
  if (!current || current.expiresAt - Date.now() < REFRESH_MARGIN_S * 1000) await refresh(query);
  return current.token;
}
