// "/": go to the last-used (or first) project, or invite the user to create their first one.
import { useState } from 'react';
import { Navigate } from 'react-router-dom';
import { useProjects } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { EmptyState, ErrorState } from '../components/States';
import { Button } from '../components/Button';
import { PageLoader } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { CreateProjectDialog } from '../layout/CreateProjectDialog';
import { getLastProject } from '../lib/storage';

export function HomePage() {
  useDocumentTitle('Projects');
  const { projects, error, reload } = useProjects();
  const [creating, setCreating] = useState(false);

  if (error && !projects) {
    return (
      <div className="page">
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load your projects" />
      </div>
    );
  }
  if (!projects) return <PageLoader label="Loading your projects…" />;
  if (projects.length > 0) {
    const last = getLastProject();
    const target = projects.find((p) => p.id === last) ?? projects[0];
    return <Navigate to={`/projects/${target.id}`} replace />;
  }

  return (
    <div className="page">
      <EmptyState
        title="Welcome to Burrow"
        actions={
          <Button variant="primary" size="lg" icon={<Icon name="plus" />} onClick={() => setCreating(true)}>
            Create project
          </Button>
        }
      >
        <p>
          A project holds your team’s Streamlit apps and decides who can see them. Create your first project, then deploy an app
          from pasted code, an upload or a template.
        </p>
      </EmptyState>
      {creating && <CreateProjectDialog onClose={() => setCreating(false)} />}
    </div>
  );
}
