// App page: status and lifecycle controls, open/share, versions, build log, app logs, settings, delete.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api, appLogsUrl, buildLogUrl, openAppUrl } from '../api/endpoints';
import type { App, AppDetail, AppStatus, Version } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { useEventStream } from '../hooks/useEventStream';
import { useNow } from '../hooks/useNow';
import { StatusBadge } from '../components/StatusBadge';
import { Button, ButtonAnchor, ButtonLink } from '../components/Button';
import { ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { canEditApps } from '../lib/roles';
import { formatAbsolute, formatRelative } from '../lib/time';
import { VersionsSection } from './app/VersionsSection';
import { AppLogsSection, BuildLogSection, tailLines } from './app/LogSections';
import { SettingsSection } from './app/SettingsSection';
import { NetworkSection } from './app/NetworkSection';
import { SecretsSection } from './app/SecretsSection';
import { DangerZone } from './app/DangerZone';

type Action = 'start' | 'stop' | 'restart';
const TRANSITIONAL: AppStatus[] = ['starting', 'stopping'];

export function AppPage() {
  const { project } = useProject();
  const { appId = '' } = useParams();
  const [fast, setFast] = useState(false);
  const { data: app, error, reload, setData } = useApi<AppDetail>(
    `app:${project.id}:${appId}`,
    () => api.app(project.id, appId),
    fast ? 1500 : 4000,
  );
  useDocumentTitle(app?.name ?? (isNotFound(error) ? 'App not found' : 'App'), 'Apps');

  useEffect(() => {
    const building = app?.versions.some((v) => v.build.status === 'queued' || v.build.status === 'running');
    setFast(!!app && (TRANSITIONAL.includes(app.status) || !!building));
  }, [app]);

  if (isNotFound(error)) {
    return (
      <div className="page">
        <NotFoundState
          what="App"
          actions={
            <ButtonLink to={`/projects/${project.id}`} variant="primary">
              Back to apps
            </ButtonLink>
          }
        />
      </div>
    );
  }
  if (error && !app) {
    return (
      <div className="page">
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the app" />
      </div>
    );
  }
  if (!app) return <AppSkeleton />;
  return <AppView key={app.id} app={app} reload={reload} setData={setData} />;
}

function AppSkeleton() {
  return (
    <div className="page" aria-busy="true">
      <Skeleton width={90} height={14} />
      <div className="app-header">
        <Skeleton width={260} height={30} />
        <Skeleton width={380} height={14} />
      </div>
      <div className="app-grid">
        <div className="stack">
          <div className="panel">
            <Skeleton width="30%" height={18} />
            <Skeleton width="100%" height={120} />
          </div>
        </div>
        <div className="panel">
          <Skeleton width="40%" height={18} />
          <Skeleton width="100%" height={80} />
        </div>
      </div>
    </div>
  );
}

function AppView({
  app,
  reload,
  setData,
}: {
  app: AppDetail;
  reload: () => Promise<void>;
  setData: (update: AppDetail | ((prev: AppDetail | undefined) => AppDetail)) => void;
}) {
  const { project } = useProject();
  const editor = canEditApps(project.role);
  const toast = useToast();
  const now = useNow(30_000);
  const [pending, setPending] = useState<Action | null>(null);

  const mergeApp = useCallback(
    (a: App) => setData((prev) => ({ ...(prev ?? app), ...a, versions: prev?.versions ?? app.versions })),
    [setData, app],
  );

  // Build log: the newest version's by default, or the one picked.
  const [logVersion, setLogVersion] = useState<number | null>(app.versions[0]?.number ?? null);
  useEffect(() => {
    if (logVersion === null && app.versions[0]) setLogVersion(app.versions[0].number);
  }, [app.versions, logVersion]);
  const selected: Version | undefined = app.versions.find((v) => v.number === logVersion) ?? app.versions[0];
  const buildUrl = selected ? buildLogUrl(app.project_id, app.id, selected.build.id) : null;
  const buildStream = useEventStream(buildUrl, () => void reload());
  const buildLogRef = useRef<HTMLDivElement>(null);

  // App output: reconnect whenever a new sandbox runs the app: a start, a restart, or a
  // new version taking over (the status stays `running` through the last two).
  const running = app.status === 'running';
  const logsStream = useEventStream(appLogsUrl(app.project_id, app.id));
  const sandbox = running ? `${app.running_version}:${app.restart_count}` : null;
  const lastSandbox = useRef(sandbox);
  useEffect(() => {
    if (sandbox !== null && sandbox !== lastSandbox.current) logsStream.retry();
    lastSandbox.current = sandbox;
  }, [sandbox, logsStream]);

  const lifecycle = async (action: Action) => {
    setPending(action);
    try {
      const updated = await api.lifecycle(app.project_id, app.id, action);
      mergeApp(updated);
      const verb = { start: 'Starting', stop: 'Stopped', restart: 'Restarting' }[action];
      toast.info(`${verb} ${app.name}`);
    } catch (e) {
      toast.error(e);
    } finally {
      setPending(null);
      void reload();
    }
  };

  const copyLink = async () => {
    try {
      await navigator.clipboard.writeText(app.url);
      toast.success('Link copied');
    } catch {
      toast.error('Could not copy the link: copy it from the address shown under the app name.');
    }
  };

  const built = app.active_version !== null;
  const transitional = TRANSITIONAL.includes(app.status);
  const recentLines = useMemo(() => tailLines(logsStream.text, 15).trimEnd(), [logsStream.text]);
  const failedBuild = app.versions.find((v) => v.number === app.versions[0]?.number && v.build.status === 'failed');

  return (
    <div className="page page-wide">
      <Link to={`/projects/${project.id}`} className="back-link">
        <Icon name="arrowLeft" size={14} /> Apps
      </Link>
      <header className="app-header">
        <div className="app-title-row">
          <span className="app-card-icon app-card-icon-lg" aria-hidden="true">
            {app.name.slice(0, 1).toUpperCase()}
          </span>
          <div className="app-title-block">
            <div className="app-title-line">
              <h1 className="page-title">{app.name}</h1>
              <StatusBadge status={app.status} testId="app-status" />
            </div>
            {app.description && <p className="page-subtitle">{app.description}</p>}
            <p className="app-meta">
              <span>
                {app.active_version !== null ? `Version ${app.active_version} active` : 'No version built yet'}
              </span>
              <span title={formatAbsolute(app.updated_at)}>updated {formatRelative(app.updated_at, now)}</span>
              {app.created_by && <span>created by {app.created_by.name}</span>}
              {app.restart_count > 0 && <span>{app.restart_count} restart{app.restart_count === 1 ? '' : 's'}</span>}
            </p>
          </div>
        </div>
        <div className="app-actions">
          {editor && (
            <div className="button-group" role="group" aria-label="Lifecycle">
              <Button
                icon={<Icon name="play" size={14} />}
                onClick={() => void lifecycle('start')}
                loading={pending === 'start'}
                disabled={pending !== null || !built || app.status === 'running' || transitional}
                title={built ? undefined : 'Start needs a version whose build succeeded'}
              >
                Start
              </Button>
              <Button
                icon={<Icon name="stop" size={14} />}
                onClick={() => void lifecycle('stop')}
                loading={pending === 'stop'}
                disabled={pending !== null || app.status === 'stopped'}
              >
                Stop
              </Button>
              <Button
                icon={<Icon name="restart" size={14} />}
                onClick={() => void lifecycle('restart')}
                loading={pending === 'restart'}
                disabled={pending !== null || !built || transitional}
              >
                Restart
              </Button>
            </div>
          )}
          <Button icon={<Icon name="link" size={14} />} onClick={() => void copyLink()}>
            Copy share link
          </Button>
          <ButtonAnchor href={openAppUrl(app.id)} target="_blank" rel="noopener" variant="primary" icon={<Icon name="external" size={14} />}>
            Open app
          </ButtonAnchor>
        </div>
      </header>

      {app.status === 'error' && (
        <div className="callout callout-danger" role="alert">
          <div className="callout-title">
            <Icon name="alert" size={16} /> The app failed
          </div>
          <p>{app.last_error ?? 'It stopped with an error.'}</p>
          {recentLines && (
            <pre className="callout-log" aria-label="Recent log lines">
              {recentLines}
            </pre>
          )}
          {editor && <p className="small muted">Fix the code and upload a new version, or try Restart.</p>}
        </div>
      )}
      {app.status !== 'error' && failedBuild?.build.error && (
        <div className="callout callout-warning" role="status">
          <div className="callout-title">
            <Icon name="alert" size={16} /> The build of version {failedBuild.number} failed
          </div>
          <p>{failedBuild.build.error}</p>
        </div>
      )}

      <div className="app-grid">
        <div className="stack">
          <div ref={buildLogRef}>
            <BuildLogSection versions={app.versions} selected={selected} onSelect={setLogVersion} stream={buildStream} />
          </div>
          <AppLogsSection stream={logsStream} running={running} />
        </div>
        <div className="stack">
          <VersionsSection
            app={app}
            editor={editor}
            selectedLog={selected?.number ?? null}
            onSelectLog={(n) => {
              setLogVersion(n);
              buildLogRef.current?.scrollIntoView?.({ behavior: 'smooth', block: 'start' });
            }}
            onChanged={(uploaded) => {
              if (uploaded) {
                setData((prev) => (prev ? { ...prev, versions: [uploaded, ...prev.versions.filter((v) => v.number !== uploaded.number)] } : prev!));
                setLogVersion(uploaded.number);
              }
              void reload();
            }}
          />
          <section className="panel" aria-labelledby="share-heading">
            <div className="panel-header">
              <h2 className="panel-title" id="share-heading">
                Sharing
              </h2>
            </div>
            <p className="muted small">Members of {project.name} can open the app at:</p>
            <code className="share-url">{app.url}</code>
            <dl className="facts">
              <div>
                <dt>CPUs</dt>
                <dd>{app.cpus}</dd>
              </div>
              <div>
                <dt>Memory</dt>
                <dd>{app.memory_mb} MB</dd>
              </div>
              <div>
                <dt>Idle stop</dt>
                <dd>{formatSeconds(app.idle_timeout_secs)}</dd>
              </div>
            </dl>
          </section>
          {editor && <SettingsSection app={app} onSaved={mergeApp} />}
          <NetworkSection app={app} editor={editor} onSaved={mergeApp} />
          {editor && <SecretsSection app={app} />}
          {editor && <DangerZone app={app} />}
        </div>
      </div>
    </div>
  );
}

function formatSeconds(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
