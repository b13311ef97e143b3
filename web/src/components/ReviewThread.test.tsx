// Tests for comment threads: bodies render as text (never HTML), replies and resolving go to the API.
import { describe, expect, it, vi } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Thread } from '../api/types';
import { mockFetch, renderWithProviders } from '../test/utils';
import { ThreadView } from './ReviewThread';

const XSS = '<img src=x onerror=alert(1)>';

function thread(overrides: Partial<Thread> = {}): Thread {
  return {
    id: 't1',
    submission_id: 's1',
    seq: 1,
    path: 'main.py',
    side: 'new',
    line_start: 3,
    line_end: 3,
    carried: false,
    resolved: false,
    comments: [{ id: 'c1', author: 'Grace', author_id: 'u2', body: XSS, created_at: new Date().toISOString() }],
    ...overrides,
  };
}

function renderThread(t: Thread, onChange = vi.fn(), canRespond = true) {
  renderWithProviders(<ThreadView thread={t} projectId="p1" canRespond={canRespond} now={Date.now()} onChange={onChange} />, {
    path: '/',
    pattern: '/',
  });
  return onChange;
}

describe('ThreadView', () => {
  it('renders a comment body as literal text', () => {
    mockFetch(() => undefined);
    renderThread(thread());
    const group = screen.getByRole('group', { name: 'Comment thread on main.py line 3' });
    expect(within(group).getByText(XSS)).toBeInTheDocument();
    expect(group.querySelector('img')).toBeNull();
    expect(document.querySelector('img')).toBeNull();
  });

  it('labels a range, and a thread carried from an earlier submission', () => {
    mockFetch(() => undefined);
    renderThread(thread({ line_start: 3, line_end: 5, carried: true, seq: 2 }));
    const group = screen.getByRole('group', { name: 'Comment thread on main.py lines 3–5' });
    expect(within(group).getByText('from submission #2')).toBeInTheDocument();
  });

  it('sends a reply and keeps the thread where it was placed', async () => {
    const answer = thread({
      line_start: 10,
      line_end: 10,
      carried: false,
      comments: [...thread().comments, { id: 'c2', author: 'Ada', author_id: 'u1', body: 'Fixed it', created_at: new Date().toISOString() }],
    });
    const calls = mockFetch((c) => (c.url.endsWith('/comments/t1/replies') ? { status: 201, body: answer } : undefined));
    const carried = thread({ carried: true });
    const onChange = renderThread(carried);
    await userEvent.type(screen.getByLabelText('Reply'), 'Fixed it');
    await userEvent.click(screen.getByRole('button', { name: 'Reply' }));
    expect(calls[0]).toMatchObject({ method: 'POST', url: '/api/v1/projects/p1/comments/t1/replies', body: { body: 'Fixed it' } });
    const next = onChange.mock.calls[0][0] as Thread;
    expect(next.comments).toHaveLength(2);
    expect(next).toMatchObject({ line_start: 3, line_end: 3, carried: true });
  });

  it('resolves and unresolves', async () => {
    const calls = mockFetch((c) => (c.url.endsWith('/resolve') ? { body: thread({ resolved: true }) } : undefined));
    const onChange = renderThread(thread());
    await userEvent.click(screen.getByRole('button', { name: 'Resolve' }));
    expect(calls[0].body).toEqual({ resolved: true });
    expect((onChange.mock.calls[0][0] as Thread).resolved).toBe(true);
  });

  it('offers no reply or resolve to someone who may not respond', () => {
    mockFetch(() => undefined);
    renderThread(thread(), vi.fn(), false);
    expect(screen.queryByLabelText('Reply')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Resolve' })).toBeNull();
  });
});
