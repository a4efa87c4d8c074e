// The operator dashboard, for admins only (the API enforces the same).
import { ComponentType, lazy, Suspense } from 'react';
import { useAuth } from '../auth/AuthContext';
import type { TokenFn } from '../api';

type DashboardModule = { Dashboard: ComponentType<{ token: TokenFn }> };
const found = import.meta.glob<DashboardModule>('../dashboard/Dashboard.tsx');
const loader = Object.values(found)[0];
const Dashboard = loader ? lazy(() => loader().then((m) => ({ default: m.Dashboard }))) : null;

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
  if (!Dashboard) {
    return (
      <section className="panel">
        <h1>Dashboard</h1>
        <p>This build has no dashboard.</p>
      </section>
    );
  }
  return (
    <Suspense fallback={<p role="status">Loading the dashboard…</p>}>
      <Dashboard token={auth.token} />
    </Suspense>
  );
}
