import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { REFRESH_MARGIN_S, pageAuth, tokenExpiry } from './auth';

const jwt = (payload: object) => `h.${btoa(JSON.stringify(payload)).replace(/=+$/, '')}.s`;

describe('page sign-in', () => {
  let minted = 0;
  const calls: { url: string; body: unknown; auth: string | null }[] = [];

  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-01T00:00:00Z'));
    minted = 0;
    calls.length = 0;
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        const headers = new Headers(init.headers);
        calls.push({ url, body: init.body ? JSON.parse(String(init.body)) : null, auth: headers.get('authorization') });
        if (url === '/api/v1/dev/token') return Response.json({ token: `t${++minted}`, expires_in: 300 });
        if (url === '/api/v1/login') return Response.json({ user_id: 'u' });
        return new Response(null, { status: 404 });
      }),
    );
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('mints a development token for ?user and ?role and records the sign-in', async () => {
    const auth = pageAuth(new URLSearchParams('user=alice&role=viewer'), () => '');
    expect(await auth.signIn()).toBe('t1');
    expect(calls[0]).toEqual({ url: '/api/v1/dev/token', body: { user: 'alice', role: 'viewer' }, auth: null });
    expect(calls[1]).toMatchObject({ url: '/api/v1/login', auth: 'Bearer t1' });
    auth.dispose();
  });

  it('refreshes the token 30 s before it expires, and not earlier', async () => {
    const auth = pageAuth(new URLSearchParams(), () => '');
    await auth.signIn();
    expect(calls[0].body).toEqual({ user: 'player' });
    await vi.advanceTimersByTimeAsync((300 - REFRESH_MARGIN_S) * 1000 - 1);
    expect(minted).toBe(1);
    expect(await auth.token()).toBe('t1');
    await vi.advanceTimersByTimeAsync(1);
    expect(minted).toBe(2);
    expect(await auth.token()).toBe('t2');
    // And again for the new token.
    await vi.advanceTimersByTimeAsync((300 - REFRESH_MARGIN_S) * 1000);
    expect(minted).toBe(3);
    auth.dispose();
  });

  it('fetches a fresh token on demand once the current one is close to expiry', async () => {
    const auth = pageAuth(new URLSearchParams(), () => '');
    auth.dispose(); // no timer: only token() refreshes
    expect(await auth.token()).toBe('t1');
    auth.dispose();
    vi.setSystemTime(Date.now() + (300 - REFRESH_MARGIN_S + 1) * 1000);
    expect(await auth.token()).toBe('t2');
    auth.dispose();
  });

  it('uses a token handed over in the fragment as is, without minting or timers', async () => {
    const handed = jwt({ exp: Date.now() / 1000 + 600 });
    const auth = pageAuth(new URLSearchParams('user=bob'), () => `#token=${handed}`);
    expect(await auth.signIn()).toBe(handed);
    expect(calls.map((c) => c.url)).toEqual(['/api/v1/login']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports the server problem when the sign-in is refused', async () => {
    vi.stubGlobal('fetch', async () => Response.json({ detail: 'no development issuer' }, { status: 404 }));
    await expect(pageAuth(new URLSearchParams(), () => '').signIn()).rejects.toThrow('no development issuer');
  });

  it('reads a JWT expiry, or trusts an opaque token for a minute', () => {
    expect(tokenExpiry(jwt({ exp: 1000 }))).toBe(1_000_000);
    expect(tokenExpiry('opaque', 5)).toBe(60_005);
  });
});
