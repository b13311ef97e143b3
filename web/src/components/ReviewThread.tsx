// A review comment thread (its comments as plain text, a reply box, Resolve), and the form that starts one.
import { useId, useState, type FormEvent, type ReactNode } from 'react';
import { api } from '../api/endpoints';
import { errorMessage } from '../api/client';
import type { Side, Thread } from '../api/types';
import { formatAbsolute, formatRelative } from '../lib/time';
import { linesText, threadLabel } from '../lib/review';
import { Button } from './Button';
import { FormError, TextAreaField } from './Field';
import { Icon } from './Icon';

/** The most a comment may hold. */
export const MAX_COMMENT = 10_000;

export function ThreadView({
  thread,
  projectId,
  canRespond,
  now,
  onChange,
  location,
  onActivate,
}: {
  thread: Thread;
  projectId: string;
  /** Whether this person may reply and resolve (reviewers, and the learner on their own). */
  canRespond: boolean;
  now: number;
  onChange: (next: Thread) => void;
  /** Where the thread is, shown first in its head (a link or a button, in the IDE). */
  location?: ReactNode;
  /** A click on the thread outside its controls (the IDE opens its file; `location` does it by keyboard). */
  onActivate?: () => void;
}) {
  const replyId = useId();
  const [reply, setReply] = useState('');
  const [busy, setBusy] = useState<'reply' | 'resolve' | null>(null);
  const [error, setError] = useState<string | null>(null);

  // The answer is the thread where it was made: keep where this view placed it (a carried
  // thread's lines are mapped onto this submission), and take its comments and state.
  const merge = (fresh: Thread) => onChange({ ...thread, comments: fresh.comments, resolved: fresh.resolved });

  const sendReply = async (e: FormEvent) => {
    e.preventDefault();
    const body = reply.trim();
    if (!body) return;
    setBusy('reply');
    setError(null);
    try {
      merge(await api.replyToThread(projectId, thread.id, body));
      setReply('');
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  };

  const toggleResolved = async () => {
    setBusy('resolve');
    setError(null);
    try {
      merge(await api.resolveThread(projectId, thread.id, !thread.resolved));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <div
      role="group"
      aria-label={threadLabel(thread)}
      className="thread"
      data-resolved={thread.resolved || undefined}
      data-activatable={onActivate ? true : undefined}
      onClick={(e) => {
        if (onActivate && !(e.target as HTMLElement).closest('button, a, textarea, input, form')) onActivate();
      }}
    >
      <div className="thread-head">
        {location}
        {thread.carried && <span className="badge-soft">from submission #{thread.seq}</span>}
        {thread.resolved && <span className="badge badge-success badge-sm">resolved</span>}
        {canRespond && (
          <Button size="sm" variant="ghost" className="thread-resolve" loading={busy === 'resolve'} onClick={() => void toggleResolved()}>
            {thread.resolved ? 'Unresolve' : 'Resolve'}
          </Button>
        )}
      </div>
      <ol className="thread-comments">
        {thread.comments.map((c) => (
          <li key={c.id} className="thread-comment">
            <div className="thread-meta small">
              <span className="strong">{c.author ?? 'Someone'}</span>
              <time className="muted" dateTime={c.created_at} title={formatAbsolute(c.created_at)}>
                {formatRelative(c.created_at, now)}
              </time>
            </div>
            <p className="thread-body">{c.body}</p>
          </li>
        ))}
      </ol>
      {canRespond && (
        <form className="thread-reply" onSubmit={(e) => void sendReply(e)}>
          <label htmlFor={replyId} className="sr-only">
            Reply
          </label>
          <textarea
            id={replyId}
            className="input textarea"
            rows={1}
            placeholder="Reply…"
            value={reply}
            maxLength={MAX_COMMENT}
            required
            onChange={(e) => setReply(e.target.value)}
          />
          <Button type="submit" size="sm" loading={busy === 'reply'}>
            Reply
          </Button>
        </form>
      )}
      <FormError>{error}</FormError>
    </div>
  );
}

/**
 * The inline form that starts a thread on a line, or a range of lines, of one side of a file.
 * Its text is kept by the page, so it survives the form moving when the range grows.
 */
export function NewCommentForm({
  path,
  side,
  start,
  end,
  body,
  onBody,
  onSubmit,
  onCancel,
}: {
  path: string;
  side: Side;
  start: number;
  end: number;
  body: string;
  onBody: (body: string) => void;
  onSubmit: (body: string) => Promise<void>;
  onCancel: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!body.trim()) {
      setError('Write a comment first.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await onSubmit(body);
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  };

  return (
    <form className="thread thread-new" onSubmit={(e) => void submit(e)} noValidate>
      <TextAreaField
        label="Comment"
        hint={`On ${side === 'old' ? 'the old ' : ''}${linesText(start, end)} of ${path}. Shift-click another line number to comment on a range.`}
        value={body}
        rows={3}
        maxLength={MAX_COMMENT}
        autoFocus
        onChange={(e) => onBody(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') onCancel();
        }}
      />
      <FormError>{error}</FormError>
      <div className="row">
        <Button type="submit" size="sm" variant="primary" loading={busy} icon={<Icon name="message" size={14} />}>
          Comment
        </Button>
        <Button size="sm" variant="ghost" onClick={onCancel} disabled={busy}>
          Cancel
        </Button>
      </div>
    </form>
  );
}
