// Tests for the app page: role gating of edit controls, version rows, status and lifecycle requests.
import { describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { AppPage } from './AppPage';
import { mockFetch, renderWithProviders } from '../test/utils';
import type { AppDetail, EgressDecision, Role, Version } from '../api/types';

vi.mock('../components/CodeEditor', () => ({ CodeEditor: () => <textarea aria-label="app.py" /> }));

function version(number: number, active: boolean, status: Version['build']['status'] = 'succeeded'): Version {
  return {
    number,
    sha256: 'x',
    packages: ['streamlit'],
    inferred: true,
    warnings: [],
    active,
    build: { id: `b${number}`, status, error: null, environment: null, created_at: '2026-01-01T00:00:00Z', started_at: null, finished_at: null },
    created_by: { id: 'u1', name: 'Ada' },
    created_at: '2026-01-01T00:00:00Z',
  };
}

const detail: AppDetail = {
  id: 'a1',
  project_id: 'p1',
  name: 'CSV Explorer',
  description: 'Explore CSVs',
  status: 'stopped',
  active_version: 2,
  running_version: null,
  cpus: 1,
  memory_mb: 512,
  idle_timeout_secs: 900,
  network: { policy: 'none', domains: [] },
  restart_count: 0,
  last_error: null,
  url: 'https://a1.apps.example.com/',
  created_by: { id: 'u1', name: 'Ada' },
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  versions: [version(3, false), version(2, true), version(1, false, 'failed')],
};

function renderApp(role: Role, initial: AppDetail = detail) {
  let app = initial;
  const calls = mockFetch((c) => {
    if (c.method === 'GET' && c.url === '/api/v1/projects/p1/apps/a1') return { body: app };
    if (c.method === 'GET' && c.url === '/api/v1/projects/p1/apps/a1/egress') return { body: decisions };
    if (c.method === 'PATCH' && c.url === '/api/v1/projects/p1/apps/a1') {
      app = { ...app, ...(c.body as Partial<AppDetail>) };
      return { body: app };
    }
    if (c.method === 'POST' && c.url.startsWith('/api/v1/projects/p1/apps/a1/start')) {
      app = { ...app, status: 'starting' };
      return { status: 202, body: app };
    }
    return undefined;
  });
  renderWithProviders(<AppPage />, { path: '/projects/p1/apps/a1', pattern: '/projects/:projectId/apps/:appId', role });
  return calls;
}

const decisions: EgressDecision[] = [
  {
    at: '2026-01-01T00:00:00Z',
    method: 'GET',
    host: '169.254.169.254',
    port: 80,
    address: '169.254.169.254',
    verdict: 'denied',
    reason: 'cloud metadata endpoint',
    bytes_out: 0,
    bytes_in: 0,
    duration_ms: 0,
  },
];

const editControls = ['Start', 'Stop', 'Restart', 'Upload new version', 'Save settings', 'Save network', 'Delete app', 'Activate version 3'];

describe('AppPage role gating', () => {
  it('shows a viewer no edit controls', async () => {
    renderApp('viewer');
    expect(await screen.findByRole('heading', { level: 1, name: 'CSV Explorer' })).toBeInTheDocument();
    for (const name of editControls) expect(screen.queryByRole('button', { name })).not.toBeInTheDocument();
    expect(screen.queryByRole('heading', { name: 'Settings' })).not.toBeInTheDocument();
    // What viewers do get:
    expect(screen.getByRole('link', { name: 'Open app' })).toHaveAttribute('href', '/api/v1/apps/a1/open');
    expect(screen.getByRole('button', { name: 'Copy share link' })).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Versions' })).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Build log' })).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'App logs' })).toBeInTheDocument();
  });

  it.each<Role>(['editor', 'owner'])('shows an %s the edit controls', async (role) => {
    renderApp(role);
    await screen.findByRole('heading', { level: 1, name: 'CSV Explorer' });
    for (const name of editControls) expect(screen.getByRole('button', { name })).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Settings' })).toBeInTheDocument();
    expect(screen.getByLabelText('Memory (MB)')).toHaveValue(512);
  });
});

