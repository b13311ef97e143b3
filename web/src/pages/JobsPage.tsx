// The project's transform jobs: its scripts, a form to run one over a table now or on a schedule, the schedules, and the jobs with their status, rows and duration.
import { useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api } from '../api/endpoints';
import { ApiError } from '../api/client';
import { JOB_MODES, type Job, type JobMode, type JobSchedule, type JobScript, type DataSource, type DataTable } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { useNow } from '../hooks/useNow';
import { Button, ButtonLink } from '../components/Button';
import { FormError, SelectField, TextField } from '../components/Field';
import { EmptyState, ErrorState } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { canEditApps } from '../lib/roles';
import { formatAbsolute, formatRelative } from '../lib/time';
import { JobBadge, formatDuration } from './jobs/JobBadge';
import { formatCount } from './data/format';

const MODE_HINT: Record<JobMode, string> = {
  create: 'A new table; the job fails if one has the name.',
  replace: "The table's rows become the result, swapped in once the whole job succeeded.",
  append: "The result is added after the table's rows; its columns must be the table's.",
};

export function JobsPage() {
  const { project } = useProject();
  useDocumentTitle('Jobs', project.name);
  const editor = canEditApps(project.role);
  const { data: scripts, error: scriptsError, reload: reloadScripts } = useApi(`scripts:${project.id}`, () => api.scripts(project.id));
  const { data: tables } = useApi(`tables:${project.id}`, () => api.tables(project.id));
  const { data: sources } = useApi(`sources:${project.id}`, () => api.sources(project.id));
  const { data: jobs, error: jobsError, reload: reloadJobs } = useApi(`jobs:${project.id}`, () => api.jobs(project.id), 2000);
  const { data: schedules, reload: reloadSchedules } = useApi(`schedules:${project.id}`, () => api.schedules(project.id), 5_000);

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1 className="page-title">Jobs</h1>
          <p className="page-subtitle">
            Scripts define <code>transform(df)</code>; a job runs one over a table of {project.name}, in chunks, in a sandbox
            with no network, and writes a table only when every chunk succeeded.
          </p>
        </div>
        {editor && (
          <div className="row">
            <ButtonLink to={`/projects/${project.id}/jobs/scripts/new`} variant="primary" icon={<Icon name="plus" />}>
              New script
            </ButtonLink>
          </div>
        )}
      </div>

      <ScriptList scripts={scripts} error={scriptsError} onRetry={() => void reloadScripts()} projectId={project.id} editor={editor} />

      {editor && scripts && scripts.length > 0 && (
        <RunJobForm
          projectId={project.id}
          scripts={scripts}
          tables={tables}
          sources={sources ?? []}
          onQueued={() => void reloadJobs()}
          onScheduled={() => void reloadSchedules()}
        />
      )}

      {schedules && schedules.length > 0 && (
        <ScheduleList schedules={schedules} projectId={project.id} editor={editor} onChange={() => void reloadSchedules()} />
      )}

      <JobList jobs={jobs} error={jobsError} onRetry={() => void reloadJobs()} projectId={project.id} />
    </div>
  );
}

