// Sign-in: the development issuer's name-and-role form, Clerk's hosted sign-in,
// or, with another issuer, a token the player brings from it.
import { FormEvent, lazy, Suspense, useState } from 'react';
import type { Role } from '../api';
import { useAuth } from '../auth/AuthContext';
import { ProblemNote } from '../Problem';

const ClerkSignIn = lazy(() => import('../auth/ClerkAuth').then((m) => ({ default: m.ClerkSignIn })));

export function SignInPage() {
  const auth = useAuth();
  return (
    <main className="signin" id="main">
      <section className="panel">
        <h1>Playcast</h1>
        <p className="lead">Play games streamed from this service, right in the browser.</p>
        {auth.mode === 'clerk' ? (
          <Suspense fallback={<p role="status">Loading sign-in…</p>}>
            {auth.error && <ProblemNote error={auth.error} />}
            <ClerkSignIn routing="hash" />
          </Suspense>
        ) : auth.mode === 'external' ? (
          <TokenSignIn />
        ) : (
          <DevSignIn />
        )}
      </section>
    </main>
  );
}

function DevSignIn() {
  const auth = useAuth();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('player');
  const { busy, error, submit } = useSubmit(() => auth.signInDev(name.trim(), role));

  return (
    <form onSubmit={submit} className="form" aria-describedby="dev-note">
      <p id="dev-note" className="note">
        Development sign-in: this service has no identity provider configured, so anyone who reaches it picks a name
        and role.
      </p>
      <label>
        Name
        <input
          id="signin-name"
          name="name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
          maxLength={64}
          autoComplete="username"
          autoFocus
        />
      </label>
      <label>
        Role
        <select id="signin-role" name="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          <option value="player">Player: launch and play games</option>
          <option value="viewer">Viewer: watch shared sessions</option>
          <option value="admin">Admin: everything, and the dashboard</option>
        </select>
      </label>
      {(error || auth.error) && <ProblemNote error={(error ?? auth.error)!} />}
      <button type="submit" className="primary" disabled={busy || !name.trim()}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}

function TokenSignIn() {
  const auth = useAuth();
  const [token, setToken] = useState('');
  const { busy, error, submit } = useSubmit(() => auth.signInToken(token));

  return (
    <form onSubmit={submit} className="form" aria-describedby="token-note">
      <p id="token-note" className="note">
        This service accepts sign-ins from its identity provider. Paste a token it issued you, or open this page with{' '}
        <code>#token=…</code> at the end of the address (the part after <code>#</code> never reaches the server).
      </p>
      <label>
        Token
        <textarea
          id="signin-token"
          name="token"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          required
          rows={4}
          spellCheck={false}
          autoComplete="off"
          autoFocus
        />
      </label>
      {(error || auth.error) && <ProblemNote error={(error ?? auth.error)!} />}
      <button type="submit" className="primary" disabled={busy || !token.trim()}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}

/** A sign-in form's submit: busy while it runs, the error it ended with. */
function useSubmit(signIn: () => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, submit };
}
