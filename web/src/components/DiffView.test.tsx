// Tests for a file's diff: names render as text, long unchanged runs fold, line numbers start
// comments, threads sit under their last line, and both layouts show the same lines.
import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { DiffLine, FileDiff, Thread } from '../api/types';
import { FileDiffView, type FileDiffProps } from './DiffView';

const XSS = '<img src=x onerror=alert(1)>';

function lines(): DiffLine[] {
  const out: DiffLine[] = [];
  for (let i = 1; i <= 20; i += 1) out.push({ kind: 'context', old: i, new: i, text: `line ${i}` });
  out.push({ kind: 'removed', old: 21, new: null, text: 'print("old")' });
  out.push({ kind: 'added', old: null, new: 21, text: 'print("new")' });
  return out;
}

function file(overrides: Partial<FileDiff> = {}): FileDiff {
  return {
    path: 'main.py',
    old_path: null,
    status: 'modified',
    binary: false,
    old_size: 100,
    new_size: 100,
    additions: 1,
    deletions: 1,
    lines: lines(),
    ...overrides,
  };
}

function thread(line: number, body: string): Thread {
  return {
    id: `t${line}`,
    submission_id: 's1',
    seq: 1,
    path: 'main.py',
    side: 'new',
    line_start: line,
    line_end: line,
    carried: false,
    resolved: false,
    comments: [{ id: `c${line}`, author: 'Grace', author_id: 'u2', body, created_at: '2026-01-01T00:00:00Z' }],
  };
}

function renderDiff(overrides: Partial<FileDiffProps> = {}) {
  const props: FileDiffProps = {
    id: 'file-0',
    file: file(),
    mode: 'unified',
    expanded: true,
    onToggle: vi.fn(),
    threads: [],
    canComment: true,
    draft: null,
    onLine: vi.fn(),
    renderThread: (t) => (
      <div role="group" aria-label={`thread ${t.line_end}`}>
        {t.comments[0].body}
      </div>
    ),
    renderDraft: () => <div>draft form</div>,
    ...overrides,
  };
  return { props, ...render(<FileDiffView {...props} />) };
}

describe('FileDiffView', () => {
  it('renders a file name as literal text', () => {
    renderDiff({ file: file({ path: XSS, status: 'added' }) });
    expect(screen.getByRole('button', { name: XSS })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: `Comment on line 21 of ${XSS}` })).toBeInTheDocument();
    expect(document.querySelector('img')).toBeNull();
  });

  it('renders a renamed file with both names, as text', () => {
    renderDiff({ file: file({ path: 'new.py', old_path: XSS, status: 'renamed' }) });
    expect(screen.getByRole('button', { name: `${XSS} → new.py` })).toBeInTheDocument();
    expect(document.querySelector('img')).toBeNull();
  });

  it('folds a long unchanged run and shows it on request', async () => {
    renderDiff();
    expect(screen.queryByText('line 1')).toBeNull();
    expect(screen.getByText('line 18')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Show 17 unchanged lines' }));
    expect(screen.getByText('line 1')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /unchanged line/ })).toBeNull();
  });

  it('places a thread right under its last line, unfolding it', () => {
    renderDiff({ threads: [thread(5, 'Why five?')] });
    const group = screen.getByRole('group', { name: 'thread 5' });
    const row = group.closest('tr')!;
    expect(row.previousElementSibling).toHaveTextContent('line 5');
    expect(screen.getByText('line 5')).toBeInTheDocument();
  });

  it('starts a comment from a line number, extending with shift', async () => {
    const { props } = renderDiff();
    await userEvent.click(screen.getByRole('button', { name: 'Comment on line 21 of main.py' }));
    expect(props.onLine).toHaveBeenLastCalledWith('new', 21, false);
    await userEvent.click(screen.getByRole('button', { name: 'Comment on old line 21 of main.py' }));
    expect(props.onLine).toHaveBeenLastCalledWith('old', 21, false);
    const user = userEvent.setup();
    await user.keyboard('{Shift>}');
    await user.click(screen.getByRole('button', { name: 'Comment on line 19 of main.py' }));
    expect(props.onLine).toHaveBeenLastCalledWith('new', 19, true);
  });

  it('shows the draft form under the line it ends at', () => {
    renderDiff({ draft: { path: 'main.py', side: 'new', anchor: 19, start: 19, end: 20 } });
    const form = screen.getByText('draft form');
    expect(form.closest('tr')!.previousElementSibling).toHaveTextContent('line 20');
  });

  it('lays the same lines out side by side, removed beside added', () => {
    renderDiff({ mode: 'split', threads: [thread(21, 'Better.')] });
    const table = screen.getByRole('table', { name: 'Changes to main.py, side by side' });
    const oldCell = within(table).getByText('print("old")').closest('tr')!;
    expect(oldCell).toHaveTextContent('print("new")');
    expect(screen.getByRole('group', { name: 'thread 21' }).closest('tr')!.previousElementSibling).toBe(oldCell);
  });

  it('offers no comment buttons to someone who may not comment', () => {
    renderDiff({ canComment: false });
    expect(screen.queryByRole('button', { name: /^Comment on/ })).toBeNull();
  });

  it('describes a binary file by its sizes, and hides a collapsed file', () => {
    renderDiff({ file: file({ binary: true, lines: null, old_size: 2048, new_size: null, status: 'removed' }) });
    expect(screen.getByText('binary file, sizes 2.0 KB → none')).toBeInTheDocument();
    const { container } = render(<FileDiffView {...{ ...renderDiff().props, expanded: false }} />);
    expect(container.querySelector('table')).toBeNull();
    expect(within(container).getByRole('button', { name: 'main.py' })).toHaveAttribute('aria-expanded', 'false');
  });
});
