// The operator dashboard, for admins only (the API enforces the same).
import { lazy, Suspense } from 'react';
import { useAuth } from '../auth/AuthContext';

// Loaded only for admins who open it.
const Dashboard = lazy(() => import('../dashboard/Dashboard').then((m) => ({ default: m.Dashboard })));

export function AdminPage() {
  const auth = useAuth();
  if (auth.me?.role !== 'admin') {
    return (
      <section className="panel">
        <h1>Dashboard</h1>
        <p>The dashboard is for operators: sign in with the admin role to see it.</p>
      </section>
    );
  }
  return (
    <Suspense fallback={<p role="status">Loading the dashboard…</p>}>
      <Dashboard token={auth.token} />
    </Suspense>
  );
}
