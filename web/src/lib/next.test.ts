// Tests for the login `next` sanitiser (open-redirect defence).
import { describe, expect, it } from 'vitest';
import { sanitizeNext } from './next';

const origin = 'https://burrow.example.com';

describe('sanitizeNext', () => {
  it.each([
    ['/projects/p1', `${origin}/projects/p1`],
    ['/api/v1/apps/abc/open', `${origin}/api/v1/apps/abc/open`],
    ['/api/v1/apps/abc/open?next=%2Fapps%2Fabc%2F', `${origin}/api/v1/apps/abc/open?next=%2Fapps%2Fabc%2F`],
    ['/projects/../admin', `${origin}/admin`],
    ['https://burrow.example.com/api/v1/apps/abc/open', 'https://burrow.example.com/api/v1/apps/abc/open'],
  ])('accepts same-origin %s', (next, expected) => {
    expect(sanitizeNext(next, origin)).toBe(expected);
  });

  it.each([
    null,
    '',
    '//evil.com/path',
    '/\\evil.com',
    '\\\\evil.com',
    'https://evil.com/api/v1/apps/abc/open',
    'https://burrow.example.com.evil.com/',
    'http://burrow.example.com/',
    'javascript:alert(1)',
    'data:text/html,hi',
    'projects/p1',
    ' /projects',
    '/\t/evil.com',
    'https://user:pass@burrow.example.com/',
    // Dot segments that collapse into a protocol-relative URL.
    '/..//evil.com',
    '/%2e%2e//evil.com',
    '/projects/..//evil.com',
    '/./..//evil.com/x?y',
  ])('rejects %s', (next) => {
    expect(sanitizeNext(next, origin)).toBeNull();
  });
});
