// Tests for the workspaces page's templates: who may make them, from a workspace or a .zip,
// deleting one, and starting a workspace from one.
import { describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route } from 'react-router-dom';
import { WorkspacesPage } from './WorkspacesPage';
import { mockFetch, renderWithProviders } from '../test/utils';
import type { Role, Template, Workspace } from '../api/types';

const XSS = '<img src=x onerror=alert(1)>';

const workspace: Workspace = {
  id: 'w1',
  name: 'analysis',
  owner: 'Ada Lovelace',
  files: 2,
  bytes: 100,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  status: 'stopped',
  error: null,
  started_at: null,
  last_active_at: null,
  idle_stops_at: null,
  stops_at: null,
  sync_problems: [],
  template_id: 't1',
  template: 'Intro',
};

const template: Template = {
  id: 't1',
  name: 'Intro',
  description: XSS,
  files: 3,
  bytes: 300,
  created_by: 'Ada Lovelace',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
};

function renderPage(role: Role) {
  let templates = [template];
  const calls = mockFetch((c) => {
    if (c.method === 'GET' && c.url === '/api/v1/projects/p1/workspaces') return { body: [workspace] };
    if (c.method === 'GET' && c.url === '/api/v1/projects/p1/templates') return { body: templates };
    if (c.method === 'POST' && c.url === '/api/v1/projects/p1/templates') {
      const made = { ...template, id: 't2', name: 'Second' };
      templates = [...templates, made];
      return { status: 201, body: made };
    }
    if (c.method === 'DELETE' && c.url === '/api/v1/projects/p1/templates/t1') {
      templates = [];
      return { status: 204 };
    }
    if (c.method === 'POST' && c.url === '/api/v1/projects/p1/workspaces') return { status: 201, body: { ...workspace, id: 'w2' } };
    return undefined;
  });
  renderWithProviders(<WorkspacesPage />, {
    path: '/projects/p1/workspaces',
    pattern: '/projects/:projectId/workspaces',
    role,
    extraRoutes: <Route path="/projects/:projectId/workspaces/:workspaceId" element={<h1>Workspace page</h1>} />,
  });
  return calls;
}

describe('WorkspacesPage templates', () => {
  it('lists templates as text, and shows a workspace template', async () => {
    renderPage('editor');
    const table = await screen.findByRole('table', { name: 'Templates' });
    expect(within(table).getByText(XSS)).toBeInTheDocument();
    expect(document.querySelector('img')).toBeNull();
    const rows = within(await screen.findByRole('table', { name: 'Workspaces' })).getAllByRole('row');
    expect(rows[1]).toHaveTextContent('Intro');
    // Editors make no templates.
    expect(screen.queryByRole('button', { name: 'Make template' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Delete template Intro' })).toBeNull();
  });

  it('makes a template from one of my workspaces', async () => {
    const calls = renderPage('reviewer');
    await userEvent.type(await screen.findByLabelText('Template name'), 'Second');
    await userEvent.type(screen.getByLabelText('Description (optional)'), 'For week 2');
    await userEvent.selectOptions(screen.getByLabelText('From workspace'), 'w1');
    await userEvent.click(screen.getByRole('button', { name: 'Make template' }));
    expect(calls.find((c) => c.method === 'POST' && c.url.endsWith('/templates'))?.body).toEqual({
      name: 'Second',
      description: 'For week 2',
      workspace_id: 'w1',
    });
    await waitFor(() => expect(within(screen.getByRole('table', { name: 'Templates' })).getByText('Second')).toBeInTheDocument());
  });

  it('makes a template from a .zip as a form', async () => {
    const calls = renderPage('owner');
    await userEvent.type(await screen.findByLabelText('Template name'), 'Zipped');
    await userEvent.upload(screen.getByLabelText('Or from a .zip'), new File(['PK'], 'starter.zip', { type: 'application/zip' }));
    await userEvent.click(screen.getByRole('button', { name: 'Make template' }));
    const form = calls.find((c) => c.method === 'POST' && c.url.endsWith('/templates'))?.body as FormData;
    expect(form).toBeInstanceOf(FormData);
    expect(form.get('name')).toBe('Zipped');
    expect((form.get('file') as File).name).toBe('starter.zip');
  });

  it('deletes a template after confirming', async () => {
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(true);
    const calls = renderPage('reviewer');
    await userEvent.click(await screen.findByRole('button', { name: 'Delete template Intro' }));
    expect(confirm).toHaveBeenCalled();
    expect(calls.some((c) => c.method === 'DELETE' && c.url.endsWith('/templates/t1'))).toBe(true);
    expect(await screen.findByText('No templates yet.')).toBeInTheDocument();
    confirm.mockRestore();
  });

  it('starts a workspace from a template', async () => {
    const calls = renderPage('editor');
    await userEvent.type(await screen.findByLabelText('New workspace'), 'week1');
    await userEvent.selectOptions(await screen.findByLabelText('Start from template'), 't1');
    await userEvent.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(screen.getByRole('heading', { name: 'Workspace page' })).toBeInTheDocument());
    expect(calls.find((c) => c.method === 'POST' && c.url.endsWith('/workspaces'))?.body).toEqual({ name: 'week1', template_id: 't1' });
  });
});
