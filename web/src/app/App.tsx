// The player app at `/`: sign-in, the library, play, history, settings and,
// for admins, the operator dashboard.
import { lazy, Suspense } from 'react';
import './app.css';
import { AuthProvider, useAuth } from './auth/AuthContext';
import { SettingsProvider } from './cache/settings';
import { ErrorBoundary } from './ErrorBoundary';
import { EventsProvider, useEventsStatus } from './events/EventsContext';
import { AdminPage } from './pages/Admin';
import { HistoryPage } from './pages/History';
import { LibraryPage } from './pages/Library';
import { PlayPage } from './pages/Play';
import { SettingsPage } from './pages/Settings';
import { SignInPage } from './pages/SignIn';
import { Link, Route, useRoute } from './router';

export default function App() {
  return (
    <ErrorBoundary>
      <SettingsProvider>
        <AuthProvider>
          <Shell />
        </AuthProvider>
      </SettingsProvider>
    </ErrorBoundary>
  );
}

function Shell() {
  const auth = useAuth();
  const route = useRoute();
  if (auth.status === 'loading') {
    return (
      <div className="splash" role="status" aria-live="polite">
        Signing in…
      </div>
    );
  }
  if (auth.status === 'signed-out') return <SignInPage />;
  return (
    <EventsProvider token={auth.token}>
      <div className={`layout page-${route.page}`}>
        <Header route={route} />
        <main id="main">
          <ErrorBoundary where="this page" key={route.page}>
            <Page route={route} />
          </ErrorBoundary>
        </main>
      </div>
    </EventsProvider>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'home':
      return <LibraryPage />;
    case 'play':
      return <PlayPage id={route.id} key={route.id} />;
    case 'history':
      return <HistoryPage />;
    case 'settings':
      return <SettingsPage />;
    case 'admin':
      return <AdminPage />;
    case 'not-found':
      return (
        <section className="panel">
          <h1>No page here</h1>
          <p>
            Nothing lives at <code>{route.path}</code>. <Link to="/">Go to the library</Link>.
          </p>
        </section>
      );
  }
}

const ClerkUserButton = lazy(() => import('@clerk/clerk-react').then((m) => ({ default: m.UserButton })));

function Header({ route }: { route: Route }) {
  const auth = useAuth();
  const events = useEventsStatus();
  const role = auth.me?.role;
  const nav: [string, string, Route['page']][] = [
    ['/', 'Library', 'home'],
    ['/history', 'History', 'history'],
    ['/settings', 'Settings', 'settings'],
  ];
  if (role === 'admin') nav.push(['/admin', 'Dashboard', 'admin']);
  return (
    <header className="topbar">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <Link to="/" className="brand">
        Playcast
      </Link>
      <nav aria-label="Pages">
        {nav.map(([to, label, page]) => (
          <Link key={to} to={to} aria-current={route.page === page ? 'page' : undefined}>
            {label}
          </Link>
        ))}
      </nav>
      <div className="who">
        {auth.offline ? (
          <span className="badge warn" title={auth.error?.message}>
            offline
          </span>
        ) : events.status === 'reconnecting' ? (
          <span className="badge warn" title={events.detail}>
            live updates reconnecting
          </span>
        ) : null}
        {auth.profile?.avatar ? <img className="avatar" src={auth.profile.avatar} alt="" /> : <span className="avatar initial" aria-hidden="true">{(auth.profile?.name ?? '?').slice(0, 1).toUpperCase()}</span>}
        <span className="name">
          {auth.profile?.name ?? auth.me?.user_id}
          {role && <span className={`badge role-${role}`}>{role}</span>}
        </span>
        {auth.mode === 'clerk' && (
          <Suspense fallback={null}>
            <ClerkUserButton />
          </Suspense>
        )}
        <button type="button" className="signout" onClick={() => void auth.signOut()}>
          Sign out
        </button>
      </div>
    </header>
  );
}
