// Tests for the reviews inbox: default filters by role, filter requests, rows and the empty state.
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ReviewsPage } from './ReviewsPage';
import { mockFetch, renderWithProviders } from '../test/utils';
import type { Role, Submission } from '../api/types';

function submission(id: string, learner: string, overrides: Partial<Submission> = {}): Submission {
  return {
    id,
    project_id: 'p1',
    workspace_id: `w-${id}`,
    workspace: `ws-${id}`,
    learner_id: `u-${learner}`,
    learner,
    seq: 1,
    message: '',
    status: 'submitted',
    template_id: null,
    template: null,
    base: { kind: 'empty', seq: null },
    files: 1,
    bytes: 1,
    created_at: new Date(Date.now() - 3 * 60_000).toISOString(),
    reviewed_by: null,
    reviewed_at: null,
    summary: null,
    live: true,
    ...overrides,
  };
}

function renderPage(role: Role, list: Submission[]) {
  const calls = mockFetch((c) => {
    if (c.url.startsWith('/api/v1/projects/p1/submissions')) {
      const q = new URL(c.url, 'http://x').searchParams;
      return { body: list.filter((s) => (!q.get('status') || s.status === q.get('status')) && (!q.get('learner') || s.learner_id === q.get('learner'))) };
    }
    if (c.url === '/api/v1/projects/p1/templates') return { body: [] };
    return undefined;
  });
  renderWithProviders(<ReviewsPage />, { path: '/projects/p1/reviews', pattern: '/projects/:projectId/reviews', role });
  return calls;
}

describe('ReviewsPage', () => {
  it('shows reviewers what waits for them, with links to each submission', async () => {
    const calls = renderPage('reviewer', [submission('s1', 'Grace', { template: 'Intro', seq: 3 }), submission('s2', 'Alan')]);
    const table = await screen.findByRole('table', { name: 'Submissions' });
    expect(calls[0].url).toBe('/api/v1/projects/p1/submissions?status=submitted');
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Reviews');
    const row = within(table).getAllByRole('row')[1];
    expect(row).toHaveTextContent('Grace');
    expect(row).toHaveTextContent('#3');
    expect(row).toHaveTextContent('Intro');
    expect(row).toHaveTextContent('3 minutes ago');
    expect(within(row).getByRole('link', { name: 'ws-s1' })).toHaveAttribute('href', '/projects/p1/submissions/s1');
  });

  it('filters by learner, keeping everyone seen in the choices', async () => {
    const calls = renderPage('owner', [submission('s1', 'Grace'), submission('s2', 'Alan')]);
    await screen.findByRole('table', { name: 'Submissions' });
    // The choices come from the submissions listed, once they are.
    await within(screen.getByLabelText('Learner')).findByRole('option', { name: 'Grace' });
    await userEvent.selectOptions(screen.getByLabelText('Learner'), 'u-Grace');
    await waitFor(() => expect(calls.some((c) => c.url.includes('learner=u-Grace'))).toBe(true));
    await waitFor(() => expect(within(screen.getByRole('table', { name: 'Submissions' })).getAllByRole('row')).toHaveLength(2));
    expect(within(screen.getByLabelText('Learner')).getAllByRole('option').map((o) => o.textContent)).toEqual(['Anyone', 'Alan', 'Grace']);
  });

  it('shows editors all their own submissions, and says when there are none', async () => {
    const calls = renderPage('editor', []);
    expect(await screen.findByRole('heading', { name: 'No submissions yet' })).toBeInTheDocument();
    expect(calls[0].url).toBe('/api/v1/projects/p1/submissions');
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('My submissions');
    expect(screen.queryByLabelText('Learner')).toBeNull();
  });

  it('tells a reviewer when nothing waits', async () => {
    renderPage('reviewer', [submission('s1', 'Grace', { status: 'approved' })]);
    expect(await screen.findByRole('heading', { name: 'Nothing waits for review' })).toBeInTheDocument();
  });
});
