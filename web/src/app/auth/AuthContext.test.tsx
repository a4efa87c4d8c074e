import { act, cleanup, render } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Auth, AuthProvider, useAuth } from './AuthContext';
import { jwtExpiry, refreshMargin, TokenKeeper } from './tokens';

afterEach(cleanup);

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

interface Call {
  method: string;
  url: string;
  auth: string | null;
  body: unknown;
}

let calls: Call[] = [];
let minted = 0;
let devTokenAnswer: () => Response;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  localStorage.clear();
  calls = [];
  minted = 0;
  devTokenAnswer = () => json({ token: `t${++minted}`, expires_in: 120 });
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const headers = (init.headers ?? {}) as Record<string, string>;
      calls.push({
        method: init.method ?? 'GET',
        url,
        auth: headers.authorization ?? null,
        body: init.body ? JSON.parse(String(init.body)) : null,
      });
      switch (url) {
        case '/api/v1/dev/token':
          return devTokenAnswer();
        case '/api/v1/login':
          return json({ user_id: 'alice', role: 'player', session: 'sid1', profile: { created_at: '', last_login_at: '' } });
        case '/api/v1/logout':
          return new Response(null, { status: 204 });
        default:
          return json({ type: 'https://playcast.dev/problems/not-found', title: 'Not Found', status: 404 }, 404);
      }
    }),
  );
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function mount(mode: 'development' | 'external' = 'development'): { current: Auth } {
  const ref = { current: null as unknown as Auth };
  function Probe() {
    ref.current = useAuth();
    return null;
  }
  render(
    <AuthProvider config={{ sign_in: mode, clerk_publishable_key: null }}>
      <Probe />
    </AuthProvider>,
  );
  return ref;
}

const mints = () => calls.filter((c) => c.url === '/api/v1/dev/token').length;

describe('development sign-in', () => {
  it('signs in, keeps the token fresh before it expires, and signs out on the server', async () => {
    const auth = mount();
    expect(auth.current.status).toBe('signed-out');
    await act(() => auth.current.signInDev('alice', 'player'));
    expect(auth.current.status).toBe('signed-in');
    expect(auth.current.me?.user_id).toBe('alice');
    expect(auth.current.profile?.name).toBe('alice');
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['POST /api/v1/dev/token', 'POST /api/v1/login']);
    expect(calls[0].body).toEqual({ user: 'alice', role: 'player' });
    expect(calls[1].auth).toBe('Bearer t1');
    expect(await auth.current.token()).toBe('t1');

    // 120 s tokens are replaced 30 s before they expire, by the timer alone.
    await act(async () => vi.advanceTimersByTime(89_000));
    expect(mints()).toBe(1);
    await act(async () => vi.advanceTimersByTime(2_000));
    expect(mints()).toBe(2);
    expect(await auth.current.token()).toBe('t2');
    await act(async () => vi.advanceTimersByTime(90_000));
    expect(mints()).toBe(3);

    await act(() => auth.current.signOut());
    expect(auth.current.status).toBe('signed-out');
    const out = calls.find((c) => c.url === '/api/v1/logout');
    expect(out?.method).toBe('POST');
    expect(out?.auth).toBe('Bearer t3');
    expect(localStorage.getItem('playcast.identity')).toBeNull();
    await act(async () => vi.advanceTimersByTime(600_000));
    expect(mints()).toBe(3);
    await expect(auth.current.token()).rejects.toThrow();
  });

  it('signs in again after a reload as the remembered name and role', async () => {
    localStorage.setItem('playcast.identity', JSON.stringify({ name: 'bob', role: 'admin' }));
    const auth = mount();
    expect(auth.current.status).toBe('loading');
    for (let i = 0; i < 10 && auth.current.status !== 'signed-in'; i++) {
      await act(() => vi.advanceTimersByTimeAsync(1));
    }
    expect(auth.current.status).toBe('signed-in');
    expect(calls[0].body).toEqual({ user: 'bob', role: 'admin' });
  });

  it('says what went wrong and stays signed out when the issuer refuses', async () => {
    devTokenAnswer = () =>
      json(
        {
          type: 'https://playcast.dev/problems/invalid-request',
          title: 'Unprocessable Entity',
          status: 422,
          detail: '`user` must be 1 to 64 printable characters',
        },
        422,
      );
    const auth = mount();
    let error: unknown;
    await act(() => auth.current.signInDev('x'.repeat(65), 'player').catch((e) => (error = e)));
    expect(auth.current.status).toBe('signed-out');
    expect(auth.current.error?.kind).toBe('invalid-request');
    expect(auth.current.error?.detail).toContain('1 to 64');
    expect(auth.current.error?.advice).toMatch(/Check what you entered/);
    expect(error).toBe(auth.current.error);
    expect(calls.some((c) => c.url === '/api/v1/login')).toBe(false);
  });
});

