// Project settings: rename, members (add, change role, remove) and delete with typed confirmation.
import { useEffect, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router-dom';
import { api } from '../api/endpoints';
import { ApiError, errorMessage } from '../api/client';
import type { Member, Role } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useUser } from '../hooks/useAuth';
import { useProject, useProjects } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { FormError, SelectField, TextField } from '../components/Field';
import { Button } from '../components/Button';
import { DangerPanel } from '../components/DangerPanel';
import { Dialog } from '../components/Dialog';
import { ErrorState } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Avatar } from '../components/Logo';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { canManageProject, roleDescription, roleLabel, roles, withArticle } from '../lib/roles';
import { setLastProject } from '../lib/storage';

export function ProjectSettingsPage() {
  const { project } = useProject();
  useDocumentTitle('Settings', project.name);
  const owner = canManageProject(project.role);
  return (
    <div className="page page-narrow">
      <div className="page-header">
        <div>
          <h1 className="page-title">Project settings</h1>
          <p className="page-subtitle">
            {owner ? 'Manage the name and the people of this project.' : `You are ${withArticle(project.role)} here: only owners can change these settings.`}
          </p>
        </div>
      </div>
      <div className="stack-lg">
        {owner && <RenameSection />}
        <MembersSection />
        {owner && <DeleteProjectSection />}
      </div>
    </div>
  );
}

function RenameSection() {
  const { project, setProject } = useProject();
  const { reload } = useProjects();
  const toast = useToast();
  const [name, setName] = useState(project.name);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setName(project.name), [project.name]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setError('The project needs a name.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const p = await api.renameProject(project.id, name.trim());
      setProject(p);
      void reload();
      toast.success('Project renamed');
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="rename-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="rename-heading">
          General
        </h2>
      </div>
      <form className="inline-form" onSubmit={submit} noValidate>
        <TextField label="Project name" value={name} onChange={(e) => setName(e.target.value)} error={error} fieldClassName="grow" autoComplete="off" />
        <Button type="submit" loading={busy} disabled={name.trim() === project.name}>
          Rename
        </Button>
      </form>
    </section>
  );
}