function ScriptList({
  scripts,
  error,
  onRetry,
  projectId,
  editor,
}: {
  scripts: JobScript[] | undefined;
  error: unknown;
  onRetry: () => void;
  projectId: string;
  editor: boolean;
}) {
  const now = useNow(30_000);
  if (error && !scripts) return <ErrorState error={error} onRetry={onRetry} title="Could not load the scripts" />;
  if (!scripts) {
    return (
      <div className="panel" aria-busy="true" aria-label="Loading scripts">
        <Skeleton width="40%" height={18} />
      </div>
    );
  }
  if (scripts.length === 0) {
    return (
      <EmptyState icon={<Icon name="code" size={28} />} title="No scripts yet">
        <p>
          A script is Python with a function <code>transform(df)</code> that takes a pandas DataFrame (one chunk of a table)
          and returns one. It may import pandas, numpy, datetime and math.
        </p>
        {editor ? (
          <ButtonLink to={`/projects/${projectId}/jobs/scripts/new`} variant="primary" icon={<Icon name="plus" />}>
            Write a script
          </ButtonLink>
        ) : (
          <p className="muted">You are a viewer in this project: an editor or owner can write scripts.</p>
        )}
      </EmptyState>
    );
  }
  return (
    <section className="panel" aria-labelledby="scripts-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="scripts-heading">
          <Icon name="code" size={16} /> Scripts
        </h2>
      </div>
      <div className="grid-scroll">
        <table className="data-grid table-list" aria-label="Scripts">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" className="num">Version</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {scripts.map((s) => (
              <tr key={s.id}>
                <td>
                  <Link to={`/projects/${projectId}/jobs/scripts/${s.name}`} className="mono">
                    {s.name}
                  </Link>
                </td>
                <td className="num">v{s.version}</td>
                <td title={formatAbsolute(s.updated_at)}>{formatRelative(s.updated_at, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function RunJobForm({
  projectId,
  scripts,
  tables,
  sources,
  onQueued,
  onScheduled,
}: {
  projectId: string;
  scripts: JobScript[];
  tables: DataTable[] | undefined;
  sources: DataSource[];
  onQueued: () => void;
  onScheduled: () => void;
}) {
  const navigate = useNavigate();
  const [script, setScript] = useState(scripts[0]?.name ?? '');
  const [source, setSource] = useState('');
  const [sourceDatabase, setSourceDatabase] = useState('');
  const [destination, setDestination] = useState('');
  const [destinationDatabase, setDestinationDatabase] = useState('');
  const [mode, setMode] = useState<JobMode>('create');
  const [when, setWhen] = useState<'now' | 'schedule'>('now');
  const [cron, setCron] = useState('0 6 * * *');
  const [scheduled, setScheduled] = useState<JobSchedule | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const chosenSource = sourceDatabase ? source.trim() : source || tables?.[0]?.name || '';
  const destinations = sources.filter((s) => s.destination);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setScheduled(null);
    try {
      const form = {
        script,
        source: chosenSource,
        source_database: sourceDatabase || undefined,
        destination: destination.trim(),
        destination_database: destinationDatabase || undefined,
        mode,
      };
      if (when === 'schedule') {
        setScheduled(await api.createSchedule(projectId, { ...form, cron: cron.trim() }));
        onScheduled();
        setBusy(false);
        return;
      }
      const job = await api.createJob(projectId, form);
      onQueued();
      navigate(`/projects/${projectId}/jobs/${job.id}`);
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
      setBusy(false);
    }
  };
  const fieldError = (field: string) => (error instanceof ApiError && error.field === field ? error.message : undefined);

  return (
    <section className="panel" aria-labelledby="run-heading">
      <h2 className="panel-title" id="run-heading">
        <Icon name="play" size={16} /> Run a job
      </h2>
      {tables && tables.length === 0 && sources.length === 0 ? (
        <p className="muted small">
          A job reads a table of this project. <Link to={`/projects/${projectId}/data`}>Add one on the Data page</Link>{' '}
          first.
        </p>
      ) : (
        <form className="form-row" onSubmit={(e) => void submit(e)} aria-label="Run a job">
          <SelectField label="Script" value={script} onChange={(e) => setScript(e.target.value)} error={fieldError('script')}>
            {scripts.map((s) => (
              <option key={s.id} value={s.name}>
                {s.name} (v{s.version})
              </option>
            ))}
          </SelectField>
          {sources.length > 0 && (
            <SelectField
              label="Read from"
              value={sourceDatabase}
              onChange={(e) => {
                setSourceDatabase(e.target.value);
                setSource('');
              }}
              error={fieldError('source_database')}
            >
              <option value="">Project tables</option>
              {sources.map((s) => (
                <option key={s.id} value={s.name}>
                  Data source {s.name}
                </option>
              ))}
            </SelectField>
          )}
          {sourceDatabase ? (
            <TextField
              label="Source table"
              value={source}
              onChange={(e) => setSource(e.target.value)}
              placeholder="public.orders"
              required
              className="mono"
              hint="schema.table, as the source's page lists it"
              error={fieldError('source')}
            />
          ) : (
            <SelectField label="Source table" value={chosenSource} onChange={(e) => setSource(e.target.value)} error={fieldError('source')}>
              {(tables ?? []).map((t) => (
                <option key={t.id} value={t.name}>
                  {t.name}
                </option>
              ))}
            </SelectField>
          )}
          {destinations.length > 0 && (
            <SelectField
              label="Write to"
              value={destinationDatabase}
              onChange={(e) => setDestinationDatabase(e.target.value)}
              error={fieldError('destination_database')}
            >
              <option value="">Project tables</option>
              {destinations.map((s) => (
                <option key={s.id} value={s.name}>
                  Data source {s.name}
                </option>
              ))}
            </SelectField>
          )}
          <TextField
            label="Destination table"
            value={destination}
            onChange={(e) => setDestination(e.target.value)}
            placeholder={destinationDatabase ? 'public.cleaned_sales' : 'cleaned_sales'}
            required
            className="mono"
            hint={destinationDatabase ? 'schema.table on the data source' : undefined}
            error={fieldError('destination')}
          />
          <SelectField label="Mode" value={mode} onChange={(e) => setMode(e.target.value as JobMode)} hint={MODE_HINT[mode]} error={fieldError('mode')}>
            {JOB_MODES.filter((m) => when === 'now' || m !== 'create').map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </SelectField>
          <SelectField
            label="When"
            value={when}
            onChange={(e) => {
              const next = e.target.value as 'now' | 'schedule';
              setWhen(next);
              // A schedule runs again and again: create would fail from its second run.
              if (next === 'schedule' && mode === 'create') setMode('replace');
            }}
          >
            <option value="now">Now</option>
            <option value="schedule">On a schedule</option>
          </SelectField>
          {when === 'schedule' && (
            <TextField
              label="Cron (UTC)"
              value={cron}
              onChange={(e) => setCron(e.target.value)}
              required
              className="mono"
              hint="minute hour day month weekday: 0 6 * * * is 06:00 every day, */15 * * * * every quarter hour"
              error={fieldError('cron')}
            />
          )}
          <div className="form-actions">
            <Button
              type="submit"
              variant="primary"
              loading={busy}
              disabled={!script || !chosenSource}
              icon={<Icon name={when === 'schedule' ? 'clock' : 'play'} />}
            >
              {when === 'schedule' ? 'Schedule job' : 'Run job'}
            </Button>
          </div>
          {error && !(error instanceof ApiError && error.field) && <FormError>{error.message}</FormError>}
          {scheduled && (
            <p className="muted small" role="status">
              Scheduled: {scheduled.script} runs at <code>{scheduled.cron}</code>, first at {formatAbsolute(scheduled.next_run)}.
            </p>
          )}
        </form>
      )}
    </section>
  );
}

function ScheduleList({
  schedules,
  projectId,
  editor,
  onChange,
}: {
  schedules: JobSchedule[];
  projectId: string;
  editor: boolean;
  onChange: () => void;
}) {
  const now = useNow(30_000);
  const [error, setError] = useState<string | null>(null);
  const remove = async (s: JobSchedule) => {
    if (!window.confirm(`Delete the schedule of ${s.script} into ${s.destination}? The jobs it made stay.`)) return;
    setError(null);
    try {
      await api.deleteSchedule(projectId, s.id);
      onChange();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <section className="panel" aria-labelledby="schedules-heading">
      <h2 className="panel-title" id="schedules-heading">
        <Icon name="clock" size={16} /> Schedules
      </h2>
      <p className="muted small">Each tick runs the script's newest version once, in UTC.</p>
      {error && <FormError>{error}</FormError>}
      <div className="grid-scroll">
        <table className="data-grid table-list" aria-label="Schedules">
          <thead>
            <tr>
              <th scope="col">Script</th>
              <th scope="col">From → to</th>
              <th scope="col">Cron</th>
              <th scope="col">Next run</th>
              <th scope="col">Last job</th>
              {editor && <th scope="col"><span className="sr-only">Actions</span></th>}
            </tr>
          </thead>
          <tbody>
            {schedules.map((s) => (
              <tr key={s.id}>
                <td className="mono">{s.script}</td>
                <td className="mono">
                  {s.source_database ? `${s.source_database}: ` : ''}
                  {s.source} → {s.destination_database ? `${s.destination_database}: ` : ''}
                  {s.destination} <span className="badge-soft">{s.mode}</span>
                </td>
                <td className="mono">{s.cron}</td>
                <td title={formatAbsolute(s.next_run)}>{formatRelative(s.next_run, now)}</td>
                <td>{s.last_job_id ? <Link to={`/projects/${projectId}/jobs/${s.last_job_id}`}>Open</Link> : <span className="muted">Not yet</span>}</td>
                {editor && (
                  <td>
                    <Button variant="ghost" onClick={() => void remove(s)} aria-label={`Delete the schedule of ${s.script} into ${s.destination}`}>
                      Delete
                    </Button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function JobList({
  jobs,
  error,
  onRetry,
  projectId,
  title = 'Jobs',
}: {
  jobs: Job[] | undefined;
  error: unknown;
  onRetry: () => void;
  projectId: string;
  title?: string;
}) {
  const now = useNow(5_000);
  return (
    <section className="panel" aria-labelledby="jobs-heading">
      <h2 className="panel-title" id="jobs-heading">
        <Icon name="clock" size={16} /> {title}
      </h2>
      {error && !jobs ? (
        <ErrorState error={error} onRetry={onRetry} title="Could not load the jobs" />
      ) : !jobs ? (
        <Skeleton width="50%" />
      ) : jobs.length === 0 ? (
        <p className="muted small">No jobs yet.</p>
      ) : (
        <div className="grid-scroll">
          <table className="data-grid table-list" aria-label={title}>
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Script</th>
                <th scope="col">From → to</th>
                <th scope="col" className="num">Rows in</th>
                <th scope="col" className="num">Rows out</th>
                <th scope="col" className="num">Duration</th>
                <th scope="col">Queued</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((j) => (
                <tr key={j.id}>
                  <td>
                    <Link to={`/projects/${projectId}/jobs/${j.id}`} aria-label={`Job ${j.id}: ${j.status}`}>
                      <JobBadge status={j.status} />
                    </Link>
                  </td>
                  <td className="mono">
                    {j.script} v{j.script_version}
                    {j.schedule_id && ' '}
                    {j.schedule_id && (
                      <span className="badge-soft" title={j.scheduled_for ? `Scheduled for ${formatAbsolute(j.scheduled_for)}` : undefined}>
                        scheduled
                      </span>
                    )}
                  </td>
                  <td className="mono">
                    {j.source_database ? `${j.source_database}: ` : ''}
                    {j.source} → {j.destination_database ? `${j.destination_database}: ` : ''}
                    {j.destination} <span className="badge-soft">{j.mode}</span>
                  </td>
                  <td className="num">{formatCount(j.rows_read)}</td>
                  <td className="num">{formatCount(j.rows_written)}</td>
                  <td className="num">{j.duration_ms === null ? '—' : formatDuration(j.duration_ms)}</td>
                  <td title={formatAbsolute(j.created_at)}>{formatRelative(j.created_at, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
