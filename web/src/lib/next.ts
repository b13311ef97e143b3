// The login page's `next` sanitiser: only same-origin destinations are honoured (open-redirect defence).

/**
 * Returns a safe, absolute, same-origin URL to go to after signing in, or null when `next`
 * must be ignored. Accepts a path starting with a single `/`, or an absolute http(s) URL on `origin`.
 */
export function sanitizeNext(next: string | null | undefined, origin: string): string | null {
  if (!next) return null;
  const value = next.trim();
  if (!value || value !== next) return null;
  // Control characters and backslashes are how browsers get tricked into other hosts.
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return null;
  if (value.startsWith('/')) {
    if (value.startsWith('//')) return null;
    try {
      const url = new URL(value, origin);
      // Dot segments collapse (`/..//evil.com` is `//evil.com`), so only the
      // absolute result, checked, is safe to hand to the browser.
      if (url.origin !== origin || url.pathname.startsWith('//')) return null;
      return url.href;
    } catch {
      return null;
    }
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username || url.password) return null;
  if (url.origin !== origin) return null;
  return url.href;
}