function MembersSection() {
  const { project, setProject } = useProject();
  const me = useUser();
  const owner = canManageProject(project.role);
  const toast = useToast();
  const navigate = useNavigate();
  const { reload: reloadProjects } = useProjects();
  const { data: members, error, reload, setData } = useApi(`members:${project.id}`, () => api.members(project.id));
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('editor');
  const [addError, setAddError] = useState<ApiError | string | null>(null);
  const [adding, setAdding] = useState(false);
  const [busyUser, setBusyUser] = useState<string | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    if (!email.trim()) {
      setAddError('Enter the email of an existing user.');
      return;
    }
    setAdding(true);
    setAddError(null);
    try {
      const m = await api.addMember(project.id, email.trim(), role);
      setData((prev) => [...(prev ?? []), m]);
      setEmail('');
      toast.success(`${m.name || m.email} added as ${roleLabel[m.role].toLowerCase()}`);
    } catch (err) {
      setAddError(err instanceof ApiError ? err : errorMessage(err));
    } finally {
      setAdding(false);
    }
  };

  const changeRole = async (m: Member, r: Role) => {
    setBusyUser(m.user_id);
    try {
      const updated = await api.setMemberRole(project.id, m.user_id, r);
      setData((prev) => (prev ?? []).map((x) => (x.user_id === m.user_id ? updated : x)));
      toast.success(`${m.email} is now ${roleLabel[r].toLowerCase()}`);
      if (m.user_id === me.id) {
        setProject({ ...project, role: r });
        void reloadProjects();
      }
    } catch (err) {
      toast.error(err);
      void reload();
    } finally {
      setBusyUser(null);
    }
  };

  const remove = async (m: Member) => {
    setBusyUser(m.user_id);
    try {
      await api.removeMember(project.id, m.user_id);
      setRemoving(null);
      if (m.user_id === me.id) {
        toast.success(`You left ${project.name}`);
        setLastProject(null);
        await reloadProjects();
        navigate('/', { replace: true });
        return;
      }
      setData((prev) => (prev ?? []).filter((x) => x.user_id !== m.user_id));
      toast.success(`${m.email} removed`);
    } catch (err) {
      toast.error(err);
    } finally {
      setBusyUser(null);
    }
  };

  const emailError = addError instanceof ApiError ? (addError.field === 'role' ? null : addError.message) : addError;

  return (
    <section className="panel" aria-labelledby="members-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="members-heading">
          <Icon name="users" size={16} /> Members
        </h2>
        {members && <span className="muted small">{members.length}</span>}
      </div>

      {owner && (
        <form className="inline-form" onSubmit={add} noValidate aria-label="Add member">
          <TextField label="Email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} error={emailError} placeholder="ada@example.com" fieldClassName="grow" autoComplete="off" />
          <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {roleLabel[r]}
              </option>
            ))}
          </SelectField>
          <Button type="submit" variant="primary" loading={adding} icon={<Icon name="plus" size={14} />}>
            Add member
          </Button>
        </form>
      )}

      <ul className="role-help small" aria-label="What each role may do">
        {roles.map((r) => (
          <li key={r}>
            <span className="strong">{roleLabel[r]}</span>: <span className="muted">{roleDescription[r]}</span>
          </li>
        ))}
      </ul>

      {error && !members ? (
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the members" />
      ) : !members ? (
        <div className="stack-sm">
          <Skeleton height={36} />
          <Skeleton height={36} />
        </div>
      ) : (
        <ul className="member-list">
          {members.map((m) => (
            <li key={m.user_id} className="member">
              <Avatar name={m.name || m.email} size={32} />
              <div className="member-who">
                <div className="strong">
                  {m.name}
                  {m.user_id === me.id && <span className="you-pill">you</span>}
                </div>
                <div className="muted small">{m.email}</div>
              </div>
              {owner ? (
                <>
                  <label htmlFor={`role-${m.user_id}`} className="sr-only">
                    Role for {m.email}
                  </label>
                  <select
                    id={`role-${m.user_id}`}
                    className="input select input-sm"
                    value={m.role}
                    disabled={busyUser === m.user_id}
                    onChange={(e) => void changeRole(m, e.target.value as Role)}
                  >
                    {roles.map((r) => (
                      <option key={r} value={r}>
                        {roleLabel[r]}
                      </option>
                    ))}
                  </select>
                  <Button size="sm" variant="ghost" aria-label={`Remove ${m.email}`} disabled={busyUser === m.user_id} onClick={() => setRemoving(m)} icon={<Icon name="trash" size={14} />} />
                </>
              ) : (
                <>
                  <span className="role-pill">{roleLabel[m.role]}</span>
                  {m.user_id === me.id && (
                    <Button size="sm" variant="ghost" onClick={() => setRemoving(m)}>
                      Leave
                    </Button>
                  )}
                </>
              )}
            </li>
          ))}
        </ul>
      )}

      {removing && (
        <Dialog
          title={removing.user_id === me.id ? `Leave ${project.name}?` : `Remove ${removing.name || removing.email}?`}
          tone="danger"
          onClose={() => setRemoving(null)}
          description={
            removing.user_id === me.id ? (
              <p>You will lose access to this project and its apps.</p>
            ) : (
              <p>
                {removing.email} will lose access to {project.name} and its apps.
              </p>
            )
          }
          footer={
            <>
              <Button variant="ghost" onClick={() => setRemoving(null)}>
                Cancel
              </Button>
              <Button variant="danger" loading={busyUser === removing.user_id} onClick={() => void remove(removing)}>
                {removing.user_id === me.id ? 'Leave project' : 'Remove'}
              </Button>
            </>
          }
        >
          {null}
        </Dialog>
      )}
      {addError instanceof ApiError && addError.field === 'role' && <FormError>{addError.message}</FormError>}
    </section>
  );
}

function DeleteProjectSection() {
  const { project } = useProject();
  const { reload } = useProjects();
  const navigate = useNavigate();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const remove = async (e: FormEvent) => {
    e.preventDefault();
    if (typed !== project.name) return;
    setBusy(true);
    setError(null);
    try {
      await api.deleteProject(project.id);
      setLastProject(null);
      await reload();
      toast.success(`${project.name} deleted`);
      navigate('/', { replace: true });
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  };

  return (
    <DangerPanel
      id="delete-project-heading"
      title="Delete this project"
      description="Deletes every app in it, with their versions and logs. This cannot be undone."
      action="Delete project"
      onAction={() => setOpen(true)}
    >
      {open && (
        <Dialog title={`Delete ${project.name}?`} tone="danger" onClose={() => !busy && setOpen(false)}>
          <form className="stack" onSubmit={remove} noValidate>
            <p>
              This deletes the project and all of its apps. To confirm, type <strong className="mono">{project.name}</strong> below.
            </p>
            <TextField label={`Type ${project.name} to confirm`} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
            <FormError>{error}</FormError>
            <div className="dialog-actions">
              <Button variant="ghost" onClick={() => setOpen(false)} disabled={busy}>
                Cancel
              </Button>
              <Button type="submit" variant="danger" disabled={typed !== project.name} loading={busy}>
                Delete project
              </Button>
            </div>
          </form>
        </Dialog>
      )}
    </DangerPanel>
  );
}
