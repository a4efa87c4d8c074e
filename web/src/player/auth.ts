// Sign-in for the direct-play and baseline pages. A token handed over in the page's
// fragment (#token=…, never sent to the server) is used as is; otherwise the development
// issuer mints one (POST /api/v1/dev/token, only while no real issuer is configured) for
// ?user= (default "player") with ?role=. Tokens are short-lived, so a fresh one is fetched
// before the current one expires; WebSockets stay up regardless, bound to the sign-in made
// by POST /api/v1/login.

/** Fetch a fresh token this long before the current one expires. */
export const REFRESH_MARGIN_S = 30;
/** A token whose expiry cannot be read is trusted for this long. */
const UNKNOWN_EXPIRY_MS = 60_000;

interface Current {
  token: string;
  expiresAt: number;
}

/** The token's `exp` claim in milliseconds, or a minute from now when it has none. */
export function tokenExpiry(token: string, now = Date.now()): number {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    if (typeof payload.exp === 'number') return payload.exp * 1000;
  } catch {
    // not a JWT we can read
  }
  return now + UNKNOWN_EXPIRY_MS;
}

async function problemDetail(res: Response, fallback: string): Promise<string> {
  const json = await res.json().catch(() => ({}));
  return (json && typeof json.detail === 'string' && json.detail) || fallback;
}

/** Records the sign-in of `token` (POST /api/v1/login), which the WebSockets need. */
export async function login(token: string, server = ''): Promise<void> {
  const res = await fetch(`${server}/api/v1/login`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(await problemDetail(res, `sign-in failed (${res.status})`));
}

export interface PageAuth {
  /** Signs in (creating the server-side sign-in) and returns a valid token. */
  signIn(): Promise<string>;
  /** A currently valid token (refreshing it if it is about to expire). */
  token(): Promise<string>;
  dispose(): void;
}

export function pageAuth(query: URLSearchParams, hash = () => location.hash): PageAuth {
  let current: Current | null = null;
  let refreshTimer: ReturnType<typeof setTimeout> | 0 = 0;

  const handedToken = () => new URLSearchParams(hash().slice(1)).get('token');

  async function devToken(): Promise<Current> {
    const body: Record<string, string> = { user: query.get('user') || 'player' };
    const role = query.get('role');
    if (role) body.role = role;
    const res = await fetch('/api/v1/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(await problemDetail(res, `development sign-in failed (${res.status})`));
    const json = await res.json();
    return { token: json.token, expiresAt: Date.now() + json.expires_in * 1000 };
  }

  async function refresh(): Promise<string> {
    const handed = handedToken();
    current = handed ? { token: handed, expiresAt: tokenExpiry(handed) } : await devToken();
    clearTimeout(refreshTimer);
    const inMs = current.expiresAt - Date.now() - REFRESH_MARGIN_S * 1000;
    if (!handed && inMs > 0) refreshTimer = setTimeout(() => refresh().catch(console.warn), inMs);
    return current.token;
  }

  return {
    async signIn() {
      const token = await refresh();
      await login(token);
      return token;
    },
    async token() {
      if (!current || current.expiresAt - Date.now() < REFRESH_MARGIN_S * 1000) await refresh();
      return current!.token;
    },
    dispose() {
      clearTimeout(refreshTimer);
    },
  };
}
