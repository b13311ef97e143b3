// Tests for relative-time formatting.
import { describe, expect, it } from 'vitest';
import { formatRelative } from './time';

const now = Date.parse('2026-03-10T12:00:00Z');
const ago = (secs: number) => new Date(now - secs * 1000).toISOString();

describe('formatRelative', () => {
  it.each([
    [5, 'just now'],
    [-20, 'just now'],
    [60, '1 minute ago'],
    [5 * 60, '5 minutes ago'],
    [60 * 60, '1 hour ago'],
    [2 * 3600, '2 hours ago'],
    [26 * 3600, '1 day ago'],
    [3 * 86400, '3 days ago'],
    [45 * 86400, '2 months ago'],
    [400 * 86400, '1 year ago'],
    [-3 * 3600, 'in 3 hours'],
  ])('%i seconds ago reads %s', (secs, text) => {
    expect(formatRelative(ago(secs), now)).toBe(text);
  });

  it('handles missing and invalid timestamps', () => {
    expect(formatRelative(null, now)).toBe('never');
    expect(formatRelative('not a date', now)).toBe('unknown');
  });
});
