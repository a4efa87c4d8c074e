// Sign-in through Clerk (loaded only when the service names a publishable
// key): Clerk's hosted sign-in, its short-lived session token for the API
// (kept fresh by TokenKeeper), then POST /api/v1/login.
import { ClerkProvider, useAuth as useClerkAuth, useClerk, useUser } from '@clerk/clerk-react';
import { ReactNode, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, Me, TokenFn } from '../api';
import { Auth, AuthContext, login, logout } from './AuthContext';
import { jwtExpiry, TokenKeeper } from './tokens';

/** How long Clerk may take to load before the sign-in page says it cannot. */
export const CLERK_LOAD_MS = 15_000;

/** Clerk's script or its servers could not be reached: said on the sign-in page, never a blank one. */
export const CLERK_UNAVAILABLE = new ApiError(0, {
  type: 'sign-in-unavailable',
  title: 'Sign-in is unavailable',
  detail: "the identity provider's sign-in could not be loaded",
});

export default function ClerkAuth({ publishableKey, children }: { publishableKey: string; children: ReactNode }) {
  return (
    <ClerkProvider publishableKey={publishableKey} afterSignOutUrl="/">
      <ClerkBridge>{children}</ClerkBridge>
    </ClerkProvider>
  );
}

function ClerkBridge({ children }: { children: ReactNode }) {
  const { isLoaded, isSignedIn, getToken, sessionId } = useClerkAuth();
  const { user } = useUser();
  const clerk = useClerk();
  const [slow, setSlow] = useState(false);
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const keeper = useRef<TokenKeeper | null>(null);
  const getTokenRef = useRef(getToken);
  getTokenRef.current = getToken;

  const token = useCallback<TokenFn>(
    () => (keeper.current ? keeper.current.token() : Promise.reject(new ApiError(401, { type: 'unauthorized', title: 'Not signed in' }))),
    [],
  );

  useEffect(() => {
    if (!isLoaded || !isSignedIn) return;
    const k = new TokenKeeper(async () => {
      const t = await getTokenRef.current({ skipCache: true });
      if (!t) throw new ApiError(401, { type: 'unauthorized', title: 'Signed out', detail: 'Clerk has no session' });
      return { token: t, expiresAt: jwtExpiry(t, Date.now() + 60_000) };
    });
    keeper.current = k;
    login(() => k.token()).then(
      (m) => {
        setMe(m);
        setError(null);
      },
      (e) => setError(e instanceof ApiError ? e : new ApiError(0, { detail: String(e) })),
    );
    return () => {
      k.stop();
      if (keeper.current === k) keeper.current = null;
      setMe(null);
    };
  }, [isLoaded, isSignedIn, sessionId]);

  useEffect(() => {
    if (isLoaded) return;
    const t = setTimeout(() => setSlow(true), CLERK_LOAD_MS);
    return () => clearTimeout(t);
  }, [isLoaded]);
  const unavailable = !isLoaded && (clerk.status === 'error' || slow);

  const signOut = useCallback(async () => {
    const k = keeper.current;
    if (k) await logout(() => k.token());
    await clerk.signOut();
  }, [clerk]);

  const value = useMemo<Auth>(() => {
    const status: Auth['status'] = unavailable
      ? 'signed-out'
      : !isLoaded
        ? 'loading'
        : !isSignedIn
          ? 'signed-out'
          : me
            ? 'signed-in'
            : error
              ? 'signed-out'
              : 'loading';
    return {
      status,
      mode: 'clerk',
      me,
      profile: user
        ? {
            name: user.fullName || user.username || user.primaryEmailAddress?.emailAddress || user.id,
            avatar: user.hasImage ? user.imageUrl : null,
            email: user.primaryEmailAddress?.emailAddress ?? null,
          }
        : null,
      token,
      offline: false,
      error: unavailable ? CLERK_UNAVAILABLE : error,
      signInDev: () => Promise.reject(new Error('this service signs in through Clerk')),
      signInToken: () => Promise.reject(new Error('this service signs in through Clerk')),
      signOut,
    };
  }, [isLoaded, isSignedIn, unavailable, me, error, user, token, signOut]);

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export { SignIn as ClerkSignIn } from '@clerk/clerk-react';
