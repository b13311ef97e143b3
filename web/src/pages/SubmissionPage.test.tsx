// Tests for a submission's page: who gets the review box or Withdraw, commenting on a line, the
// thread under its line, and the remembered diff layout.
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { SubmissionPage } from './SubmissionPage';
import { mockFetch, renderWithProviders, testUser } from '../test/utils';
import type { Diff, Role, Submission, Thread } from '../api/types';

const XSS = '<img src=x onerror=alert(1)>';

function submission(overrides: Partial<Submission> = {}): Submission {
  return {
    id: 's1',
    project_id: 'p1',
    workspace_id: 'w1',
    workspace: 'analysis',
    learner_id: 'u2',
    learner: 'Grace',
    seq: 2,
    message: XSS,
    status: 'submitted',
    template_id: 't1',
    template: 'Intro',
    base: { kind: 'submission', seq: 1 },
    files: 2,
    bytes: 100,
    created_at: new Date().toISOString(),
    reviewed_by: null,
    reviewed_at: null,
    summary: null,
    live: true,
    ...overrides,
  };
}

const diff: Diff = {
  base: { kind: 'submission', seq: 1 },
  files: [
    {
      path: 'main.py',
      old_path: null,
      status: 'modified',
      binary: false,
      old_size: 10,
      new_size: 12,
      additions: 1,
      deletions: 1,
      lines: [
        { kind: 'context', old: 1, new: 1, text: 'import os' },
        { kind: 'removed', old: 2, new: null, text: 'print(1)' },
        { kind: 'added', old: null, new: 2, text: 'print(2)' },
        { kind: 'context', old: 3, new: 3, text: 'x = 3' },
      ],
    },
    { path: 'notes.md', old_path: null, status: 'unchanged', binary: false, old_size: 5, new_size: 5, additions: 0, deletions: 0, lines: [{ kind: 'context', old: 1, new: 1, text: 'notes' }] },
  ],
};

const carried: Thread = {
  id: 'th1',
  submission_id: 's0',
  seq: 1,
  path: 'main.py',
  side: 'new',
  line_start: 3,
  line_end: 3,
  carried: true,
  resolved: false,
  comments: [{ id: 'c1', author: 'Ada', author_id: 'u1', body: 'Name this better', created_at: new Date().toISOString() }],
};

function renderPage(role: Role, sub: Submission = submission()) {
  let current = sub;
  const calls = mockFetch((c) => {
    if (c.method === 'GET' && c.url === '/api/v1/projects/p1/submissions/s1') return { body: current };
    if (c.method === 'GET' && c.url === '/api/v1/projects/p1/submissions/s1/diff') return { body: diff };
    if (c.method === 'GET' && c.url === '/api/v1/projects/p1/submissions/s1/comments') return { body: [carried] };
    if (c.method === 'POST' && c.url === '/api/v1/projects/p1/submissions/s1/comments') {
      const b = c.body as { path: string; side: 'new'; line_start: number; line_end: number; body: string };
      const made: Thread = { ...carried, id: 'th2', submission_id: 's1', seq: 2, carried: false, ...b, comments: [{ id: 'c2', author: 'Ada', author_id: 'u1', body: b.body, created_at: new Date().toISOString() }] };
      return { status: 201, body: made };
    }
    if (c.method === 'POST' && c.url === '/api/v1/projects/p1/submissions/s1/review') {
      const b = c.body as { verdict: Submission['status']; summary: string };
      current = { ...current, status: b.verdict, summary: b.summary, reviewed_by: 'Ada Lovelace', reviewed_at: new Date().toISOString() };
      return { body: current };
    }
    if (c.method === 'POST' && c.url === '/api/v1/projects/p1/submissions/s1/withdraw') {
      current = { ...current, status: 'withdrawn' };
      return { body: current };
    }
    return undefined;
  });
  renderWithProviders(<SubmissionPage />, { path: '/projects/p1/submissions/s1', pattern: '/projects/:projectId/submissions/:submissionId', role });
  return calls;
}

