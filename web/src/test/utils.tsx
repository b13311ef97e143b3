// Test helpers: a mocked fetch with routed JSON answers, and a renderer with the app's providers.
import type { ReactNode } from 'react';
import { render } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { vi } from 'vitest';
import { ToastProvider } from '../components/Toast';
import { AuthContext, type AuthState } from '../hooks/useAuth';
import { ProjectContext, ProjectsContext } from '../hooks/useProject';
import type { Project, User } from '../api/types';

export interface Call {
  method: string;
  url: string;
  body: unknown;
  headers: Record<string, string>;
}

type Handler = (call: Call) => { status?: number; body?: unknown } | undefined;

/** Replaces fetch; each request is recorded and answered by the first handler that answers. */
export function mockFetch(handler: Handler) {
  const calls: Call[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const call: Call = {
      method: init?.method ?? 'GET',
      url: String(input),
      body: init?.body instanceof FormData ? init.body : init?.body ? JSON.parse(String(init.body)) : undefined,
      headers: (init?.headers as Record<string, string>) ?? {},
    };
    calls.push(call);
    const answer = handler(call) ?? { status: 404, body: { error: { code: 'not_found', message: 'not mocked' } } };
    const status = answer.status ?? 200;
    return new Response(status === 204 ? null : JSON.stringify(answer.body ?? null), {
      status,
      headers: { 'Content-Type': 'application/json' },
    });
  });
  vi.stubGlobal('fetch', fn);
  return calls;
}

export const testUser: User = {
  id: 'u1',
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  is_admin: false,
  created_at: '2026-01-01T00:00:00Z',
};

export function project(role: Project['role'], overrides: Partial<Project> = {}): Project {
  return { id: 'p1', name: 'Analytics', role, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', ...overrides };
}

/** Renders `element` at `path` (matching `pattern`) inside auth, toast, projects and project providers. */
export function renderWithProviders(
  element: ReactNode,
  { path, pattern, role = 'owner', user = testUser, extraRoutes }: { path: string; pattern: string; role?: Project['role']; user?: User; extraRoutes?: ReactNode },
) {
  const auth: AuthState = { user, error: undefined, setUser: vi.fn(), refresh: vi.fn(), signOut: vi.fn() };
  const p = project(role);
  return render(
    <AuthContext.Provider value={auth}>
      <ToastProvider>
        <ProjectsContext.Provider value={{ projects: [p], error: undefined, reload: vi.fn(async () => {}) }}>
          <ProjectContext.Provider value={{ project: p, setProject: vi.fn() }}>
            <MemoryRouter initialEntries={[path]}>
              <Routes>
                <Route path={pattern} element={element} />
                {extraRoutes}
              </Routes>
            </MemoryRouter>
          </ProjectContext.Provider>
        </ProjectsContext.Provider>
      </ToastProvider>
    </AuthContext.Provider>,
  );
}
