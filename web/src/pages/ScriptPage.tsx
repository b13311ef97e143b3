// A job script: the editor (a new script, or a saved one's next version), its versions, and "Try it" on a table's first 100 rows.
import { useEffect, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api } from '../api/endpoints';
import { ApiError } from '../api/client';
import type { Finding, ScriptTrial } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { Button } from '../components/Button';
import { CodeEditor } from '../components/CodeEditorLazy';
import { Findings } from '../components/Findings';
import { FormError, SelectField, TextField } from '../components/Field';
import { ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { LogPanel } from '../components/LogPanel';
import { useToast } from '../components/Toast';
import { canEditApps } from '../lib/roles';
import { formatAbsolute } from '../lib/time';
import { RowsGrid } from './data/RowsGrid';

/** What a new script starts as: the seed's example, a computed column and a filter. */
export const STARTER_SCRIPT = `import pandas as pd


def transform(df: pd.DataFrame) -> pd.DataFrame:
    """Called once per chunk of the source table; returns the rows to write."""
    out = df.copy()
    # A computed column, then a filter.
    if "revenue" in out and "units" in out:
        out["revenue_per_unit"] = (out["revenue"] / out["units"]).round(2)
        out = out[out["units"] > 10]
    print(f"chunk: {len(df)} rows in, {len(out)} out")
    return out
`;

export function ScriptPage() {
  const { project } = useProject();
  const { scriptName } = useParams();
  const isNew = !scriptName;
  useDocumentTitle(isNew ? 'New script' : scriptName, project.name);
  const editor = canEditApps(project.role);
  const navigate = useNavigate();
  const toast = useToast();
  const back = `/projects/${project.id}/jobs`;
  const { data: script, error, reload, setData } = useApi(isNew ? null : `script:${project.id}:${scriptName}`, () =>
    api.script(project.id, scriptName ?? ''),
  );
  const { data: tables } = useApi(`tables:${project.id}`, () => api.tables(project.id));
  const [name, setName] = useState('');
  const [source, setSource] = useState(isNew ? STARTER_SCRIPT : '');
  const [findings, setFindings] = useState<Finding[]>([]);
  const [saveError, setSaveError] = useState<ApiError | Error | null>(null);
  const [saving, setSaving] = useState(false);
  const [trialTable, setTrialTable] = useState('');
  const [trial, setTrial] = useState<ScriptTrial | null>(null);
  const [trying, setTrying] = useState(false);

  useEffect(() => {
    if (script) setSource(script.source);
  }, [script?.id, script?.version]); // eslint-disable-line react-hooks/exhaustive-deps

  const tableForTrial = trialTable || tables?.[0]?.name || '';
  const dirty = isNew || (script !== undefined && source !== script.source);

  const refused = (e: unknown) => {
    if (e instanceof ApiError && e.details.length > 0) {
      setFindings(e.details);
      setSaveError(null);
    } else {
      setFindings([]);
      setSaveError(e instanceof Error ? e : new Error(String(e)));
    }
  };

  const save = async () => {
    setSaving(true);
    setFindings([]);
    setSaveError(null);
    try {
      if (isNew) {
        const created = await api.createScript(project.id, name.trim(), source);
        toast.success(`Saved ${created.name} as version 1.`);
        navigate(`/projects/${project.id}/jobs/scripts/${created.name}`, { replace: true });
      } else {
        const saved = await api.saveScript(project.id, scriptName ?? '', source);
        toast.success(`Saved version ${saved.version}.`);
        await reload();
        setData((prev) => (prev ? { ...prev, ...saved } : prev!));
      }
    } catch (e) {
      refused(e);
    } finally {
      setSaving(false);
    }
  };

  const tryIt = async () => {
    setTrying(true);
    setTrial(null);
    setFindings([]);
    setSaveError(null);
    try {
      setTrial(await api.tryScript(project.id, source, tableForTrial));
    } catch (e) {
      refused(e);
    } finally {
      setTrying(false);
    }
  };

  if (isNotFound(error)) {
    return (
      <div className="page">
        <NotFoundState what="Script" actions={<Link to={back}>Back to the jobs</Link>} />
      </div>
    );
  }
  if (error) {
    return (
      <div className="page">
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the script" />
      </div>
    );
  }
  if (!isNew && !script) {
    return (
      <div className="page">
        <Skeleton width={240} height={24} />
      </div>
    );
  }
  const marked = findings.map((f) => f.line).filter((l): l is number => typeof l === 'number');

  return (
    <div className="page">
      <Link to={back} className="back-link">
        <Icon name="arrowLeft" size={14} /> Jobs
      </Link>
      <div className="page-header">
        <div>
          <h1 className="page-title mono">{isNew ? 'New script' : script!.name}</h1>
          <p className="page-subtitle">
            {isNew
              ? 'Define transform(df): it gets each chunk of the source table as a pandas DataFrame and returns the rows to write.'
              : `Version ${script!.version}, saved ${formatAbsolute(script!.updated_at)}. Saving makes a new version; jobs keep the one they ran.`}
          </p>
        </div>
      </div>

      <section className="panel" aria-labelledby="editor-heading">
        <h2 className="panel-title" id="editor-heading">
          <Icon name="code" size={16} /> Script
        </h2>
        {isNew && (
          <TextField
            label="Name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="clean_sales"
            hint="Lowercase letters, digits and underscores."
            className="mono"
            error={saveError instanceof ApiError && saveError.field === 'name' ? saveError.message : undefined}
          />
        )}
        <CodeEditor value={source} onChange={setSource} ariaLabel="Script source" markedLines={marked} minHeight={280} />
        <Findings findings={findings} title="The script cannot run" />
        {saveError && !(saveError instanceof ApiError && saveError.field === 'name') && <FormError>{saveError.message}</FormError>}
        {editor && (
          <div className="row form-actions">
            <Button variant="primary" onClick={() => void save()} loading={saving} disabled={!dirty || (isNew && !name.trim())} icon={<Icon name="check" />}>
              {isNew ? 'Save script' : 'Save new version'}
            </Button>
          </div>
        )}
      </section>

      {editor && (
        <section className="panel" aria-labelledby="try-heading">
          <h2 className="panel-title" id="try-heading">
            <Icon name="play" size={16} /> Try it
          </h2>
          {tables && tables.length === 0 ? (
            <p className="muted small">
              Try needs a table: <Link to={`/projects/${project.id}/data`}>add one on the Data page</Link>.
            </p>
          ) : (
            <div className="form-row">
              <SelectField label="On the first 100 rows of" value={tableForTrial} onChange={(e) => setTrialTable(e.target.value)}>
                {(tables ?? []).map((t) => (
                  <option key={t.id} value={t.name}>
                    {t.name}
                  </option>
                ))}
              </SelectField>
              <div className="form-actions">
                <Button onClick={() => void tryIt()} loading={trying} disabled={!tableForTrial} icon={<Icon name="play" />}>
                  Try it
                </Button>
              </div>
            </div>
          )}
          {trial && <TrialResult trial={trial} />}
        </section>
      )}

      {script && (
        <section className="panel" aria-labelledby="versions-heading">
          <h2 className="panel-title" id="versions-heading">
            <Icon name="clock" size={16} /> Versions
          </h2>
          <ul className="version-list" aria-label="Versions">
            {script.versions.map((v) => (
              <li key={v.version}>
                <span className="mono">v{v.version}</span> · {v.created_by ?? 'someone'} · {formatAbsolute(v.created_at)}{' '}
                {editor && v.source !== source && (
                  <Button size="sm" variant="ghost" onClick={() => setSource(v.source)}>
                    Load into the editor
                  </Button>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

function TrialResult({ trial }: { trial: ScriptTrial }) {
  return (
    <div className="trial" data-testid="trial">
      {trial.error ? (
        <div className="findings findings-danger" role="alert">
          <div className="findings-title">
            <Icon name="alert" size={15} /> {trial.error}
          </div>
          {trial.traceback && <pre className="code-block">{trial.traceback}</pre>}
        </div>
      ) : (
        <p className="form-success" role="status">
          {trial.before.rows.length} rows in, {trial.after?.rows.length ?? 0} rows out.
        </p>
      )}
      <div className="trial-grids">
        <div>
          <h3 className="panel-subtitle">Before</h3>
          <RowsGrid columns={trial.before.columns} rows={trial.before.rows} label="Rows before" />
        </div>
        {trial.after && (
          <div>
            <h3 className="panel-subtitle">After</h3>
            <RowsGrid columns={trial.after.columns} rows={trial.after.rows} label="Rows after" />
          </div>
        )}
      </div>
      {trial.output && <LogPanel text={trial.output} label="What the script printed" follow={false} />}
    </div>
  );
}