describe('AppPage', () => {
  it('marks the active version and offers rollback only to built, inactive versions', async () => {
    renderApp('editor');
    await screen.findByRole('heading', { level: 1, name: 'CSV Explorer' });
    expect(within(screen.getByTestId('version-2')).getByText('Active')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Activate version 2' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Activate version 1' })).not.toBeInTheDocument();
    expect(screen.getByTestId('app-status')).toHaveTextContent(/^stopped$/);
  });

  it('starts the app without waiting and shows the new status', async () => {
    const user = userEvent.setup();
    const calls = renderApp('editor');
    await screen.findByRole('heading', { level: 1, name: 'CSV Explorer' });
    await user.click(screen.getByRole('button', { name: 'Start' }));
    expect(calls.some((c) => c.method === 'POST' && c.url === '/api/v1/projects/p1/apps/a1/start?wait=false')).toBe(true);
    expect(await screen.findByTestId('app-status')).toHaveTextContent('starting');
  });

  it('streams the newest build log', async () => {
    renderApp('viewer');
    await screen.findByRole('heading', { level: 1, name: 'CSV Explorer' });
    const sources = (EventSource as unknown as { instances: Array<{ url: string; emit: (t: string, d: string) => void }> }).instances;
    // The stream opens in an effect after the first render, which a busy machine may delay.
    const build = await waitFor(() => {
      const found = sources.find((s) => s.url.endsWith('/builds/b3/log'));
      expect(found).toBeDefined();
      return found!;
    });
    build.emit('log', 'Resolving streamlit\n');
    expect(await screen.findByTestId('build-log')).toHaveTextContent('Resolving streamlit');
  });

  it('shows a not-found state for an app the API does not know', async () => {
    mockFetch(() => ({ status: 404, body: { error: { code: 'app_not_found', message: 'no such app' } } }));
    renderWithProviders(<AppPage />, { path: '/projects/p1/apps/zz', pattern: '/projects/:projectId/apps/:appId', role: 'owner' });
    expect(await screen.findByRole('heading', { name: /not found/i })).toHaveTextContent('App not found');
  });

  it('puts the error and last error first when the app failed', async () => {
    renderApp('viewer', { ...detail, status: 'error', last_error: 'exited with status 1' });
    expect(await screen.findByText('exited with status 1')).toBeInTheDocument();
    expect(screen.getByTestId('app-status')).toHaveTextContent('error');
  });
});

describe('AppPage network', () => {
  it('shows every member why a request was blocked', async () => {
    renderApp('viewer');
    expect(await screen.findByText('blocked: 169.254.169.254, cloud metadata endpoint')).toBeInTheDocument();
    expect(screen.getByText('No network')).toBeInTheDocument();
  });

  it('says what is enforced when the instance allows less than was chosen', async () => {
    renderApp('viewer', {
      ...detail,
      network: { policy: 'public', domains: [] },
      network_enforced: { policy: 'allowlist', domains: ['api.example.org'] },
    });
    expect(await screen.findByText('Allowlist (api.example.org)')).toBeInTheDocument();
  });

  it('lets an editor choose an allowlist and sends its domains', async () => {
    const calls = renderApp('editor');
    await screen.findByRole('heading', { level: 1, name: 'CSV Explorer' });
    await userEvent.click(screen.getByRole('radio', { name: /Allowlist/ }));
    await userEvent.type(screen.getByLabelText('Allowed domains'), 'api.example.com{enter}*.example.org');
    await userEvent.click(screen.getByRole('button', { name: 'Save network' }));
    await waitFor(() => {
      const patch = calls.find((c) => c.method === 'PATCH');
      expect(patch?.body).toEqual({ network: { policy: 'allowlist', domains: ['api.example.com', '*.example.org'] } });
    });
  });
});
