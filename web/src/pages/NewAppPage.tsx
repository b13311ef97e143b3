// New app wizard: paste code, upload a .py/.zip, or start from a template; then name it and create it.
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../api/endpoints';
import { ApiError, errorMessage } from '../api/client';
import type { AppSource, Finding } from '../api/types';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { Tabs } from '../components/Tabs';
import { CodeEditor } from '../components/CodeEditorLazy';
import { DropZone } from '../components/DropZone';
import { FormError, TextAreaField, TextField } from '../components/Field';
import { Findings } from '../components/Findings';
import { Button, ButtonLink } from '../components/Button';
import { EmptyState } from '../components/States';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { canEditApps } from '../lib/roles';
import { STARTER_CODE, TEMPLATES } from '../lib/starter';

type Mode = 'paste' | 'upload' | 'template';

/** Lines of app.py that findings point at, for marking in the editor. */
export function findingLines(findings: Finding[]): number[] {
  return findings.filter((f) => f.line && (!f.file || f.file === 'app.py')).map((f) => f.line as number);
}

export function NewAppPage() {
  const { project } = useProject();
  useDocumentTitle('New app', project.name);
  const [params] = useSearchParams();
  const initialTemplate = TEMPLATES.find((t) => t.id === params.get('template'))?.id ?? null;
  const navigate = useNavigate();
  const toast = useToast();

  const [mode, setMode] = useState<Mode>(initialTemplate ? 'template' : 'paste');
  const [code, setCode] = useState(STARTER_CODE);
  const [file, setFile] = useState<File | null>(null);
  const [template, setTemplate] = useState<string | null>(initialTemplate);
  const [name, setName] = useState(initialTemplate ? (TEMPLATES.find((t) => t.id === initialTemplate)?.name ?? '') : '');
  const [description, setDescription] = useState('');
  const [busy, setBusy] = useState(false);
  const [findings, setFindings] = useState<Finding[]>([]);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);

  if (!canEditApps(project.role)) {
    return (
      <div className="page">
        <EmptyState title="Viewers cannot deploy apps" actions={<ButtonLink to={`/projects/${project.id}`}>Back to apps</ButtonLink>}>
          <p>Ask an owner of {project.name} to make you an editor.</p>
        </EmptyState>
      </div>
    );
  }

  const source = (): AppSource | string => {
    if (mode === 'paste') return code.trim() ? { kind: 'code', code } : 'Paste the Python code of your app.';
    if (mode === 'upload') return file ? { kind: 'file', file } : 'Choose a .py or .zip file to upload.';
    return template ? { kind: 'template', template } : 'Pick a template.';
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const errors: Record<string, string> = {};
    if (!name.trim()) errors.name = 'Give the app a name.';
    const src = source();
    if (typeof src === 'string') errors.source = src;
    setFieldErrors(errors);
    setFormError(null);
    setFindings([]);
    if (Object.keys(errors).length > 0) return;
    setBusy(true);
    try {
      const app = await api.createApp(project.id, name.trim(), description.trim(), src as AppSource);
      toast.success(`${app.name} created: building its environment`);
      navigate(`/projects/${project.id}/apps/${app.id}`);
    } catch (err) {
      setBusy(false);
      if (err instanceof ApiError) {
        if (err.details.length > 0) setFindings(err.details);
        if (err.field === 'name' || err.field === 'description') setFieldErrors({ [err.field]: err.message });
        else setFormError(err.message);
      } else {
        setFormError(errorMessage(err));
      }
    }
  };

  const marked = mode === 'paste' ? findingLines(findings) : [];

  return (
    <div className="page page-narrow">
      <Link to={`/projects/${project.id}`} className="back-link">
        <Icon name="arrowLeft" size={14} /> Apps
      </Link>
      <div className="page-header">
        <div>
          <h1 className="page-title">New app</h1>
          <p className="page-subtitle">Bring a Streamlit app. Burrow checks it, builds its Python environment and runs it in a sandbox.</p>
        </div>
      </div>

      <form onSubmit={submit} className="wizard" noValidate>
        <section className="panel">
          <div className="panel-header">
            <h2 className="panel-title">
              <span className="step">1</span> Source
            </h2>
          </div>
          <Tabs<Mode>
            label="Where the app comes from"
            value={mode}
            onChange={(m) => {
              setMode(m);
              setFieldErrors((fe) => ({ ...fe, source: '' }));
            }}
            tabs={[
              { key: 'paste', label: 'Paste code', icon: <Icon name="code" size={14} /> },
              { key: 'upload', label: 'Upload', icon: <Icon name="upload" size={14} /> },
              { key: 'template', label: 'Template', icon: <Icon name="grid" size={14} /> },
            ]}
          >
            {mode === 'paste' && (
              <div className="stack-sm">
                <p className="muted small">
                  The whole <code>app.py</code>. Requirements are inferred from its imports and checked against the package allowlist.
                </p>
                <div className="editor-frame">
                  <CodeEditor value={code} onChange={setCode} ariaLabel="app.py" markedLines={marked} />
                </div>
              </div>
            )}
            {mode === 'upload' && (
              <div className="stack-sm">
                <p className="muted small">
                  A single <code>.py</code> file, or a <code>.zip</code> with an <code>app.py</code> and optionally a{' '}
                  <code>requirements.txt</code>.
                </p>
                <DropZone label="Bundle file" file={file} onFile={setFile} />
              </div>
            )}
            {mode === 'template' && (
              <div className="template-grid">
                {TEMPLATES.map((t) => (
                  <button
                    key={t.id}
                    type="button"
                    className={`template-card ${template === t.id ? 'template-card-selected' : ''}`}
                    aria-pressed={template === t.id}
                    aria-label={t.name}
                    onClick={() => {
                      setTemplate(t.id);
                      if (!name.trim()) setName(t.name);
                    }}
                  >
                    <span className="template-card-top">
                      <span className="template-card-icon" aria-hidden="true">
                        <Icon name="grid" size={22} />
                      </span>
                      {template === t.id && (
                        <span className="template-check" aria-hidden="true">
                          <Icon name="check" size={14} />
                        </span>
                      )}
                    </span>
                    <span className="template-card-name">{t.name}</span>
                    <span className="template-card-desc">{t.description}</span>
                    <span className="template-card-pkgs">
                      {t.packages.map((p) => (
                        <span key={p} className="chip">
                          {p}
                        </span>
                      ))}
                    </span>
                  </button>
                ))}
              </div>
            )}
          </Tabs>
          {fieldErrors.source && (
            <p className="field-error" role="alert">
              {fieldErrors.source}
            </p>
          )}
          <Findings findings={findings} title={formError ?? undefined} />
        </section>

        <section className="panel">
          <div className="panel-header">
            <h2 className="panel-title">
              <span className="step">2</span> Details
            </h2>
          </div>
          <div className="stack">
            <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} error={fieldErrors.name} placeholder="Sales dashboard" autoComplete="off" required />
            <TextAreaField
              label="Description"
              value={description}
              onChange={(e) => setDescription(e.target.value)}
              error={fieldErrors.description}
              placeholder="What does this app help people do?"
              rows={3}
            />
          </div>
        </section>

        <FormError>{findings.length === 0 ? formError : null}</FormError>
        <div className="wizard-actions">
          <ButtonLink to={`/projects/${project.id}`} variant="ghost">
            Cancel
          </ButtonLink>
          <Button type="submit" variant="primary" size="lg" loading={busy}>
            Create app
          </Button>
        </div>
      </form>
    </div>
  );
}
