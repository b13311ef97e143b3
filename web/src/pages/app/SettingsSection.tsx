// App settings form (name, description, CPUs, memory, idle timeout) with inline field errors.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api } from '../../api/endpoints';
import { ApiError, errorMessage } from '../../api/client';
import type { App, UpdateApp } from '../../api/types';
import { FormError, TextAreaField, TextField } from '../../components/Field';
import { Button } from '../../components/Button';
import { useToast } from '../../components/Toast';

interface Values {
  name: string;
  description: string;
  cpus: string;
  memory_mb: string;
  idle_timeout_secs: string;
}

const fromApp = (a: App): Values => ({
  name: a.name,
  description: a.description,
  cpus: String(a.cpus),
  memory_mb: String(a.memory_mb),
  idle_timeout_secs: String(a.idle_timeout_secs),
});

/** Checks the form against the API's ranges; returns field errors and the PATCH body. */
export function validateSettings(v: Values): { errors: Partial<Record<keyof Values, string>>; body: UpdateApp } {
  const errors: Partial<Record<keyof Values, string>> = {};
  const cpus = Number(v.cpus);
  const memory = Number(v.memory_mb);
  const idle = Number(v.idle_timeout_secs);
  if (!v.name.trim()) errors.name = 'The app needs a name.';
  if (!v.cpus.trim() || !Number.isFinite(cpus) || cpus < 0.1 || cpus > 8) errors.cpus = 'CPUs must be between 0.1 and 8.';
  if (!v.memory_mb.trim() || !Number.isInteger(memory) || memory < 128 || memory > 16384)
    errors.memory_mb = 'Memory must be a whole number of MB between 128 and 16384.';
  if (!v.idle_timeout_secs.trim() || !Number.isInteger(idle) || idle < 10 || idle > 86400)
    errors.idle_timeout_secs = 'Idle timeout must be between 10 and 86400 seconds.';
  return {
    errors,
    body: { name: v.name.trim(), description: v.description.trim(), cpus, memory_mb: memory, idle_timeout_secs: idle },
  };
}

export function SettingsSection({ app, onSaved }: { app: App; onSaved: (a: App) => void }) {
  const [values, setValues] = useState<Values>(() => fromApp(app));
  const [errors, setErrors] = useState<Partial<Record<keyof Values, string>>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const toast = useToast();

  // Reset only when another app is shown; polling must not overwrite edits.
  const appRef = useRef(app);
  appRef.current = app;
  useEffect(() => {
    setValues(fromApp(appRef.current));
    setErrors({});
  }, [app.id]);

  const set = (k: keyof Values) => (e: { target: { value: string } }) => setValues((v) => ({ ...v, [k]: e.target.value }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const { errors: errs, body } = validateSettings(values);
    setErrors(errs);
    setFormError(null);
    if (Object.keys(errs).length > 0) return;
    setBusy(true);
    try {
      const saved = await api.updateApp(app.project_id, app.id, body);
      setValues(fromApp(saved));
      onSaved(saved);
      toast.success('Settings saved');
    } catch (err) {
      if (err instanceof ApiError && err.field && err.field in values) setErrors({ [err.field]: err.message });
      else setFormError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="settings-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="settings-heading">
          Settings
        </h2>
      </div>
      <form className="stack" onSubmit={submit} noValidate>
        <FormError>{formError}</FormError>
        <TextField label="Name" value={values.name} onChange={set('name')} error={errors.name} autoComplete="off" />
        <TextAreaField label="Description" value={values.description} onChange={set('description')} error={errors.description} rows={2} />
        <div className="grid-3">
          <TextField label="CPUs" type="number" inputMode="decimal" step="0.1" min="0.1" max="8" value={values.cpus} onChange={set('cpus')} error={errors.cpus} />
          <TextField label="Memory (MB)" type="number" inputMode="numeric" step="128" min="128" max="16384" value={values.memory_mb} onChange={set('memory_mb')} error={errors.memory_mb} />
          <TextField
            label="Idle timeout (seconds)"
            type="number"
            inputMode="numeric"
            min="10"
            max="86400"
            value={values.idle_timeout_secs}
            onChange={set('idle_timeout_secs')}
            error={errors.idle_timeout_secs}
          />
        </div>
        <div className="row-end">
          <Button type="submit" variant="primary" loading={busy}>
            Save settings
          </Button>
        </div>
      </form>
    </section>
  );
}
