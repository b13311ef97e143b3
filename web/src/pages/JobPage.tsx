// One job: its status and counters, the live log, the error and traceback on failure, cancel, and run again.
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api, jobLogUrl } from '../api/endpoints';
import { useApi } from '../hooks/useApi';
import { useEventStream } from '../hooks/useEventStream';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { Button } from '../components/Button';
import { ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { LogPanel } from '../components/LogPanel';
import { useToast } from '../components/Toast';
import { canEditApps } from '../lib/roles';
import { formatAbsolute } from '../lib/time';
import { JobBadge, formatDuration } from './jobs/JobBadge';
import { formatCount, formatBytes } from './data/format';

const open = (status: string | undefined) => status === 'pending' || status === 'running';

export function JobPage() {
  const { project } = useProject();
  const { jobId = '' } = useParams();
  useDocumentTitle(`Job ${jobId}`, project.name);
  const editor = canEditApps(project.role);
  const toast = useToast();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  const { data: job, error, reload, setData } = useApi(`job:${project.id}:${jobId}`, () => api.job(project.id, jobId), 1000);
  const log = useEventStream(job ? jobLogUrl(project.id, jobId) : null, () => void reload());
  const back = `/projects/${project.id}/jobs`;

  if (isNotFound(error)) {
    return (
      <div className="page">
        <NotFoundState what="Job" actions={<Link to={back}>Back to the jobs</Link>} />
      </div>
    );
  }
  if (error && !job) {
    return (
      <div className="page">
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the job" />
      </div>
    );
  }
  if (!job) {
    return (
      <div className="page">
        <Skeleton width={240} height={24} />
      </div>
    );
  }

  const cancel = async () => {
    setBusy(true);
    try {
      setData(await api.cancelJob(project.id, job.id));
      toast.success('Cancelled the job; its destination stays as it was.');
    } catch (e) {
      toast.error(e);
    } finally {
      setBusy(false);
    }
  };
  const runAgain = async () => {
    setBusy(true);
    try {
      const again = await api.createJob(project.id, {
        script: job.script,
        version: job.script_version,
        source: job.source,
        source_database: job.source_database ?? undefined,
        destination: job.destination,
        destination_database: job.destination_database ?? undefined,
        mode: job.mode,
      });
      navigate(`/projects/${project.id}/jobs/${again.id}`);
    } catch (e) {
      toast.error(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <Link to={back} className="back-link">
        <Icon name="arrowLeft" size={14} /> Jobs
      </Link>
      <div className="page-header">
        <div>
          <h1 className="page-title">
            <span className="mono">{job.script}</span> <span className="muted">v{job.script_version}</span>{' '}
            <JobBadge status={job.status} />
          </h1>
          <p className="page-subtitle">
            {job.source_database ? (
              <Link to={`/projects/${project.id}/data/sources/${job.source_database}`} className="mono">
                {job.source_database}: {job.source}
              </Link>
            ) : (
              <Link to={`/projects/${project.id}/data/${job.source}`} className="mono">
                {job.source}
              </Link>
            )}{' '}
            →{' '}
            {job.destination_database ? (
              <Link to={`/projects/${project.id}/data/sources/${job.destination_database}`} className="mono">
                {job.destination_database}: {job.destination}
              </Link>
            ) : job.status === 'succeeded' ? (
              <Link to={`/projects/${project.id}/data/${job.destination}`} className="mono">
                {job.destination}
              </Link>
            ) : (
              <span className="mono">{job.destination}</span>
            )}{' '}
            ({job.mode}) ·{' '}
            {job.scheduled_for
              ? `scheduled for ${formatAbsolute(job.scheduled_for)} by ${job.created_by ?? 'someone'}`
              : `queued by ${job.created_by ?? 'someone'} ${formatAbsolute(job.created_at)}`}
          </p>
        </div>
        {editor && (
          <div className="row">
            {open(job.status) ? (
              <Button variant="danger" onClick={() => void cancel()} loading={busy} icon={<Icon name="stop" />}>
                Cancel job
              </Button>
            ) : (
              <Button onClick={() => void runAgain()} loading={busy} icon={<Icon name="restart" />}>
                Run again
              </Button>
            )}
          </div>
        )}
      </div>

      <section className="panel" aria-label="Counters">
        <dl className="stats">
          <div>
            <dt>Rows read</dt>
            <dd data-testid="rows-read">{formatCount(job.rows_read)}</dd>
          </div>
          <div>
            <dt>Rows written</dt>
            <dd data-testid="rows-written">{formatCount(job.rows_written)}</dd>
          </div>
          <div>
            <dt>Chunks</dt>
            <dd>{formatCount(job.chunks)}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{job.duration_ms === null ? '—' : formatDuration(job.duration_ms)}</dd>
          </div>
          <div>
            <dt>Peak memory</dt>
            <dd data-testid="peak-memory" title="The most memory the job's sandbox used, read when it ended">
              {job.peak_memory_bytes === null ? '—' : formatBytes(job.peak_memory_bytes)}
            </dd>
          </div>
        </dl>
      </section>

      {job.error && (
        <section className={`findings ${job.status === 'cancelled' ? 'findings-warning' : 'findings-danger'}`} role="alert">
          <div className="findings-title">
            <Icon name="alert" size={15} /> {job.status === 'cancelled' ? 'Cancelled' : 'Failed'}: {job.error}
          </div>
          {job.traceback && (
            <pre className="code-block" aria-label="Traceback">
              {job.traceback}
            </pre>
          )}
          {job.status === 'failed' && <p className="small">The destination was not changed.</p>}
        </section>
      )}
      {job.status === 'succeeded' && (
        <p className="form-success" role="status">
          Wrote {formatCount(job.rows_written)} rows to{' '}
          <Link to={`/projects/${project.id}/data/${job.destination}`} className="mono">
            {job.destination}
          </Link>
          .
        </p>
      )}

      <section className="panel" aria-labelledby="log-heading">
        <h2 className="panel-title" id="log-heading">
          Log
        </h2>
        <LogPanel
          text={log.text}
          testId="job-log"
          label="Job log"
          placeholder={
            open(job.status) || log.state !== 'ended' ? 'Waiting for the first chunk…' : 'The script printed nothing.'
          }
        />
      </section>
    </div>
  );
}
