// Adding or changing an external PostgreSQL source: the connection's fields, "Test connection" that says what failed, and Save, which Burrow allows only after the same check.
import { useState, type FormEvent } from 'react';
import { api } from '../../api/endpoints';
import { ApiError, errorMessage } from '../../api/client';
import { TLS_MODES, type DataSource, type SourceForm, type SourceTest, type TlsMode } from '../../api/types';
import { Button } from '../../components/Button';
import { Dialog } from '../../components/Dialog';
import { CheckboxField, FormError, SelectField, TextField } from '../../components/Field';
import { Icon } from '../../components/Icon';

const TLS_LABELS: Record<TlsMode, string> = {
  disable: 'Disable: plain TCP',
  prefer: 'Prefer: TLS when the server offers it',
  require: 'Require: always TLS, any certificate',
  'verify-full': 'Verify full: TLS with a trusted certificate for this host',
};

/** The SQL an owner runs on their server to make a user Burrow accepts. */
export const READER_SQL = `CREATE ROLE burrow_reader LOGIN PASSWORD '…';
GRANT CONNECT ON DATABASE analytics TO burrow_reader;
GRANT USAGE ON SCHEMA public TO burrow_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO burrow_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO burrow_reader;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;`;

export function SourceDialog({
  projectId,
  editing,
  onClose,
  onSaved,
}: {
  projectId: string;
  editing?: DataSource;
  onClose: () => void;
  onSaved: (source: DataSource) => void;
}) {
  const [form, setForm] = useState<SourceForm>({
    name: editing?.name ?? '',
    host: editing?.host ?? '',
    port: editing?.port ?? 5432,
    database: editing?.database ?? '',
    user: editing?.user ?? '',
    password: '',
    tls_mode: editing?.tls_mode ?? 'prefer',
    destination: editing?.destination ?? false,
  });
  const [busy, setBusy] = useState<'test' | 'save' | null>(null);
  const [tested, setTested] = useState<SourceTest | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const set = <K extends keyof SourceForm>(key: K, value: SourceForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setTested(null);
  };
  const body = (): SourceForm => ({ ...form, name: form.name?.trim(), password: form.password || undefined });

  const act = async (what: 'test' | 'save', e?: FormEvent) => {
    e?.preventDefault();
    setBusy(what);
    setError(null);
    setFieldErrors({});
    try {
      if (what === 'test') {
        setTested(await api.testSource(projectId, body()));
      } else {
        const saved = editing ? await api.updateSource(projectId, editing.name, body()) : await api.createSource(projectId, body());
        onSaved(saved);
      }
    } catch (err) {
      setTested(null);
      if (err instanceof ApiError && err.field) setFieldErrors({ [err.field]: err.message });
      else setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <Dialog
      title={editing ? `Change ${editing.name}` : 'Add a data source'}
      description="An external PostgreSQL database that this project's apps and console query read-only. Burrow connects as the user you give, and refuses a user that can change the database."
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button onClick={() => void act('test')} loading={busy === 'test'} disabled={busy !== null} icon={<Icon name="play" />}>
            Test connection
          </Button>
          <Button variant="primary" type="submit" form="source-form" loading={busy === 'save'} disabled={busy !== null}>
            {editing ? 'Save changes' : 'Add source'}
          </Button>
        </>
      }
    >
      <form id="source-form" className="stack" onSubmit={(e) => void act('save', e)}>
        {!editing && (
          <TextField
            label="Name"
            hint={<>What apps use: <code>burrow.sql(…, source="{form.name || 'warehouse'}")</code></>}
            value={form.name}
            onChange={(e) => set('name', e.target.value)}
            placeholder="warehouse"
            required
            error={fieldErrors.name}
          />
        )}
        <div className="form-row">
          <TextField
            label="Host"
            value={form.host}
            onChange={(e) => set('host', e.target.value)}
            placeholder="db.internal"
            required
            fieldClassName="grow"
            error={fieldErrors.host}
          />
          <TextField
            label="Port"
            type="number"
            min={1}
            max={65535}
            value={form.port}
            onChange={(e) => set('port', Number(e.target.value))}
            required
            error={fieldErrors.port}
          />
        </div>
        <TextField label="Database" value={form.database} onChange={(e) => set('database', e.target.value)} required error={fieldErrors.database} />
        <div className="form-row">
          <TextField label="User" value={form.user} onChange={(e) => set('user', e.target.value)} required autoComplete="off" error={fieldErrors.user} />
          <TextField
            label="Password"
            type="password"
            value={form.password}
            onChange={(e) => set('password', e.target.value)}
            autoComplete="new-password"
            placeholder={editing ? 'Unchanged' : undefined}
            required={!editing}
            hint={editing ? 'Leave empty to keep the saved one.' : 'Stored encrypted; never shown again.'}
            error={fieldErrors.password}
          />
        </div>
        <SelectField label="TLS" value={form.tls_mode} onChange={(e) => set('tls_mode', e.target.value as TlsMode)} error={fieldErrors.tls_mode}>
          {TLS_MODES.map((m) => (
            <option key={m} value={m}>
              {TLS_LABELS[m]}
            </option>
          ))}
        </SelectField>
        <CheckboxField
          label="Jobs write here (job destination)"
          hint="Allows a user that can change the database. Queries stay read-only."
          checked={form.destination}
          onChange={(e) => set('destination', e.target.checked)}
        />
        {tested && (
          <p className="form-success" role="status">
            <Icon name="check" size={14} /> Connected to PostgreSQL {tested.server_version}
            {tested.tls ? ' over TLS' : ''}: the user can read {tested.tables} {tested.tables === 1 ? 'table' : 'tables'}.
          </p>
        )}
        <FormError>{error}</FormError>
        <details className="muted small">
          <summary>The SQL to make a SELECT-only user</summary>
          <pre className="code-block">{READER_SQL}</pre>
        </details>
      </form>
    </Dialog>
  );
}
