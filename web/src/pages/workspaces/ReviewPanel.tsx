// The IDE's review side: the workspace's latest submission (status, verdict, a link to it) with its
// comment threads, each opening its file at its line; and the dialog that submits the workspace.
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../../api/endpoints';
import { errorMessage } from '../../api/client';
import type { Submission, Thread, WorkspaceReview, WorkspaceThread } from '../../api/types';
import { Button } from '../../components/Button';
import { Dialog } from '../../components/Dialog';
import { FormError, TextAreaField } from '../../components/Field';
import { Icon } from '../../components/Icon';
import { ThreadView } from '../../components/ReviewThread';
import { Skeleton } from '../../components/Spinner';
import { SubmissionBadge } from '../../components/SubmissionBadge';
import { useToast } from '../../components/Toast';
import { linesText } from '../../lib/review';
import { formatAbsolute, formatRelative } from '../../lib/time';
import type { LineMark } from '../../components/CodeEditor';

/** The most a submission's message may hold. */
const MAX_MESSAGE = 2000;

/** The editor's marks for the threads on `path`: each line a thread covers now, titled with its comments. */
export function commentMarks(threads: WorkspaceThread[], path: string): LineMark[] {
  const marks: LineMark[] = [];
  for (const t of threads) {
    if (t.path !== path || t.current_line === null) continue;
    const said = t.comments.map((c) => `${c.author ?? 'Someone'}: ${c.body}`).join('\n');
    const title = t.resolved ? `Resolved. ${said}` : said;
    for (let line = t.current_line; line <= t.current_line + (t.line_end - t.line_start); line += 1) {
      marks.push({ line, kind: 'comment', title });
    }
  }
  return marks;
}

export function ReviewPanel({
  projectId,
  review,
  error,
  canRespond,
  isOwner,
  now,
  onThreadChange,
  onOpenThread,
}: {
  projectId: string;
  review: WorkspaceReview | undefined;
  error: unknown;
  /** The workspace's owner and reviewers reply and resolve. */
  canRespond: boolean;
  isOwner: boolean;
  now: number;
  onThreadChange: (t: Thread) => void;
  onOpenThread: (t: WorkspaceThread) => void;
}) {
  const s = review?.submission ?? null;
  return (
    <section className="panel workspace-review" aria-labelledby="review-panel-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="review-panel-heading">
          <Icon name="message" size={16} /> Review
        </h2>
        {s && <SubmissionBadge status={s.status} />}
      </div>
      {!review ? (
        error ? (
          <p className="muted small">Could not load the review: {errorMessage(error)}</p>
        ) : (
          <Skeleton width="70%" height={14} />
        )
      ) : !s ? (
        <p className="muted small">
          Not submitted for review yet.{isOwner ? ' Submit hands in your saved files for a reviewer to read and comment on.' : ''}
        </p>
      ) : (
        <>
          <p className="small">
            <Link to={`/projects/${projectId}/submissions/${s.id}`}>Open submission #{s.seq}</Link>{' '}
            <span className="muted">
              submitted{' '}
              <time dateTime={s.created_at} title={formatAbsolute(s.created_at)}>
                {formatRelative(s.created_at, now)}
              </time>
            </span>
          </p>
          <Verdict submission={s} />
          {review.threads.length === 0 ? (
            <p className="muted small">No comments on it.</p>
          ) : (
            <div className="stack-sm">
              {review.threads.map((t) => {
                const line = t.current_line ?? t.line_start;
                return (
                  <ThreadView
                    key={t.id}
                    thread={t}
                    projectId={projectId}
                    canRespond={canRespond}
                    now={now}
                    onChange={onThreadChange}
                    onActivate={() => onOpenThread(t)}
                    location={
                      <button type="button" className="thread-location mono" aria-label={`Open ${t.path} at line ${line}`} onClick={() => onOpenThread(t)}>
                        {t.path} {linesText(line, line + (t.line_end - t.line_start))}
                        {t.current_line === null && <span className="muted"> (changed since)</span>}
                      </button>
                    }
                  />
                );
              })}
            </div>
          )}
        </>
      )}
    </section>
  );
}

function Verdict({ submission: s }: { submission: Submission }) {
  if (!s.reviewed_by && !s.reviewed_at) return null;
  const verdict = s.status === 'approved' ? 'Approved' : s.status === 'changes_requested' ? 'Changes requested' : 'Reviewed';
  return (
    <div className="review-verdict small">
      <p className="strong">
        {verdict} by {s.reviewed_by ?? 'a reviewer'}
      </p>
      {s.summary && <p className="pre-wrap">{s.summary}</p>}
    </div>
  );
}

/** Asks for a message, then hands the workspace's saved files in for review. */
export function SubmitDialog({
  projectId,
  workspaceId,
  unsaved,
  onClose,
  onSubmitted,
}: {
  projectId: string;
  workspaceId: string;
  /** Open files with unsaved text: not part of what is handed in. */
  unsaved: string[];
  onClose: () => void;
  onSubmitted: (s: Submission) => void;
}) {
  const toast = useToast();
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const made = await api.submitWorkspace(projectId, workspaceId, message.trim());
      toast.success(`Submitted for review as #${made.seq}.`);
      onSubmitted(made);
      onClose();
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  };

  return (
    <Dialog title="Submit for review" onClose={() => !busy && onClose()}>
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <p className="muted">Hands in the workspace's files as they are saved now; a reviewer reads the changes and comments on them.</p>
        {unsaved.length > 0 && (
          <div className="callout callout-warning" role="status">
            <p>
              <Icon name="alert" /> Unsaved changes in {unsaved.join(', ')} are not part of it: save them first.
            </p>
          </div>
        )}
        <TextAreaField
          label="Message"
          hint="What you did, or what to look at (optional)."
          value={message}
          rows={4}
          maxLength={MAX_MESSAGE}
          onChange={(e) => setMessage(e.target.value)}
        />
        <FormError>{error}</FormError>
        <div className="dialog-actions">
          <Button variant="ghost" onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" loading={busy} icon={<Icon name="send" />}>
            Submit for review
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
