// Guards signed-in pages: signed-out visitors go to /login?next=<this page>.
import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router-dom';
import { useAuth } from '../hooks/useAuth';
import { PageLoader } from '../components/Spinner';
import { ErrorState } from '../components/States';

export function loginPath(path: string): string {
  return path && path !== '/' ? `/login?next=${encodeURIComponent(path)}` : '/login';
}

export function RequireAuth({ children }: { children: ReactNode }) {
  const { user, error, refresh } = useAuth();
  const location = useLocation();
  if (user === null) {
    return <Navigate to={loginPath(location.pathname + location.search + location.hash)} replace />;
  }
  if (user === undefined) {
    if (error) {
      return (
        <main className="centered-page">
          <ErrorState title="Could not reach Burrow" error={error} onRetry={() => void refresh()} />
        </main>
      );
    }
    return <PageLoader />;
  }
  return <>{children}</>;
}
