import { act, cleanup, render } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Auth, useAuth } from './AuthContext';

// The bridge from Clerk's SDK to the app's sign-in, with the SDK replaced by a scripted
// stand-in (reaching a real Clerk instance needs its servers; this machine has no way out).
const clerk = {
  isLoaded: false,
  isSignedIn: false,
  status: 'loading' as 'loading' | 'ready' | 'error',
  sessionId: null as string | null,
  tokens: [] as string[],
  signedOut: 0,
};

vi.mock('@clerk/clerk-react', () => ({
  ClerkProvider: ({ children }: { children: unknown }) => children,
  useAuth: () => ({
    isLoaded: clerk.isLoaded,
    isSignedIn: clerk.isSignedIn,
    sessionId: clerk.sessionId,
    getToken: async () => clerk.tokens.shift() ?? null,
  }),
  useUser: () => ({
    user: clerk.isSignedIn
      ? { id: 'user_1', fullName: 'Ada Lovelace', hasImage: true, imageUrl: 'https://img.example/ada.png', primaryEmailAddress: null }
      : null,
  }),
  useClerk: () => ({
    status: clerk.status,
    signOut: async () => {
      clerk.signedOut++;
    },
  }),
  SignIn: () => null,
}));

const { default: ClerkAuth, CLERK_LOAD_MS } = await import('./ClerkAuth');

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** A Clerk session token (only its expiry is read here). */
const jwt = (exp: number) => `h.${btoa(JSON.stringify({ exp })).replace(/=+$/, '')}.s`;

let calls: { url: string; auth: string | null }[] = [];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  Object.assign(clerk, { isLoaded: false, isSignedIn: false, status: 'loading', sessionId: null, tokens: [], signedOut: 0 });
  calls = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const headers = (init.headers ?? {}) as Record<string, string>;
      calls.push({ url, auth: headers.authorization ?? null });
      if (url === '/api/v1/login')
        return json({ user_id: 'user_1', role: 'player', session: 'sid1', profile: { created_at: '', last_login_at: '' } });
      if (url === '/api/v1/logout') return new Response(null, { status: 204 });
      return json({ title: 'Not Found' }, 404);
    }),
  );
});

afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function mount(): { current: Auth; rerender: () => void } {
  const ref = { current: null as unknown as Auth, rerender: () => {} };
  function Probe() {
    ref.current = useAuth();
    return null;
  }
  const tree = () => (
    <ClerkAuth publishableKey="pk_test_Y2xlcmsuZXhhbXBsZS5jb20k">
      <Probe />
    </ClerkAuth>
  );
  const r = render(tree());
  ref.rerender = () => r.rerender(tree());
  return ref;
}

describe('Clerk sign-in', () => {
  it('waits while Clerk loads, then says sign-in is unavailable when it cannot load', () => {
    const auth = mount();
    expect(auth.current.status).toBe('loading');
    clerk.status = 'error';
    auth.rerender();
    expect(auth.current.status).toBe('signed-out');
    expect(auth.current.error?.message).toContain('Sign-in is unavailable');
    expect((auth.current.error as { advice?: string }).advice).toContain('reload');
  });

  it('gives up waiting for a Clerk that never answers', () => {
    const auth = mount();
    act(() => vi.advanceTimersByTime(CLERK_LOAD_MS - 100));
    expect(auth.current.status).toBe('loading');
    act(() => vi.advanceTimersByTime(200));
    expect(auth.current.status).toBe('signed-out');
    expect(auth.current.error?.message).toContain('Sign-in is unavailable');
  });

  it("signs in on the server with Clerk's session token, shows the profile, and signs out on both", async () => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    Object.assign(clerk, { isLoaded: true, isSignedIn: true, status: 'ready', sessionId: 'sess_1', tokens: [jwt(exp)] });
    const auth = mount();
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(auth.current.status).toBe('signed-in');
    expect(calls[0]).toEqual({ url: '/api/v1/login', auth: `Bearer ${jwt(exp)}` });
    expect(auth.current.profile).toMatchObject({ name: 'Ada Lovelace', avatar: 'https://img.example/ada.png' });
    expect(auth.current.mode).toBe('clerk');

    await act(() => auth.current.signOut());
    expect(calls.map((c) => c.url)).toEqual(['/api/v1/login', '/api/v1/logout']);
    expect(calls[1].auth).toBe(`Bearer ${jwt(exp)}`);
    expect(clerk.signedOut).toBe(1);
  });
});
