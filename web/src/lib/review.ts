// Words for the review workflow: submission statuses, what a diff is against, and thread labels.
import type { FileDiff, Submission, SubmissionStatus, Thread } from '../api/types';

export const statusLabel: Record<SubmissionStatus, string> = {
  submitted: 'submitted',
  changes_requested: 'changes requested',
  approved: 'approved',
  superseded: 'superseded',
  withdrawn: 'withdrawn',
};


/** "compared with the template Intro", "compared with submission #2", "compared with nothing". */
export function baseText(s: Pick<Submission, 'base' | 'template'>): string {
  switch (s.base.kind) {
    case 'template':
      return s.template ? `compared with the template ${s.template}` : 'compared with its template (since deleted)';
    case 'submission':
      return s.base.seq !== null ? `compared with submission #${s.base.seq}` : 'compared with the previous submission';
    default:
      return 'compared with nothing';
  }
}

/** "line 3" or "lines 3–5". */
export const linesText = (start: number, end: number) => (start === end ? `line ${start}` : `lines ${start}–${end}`);

/** The accessible name of a thread: "Comment thread on main.py line 3". */
export const threadLabel = (t: Pick<Thread, 'path' | 'line_start' | 'line_end'>) => `Comment thread on ${t.path} ${linesText(t.line_start, t.line_end)}`;

/** A file's status in words: "added", "renamed old.py → new.py". */
export function fileStatusText(f: Pick<FileDiff, 'status' | 'old_path' | 'path'>): string {
  if (f.status === 'renamed' && f.old_path) return `renamed ${f.old_path} → ${f.path}`;
  return f.status;
}

/** The path a comment on `side` of a file's diff is anchored to: a renamed or removed file's old path on the old side. */
export const anchorPath = (file: { path: string; old_path: string | null }, side: 'old' | 'new') =>
  side === 'old' ? (file.old_path ?? file.path) : file.path;
