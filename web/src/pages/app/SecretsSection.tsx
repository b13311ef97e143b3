// App secrets: names listed, values write-only; add, replace and delete with inline field errors.
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../../api/endpoints';
import { ApiError, errorMessage } from '../../api/client';
import type { App, Secret } from '../../api/types';
import { FormError, TextAreaField, TextField } from '../../components/Field';
import { Button } from '../../components/Button';
import { Dialog } from '../../components/Dialog';
import { useToast } from '../../components/Toast';

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

type Errors = { name?: string; value?: string };

/** The form's own checks, matching the API's; the server's message wins when it refuses. */
export function checkSecret(name: string, value: string): Errors {
  const errors: Errors = {};
  if (!NAME.test(name)) errors.name = 'Use letters, digits and _, not a digit first, at most 64 characters (such as API_KEY).';
  if (value.length === 0) errors.value = 'Give the secret a value.';
  return errors;
}

function SecretForm({
  app,
  fixedName,
  onDone,
  onCancel,
}: {
  app: App;
  fixedName?: string;
  onDone: (name: string) => void;
  onCancel?: () => void;
}) {
  const [name, setName] = useState(fixedName ?? '');
  const [value, setValue] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const errs = checkSecret(name, value);
    setErrors(errs);
    setFormError(null);
    if (Object.keys(errs).length > 0) return;
    setBusy(true);
    try {
      await api.putSecret(app.project_id, app.id, name, value);
      setValue('');
      if (!fixedName) setName('');
      onDone(name);
    } catch (err) {
      if (err instanceof ApiError && (err.field === 'name' || err.field === 'value')) setErrors({ [err.field]: err.message });
      else setFormError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="stack" onSubmit={submit} noValidate aria-label={fixedName ? `Replace ${fixedName}` : 'Add a secret'}>
      <FormError>{formError}</FormError>
      {!fixedName && (
        <TextField
          label="Name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={errors.name}
          autoComplete="off"
          spellCheck={false}
          placeholder="API_KEY"
        />
      )}
      <TextAreaField
        label={fixedName ? `New value of ${fixedName}` : 'Value'}
        value={value}
        onChange={(e) => setValue(e.target.value)}
        error={errors.value}
        autoComplete="off"
        spellCheck={false}
        rows={2}
        className="mono secret-value"
      />
      <div className="row-end">
        {onCancel && (
          <Button variant="ghost" onClick={onCancel} disabled={busy}>
            Cancel
          </Button>
        )}
        <Button type="submit" variant="primary" loading={busy}>
          {fixedName ? 'Save new value' : 'Add secret'}
        </Button>
      </div>
    </form>
  );
}

export function SecretsSection({ app }: { app: App }) {
  const [secrets, setSecrets] = useState<Secret[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [replacing, setReplacing] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const toast = useToast();

  const load = useCallback(async () => {
    try {
      setSecrets(await api.secrets(app.project_id, app.id));
      setLoadError(null);
    } catch (err) {
      setLoadError(errorMessage(err));
    }
  }, [app.project_id, app.id]);

  useEffect(() => {
    void load();
  }, [load]);

  const saved = (name: string, replaced: boolean) => {
    setReplacing(null);
    toast.success(replaced ? `${name} replaced` : `${name} added`);
    void load();
  };

  const remove = async (name: string) => {
    setBusy(true);
    try {
      await api.deleteSecret(app.project_id, app.id, name);
      toast.success(`${name} deleted`);
      setDeleting(null);
      void load();
    } catch (err) {
      toast.error(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="secrets-heading" data-testid="secrets-section">
      <div className="panel-header">
        <h2 className="panel-title" id="secrets-heading">
          Secrets
        </h2>
      </div>
      <p className="muted">
        The app reads them with <code>st.secrets["NAME"]</code>. Values are encrypted, never shown again, and masked in the app's log;
        saving one switches a running app to them without a gap.
      </p>
      <FormError>{loadError}</FormError>
      {secrets && secrets.length === 0 && <p className="muted">No secrets yet.</p>}
      {secrets && secrets.length > 0 && (
        <ul className="secrets-list" aria-label="Secrets">
          {secrets.map((s) => (
            <li key={s.name}>
              <div>
                <code>{s.name}</code>
                <span className="muted small">
                  set {new Date(s.updated_at).toLocaleString()}
                  {s.updated_by ? ` by ${s.updated_by}` : ''}
                </span>
                {replacing === s.name && (
                  <SecretForm app={app} fixedName={s.name} onDone={(n) => saved(n, true)} onCancel={() => setReplacing(null)} />
                )}
              </div>
              {replacing !== s.name && (
                <div className="row">
                  <Button variant="ghost" onClick={() => setReplacing(s.name)} aria-label={`Replace ${s.name}`}>
                    Replace
                  </Button>
                  <Button variant="ghost" onClick={() => setDeleting(s.name)} aria-label={`Delete ${s.name}`}>
                    Delete
                  </Button>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      <SecretForm app={app} onDone={(n) => saved(n, false)} />
      {deleting && (
        <Dialog
          title={`Delete ${deleting}?`}
          tone="danger"
          onClose={() => !busy && setDeleting(null)}
          description={<p>The app will no longer see it; a running app switches without it.</p>}
          footer={
            <>
              <Button variant="ghost" onClick={() => setDeleting(null)} disabled={busy}>
                Cancel
              </Button>
              <Button variant="danger" onClick={() => void remove(deleting)} loading={busy}>
                Delete
              </Button>
            </>
          }
        >
          {null}
        </Dialog>
      )}
    </section>
  );
}
