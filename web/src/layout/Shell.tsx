// The signed-in frame: top bar with logo, project switcher, admin link, notifications and account menu.
import { useState } from 'react';
import { Link, Outlet, useMatch, useNavigate } from 'react-router-dom';
import { api } from '../api/endpoints';
import { useApi } from '../hooks/useApi';
import { useAuth, useUser } from '../hooks/useAuth';
import { ProjectsContext, useProjects } from '../hooks/useProject';
import { Avatar, Logo } from '../components/Logo';
import { Menu, MenuHeader, MenuItem, MenuLink, MenuSeparator } from '../components/Menu';
import { Icon } from '../components/Icon';
import { NotificationsBell } from '../components/NotificationsBell';
import { useToast } from '../components/Toast';
import { CreateProjectDialog } from './CreateProjectDialog';
import { roleLabel } from '../lib/roles';

export function Shell() {
  const projects = useApi('projects', api.projects);
  const ctx = { projects: projects.data, error: projects.error, reload: projects.reload };
  return (
    <ProjectsContext.Provider value={ctx}>
      <div className="shell">
        <a href="#main" className="skip-link">
          Skip to content
        </a>
        <TopBar />
        <main id="main" className="shell-main" tabIndex={-1}>
          <Outlet />
        </main>
      </div>
    </ProjectsContext.Provider>
  );
}

function TopBar() {
  const user = useUser();
  const { signOut } = useAuth();
  const navigate = useNavigate();
  const toast = useToast();

  return (
    <header className="topbar">
      <div className="topbar-inner">
        <div className="topbar-left">
          <Logo />
          <span className="topbar-slash" aria-hidden="true">
            /
          </span>
          <ProjectSwitcher />
        </div>
        <nav className="topbar-right" aria-label="User">
          {user.is_admin && (
            <Link to="/admin" className="topbar-link">
              <Icon name="shield" size={14} />
              Admin
            </Link>
          )}
          <NotificationsBell />
          <Menu
            label="Account"
            align="end"
            triggerClassName="account-trigger"
            trigger={<Avatar name={user.name || user.email} />}
          >
            {(close) => (
              <>
                <MenuHeader>
                  <div className="menu-user-name">{user.name}</div>
                  <div className="menu-user-email">{user.email}</div>
                </MenuHeader>
                <MenuSeparator />
                {user.is_admin && (
                  <MenuLink to="/admin" onSelect={close}>
                    <Icon name="shield" size={14} /> Admin
                  </MenuLink>
                )}
                <MenuItem
                  onSelect={async () => {
                    close();
                    try {
                      await signOut();
                      navigate('/login', { replace: true });
                    } catch (e) {
                      toast.error(e);
                    }
                  }}
                >
                  <Icon name="logOut" size={14} /> Sign out
                </MenuItem>
              </>
            )}
          </Menu>
        </nav>
      </div>
    </header>
  );
}

function ProjectSwitcher() {
  const { projects } = useProjects();
  const match = useMatch('/projects/:projectId/*');
  const currentId = match?.params.projectId;
  const current = projects?.find((p) => p.id === currentId);
  const [creating, setCreating] = useState(false);
  // A project that is not in the list (unknown, or not ours) selects nothing.
  const loading = currentId !== undefined && projects === undefined;
  const name = current?.name ?? (loading ? '…' : 'Select a project');

  return (
    <>
      <Menu
        label={`Project: ${current?.name ?? (loading ? 'loading' : 'none selected')}`}
        triggerClassName="switcher-trigger"
        trigger={
          <>
            {current && (
              <span className="switcher-mark" aria-hidden="true">
                {current.name.slice(0, 1).toUpperCase()}
              </span>
            )}
            <span className="switcher-name">{name}</span>
            <Icon name="chevronDown" size={14} />
          </>
        }
      >
        {(close) => (
          <>
            <MenuHeader>Projects</MenuHeader>
            {projects === undefined && <div className="menu-note">Loading…</div>}
            {projects?.length === 0 && <div className="menu-note">No projects yet</div>}
            {projects?.map((p) => (
              <MenuLink key={p.id} to={`/projects/${p.id}`} onSelect={close} current={p.id === currentId}>
                <span className="switcher-mark switcher-mark-sm" aria-hidden="true">
                  {p.name.slice(0, 1).toUpperCase()}
                </span>
                <span className="menu-item-grow">{p.name}</span>
                <span className="menu-item-meta">{roleLabel[p.role]}</span>
                {p.id === currentId && <Icon name="check" size={14} />}
              </MenuLink>
            ))}
            <MenuSeparator />
            <MenuItem
              onSelect={() => {
                close();
                setCreating(true);
              }}
            >
              <Icon name="plus" size={14} /> New project
            </MenuItem>
          </>
        )}
      </Menu>
      {creating && <CreateProjectDialog onClose={() => setCreating(false)} />}
    </>
  );
}
