// Context for the current project (with the caller's role) and the list for the switcher.
import { createContext, useContext } from 'react';
import type { Project } from '../api/types';

export interface ProjectState {
  project: Project;
  setProject: (p: Project) => void;
}

export const ProjectContext = createContext<ProjectState | null>(null);

export function useProject(): ProjectState {
  const ctx = useContext(ProjectContext);
  if (!ctx) throw new Error('useProject must be used inside a project route');
  return ctx;
}

export interface ProjectsState {
  projects: Project[] | undefined;
  error: unknown;
  reload: () => Promise<void>;
}

export const ProjectsContext = createContext<ProjectsState | null>(null);

export function useProjects(): ProjectsState {
  const ctx = useContext(ProjectsContext);
  if (!ctx) throw new Error('useProjects must be used inside <ProjectsProvider>');
  return ctx;
}
