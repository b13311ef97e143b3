// Tests for the new-app wizard: the request each mode sends, and inline 422 findings.
import { describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route } from 'react-router-dom';
import { NewAppPage } from './NewAppPage';
import { mockFetch, renderWithProviders } from '../test/utils';
import { STARTER_CODE } from '../lib/starter';

vi.mock('../components/CodeEditor', () => ({
  CodeEditor: ({ value, onChange, ariaLabel, markedLines }: { value: string; onChange: (v: string) => void; ariaLabel: string; markedLines?: number[] }) => (
    <textarea aria-label={ariaLabel} data-marked={(markedLines ?? []).join(',')} value={value} onChange={(e) => onChange(e.target.value)} />
  ),
}));

const created = { id: 'a1', name: 'Hello', project_id: 'p1', versions: [] };

function setup(path = '/projects/p1/apps/new') {
  const calls = mockFetch((c) => (c.method === 'POST' && c.url === '/api/v1/projects/p1/apps' ? { status: 201, body: created } : undefined));
  renderWithProviders(<NewAppPage />, {
    path,
    pattern: '/projects/:projectId/apps/new',
    role: 'editor',
    extraRoutes: <Route path="/projects/:projectId/apps/:appId" element={<h1>App page</h1>} />,
  });
  return calls;
}

describe('NewAppPage', () => {
  it('sends pasted code as JSON', async () => {
    const user = userEvent.setup();
    const calls = setup();
    expect(screen.getByRole('tab', { name: 'Paste code' })).toHaveAttribute('aria-selected', 'true');
    await screen.findByLabelText('app.py');
    await user.type(screen.getByLabelText('Name'), 'Hello');
    await user.type(screen.getByLabelText('Description'), 'Says hello');
    await user.click(screen.getByRole('button', { name: 'Create app' }));
    await screen.findByRole('heading', { name: 'App page' });
    expect(calls).toHaveLength(1);
    expect(calls[0].body).toEqual({ name: 'Hello', description: 'Says hello', code: STARTER_CODE });
  });

  it('sends an uploaded file as multipart with name and description', async () => {
    const user = userEvent.setup();
    const calls = setup();
    await user.click(screen.getByRole('tab', { name: 'Upload' }));
    const file = new File(['import streamlit as st\n'], 'dash.zip', { type: 'application/zip' });
    await user.upload(screen.getByLabelText('Bundle file'), file);
    await user.type(screen.getByLabelText('Name'), 'Dash');
    await user.click(screen.getByRole('button', { name: 'Create app' }));
    await screen.findByRole('heading', { name: 'App page' });
    const form = calls[0].body as FormData;
    expect(form).toBeInstanceOf(FormData);
    expect(form.get('name')).toBe('Dash');
    expect(form.get('description')).toBe('');
    expect((form.get('file') as File).name).toBe('dash.zip');
  });

  it('sends the chosen template', async () => {
    const user = userEvent.setup();
    const calls = setup();
    await user.click(screen.getByRole('tab', { name: 'Template' }));
    await user.click(screen.getByRole('button', { name: 'CSV Explorer' }));
    expect(screen.getByLabelText('Name')).toHaveValue('CSV Explorer');
    await user.click(screen.getByRole('button', { name: 'Create app' }));
    await screen.findByRole('heading', { name: 'App page' });
    expect(calls[0].body).toEqual({ name: 'CSV Explorer', description: '', template: 'csv-explorer' });
  });

  it('shows 422 findings inline, marks editor lines and keeps the form', async () => {
    const user = userEvent.setup();
    mockFetch(() => ({
      status: 422,
      body: {
        error: {
          code: 'bundle_invalid',
          message: 'The bundle was refused.',
          details: [
            { file: 'app.py', line: 3, message: 'subprocess is not allowed' },
            { file: 'app.py', line: 7, message: 'leftpad is not on the allowlist' },
          ],
        },
      },
    }));
    renderWithProviders(<NewAppPage />, { path: '/projects/p1/apps/new', pattern: '/projects/:projectId/apps/new', role: 'owner' });
    const editor = await screen.findByLabelText('app.py');
    await user.type(screen.getByLabelText('Name'), 'Bad');
    await user.click(screen.getByRole('button', { name: 'Create app' }));
    const rows = await screen.findAllByTestId('finding');
    expect(rows.map((r) => r.textContent)).toEqual(['app.py:3 — subprocess is not allowed', 'app.py:7 — leftpad is not on the allowlist']);
    expect(screen.getByText('The bundle was refused.')).toBeInTheDocument();
    expect(editor).toHaveAttribute('data-marked', '3,7');
    expect(screen.getByLabelText('Name')).toHaveValue('Bad');
    expect(editor).toHaveValue(STARTER_CODE);
  });

  it('validates the name before sending', async () => {
    const user = userEvent.setup();
    const calls = setup();
    await user.click(screen.getByRole('button', { name: 'Create app' }));
    expect(await screen.findByText('Give the app a name.')).toBeInTheDocument();
    expect(calls).toHaveLength(0);
  });

  it('tells viewers they cannot deploy', () => {
    mockFetch(() => undefined);
    renderWithProviders(<NewAppPage />, { path: '/projects/p1/apps/new', pattern: '/projects/:projectId/apps/new', role: 'viewer' });
    expect(screen.queryByRole('button', { name: 'Create app' })).not.toBeInTheDocument();
    expect(screen.getByText('Viewers cannot deploy apps')).toBeInTheDocument();
  });
});

describe('NewAppPage from the template link', () => {
  it('preselects the template', async () => {
    setup('/projects/p1/apps/new?template=csv-explorer');
    await waitFor(() => expect(screen.getByRole('tab', { name: 'Template' })).toHaveAttribute('aria-selected', 'true'));
    expect(screen.getByRole('button', { name: 'CSV Explorer' })).toHaveAttribute('aria-pressed', 'true');
  });
});
