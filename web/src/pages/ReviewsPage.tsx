// The reviews inbox: the project's submissions (one's own, for editors), filtered by status,
// learner and template, each linking to its page.
import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../api/endpoints';
import { SUBMISSION_STATUSES, type SubmissionStatus } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { useNow } from '../hooks/useNow';
import { SelectField } from '../components/Field';
import { EmptyState, ErrorState } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { SubmissionBadge } from '../components/SubmissionBadge';
import { canReview } from '../lib/roles';
import { statusLabel } from '../lib/review';
import { formatAbsolute, formatRelative } from '../lib/time';

export function ReviewsPage() {
  const { project } = useProject();
  const reviewer = canReview(project.role);
  const title = reviewer ? 'Reviews' : 'My submissions';
  useDocumentTitle(title, project.name);
  const now = useNow(30_000);
  // Reviewers start with what waits for them; learners with everything they handed in.
  const [status, setStatus] = useState<SubmissionStatus | ''>(reviewer ? 'submitted' : '');
  const [learner, setLearner] = useState('');
  const [template, setTemplate] = useState('');
  const filter = { status, learner: reviewer ? learner : '', template };
  const { data: submissions, error, reload } = useApi(
    `submissions:${project.id}:${filter.status}:${filter.learner}:${filter.template}`,
    () => api.submissions(project.id, filter),
    30_000,
  );
  const { data: templates } = useApi(`templates:${project.id}`, () => api.templates(project.id));

  // The learner filter offers everyone seen in the lists so far (a filtered list shows fewer).
  const [learners, setLearners] = useState<Record<string, string>>({});
  useEffect(() => {
    if (!submissions) return;
    setLearners((cur) => {
      const next = { ...cur };
      for (const s of submissions) next[s.learner_id] = s.learner ?? s.learner_id;
      return next;
    });
  }, [submissions]);
  const filtered = status !== '' || (reviewer && learner !== '') || template !== '';

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1 className="page-title">{title}</h1>
          <p className="page-subtitle">
            {reviewer
              ? `Workspaces handed in for review in ${project.name}: open one to read its changes, comment on its lines, and approve it or ask for changes.`
              : 'The workspaces you handed in for review, and what the reviewers said. Submit a workspace from its page.'}
          </p>
        </div>
      </div>

      <form className="panel row review-filters" aria-label="Filter submissions" onSubmit={(e) => e.preventDefault()}>
        <SelectField label="Status" value={status} onChange={(e) => setStatus(e.target.value as SubmissionStatus | '')}>
          <option value="">All</option>
          {SUBMISSION_STATUSES.map((s) => (
            <option key={s} value={s}>
              {statusLabel[s]}
            </option>
          ))}
        </SelectField>
        {reviewer && (
          <SelectField label="Learner" value={learner} onChange={(e) => setLearner(e.target.value)}>
            <option value="">Anyone</option>
            {Object.entries(learners)
              .sort((a, b) => a[1].localeCompare(b[1]))
              .map(([id, name]) => (
                <option key={id} value={id}>
                  {name}
                </option>
              ))}
          </SelectField>
        )}
        <SelectField label="Template" value={template} onChange={(e) => setTemplate(e.target.value)}>
          <option value="">Any template</option>
          {(templates ?? []).map((t) => (
            <option key={t.id} value={t.id}>
              {t.name}
            </option>
          ))}
        </SelectField>
      </form>

      {error && !submissions ? (
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the submissions" />
      ) : !submissions ? (
        <div className="panel" aria-busy="true" aria-label="Loading submissions">
          <Skeleton width="40%" height={18} />
        </div>
      ) : submissions.length === 0 ? (
        <EmptyState icon={<Icon name="message" size={28} />} title={emptyTitle(reviewer, status, filtered)}>
          <p>
            {filtered
              ? 'Change the filters above to see other submissions.'
              : reviewer
                ? 'When a learner submits a workspace, it shows up here.'
                : 'Open one of your workspaces and press Submit to ask for a review.'}
          </p>
        </EmptyState>
      ) : (
        <section className="panel" aria-labelledby="submissions-heading">
          <div className="panel-header">
            <h2 className="panel-title" id="submissions-heading">
              <Icon name="message" size={16} /> Submissions
            </h2>
            <span className="muted small">{submissions.length}</span>
          </div>
          <table className="data-grid table-list" aria-label="Submissions">
            <thead>
              <tr>
                <th scope="col">Learner</th>
                <th scope="col">Workspace</th>
                <th scope="col" className="num">
                  #
                </th>
                <th scope="col">Template</th>
                <th scope="col">Status</th>
                <th scope="col">Submitted</th>
              </tr>
            </thead>
            <tbody>
              {submissions.map((s) => (
                <tr key={s.id}>
                  <td>{s.learner ?? <span className="muted">unknown</span>}</td>
                  <td>
                    <Link to={`/projects/${project.id}/submissions/${s.id}`}>{s.workspace}</Link>
                  </td>
                  <td className="num">#{s.seq}</td>
                  <td>{s.template ?? <span className="muted">—</span>}</td>
                  <td>
                    <SubmissionBadge status={s.status} />
                  </td>
                  <td title={formatAbsolute(s.created_at)}>{formatRelative(s.created_at, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  );
}

function emptyTitle(reviewer: boolean, status: SubmissionStatus | '', filtered: boolean): string {
  if (reviewer && status === 'submitted') return 'Nothing waits for review';
  if (filtered) return 'No submissions match these filters';
  return 'No submissions yet';
}
