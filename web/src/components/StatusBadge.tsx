// Colour-coded badges for app runtime status and build status, with visible text.
import type { AppStatus, BuildStatus } from '../api/types';

const appTone: Record<AppStatus, string> = {
  running: 'success',
  starting: 'warning',
  stopping: 'warning',
  stopped: 'neutral',
  error: 'danger',
};

export function StatusBadge({ status, testId }: { status: AppStatus; testId?: string }) {
  const tone = appTone[status] ?? 'neutral';
  const pulsing = status === 'starting' || status === 'stopping';
  return (
    <span className={`badge badge-${tone}`} data-tone={tone} data-testid={testId} title={`Status: ${status}`}>
      <span className={['badge-dot', pulsing ? 'badge-dot-pulse' : ''].join(' ')} aria-hidden="true" />
      {status}
    </span>
  );
}

const buildTone: Record<BuildStatus, string> = {
  queued: 'neutral',
  running: 'warning',
  succeeded: 'success',
  failed: 'danger',
};

const buildText: Record<BuildStatus, string> = {
  queued: 'build queued',
  running: 'building',
  succeeded: 'built',
  failed: 'build failed',
};

export function BuildBadge({ status }: { status: BuildStatus }) {
  const tone = buildTone[status] ?? 'neutral';
  return (
    <span className={`badge badge-${tone} badge-sm`} data-tone={tone}>
      <span className={['badge-dot', status === 'running' ? 'badge-dot-pulse' : ''].join(' ')} aria-hidden="true" />
      {buildText[status] ?? status}
    </span>
  );
}
