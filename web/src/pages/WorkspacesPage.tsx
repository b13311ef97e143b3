// Your workspaces in the project: make one (empty, from a .zip or from a template), open, start or
// stop one, delete one; and the project's templates.
import { useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api } from '../api/endpoints';
import { ApiError } from '../api/client';
import type { Workspace } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { useNow } from '../hooks/useNow';
import { Button, ButtonLink } from '../components/Button';
import { StatusBadge } from '../components/StatusBadge';
import { FormError, SelectField, TextField } from '../components/Field';
import { EmptyState, ErrorState } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { Findings } from '../components/Findings';
import { useToast } from '../components/Toast';
import { canEditApps, canReview } from '../lib/roles';
import { formatAbsolute, formatRelative } from '../lib/time';
import { formatBytes } from './data/format';
import { TemplatesSection } from './workspaces/TemplatesSection';

export function WorkspacesPage() {
  const { project } = useProject();
  useDocumentTitle('Workspaces', project.name);
  const editor = canEditApps(project.role);
  const navigate = useNavigate();
  const toast = useToast();
  const now = useNow(30_000);
  const { data: workspaces, error, reload, setData } = useApi(`workspaces:${project.id}`, () => api.workspaces(project.id), 15_000);
  /** Workspaces being started or stopped from here. */
  const [busy, setBusy] = useState<Record<string, 'start' | 'stop'>>({});
  const [name, setName] = useState('');
  const [creating, setCreating] = useState(false);
  const [createError, setCreateError] = useState<ApiError | Error | null>(null);
  /** A `.zip` the new workspace starts from. */
  const [zip, setZip] = useState<File | null>(null);
  /** Or the template it starts from. */
  const [templateId, setTemplateId] = useState('');
  const templates = useApi(`templates:${project.id}`, () => api.templates(project.id));
  const reviewer = canReview(project.role);

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    setCreating(true);
    setCreateError(null);
    try {
      const made = await api.createWorkspace(project.id, name.trim(), { zip: zip ?? undefined, templateId: templateId || undefined });
      navigate(`/projects/${project.id}/workspaces/${made.id}`);
    } catch (err) {
      setCreateError(err as Error);
    } finally {
      setCreating(false);
    }
  };

  const lifecycle = async (w: Workspace, action: 'start' | 'stop') => {
    setBusy((b) => ({ ...b, [w.id]: action }));
    try {
      const next = action === 'start' ? await api.startWorkspace(project.id, w.id) : await api.stopWorkspace(project.id, w.id);
      setData((list) => (list ?? []).map((x) => (x.id === next.id ? next : x)));
    } catch (err) {
      toast.error(err);
      void reload();
    } finally {
      setBusy(({ [w.id]: _, ...rest }) => rest);
    }
  };

  const remove = async (id: string, label: string) => {
    if (!window.confirm(`Delete the workspace ${label} and all its files? This cannot be undone.`)) return;
    try {
      await api.deleteWorkspace(project.id, id);
      toast.success(`Deleted ${label}.`);
      await reload();
    } catch (err) {
      toast.error(err);
    }
  };

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1 className="page-title">Workspaces</h1>
          <p className="page-subtitle">
            Your own files in {project.name}, kept by Burrow: edit them in the browser, and download them as a zip. Only you
            see your workspaces; the project's owners may read them.
          </p>
        </div>
      </div>

      {editor ? (
        <form className="panel row workspace-new" onSubmit={(e) => void create(e)} aria-label="Make a workspace">
          <TextField
            label="New workspace"
            placeholder="analysis"
            value={name}
            onChange={(e) => setName(e.target.value)}
            maxLength={80}
            required
          />
          {(templates.data ?? []).length > 0 && (
            <SelectField label="Start from template" value={templateId} disabled={zip !== null} onChange={(e) => setTemplateId(e.target.value)}>
              <option value="">No template</option>
              {(templates.data ?? []).map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name}
                </option>
              ))}
            </SelectField>
          )}
          <div className="field">
            <label className="field-label" htmlFor="workspace-zip">
              Start from a .zip (optional)
            </label>
            <input
              id="workspace-zip"
              type="file"
              accept=".zip,application/zip"
              disabled={templateId !== ''}
              onChange={(e) => setZip(e.target.files?.[0] ?? null)}
            />
          </div>
          <Button type="submit" variant="primary" loading={creating} icon={<Icon name="plus" />}>
            Create
          </Button>
          {createError instanceof ApiError && createError.details.length > 0 ? (
            <Findings findings={createError.details} title={createError.message} />
          ) : (
            <FormError>{createError?.message}</FormError>
          )}
        </form>
      ) : (
        <p className="muted">You are a viewer in this project: an editor or owner can make workspaces.</p>
      )}

      {error && !workspaces ? (
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load your workspaces" />
      ) : !workspaces ? (
        <div className="panel" aria-busy="true" aria-label="Loading workspaces">
          <Skeleton width="40%" height={18} />
        </div>
      ) : workspaces.length === 0 ? (
        <EmptyState icon={<Icon name="code" size={28} />} title="No workspaces yet">
          <p>A workspace holds your files: scripts, notes and data to work on.</p>
        </EmptyState>
      ) : (
        <section className="panel" aria-labelledby="workspaces-heading">
          <div className="panel-header">
            <h2 className="panel-title" id="workspaces-heading">
              <Icon name="code" size={16} /> Your workspaces
            </h2>
          </div>
          <table className="data-grid table-list" aria-label="Workspaces">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Template</th>
                <th scope="col" className="num">Files</th>
                <th scope="col" className="num">Size</th>
                <th scope="col">Last change</th>
                <th scope="col">Status</th>
                <th scope="col">Last active</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {workspaces.map((w) => {
                const status = busy[w.id] === 'start' ? 'starting' : busy[w.id] === 'stop' ? 'stopping' : (w.status ?? 'stopped');
                const active = w.last_active_at ? new Date(w.last_active_at).toISOString() : null;
                return (
                  <tr key={w.id}>
                    <td>
                      <Link to={`/projects/${project.id}/workspaces/${w.id}`}>{w.name}</Link>
                    </td>
                    <td>{w.template ?? <span className="muted">—</span>}</td>
                    <td className="num">{w.files}</td>
                    <td className="num">{formatBytes(w.bytes)}</td>
                    <td>{formatRelative(w.updated_at, now)}</td>
                    <td>
                      <StatusBadge status={status} />
                    </td>
                    <td title={formatAbsolute(active)}>{formatRelative(active, now)}</td>
                    <td>
                      <div className="row">
                        <ButtonLink size="sm" to={`/projects/${project.id}/workspaces/${w.id}`} icon={<Icon name="code" />}>
                          Open
                        </ButtonLink>
                        {status === 'running' ? (
                          <Button size="sm" icon={<Icon name="stop" />} onClick={() => void lifecycle(w, 'stop')}>
                            Stop
                          </Button>
                        ) : (
                          <Button
                            size="sm"
                            icon={<Icon name="play" />}
                            loading={status === 'starting' || status === 'stopping'}
                            onClick={() => void lifecycle(w, 'start')}
                          >
                            Start
                          </Button>
                        )}
                        <Button size="sm" variant="ghost" icon={<Icon name="trash" />} onClick={() => void remove(w.id, w.name)}>
                          Delete
                        </Button>
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      )}

      {(reviewer || (templates.data ?? []).length > 0) && (
        <TemplatesSection
          projectId={project.id}
          templates={templates.data}
          error={templates.error}
          reload={templates.reload}
          workspaces={workspaces}
          canMake={reviewer}
          now={now}
        />
      )}
    </div>
  );
}
