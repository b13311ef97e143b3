// Loads the project in the URL (with the caller's role) and frames its pages with a sub-navigation.
import { useEffect, useMemo, useRef } from 'react';
import { NavLink, Outlet, useMatch, useParams } from 'react-router-dom';
import { api } from '../api/endpoints';
import { useApi } from '../hooks/useApi';
import { ProjectContext, useProjects } from '../hooks/useProject';
import { ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { ButtonLink } from '../components/Button';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { getLastProject, setLastProject } from '../lib/storage';
import { canReview, roleLabel } from '../lib/roles';
import { Icon } from '../components/Icon';

export function ProjectLayout() {
  const { projectId = '' } = useParams();
  const { data: project, error, loading, reload, setData } = useApi(`project:${projectId}`, () => api.project(projectId));
  const { projects } = useProjects();
  // A submission's page belongs to the Reviews tab.
  const onSubmission = useMatch('/projects/:projectId/submissions/*') !== null;

  // Keep the switcher's copy fresh when this project is renamed elsewhere.
  // Only a change of the listed name reloads: a reload that still disagrees with a stale
  // list must not reload again.
  const listedName = projects?.find((p) => p.id === projectId)?.name;
  const latest = useRef({ project, reload });
  latest.current = { project, reload };
  useEffect(() => {
    const { project, reload } = latest.current;
    if (listedName !== undefined && project && listedName !== project.name) void reload();
  }, [listedName]);

  useEffect(() => {
    if (project) setLastProject(project.id);
  }, [project]);

  useEffect(() => {
    if (isNotFound(error) && getLastProject() === projectId) setLastProject(null);
  }, [error, projectId]);

  // Until the URL's project has loaded, the previous one must not reach the pages.
  const ctx = useMemo(
    () => (project && project.id === projectId ? { project, setProject: setData } : null),
    [project, projectId, setData],
  );

  if (isNotFound(error)) {
    return <ProjectNotFound />;
  }
  if (error) {
    return (
      <div className="page">
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the project" />
      </div>
    );
  }
  if (!ctx || loading) {
    return (
      <div className="page">
        <div className="subnav-skeleton">
          <Skeleton width={180} height={20} />
        </div>
        <div className="card-grid">
          {[0, 1, 2].map((i) => (
            <div key={i} className="card card-skeleton">
              <Skeleton width="60%" height={18} />
              <Skeleton width="90%" />
              <Skeleton width="40%" />
            </div>
          ))}
        </div>
      </div>
    );
  }

  return (
    <ProjectContext.Provider value={ctx}>
      <div className="subnav">
        <div className="subnav-inner">
          <div className="subnav-project">
            <span className="subnav-name">{ctx.project.name}</span>
            <span className="role-pill">{roleLabel[ctx.project.role]}</span>
          </div>
          <nav className="subnav-tabs" aria-label="Project">
            <NavLink end to={`/projects/${projectId}`} className="subnav-tab">
              <Icon name="grid" size={14} />
              Apps
            </NavLink>
            <NavLink to={`/projects/${projectId}/data`} className="subnav-tab">
              <Icon name="database" size={14} />
              Data
            </NavLink>
            <NavLink to={`/projects/${projectId}/jobs`} className="subnav-tab">
              <Icon name="play" size={14} />
              Jobs
            </NavLink>
            <NavLink to={`/projects/${projectId}/workspaces`} className="subnav-tab">
              <Icon name="code" size={14} />
              Workspaces
            </NavLink>
            <NavLink
              to={`/projects/${projectId}/reviews`}
              className={({ isActive }) => (isActive || onSubmission ? 'subnav-tab active' : 'subnav-tab')}
            >
              <Icon name="message" size={14} />
              {canReview(ctx.project.role) ? 'Reviews' : 'My submissions'}
            </NavLink>
            <NavLink to={`/projects/${projectId}/settings`} className="subnav-tab">
              <Icon name="settings" size={14} />
              Settings
            </NavLink>
          </nav>
        </div>
      </div>
      <Outlet />
    </ProjectContext.Provider>
  );
}

function ProjectNotFound() {
  useDocumentTitle('Project not found');
  return (
    <div className="page">
      <NotFoundState
        what="Project"
        actions={
          <ButtonLink to="/" variant="primary">
            Go to your projects
          </ButtonLink>
        }
      />
    </div>
  );
}
