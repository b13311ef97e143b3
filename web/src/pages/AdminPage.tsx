// Admin page: the package allowlist (list, add, remove) and users (list, create). Admins only.
import { useState, type FormEvent } from 'react';
import { api } from '../api/endpoints';
import { ApiError, errorMessage } from '../api/client';
import { useApi } from '../hooks/useApi';
import { useUser } from '../hooks/useAuth';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { useNow } from '../hooks/useNow';
import { CheckboxField, FormError, TextField } from '../components/Field';
import { Button, ButtonLink } from '../components/Button';
import { EmptyState, ErrorState } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Avatar } from '../components/Logo';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { formatAbsolute, formatRelative } from '../lib/time';

export function AdminPage() {
  useDocumentTitle('Admin');
  const user = useUser();
  if (!user.is_admin) {
    return (
      <div className="page">
        <EmptyState icon={<Icon name="shield" size={40} />} title="Admins only" actions={<ButtonLink to="/">Back to your apps</ButtonLink>}>
          <p>This page manages the package allowlist and user accounts of this Burrow. Ask an instance admin if you need a change.</p>
        </EmptyState>
      </div>
    );
  }
  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1 className="page-title">Admin</h1>
          <p className="page-subtitle">Instance-wide settings for this Burrow.</p>
        </div>
      </div>
      <div className="admin-grid">
        <PackagesSection />
        <UsersSection />
      </div>
    </div>
  );
}