/** An unsigned JWT-shaped token that expires `inS` seconds from now (the page reads only `exp`). */
const jwt = (inS: number) =>
  `e30.${btoa(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + inS })).replace(/=+$/, '')}.sig`;

describe('sign-in with a token from another issuer', () => {
  it('signs in with a handed token, uses it as is, and never asks the development issuer', async () => {
    const auth = mount('external');
    expect(auth.current.mode).toBe('external');
    expect(auth.current.status).toBe('signed-out');
    const token = jwt(600);
    await act(() => auth.current.signInToken(token));
    expect(auth.current.status).toBe('signed-in');
    expect(auth.current.profile?.name).toBe('alice');
    expect(calls.find((c) => c.url === '/api/v1/login')?.auth).toBe(`Bearer ${token}`);
    expect(await auth.current.token()).toBe(token);
    expect(mints()).toBe(0);
  });

  it('refuses an expired token with what to do, without calling the server', async () => {
    const auth = mount('external');
    let error: unknown;
    await act(() => auth.current.signInToken(jwt(-5)).catch((e) => (error = e)));
    expect(auth.current.status).toBe('signed-out');
    expect(auth.current.error?.title).toBe('The token has expired');
    expect(auth.current.error?.detail).toMatch(/fresh token/);
    expect(error).toBe(auth.current.error);
    expect(calls).toEqual([]);
  });

  it('signs in from #token= in the address and removes it from the address', async () => {
    const token = jwt(600);
    history.replaceState(null, '', `/library#token=${token}`);
    const auth = mount('external');
    for (let i = 0; i < 10 && auth.current.status !== 'signed-in'; i++) {
      await act(() => vi.advanceTimersByTimeAsync(1));
    }
    expect(auth.current.status).toBe('signed-in');
    expect(location.hash).toBe('');
    expect(location.pathname).toBe('/library');
  });
});

describe('TokenKeeper', () => {
  it('fetches once for callers that ask at the same time', async () => {
    let n = 0;
    const k = new TokenKeeper(async () => ({ token: `k${++n}`, expiresAt: Date.now() + 60_000 }));
    const [a, b] = await Promise.all([k.token(), k.token()]);
    expect([a, b, n]).toEqual(['k1', 'k1', 1]);
    k.stop();
  });

  it('replaces short tokens a quarter of their life early', async () => {
    expect(refreshMargin(120_000)).toBe(30_000);
    expect(refreshMargin(60_000)).toBe(15_000);
    let n = 0;
    const k = new TokenKeeper(async () => ({ token: `k${++n}`, expiresAt: Date.now() + 60_000 }));
    await k.token();
    await vi.advanceTimersByTimeAsync(44_000);
    expect(n).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(n).toBe(2);
    k.stop();
  });

  it('retries a failed refresh while the old token still serves', async () => {
    let n = 0;
    let fail = false;
    const errors: unknown[] = [];
    const k = new TokenKeeper(
      async () => {
        n++;
        if (fail) throw new Error('issuer down');
        return { token: `k${n}`, expiresAt: Date.now() + 120_000 };
      },
      (e) => errors.push(e),
    );
    await k.token();
    fail = true;
    await vi.advanceTimersByTimeAsync(90_000);
    expect(errors).toHaveLength(1);
    expect(await k.token()).toBe('k1');
    expect(errors).toHaveLength(1);
    fail = false;
    await vi.advanceTimersByTimeAsync(5_000);
    const fresh = await k.token();
    expect(fresh).not.toBe('k1');
    expect(fresh).toBe(`k${n}`);
    k.stop();
  });

  it('reads a JWT expiry', () => {
    const payload = btoa(JSON.stringify({ exp: 1_800_000_000 })).replace(/=+$/, '');
    expect(jwtExpiry(`h.${payload}.s`, 0)).toBe(1_800_000_000_000);
    expect(jwtExpiry('not a jwt', 5)).toBe(5);
  });
});
