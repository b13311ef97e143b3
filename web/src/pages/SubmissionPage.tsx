// One submission: who handed in which workspace and against what, its last review, each file's
// diff with comment threads under their lines; reviewers approve or request changes, its learner
// may withdraw it while it waits.
import { useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api } from '../api/endpoints';
import { errorMessage } from '../api/client';
import type { FileDiff, ReviewVerdict, Side, Submission, Thread } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useUser } from '../hooks/useAuth';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { useNow } from '../hooks/useNow';
import { Button, ButtonLink } from '../components/Button';
import { DiffCounts, FileDiffView, type Draft } from '../components/DiffView';
import { FormError, TextAreaField } from '../components/Field';
import { Icon } from '../components/Icon';
import { NewCommentForm, ThreadView } from '../components/ReviewThread';
import { ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { SubmissionBadge } from '../components/SubmissionBadge';
import { useToast } from '../components/Toast';
import { canReview } from '../lib/roles';
import { anchorPath, baseText, fileStatusText } from '../lib/review';
import { getDiffView, setDiffView, type DiffViewMode } from '../lib/storage';
import { formatAbsolute, formatRelative } from '../lib/time';

const fileId = (i: number) => `file-${i}`;

export function SubmissionPage() {
  const { project } = useProject();
  const { submissionId = '' } = useParams();
  const user = useUser();
  const now = useNow(30_000);
  const reviewer = canReview(project.role);
  const {
    data: submission,
    error,
    reload,
    setData: setSubmission,
  } = useApi(`submission:${project.id}:${submissionId}`, () => api.submission(project.id, submissionId), 30_000);
  const diff = useApi(`submission-diff:${project.id}:${submissionId}`, () => api.submissionDiff(project.id, submissionId));
  const threads = useApi(`submission-threads:${project.id}:${submissionId}`, () => api.threads(project.id, submissionId), 30_000);
  useDocumentTitle(submission ? `${submission.workspace} #${submission.seq}` : 'Submission', project.name);
  const [mode, setMode] = useState<DiffViewMode>(getDiffView);
  /** Files opened or closed by hand; the others follow their status (unchanged ones start closed). */
  const [expanded, setExpanded] = useState<Record<string, boolean>>({});
  const [draft, setDraft] = useState<Draft | null>(null);
  const [draftText, setDraftText] = useState('');

  const inbox = `/projects/${project.id}/reviews`;
  if (isNotFound(error)) {
    return (
      <div className="page">
        <NotFoundState what="Submission" actions={<Link to={inbox}>Back to the reviews</Link>} />
      </div>
    );
  }
  if (error) {
    return (
      <div className="page">
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the submission" />
      </div>
    );
  }
  if (!submission) {
    return (
      <div className="page" aria-busy="true">
        <Skeleton width="30%" height={24} />
      </div>
    );
  }

  const learner = submission.learner_id === user.id;
  const canComment = reviewer || learner;
  const isOpen = (f: FileDiff) => expanded[f.path] ?? f.status !== 'unchanged';
  const choose = (next: DiffViewMode) => {
    setMode(next);
    setDiffView(next);
  };
  const jump = (f: FileDiff, i: number) => {
    setExpanded((cur) => ({ ...cur, [f.path]: true }));
    window.requestAnimationFrame(() => document.getElementById(fileId(i))?.scrollIntoView?.({ block: 'start' }));
  };

  const updateThread = (next: Thread) => threads.setData((list) => (list ?? []).map((t) => (t.id === next.id ? next : t)));
  const renderThread = (t: Thread) => (
    <ThreadView thread={t} projectId={project.id} canRespond={canComment} now={now} onChange={updateThread} />
  );

  // A click starts a comment on a line; a shift-click on the same side of the same file extends it to a range.
  // The old side of a renamed file is its old path.
  const onLine = (f: FileDiff) => (side: Side, line: number, extend: boolean) => {
    const path = anchorPath(f, side);
    if (extend && draft && draft.path === path && draft.side === side) {
      setDraft({ ...draft, start: Math.min(draft.anchor, line), end: Math.max(draft.anchor, line) });
      return;
    }
    setDraft({ path, side, anchor: line, start: line, end: line });
    setDraftText('');
  };
  const renderDraft = (d: Draft) => () => (
    <NewCommentForm
      key={`${d.path}:${d.side}:${d.anchor}`}
      path={d.path}
      side={d.side}
      start={d.start}
      end={d.end}
      body={draftText}
      onBody={setDraftText}
      onCancel={() => setDraft(null)}
      onSubmit={async (body) => {
        const made = await api.createThread(project.id, submission.id, { path: d.path, side: d.side, line_start: d.start, line_end: d.end }, body);
        threads.setData((list) => [...(list ?? []), made]);
        setDraft(null);
        setDraftText('');
      }}
    />
  );

  const files = diff.data?.files ?? [];
  const allThreads = threads.data ?? [];
  const onFile = (f: FileDiff) => (t: { path: string; side: Side }) => t.path === anchorPath(f, t.side);
  const elsewhere = diff.data ? allThreads.filter((t) => !files.some((f) => onFile(f)(t))) : [];

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <p className="muted">
            <Link to={inbox}>{reviewer ? 'Reviews' : 'My submissions'}</Link> /
          </p>
          <h1 className="page-title">
            {submission.workspace} <span className="muted">#{submission.seq}</span>
          </h1>
          <p className="page-subtitle">
            {submission.learner ?? 'Someone'} submitted it{' '}
            <time dateTime={submission.created_at} title={formatAbsolute(submission.created_at)}>
              {formatRelative(submission.created_at, now)}
            </time>
            , {baseText(submission)}.
          </p>
        </div>
        <div className="row">
          <SubmissionBadge status={submission.status} />
          {learner && (
            <ButtonLink to={`/projects/${project.id}/workspaces/${submission.workspace_id}`} icon={<Icon name="code" />}>
              Open workspace
            </ButtonLink>
          )}
          {learner && submission.status === 'submitted' && <WithdrawButton submission={submission} onDone={setSubmission} />}
        </div>
      </div>

      <div className="stack-lg">
        <dl className="submission-facts panel">
          <div>
            <dt>Learner</dt>
            <dd>{submission.learner ?? 'Someone'}</dd>
          </div>
          <div>
            <dt>Workspace</dt>
            <dd>
              {submission.workspace} <span className="muted">#{submission.seq}</span>
            </dd>
          </div>
          <div>
            <dt>Template</dt>
            <dd>{submission.template ?? <span className="muted">none</span>}</dd>
          </div>
          <div>
            <dt>Compared with</dt>
            <dd>{baseText(submission).replace(/^compared with /, '')}</dd>
          </div>
          <div className="submission-message">
            <dt>Message</dt>
            <dd className="pre-wrap">{submission.message || <span className="muted">No message.</span>}</dd>
          </div>
        </dl>

        <LastReview submission={submission} now={now} />

        {reviewer && !learner && submission.live && <ReviewBox submission={submission} onDone={setSubmission} />}

        <section className="panel" aria-labelledby="files-heading">
          <div className="panel-header">
            <h2 className="panel-title" id="files-heading">
              <Icon name="file" size={16} /> Files
            </h2>
            <div className="segmented" role="group" aria-label="Diff layout">
              <button type="button" className="segmented-btn" aria-pressed={mode === 'unified'} onClick={() => choose('unified')}>
                Unified
              </button>
              <button type="button" className="segmented-btn" aria-pressed={mode === 'split'} onClick={() => choose('split')}>
                Side by side
              </button>
            </div>
          </div>
          {diff.error && !diff.data ? (
            <ErrorState error={diff.error} onRetry={() => void diff.reload()} title="Could not load the changes" />
          ) : !diff.data ? (
            <div aria-busy="true" aria-label="Loading the changes">
              <Skeleton width="50%" height={16} />
            </div>
          ) : files.length === 0 ? (
            <p className="muted">No files in this submission.</p>
          ) : (
            <>
              {threads.error !== undefined && <FormError>Could not load the comments: {errorMessage(threads.error)}</FormError>}
              <ul className="diff-file-list" aria-label="Changed files">
                {files.map((f, i) => (
                  <li key={f.path}>
                    <a
                      href={`#${fileId(i)}`}
                      onClick={(e) => {
                        e.preventDefault();
                        jump(f, i);
                      }}
                      className="mono"
                    >
                      {f.path}
                    </a>
                    <span className={`diff-status diff-status-${f.status}`}>{fileStatusText(f)}</span>
                    <DiffCounts file={f} />
                  </li>
                ))}
              </ul>
              {files.map((f, i) => (
                <FileDiffView
                  key={f.path}
                  id={fileId(i)}
                  file={f}
                  mode={mode}
                  expanded={isOpen(f)}
                  onToggle={() => setExpanded((cur) => ({ ...cur, [f.path]: !isOpen(f) }))}
                  threads={allThreads.filter(onFile(f))}
                  canComment={canComment}
                  draft={draft && onFile(f)(draft) ? draft : null}
                  onLine={onLine(f)}
                  renderThread={renderThread}
                  renderDraft={draft ? renderDraft(draft) : () => null}
                />
              ))}
            </>
          )}
          {elsewhere.length > 0 && (
            <div className="stack-sm">
              <h3 className="subheading">Comments on files not in this submission</h3>
              {elsewhere.map((t) => (
                <ThreadView
                  key={t.id}
                  thread={t}
                  projectId={project.id}
                  canRespond={canComment}
                  now={now}
                  onChange={updateThread}
                  location={<span className="mono small">{t.path}</span>}
                />
              ))}
            </div>
          )}
        </section>
      </div>
    </div>
  );
}