describe('SubmissionPage', () => {
  it('shows the header, the message as text, and the carried thread under its line', async () => {
    renderPage('reviewer');
    expect(await screen.findByRole('heading', { level: 1, name: /analysis/ })).toHaveTextContent('analysis #2');
    expect(screen.getByText(/compared with submission #1/)).toBeInTheDocument();
    expect(screen.getByText(XSS)).toBeInTheDocument();
    expect(document.querySelector('img')).toBeNull();
    const group = await screen.findByRole('group', { name: 'Comment thread on main.py line 3' });
    expect(within(group).getByText('from submission #1')).toBeInTheDocument();
    expect(group.closest('tr')!.previousElementSibling).toHaveTextContent('x = 3');
    // The unchanged file starts closed.
    expect(screen.getByRole('button', { name: 'notes.md' })).toHaveAttribute('aria-expanded', 'false');
  });

  it('lets a reviewer approve with a summary', async () => {
    const calls = renderPage('reviewer');
    await userEvent.type(await screen.findByLabelText('Summary'), 'Well done');
    await userEvent.click(screen.getByRole('button', { name: 'Approve' }));
    expect(calls.find((c) => c.url.endsWith('/review'))?.body).toEqual({ verdict: 'approved', summary: 'Well done' });
    expect(await screen.findByRole('region', { name: 'Last review' })).toHaveTextContent('Approved by Ada Lovelace');
    expect(screen.getByRole('button', { name: 'Request changes' })).toBeInTheDocument();
  });

  it('gives the learner Withdraw and no review box', async () => {
    renderPage('editor', submission({ learner_id: testUser.id }));
    expect(await screen.findByRole('button', { name: 'Withdraw' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Approve' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Request changes' })).toBeNull();
  });

  it('gives no review box on a superseded submission', async () => {
    renderPage('owner', submission({ status: 'superseded', live: false }));
    await screen.findByRole('heading', { level: 1, name: /analysis/ });
    expect(screen.queryByRole('button', { name: 'Approve' })).toBeNull();
  });

  it("gives no review box on a reviewer's own submission", async () => {
    renderPage('reviewer', submission({ learner_id: testUser.id }));
    await screen.findByRole('heading', { level: 1, name: /analysis/ });
    expect(screen.queryByRole('button', { name: 'Approve' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Withdraw' })).toBeInTheDocument();
  });

  it('comments on a line from its number', async () => {
    const calls = renderPage('reviewer');
    await userEvent.click(await screen.findByRole('button', { name: 'Comment on line 2 of main.py' }));
    await userEvent.type(screen.getByLabelText('Comment'), 'Why 2?');
    await userEvent.click(screen.getByRole('button', { name: 'Comment' }));
    expect(calls.find((c) => c.method === 'POST' && c.url.endsWith('/comments'))?.body).toEqual({
      path: 'main.py',
      side: 'new',
      line_start: 2,
      line_end: 2,
      body: 'Why 2?',
    });
    const group = await screen.findByRole('group', { name: 'Comment thread on main.py line 2' });
    expect(within(group).getByText('Why 2?')).toBeInTheDocument();
    expect(screen.queryByLabelText('Comment')).toBeNull();
  });

  it('remembers the side-by-side layout', async () => {
    renderPage('reviewer');
    await userEvent.click(await screen.findByRole('button', { name: 'Side by side' }));
    expect(screen.getByRole('button', { name: 'Side by side' })).toHaveAttribute('aria-pressed', 'true');
    await waitFor(() => expect(screen.getByRole('table', { name: 'Changes to main.py, side by side' })).toBeInTheDocument());
    expect(window.localStorage.getItem('burrow.diffView')).toBe('split');
  });
});

describe('SubmissionPage ranges', () => {
  it('extends a comment to a range with shift-click, keeping its text', async () => {
    const calls = renderPage('reviewer');
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Comment on line 2 of main.py' }));
    await user.type(screen.getByLabelText('Comment'), 'These two');
    await user.keyboard('{Shift>}');
    await user.click(screen.getByRole('button', { name: 'Comment on line 3 of main.py' }));
    await user.keyboard('{/Shift}');
    expect(screen.getByLabelText('Comment')).toHaveValue('These two');
    await user.click(screen.getByRole('button', { name: 'Comment' }));
    expect(calls.find((c) => c.method === 'POST' && c.url.endsWith('/comments'))?.body).toMatchObject({ line_start: 2, line_end: 3, body: 'These two' });
    expect(await screen.findByRole('group', { name: 'Comment thread on main.py lines 2–3' })).toBeInTheDocument();
  });
});
