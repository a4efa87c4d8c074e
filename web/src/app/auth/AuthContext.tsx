// Who is signed in, as React context: the token source (development issuer
// or Clerk), the server-side sign-in (POST /api/v1/login), the profile, and
// sign-out (POST /api/v1/logout). Everything under a signed-in tree unmounts
// on sign-out, which closes its sockets and any player.
import { createContext, lazy, ReactNode, Suspense, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { api, ApiError, ClientConfig, Me, Role, TokenFn } from '../api';
import { jwtExpiry, Minted, TokenKeeper } from './tokens';

export interface Profile {
  name: string;
  avatar: string | null;
  email?: string | null;
}

export interface Auth {
  status: 'loading' | 'signed-out' | 'signed-in';
  mode: ClientConfig['sign_in'];
  me: Me | null;
  profile: Profile | null;
  /** A valid token (refreshed before it expires). */
  token: TokenFn;
  /** Set when the service could not be reached: cached data only. */
  offline: boolean;
  error: ApiError | null;
  signInDev(name: string, role: Role): Promise<void>;
  /** Signs in with a token the configured issuer gave the player (`external`). */
  signInToken(token: string): Promise<void>;
  signOut(): Promise<void>;
}

const noToken: TokenFn = () => Promise.reject(new ApiError(401, { title: 'Not signed in', type: 'unauthorized' }));

export const AuthContext = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside <AuthProvider>');
  return auth;
}

const IDENTITY_KEY = 'playcast.identity';

interface Identity {
  name: string;
  role: Role;
  me?: Me;
}

function remembered(): Identity | null {
  try {
    const raw = localStorage.getItem(IDENTITY_KEY);
    return raw ? (JSON.parse(raw) as Identity) : null;
  } catch {
    return null;
  }
}

function remember(identity: Identity | null) {
  try {
    if (identity) localStorage.setItem(IDENTITY_KEY, JSON.stringify(identity));
    else localStorage.removeItem(IDENTITY_KEY);
  } catch {
    // Private mode without storage: the sign-in just lasts this page.
  }
}

/** Mints a development token for `name` (POST /api/v1/dev/token). */
export async function devMint(name: string, role: Role): Promise<Minted> {
  const json = await api<{ token: string; expires_in: number }>('dev/token', {
    method: 'POST',
    body: { user: name, role },
  });
  return { token: json.token, expiresAt: Date.now() + json.expires_in * 1000 };
}

/** A token handed over as it is: good until its `exp`, then the player brings a new one. */
export function handed(token: string): () => Promise<Minted> {
  return async () => {
    const expiresAt = jwtExpiry(token, 0);
    if (expiresAt <= Date.now()) {
      throw new ApiError(401, {
        type: 'unauthorized',
        title: 'The token has expired',
        detail: 'Get a fresh token from your identity provider and sign in again.',
      });
    }
    return { token, expiresAt };
  };
}

/** `#token=…` in the page's address: read once, then removed (fragments never reach the server). */
export function tokenFromFragment(): string | null {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (token) history.replaceState(history.state, '', location.pathname + location.search);
  return token;
}

export async function loadClientConfig(): Promise<ClientConfig> {
  try {
    return await api<ClientConfig>('client-config');
  } catch (e) {
    // A service without the route only knows the development issuer.
    if (e instanceof ApiError && e.status === 404) return { sign_in: 'development', clerk_publishable_key: null };
    throw e;
  }
}

const ClerkAuth = lazy(() => import('./ClerkAuth'));

export function AuthProvider({ children, config }: { children: ReactNode; config?: ClientConfig }) {
  const [cfg, setCfg] = useState<ClientConfig | null>(config ?? null);
  const [cfgError, setCfgError] = useState<ApiError | null>(null);

  useEffect(() => {
    if (cfg) return;
    let live = true;
    loadClientConfig().then(
      (c) => live && setCfg(c),
      (e) => {
        if (!live) return;
        // Offline: open with what was remembered (development sign-in) so cached data shows.
        setCfgError(e instanceof ApiError ? e : new ApiError(0, { detail: String(e) }));
        setCfg({ sign_in: 'development', clerk_publishable_key: null });
      },
    );
    return () => {
      live = false;
    };
  }, [cfg]);

  if (!cfg) return <AuthContext.Provider value={loadingAuth}>{children}</AuthContext.Provider>;
  if (cfg.sign_in === 'clerk' && cfg.clerk_publishable_key) {
    return (
      <Suspense fallback={<AuthContext.Provider value={loadingAuth}>{children}</AuthContext.Provider>}>
        <ClerkAuth publishableKey={cfg.clerk_publishable_key}>{children}</ClerkAuth>
      </Suspense>
    );
  }
  return (
    <DevAuth offlineAtStart={cfgError} mode={cfg.sign_in === 'external' ? 'external' : 'development'}>
      {children}
    </DevAuth>
  );
}