function PackagesSection() {
  const toast = useToast();
  const now = useNow(60_000);
  const { data: packages, error, reload, setData } = useApi('packages', api.packages);
  const [name, setName] = useState('');
  const [maxVersion, setMaxVersion] = useState('');
  const [formError, setFormError] = useState<ApiError | string | null>(null);
  const [busy, setBusy] = useState(false);
  const [removing, setRemoving] = useState<string | null>(null);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setFormError('Enter a package name, such as tabulate.');
      return;
    }
    setBusy(true);
    setFormError(null);
    try {
      const pkg = await api.addPackage(name.trim(), maxVersion.trim() || undefined);
      setData((prev) => [...(prev ?? []).filter((p) => p.name !== pkg.name), pkg].sort((a, b) => a.name.localeCompare(b.name)));
      setName('');
      setMaxVersion('');
      toast.success(`${pkg.name} is allowed`);
    } catch (err) {
      setFormError(err instanceof ApiError ? err : errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (n: string) => {
    setRemoving(n);
    try {
      await api.removePackage(n);
      setData((prev) => (prev ?? []).filter((p) => p.name !== n));
      toast.success(`${n} removed from the allowlist`);
    } catch (err) {
      toast.error(err);
    } finally {
      setRemoving(null);
    }
  };

  const err = (f: string) => (formError instanceof ApiError && formError.field === f ? formError.message : null);
  const general = typeof formError === 'string' ? formError : formError && formError.field !== 'name' && formError.field !== 'max_version' ? formError.message : null;

  return (
    <section className="panel" aria-labelledby="packages-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="packages-heading">
          <Icon name="package" size={16} /> Packages
        </h2>
        {packages && <span className="muted small">{packages.length} allowed</span>}
      </div>
      <p className="muted small">Apps may install only these packages from PyPI. Names are normalised (PEP 503).</p>
      <form className="inline-form" onSubmit={add} noValidate aria-label="Add package">
        <TextField label="Package name" value={name} onChange={(e) => setName(e.target.value)} error={err('name')} placeholder="tabulate" fieldClassName="grow" autoComplete="off" />
        <TextField label="Max version" value={maxVersion} onChange={(e) => setMaxVersion(e.target.value)} error={err('max_version')} placeholder="optional" autoComplete="off" fieldClassName="narrow" />
        <Button type="submit" variant="primary" loading={busy} icon={<Icon name="plus" size={14} />}>
          Add package
        </Button>
      </form>
      <FormError>{general}</FormError>
      {error && !packages ? (
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the allowlist" />
      ) : !packages ? (
        <div className="stack-sm">
          <Skeleton height={28} />
          <Skeleton height={28} />
          <Skeleton height={28} />
        </div>
      ) : packages.length === 0 ? (
        <p className="muted">No packages are allowed yet.</p>
      ) : (
        <ul className="package-list">
          {packages.map((p) => (
            <li key={p.name} className="package">
              <code className="package-name">{p.name}</code>
              {p.max_version && <span className="chip">≤ {p.max_version}</span>}
              <span className="muted small package-when" title={formatAbsolute(p.added_at)}>
                added {formatRelative(p.added_at, now)}
              </span>
              <Button size="sm" variant="ghost" aria-label={`Remove ${p.name}`} loading={removing === p.name} onClick={() => void remove(p.name)} icon={<Icon name="x" size={14} />} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function UsersSection() {
  const toast = useToast();
  const now = useNow(60_000);
  const { data: users, error, reload, setData } = useApi('users', api.users);
  const [form, setForm] = useState({ name: '', email: '', password: '', is_admin: false });
  const [formError, setFormError] = useState<ApiError | string | null>(null);
  const [busy, setBusy] = useState(false);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    if (!form.name.trim() || !form.email.trim() || !form.password) {
      setFormError('Fill in a name, an email and a password.');
      return;
    }
    setBusy(true);
    setFormError(null);
    try {
      const u = await api.createUser({ ...form, name: form.name.trim(), email: form.email.trim() });
      setData((prev) => [...(prev ?? []), u]);
      setForm({ name: '', email: '', password: '', is_admin: false });
      toast.success(`Account created for ${u.email}`);
    } catch (err) {
      setFormError(err instanceof ApiError ? err : errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const err = (f: string) => (formError instanceof ApiError && formError.field === f ? formError.message : null);
  const general =
    typeof formError === 'string' ? formError : formError && !['name', 'email', 'password'].includes(formError.field ?? '') ? formError.message : null;

  return (
    <section className="panel" aria-labelledby="users-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="users-heading">
          <Icon name="users" size={16} /> Users
        </h2>
        {users && <span className="muted small">{users.length}</span>}
      </div>
      {error && !users ? (
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the users" />
      ) : !users ? (
        <div className="stack-sm">
          <Skeleton height={36} />
          <Skeleton height={36} />
        </div>
      ) : (
        <ul className="member-list">
          {users.map((u) => (
            <li key={u.id} className="member">
              <Avatar name={u.name || u.email} size={32} />
              <div className="member-who">
                <div className="strong">
                  {u.name}
                  {u.is_admin && <span className="role-pill">Admin</span>}
                </div>
                <div className="muted small">{u.email}</div>
              </div>
              <span className="muted small" title={formatAbsolute(u.created_at)}>
                joined {formatRelative(u.created_at, now)}
              </span>
            </li>
          ))}
        </ul>
      )}
      <form className="stack create-user" onSubmit={create} noValidate aria-label="Create user">
        <h3 className="subheading">Create a user</h3>
        <FormError>{general}</FormError>
        <div className="grid-2">
          <TextField label="Name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} error={err('name')} autoComplete="off" />
          <TextField label="Email" type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} error={err('email')} autoComplete="off" />
        </div>
        <TextField
          label="Password"
          type="password"
          value={form.password}
          onChange={(e) => setForm({ ...form, password: e.target.value })}
          error={err('password')}
          hint="At least 8 characters. Share it with them securely."
          autoComplete="new-password"
        />
        <CheckboxField label="Instance admin" checked={form.is_admin} onChange={(e) => setForm({ ...form, is_admin: e.target.checked })} />
        <div className="row-end">
          <Button type="submit" variant="primary" loading={busy}>
            Create user
          </Button>
        </div>
      </form>
    </section>
  );
}
