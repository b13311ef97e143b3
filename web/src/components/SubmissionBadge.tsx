// A submission's review status as a colour-coded badge with visible text.
import type { SubmissionStatus } from '../api/types';
import { statusLabel } from '../lib/review';

const tone: Record<SubmissionStatus, string> = {
  submitted: 'warning',
  changes_requested: 'danger',
  approved: 'success',
  superseded: 'neutral',
  withdrawn: 'neutral',
};

export function SubmissionBadge({ status }: { status: SubmissionStatus }) {
  const t = tone[status] ?? 'neutral';
  return (
    <span className={`badge badge-${t} badge-sm`} data-tone={t} data-testid="submission-status" title={`Status: ${statusLabel[status] ?? status}`}>
      <span className="badge-dot" aria-hidden="true" />
      {statusLabel[status] ?? status}
    </span>
  );
}