const loadingAuth: Auth = {
  status: 'loading',
  mode: 'development',
  me: null,
  profile: null,
  token: noToken,
  offline: false,
  error: null,
  signInDev: () => Promise.reject(new Error('still loading')),
  signInToken: () => Promise.reject(new Error('still loading')),
  signOut: () => Promise.resolve(),
};

/** Records the sign-in on the server and answers the caller. */
export function login(token: TokenFn): Promise<Me> {
  return api<Me>('login', { method: 'POST', token });
}

/** Ends the sign-in on the server; a failure does not keep anyone signed in. */
export async function logout(token: TokenFn): Promise<void> {
  try {
    await api<null>('logout', { method: 'POST', token });
  } catch (e) {
    console.warn('playcast: sign-out on the server failed', e);
  }
}

/** Sign-in with tokens this page obtains itself: minted by the development
 * issuer, or handed over by the player from the configured issuer. */
function DevAuth({
  children,
  offlineAtStart,
  mode,
}: {
  children: ReactNode;
  offlineAtStart: ApiError | null;
  mode: 'development' | 'external';
}) {
  const [state, setState] = useState<Omit<Auth, 'token' | 'signInDev' | 'signInToken' | 'signOut' | 'mode'>>(() => ({
    status: mode === 'development' && remembered() ? 'loading' : 'signed-out',
    me: null,
    profile: null,
    offline: false,
    error: null,
  }));
  const keeper = useRef<TokenKeeper | null>(null);

  const token = useCallback<TokenFn>(() => (keeper.current ? keeper.current.token() : noToken()), []);

  const signInDev = useCallback(async (name: string, role: Role) => {
    keeper.current?.stop();
    const k = new TokenKeeper(
      () => devMint(name, role),
      (e) => console.warn('playcast: token refresh failed', e),
    );
    keeper.current = k;
    try {
      await k.refresh();
      const me = await login(() => k.token());
      remember({ name, role, me });
      setState({ status: 'signed-in', me, profile: { name, avatar: null }, offline: false, error: null });
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, { detail: String(e) });
      const known = remembered();
      if (err.kind === 'network' && known?.me && known.name === name) {
        // Offline: keep going on what was cached; a later reload signs in for real.
        setState({ status: 'signed-in', me: known.me, profile: { name, avatar: null }, offline: true, error: err });
        return;
      }
      k.stop();
      if (keeper.current === k) keeper.current = null;
      setState({ status: 'signed-out', me: null, profile: null, offline: false, error: err });
      throw err;
    }
  }, []);

  const signInToken = useCallback(async (token: string) => {
    keeper.current?.stop();
    const k = new TokenKeeper(handed(token.trim()), (e) => console.warn('playcast: the token ran out', e));
    keeper.current = k;
    try {
      await k.refresh();
      const me = await login(() => k.token());
      setState({ status: 'signed-in', me, profile: { name: me.user_id, avatar: null }, offline: false, error: null });
    } catch (e) {
      k.stop();
      if (keeper.current === k) keeper.current = null;
      const err = e instanceof ApiError ? e : new ApiError(0, { detail: String(e) });
      setState({ status: 'signed-out', me: null, profile: null, offline: false, error: err });
      throw err;
    }
  }, []);

  const signOut = useCallback(async () => {
    const k = keeper.current;
    remember(null);
    setState({ status: 'signed-out', me: null, profile: null, offline: false, error: null });
    if (k) {
      await logout(() => k.token());
      k.stop();
    }
    if (keeper.current === k) keeper.current = null;
  }, []);

  // A reload signs in again as the remembered name and role; with an external
  // issuer, a token handed over in the address signs in.
  useEffect(() => {
    if (mode === 'development') {
      const known = remembered();
      if (known) signInDev(known.name, known.role).catch(() => {});
    } else {
      const token = tokenFromFragment();
      if (token) signInToken(token).catch(() => {});
    }
    return () => keeper.current?.stop();
  }, [mode, signInDev, signInToken]);

  const value = useMemo<Auth>(
    () => ({
      ...state,
      error: state.error ?? (state.status === 'signed-out' ? null : offlineAtStart),
      mode,
      token,
      signInDev,
      signInToken,
      signOut,
    }),
    [state, mode, token, signInDev, signInToken, signOut, offlineAtStart],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
