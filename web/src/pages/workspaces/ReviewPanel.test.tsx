// Tests for the IDE's review side: editor marks for threads, the panel's threads, and submitting.
import { describe, expect, it, vi } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Submission, WorkspaceReview, WorkspaceThread } from '../../api/types';
import { mockFetch, renderWithProviders } from '../../test/utils';
import { ReviewPanel, SubmitDialog, commentMarks } from './ReviewPanel';

function thread(overrides: Partial<WorkspaceThread> = {}): WorkspaceThread {
  return {
    id: 'th1',
    submission_id: 's1',
    seq: 1,
    path: 'main.py',
    side: 'new',
    line_start: 3,
    line_end: 4,
    carried: false,
    resolved: false,
    current_line: 5,
    comments: [{ id: 'c1', author: 'Grace', author_id: 'u2', body: 'Rename x', created_at: new Date().toISOString() }],
    ...overrides,
  };
}

const submission: Submission = {
  id: 's1',
  project_id: 'p1',
  workspace_id: 'w1',
  workspace: 'analysis',
  learner_id: 'u1',
  learner: 'Ada Lovelace',
  seq: 1,
  message: '',
  status: 'changes_requested',
  template_id: null,
  template: null,
  base: { kind: 'empty', seq: null },
  files: 1,
  bytes: 10,
  created_at: new Date().toISOString(),
  reviewed_by: 'Grace',
  reviewed_at: new Date().toISOString(),
  summary: 'Nearly there',
  live: true,
};

describe('commentMarks', () => {
  it('marks each line a thread covers now in the open file, titled with its comments', () => {
    const marks = commentMarks([thread(), thread({ id: 'th2', path: 'other.py' }), thread({ id: 'th3', current_line: null })], 'main.py');
    expect(marks).toEqual([
      { line: 5, kind: 'comment', title: 'Grace: Rename x' },
      { line: 6, kind: 'comment', title: 'Grace: Rename x' },
    ]);
  });
});

describe('ReviewPanel', () => {
  it('shows the verdict and threads, and opens a thread at its line', async () => {
    mockFetch(() => undefined);
    const onOpen = vi.fn();
    const review: WorkspaceReview = { submission, threads: [thread()] };
    renderWithProviders(
      <ReviewPanel projectId="p1" review={review} error={undefined} canRespond isOwner now={Date.now()} onThreadChange={vi.fn()} onOpenThread={onOpen} />,
      { path: '/', pattern: '/' },
    );
    const panel = screen.getByRole('region', { name: 'Review' });
    expect(within(panel).getByText('changes requested')).toBeInTheDocument();
    expect(within(panel).getByText('Nearly there')).toBeInTheDocument();
    expect(within(panel).getByRole('link', { name: 'Open submission #1' })).toHaveAttribute('href', '/projects/p1/submissions/s1');
    const group = within(panel).getByRole('group', { name: 'Comment thread on main.py lines 3–4' });
    await userEvent.click(within(group).getByRole('button', { name: 'Open main.py at line 5' }));
    expect(onOpen).toHaveBeenCalledWith(review.threads[0]);
    // A click on the comment opens it too; one in the reply box does not.
    await userEvent.click(within(group).getByText('Rename x'));
    expect(onOpen).toHaveBeenCalledTimes(2);
    await userEvent.click(within(group).getByLabelText('Reply'));
    expect(onOpen).toHaveBeenCalledTimes(2);
  });

  it('says when nothing was submitted', () => {
    mockFetch(() => undefined);
    renderWithProviders(
      <ReviewPanel projectId="p1" review={{ submission: null, threads: [] }} error={undefined} canRespond isOwner now={Date.now()} onThreadChange={vi.fn()} onOpenThread={vi.fn()} />,
      { path: '/', pattern: '/' },
    );
    expect(screen.getByText(/Not submitted for review yet/)).toBeInTheDocument();
  });
});

describe('SubmitDialog', () => {
  it('submits the workspace with a message', async () => {
    const calls = mockFetch((c) => (c.method === 'POST' && c.url === '/api/v1/projects/p1/workspaces/w1/submissions' ? { status: 201, body: { ...submission, seq: 2 } } : undefined));
    const onSubmitted = vi.fn();
    const onClose = vi.fn();
    renderWithProviders(<SubmitDialog projectId="p1" workspaceId="w1" unsaved={['main.py']} onClose={onClose} onSubmitted={onSubmitted} />, { path: '/', pattern: '/' });
    expect(screen.getByText(/Unsaved changes in main.py/)).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('Message'), 'Done with part 1');
    await userEvent.click(screen.getByRole('button', { name: 'Submit for review' }));
    expect(calls[0].body).toEqual({ message: 'Done with part 1' });
    expect(onSubmitted).toHaveBeenCalledWith(expect.objectContaining({ seq: 2 }));
    expect(onClose).toHaveBeenCalled();
    expect(await screen.findByText('Submitted for review as #2.')).toBeInTheDocument();
  });
});
