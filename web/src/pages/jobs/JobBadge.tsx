// A job's status as a colour-coded badge with visible text, and a duration in words.
import type { JobStatus } from '../../api/types';

const tone: Record<JobStatus, string> = {
  pending: 'neutral',
  running: 'warning',
  succeeded: 'success',
  failed: 'danger',
  cancelled: 'neutral',
};

export function JobBadge({ status }: { status: JobStatus }) {
  const t = tone[status] ?? 'neutral';
  return (
    <span className={`badge badge-${t} badge-sm`} data-tone={t} data-testid="job-status" title={`Status: ${status}`}>
      <span className={['badge-dot', status === 'running' ? 'badge-dot-pulse' : ''].join(' ')} aria-hidden="true" />
      {status}
    </span>
  );
}

/** 850 ms, 4.2 s, 3 min 5 s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes} min ${seconds} s`;
}