/** The last review's verdict and summary, when there was one. */
function LastReview({ submission: s, now }: { submission: Submission; now: number }) {
  if (!s.reviewed_by && !s.reviewed_at) return null;
  // The verdict is the status it left, as long as no later event (superseded, withdrawn) replaced it.
  const verdict = s.status === 'approved' ? 'Approved' : s.status === 'changes_requested' ? 'Changes requested' : 'Reviewed';
  const tone = s.status === 'approved' ? 'callout-success' : s.status === 'changes_requested' ? 'callout-warning' : 'callout-neutral';
  return (
    <section className={`callout ${tone} last-review`} aria-label="Last review">
      <p className="callout-title">
        <Icon name={s.status === 'approved' ? 'check' : 'message'} />
        {verdict} by {s.reviewed_by ?? 'a reviewer'}
        {s.reviewed_at && (
          <time className="muted small" dateTime={s.reviewed_at} title={formatAbsolute(s.reviewed_at)}>
            {formatRelative(s.reviewed_at, now)}
          </time>
        )}
      </p>
      {s.summary && <p className="pre-wrap">{s.summary}</p>}
    </section>
  );
}

/** A reviewer's verdict on a live submission of someone else's: a summary, then Approve or Request changes. */
function ReviewBox({ submission, onDone }: { submission: Submission; onDone: (s: Submission) => void }) {
  const { project } = useProject();
  const toast = useToast();
  const [summary, setSummary] = useState('');
  const [busy, setBusy] = useState<ReviewVerdict | null>(null);
  const [error, setError] = useState<string | null>(null);

  const review = async (verdict: ReviewVerdict) => {
    setBusy(verdict);
    setError(null);
    try {
      const next = await api.reviewSubmission(project.id, submission.id, verdict, summary.trim());
      onDone(next);
      setSummary('');
      toast.success(verdict === 'approved' ? `Approved ${submission.workspace} #${submission.seq}.` : `Asked for changes to ${submission.workspace} #${submission.seq}.`);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="panel" aria-labelledby="review-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="review-heading">
          <Icon name="check" size={16} /> Your review
        </h2>
      </div>
      <TextAreaField
        label="Summary"
        hint={`${submission.learner ?? 'The learner'} is notified and sees it with your verdict.`}
        value={summary}
        rows={3}
        maxLength={10_000}
        onChange={(e) => setSummary(e.target.value)}
      />
      <FormError>{error}</FormError>
      <div className="row">
        <Button variant="primary" icon={<Icon name="check" />} loading={busy === 'approved'} disabled={busy !== null} onClick={() => void review('approved')}>
          Approve
        </Button>
        <Button variant="danger" loading={busy === 'changes_requested'} disabled={busy !== null} onClick={() => void review('changes_requested')}>
          Request changes
        </Button>
      </div>
    </section>
  );
}

function WithdrawButton({ submission, onDone }: { submission: Submission; onDone: (s: Submission) => void }) {
  const { project } = useProject();
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  const withdraw = async () => {
    if (!window.confirm(`Withdraw ${submission.workspace} #${submission.seq} from review?`)) return;
    setBusy(true);
    try {
      onDone(await api.withdrawSubmission(project.id, submission.id));
      toast.success(`Withdrew ${submission.workspace} #${submission.seq}.`);
    } catch (err) {
      toast.error(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Button variant="ghost" loading={busy} onClick={() => void withdraw()}>
      Withdraw
    </Button>
  );
}
