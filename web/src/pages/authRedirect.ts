// Sign-in and registration share this: the form's state, and where to go afterwards
// (a sanitised `next`, with a full page load, or the app home).
import { useEffect, useRef, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router-dom';
import { ApiError, errorMessage } from '../api/client';
import type { Session } from '../api/types';
import { useAuth } from '../hooks/useAuth';
import { sanitizeNext } from '../lib/next';

export function goAfterSignIn(next: string | null, navigate: (to: string, opts?: { replace?: boolean }) => void): void {
  const dest = sanitizeNext(next, window.location.origin);
  if (dest) window.location.assign(dest);
  else navigate('/', { replace: true });
}

/** The `next` to carry over between the sign-in and register pages, if it is safe. */
export function carryNext(next: string | null): string {
  const dest = sanitizeNext(next, window.location.origin);
  return dest ? `?next=${encodeURIComponent(next!)}` : '';
}

/**
 * A form that starts a session: `start` runs the API call, then the user is signed in
 * and sent on. Errors on one of `fields` go beside it; any other goes above the form.
 * A visitor who is already signed in is sent on at once.
 */
export function useSessionForm(fields: string[]) {
  const [params] = useSearchParams();
  const next = params.get('next');
  const navigate = useNavigate();
  const { user, setUser } = useAuth();
  const [error, setError] = useState<ApiError | string | null>(null);
  const [busy, setBusy] = useState(false);

  // A visitor already signed in goes on; one who signs in here is sent on by `start`.
  const latest = useRef({ busy, next, navigate });
  latest.current = { busy, next, navigate };
  useEffect(() => {
    const { busy, next, navigate } = latest.current;
    if (user && !busy) goAfterSignIn(next, navigate);
  }, [user]);

  const start = async (call: () => Promise<Session>) => {
    setBusy(true);
    setError(null);
    try {
      const session = await call();
      setUser(session.user);
      goAfterSignIn(next, navigate);
    } catch (err) {
      setError(err instanceof ApiError ? err : errorMessage(err));
      setBusy(false);
    }
  };

  const fieldError = (field: string) => (error instanceof ApiError && error.field === field ? error.message : null);
  const formError =
    typeof error === 'string' ? error : error && !(error.field && fields.includes(error.field)) ? error.message : null;
  return { next, error, setError, busy, start, fieldError, formError };
}
