// Where to go after signing in: a sanitised `next` (full page load) or the app home.
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
