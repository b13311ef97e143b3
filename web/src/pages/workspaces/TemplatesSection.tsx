// The project's templates, the files learners start workspaces from: reviewers and owners make one
// from a workspace of theirs or a .zip, and delete them.
import { useRef, useState, type FormEvent } from 'react';
import { api } from '../../api/endpoints';
import { ApiError, errorMessage } from '../../api/client';
import type { Finding, Template, Workspace } from '../../api/types';
import { Button } from '../../components/Button';
import { FormError, SelectField, TextField } from '../../components/Field';
import { Findings } from '../../components/Findings';
import { ErrorState } from '../../components/States';
import { Skeleton } from '../../components/Spinner';
import { Icon } from '../../components/Icon';
import { useToast } from '../../components/Toast';
import { formatAbsolute, formatRelative } from '../../lib/time';
import { formatBytes } from '../data/format';

/** An archive's problems name the file as `path`; Findings shows it as `file`. */
const archiveFindings = (e: ApiError): Finding[] =>
  e.details.map((d) => ({ file: d.file ?? (d as { path?: string | null }).path ?? null, line: d.line ?? null, message: d.message }));

export function TemplatesSection({
  projectId,
  templates,
  error,
  reload,
  workspaces,
  canMake,
  now,
}: {
  projectId: string;
  templates: Template[] | undefined;
  error: unknown;
  reload: () => Promise<void>;
  /** The caller's workspaces, to make a template from. */
  workspaces: Workspace[] | undefined;
  /** Reviewers and owners make and delete templates. */
  canMake: boolean;
  now: number;
}) {
  const toast = useToast();

  const remove = async (t: Template) => {
    if (!window.confirm(`Delete the template ${t.name}? Workspaces made from it keep their files.`)) return;
    try {
      await api.deleteTemplate(projectId, t.id);
      toast.success(`Deleted the template ${t.name}.`);
      await reload();
    } catch (err) {
      toast.error(err);
    }
  };

  return (
    <section className="panel templates" aria-labelledby="templates-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="templates-heading">
          <Icon name="package" size={16} /> Templates
        </h2>
        {templates && <span className="muted small">{templates.length}</span>}
      </div>
      <p className="muted small">A template holds files to start a workspace from: choose one under “Start from template” above.</p>
      {error && !templates ? (
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the templates" />
      ) : !templates ? (
        <Skeleton width="40%" height={16} />
      ) : templates.length === 0 ? (
        <p className="muted">No templates yet.</p>
      ) : (
        <table className="data-grid table-list" aria-label="Templates">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Description</th>
              <th scope="col" className="num">
                Files
              </th>
              <th scope="col">Made by</th>
              <th scope="col">Made</th>
              {canMake && (
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {templates.map((t) => (
              <tr key={t.id}>
                <td className="strong">{t.name}</td>
                <td className="template-description">{t.description || <span className="muted">—</span>}</td>
                <td className="num" title={formatBytes(t.bytes)}>
                  {t.files}
                </td>
                <td>{t.created_by ?? <span className="muted">unknown</span>}</td>
                <td title={formatAbsolute(t.created_at)}>{formatRelative(t.created_at, now)}</td>
                {canMake && (
                  <td>
                    <Button size="sm" variant="ghost" icon={<Icon name="trash" />} aria-label={`Delete template ${t.name}`} onClick={() => void remove(t)}>
                      Delete
                    </Button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canMake && <NewTemplateForm projectId={projectId} workspaces={workspaces} onMade={() => void reload()} />}
    </section>
  );
}

function NewTemplateForm({ projectId, workspaces, onMade }: { projectId: string; workspaces: Workspace[] | undefined; onMade: () => void }) {
  const toast = useToast();
  const zipInput = useRef<HTMLInputElement>(null);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [workspaceId, setWorkspaceId] = useState('');
  const [zip, setZip] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setError('The template needs a name.');
      return;
    }
    if (!zip && !workspaceId) {
      setError('Choose one of your workspaces, or a .zip.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const made = zip
        ? await api.createTemplateFromZip(projectId, name.trim(), description.trim(), zip)
        : await api.createTemplateFromWorkspace(projectId, name.trim(), description.trim(), workspaceId);
      toast.success(`Made the template ${made.name}.`);
      setName('');
      setDescription('');
      setWorkspaceId('');
      setZip(null);
      if (zipInput.current) zipInput.current.value = '';
      onMade();
    } catch (err) {
      setError(err instanceof ApiError ? err : errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const nameError = error instanceof ApiError && (error.field === 'name' || error.code === 'invalid_name') ? error.message : null;
  const findings = error instanceof ApiError && error.details.length > 0 ? archiveFindings(error) : [];

  return (
    <form className="stack-sm template-new" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="new-template-heading">
      <h3 className="subheading" id="new-template-heading">
        New template
      </h3>
      <div className="form-row">
        <TextField label="Template name" value={name} onChange={(e) => setName(e.target.value)} maxLength={80} error={nameError} autoComplete="off" />
        <TextField label="Description (optional)" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={500} fieldClassName="grow" />
      </div>
      <div className="form-row">
        <SelectField
          label="From workspace"
          value={workspaceId}
          disabled={zip !== null}
          hint={workspaces && workspaces.length === 0 ? 'You have no workspaces yet.' : 'A copy of its files as they are now.'}
          onChange={(e) => setWorkspaceId(e.target.value)}
        >
          <option value="">Choose a workspace</option>
          {(workspaces ?? []).map((w) => (
            <option key={w.id} value={w.id}>
              {w.name}
            </option>
          ))}
        </SelectField>
        <div className="field">
          <label className="field-label" htmlFor="template-zip">
            Or from a .zip
          </label>
          <input ref={zipInput} id="template-zip" type="file" accept=".zip,application/zip" onChange={(e) => setZip(e.target.files?.[0] ?? null)} />
        </div>
        <div className="form-actions">
          <Button type="submit" variant="primary" loading={busy} icon={<Icon name="plus" />}>
            Make template
          </Button>
        </div>
      </div>
      {findings.length > 0 && error instanceof ApiError ? (
        <Findings findings={findings} title={error.message} />
      ) : (
        <FormError>{nameError ? null : error instanceof ApiError ? error.message : error}</FormError>
      )}
    </form>
  );
}
