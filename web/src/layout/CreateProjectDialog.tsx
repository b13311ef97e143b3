// The "New project" dialog: name it, create it, go to it.
import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router-dom';
import { api } from '../api/endpoints';
import { ApiError, errorMessage } from '../api/client';
import { Dialog } from '../components/Dialog';
import { TextField } from '../components/Field';
import { Button } from '../components/Button';
import { useToast } from '../components/Toast';
import { useProjects } from '../hooks/useProject';

export function CreateProjectDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const toast = useToast();
  const { reload } = useProjects();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setError('Give the project a name.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const project = await api.createProject(name.trim());
      await reload();
      toast.success(`Project “${project.name}” created`);
      onClose();
      navigate(`/projects/${project.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : errorMessage(err));
      setBusy(false);
    }
  };

  return (
    <Dialog title="New project" description="Projects group apps and the people who can see them." onClose={onClose}>
      <form onSubmit={submit} className="stack" noValidate>
        <TextField
          label="Project name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          placeholder="Sales analytics"
          autoComplete="off"
          error={error}
          maxLength={100}
        />
        <div className="dialog-actions">
          <Button onClick={onClose} variant="ghost">
            Cancel
          </Button>
          <Button type="submit" variant="primary" loading={busy}>
            Create project
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
