// The project's apps as cards with live status, plus an empty state offering the CSV Explorer template.
import { Link } from 'react-router-dom';
import { api } from '../api/endpoints';
import type { App } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { useNow } from '../hooks/useNow';
import { StatusBadge } from '../components/StatusBadge';
import { ButtonLink } from '../components/Button';
import { EmptyState, ErrorState } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { Avatar } from '../components/Logo';
import { canEditApps } from '../lib/roles';
import { formatAbsolute, formatRelative } from '../lib/time';

export const APPS_POLL_MS = 4000;

export function AppsPage() {
  const { project } = useProject();
  useDocumentTitle('Apps', project.name);
  const { data: apps, error, reload } = useApi(`apps:${project.id}`, () => api.apps(project.id), APPS_POLL_MS);
  const editor = canEditApps(project.role);

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1 className="page-title">Apps</h1>
          <p className="page-subtitle">Streamlit apps in {project.name}, each running in its own sandbox.</p>
        </div>
        {editor && apps && apps.length > 0 && (
          <ButtonLink to={`/projects/${project.id}/apps/new`} variant="primary" icon={<Icon name="plus" />}>
            New app
          </ButtonLink>
        )}
      </div>

      {error && !apps ? (
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the apps" />
      ) : !apps ? (
        <div className="card-grid" aria-busy="true" aria-label="Loading apps">
          {[0, 1, 2].map((i) => (
            <div key={i} className="card card-skeleton">
              <Skeleton width="55%" height={18} />
              <Skeleton width="85%" />
              <Skeleton width="35%" />
            </div>
          ))}
        </div>
      ) : apps.length === 0 ? (
        <EmptyState
          title="No apps yet"
          actions={
            editor ? (
              <>
                <ButtonLink to={`/projects/${project.id}/apps/new?template=csv-explorer`} variant="primary" icon={<Icon name="grid" />}>
                  Start from the CSV Explorer template
                </ButtonLink>
                <ButtonLink to={`/projects/${project.id}/apps/new`} icon={<Icon name="plus" />}>
                  New app
                </ButtonLink>
              </>
            ) : undefined
          }
        >
          <p>
            Apps are Streamlit apps that run in a sandbox. Paste some Python, upload a <code>.py</code> or <code>.zip</code>, or
            start from a template. An app starts when its first viewer arrives and stops when it has been idle for a while.
          </p>
          {!editor && <p className="muted">You are a viewer in this project: an editor or owner can deploy apps here.</p>}
        </EmptyState>
      ) : (
        <ul className="card-grid" aria-label="Apps">
          {apps.map((app) => (
            <li key={app.id}>
              <AppCard app={app} />
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function AppCard({ app }: { app: App }) {
  const now = useNow(30_000);
  return (
    <Link to={`/projects/${app.project_id}/apps/${app.id}`} className="card app-card">
      <div className="app-card-head">
        <span className="app-card-icon" aria-hidden="true">
          {app.name.slice(0, 1).toUpperCase()}
        </span>
        <span className="app-card-name">{app.name}</span>
        <StatusBadge status={app.status} />
      </div>
      <p className="app-card-desc">{app.description || <span className="muted">No description</span>}</p>
      <div className="app-card-meta">
        <span title={formatAbsolute(app.updated_at)}>
          <Icon name="clock" size={12} /> updated {formatRelative(app.updated_at, now)}
        </span>
        {app.created_by && (
          <span className="app-card-creator">
            <Avatar name={app.created_by.name} size={18} />
            {app.created_by.name}
          </span>
        )}
      </div>
    </Link>
  );
}
