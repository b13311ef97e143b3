// Tests for the app's Secrets section: names only, server field errors, delete asks first.
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { SecretsSection, checkSecret } from './SecretsSection';
import { mockFetch, renderWithProviders } from '../../test/utils';
import type { App, Secret } from '../../api/types';

const app = { id: 'a1', project_id: 'p1', name: 'Hello' } as App;
const base = '/api/v1/projects/p1/apps/a1/secrets';

function renderSection(initial: Secret[]) {
  let secrets = initial;
  const calls = mockFetch((c) => {
    if (c.method === 'GET' && c.url === base) return { body: secrets };
    if (c.method === 'PUT' && c.url === `${base}/REFUSED`)
      return { status: 400, body: { error: { code: 'invalid_secret', field: 'name', message: 'server says: not a secret name' } } };
    if (c.method === 'PUT' && c.url.startsWith(`${base}/`)) {
      const name = c.url.slice(base.length + 1);
      secrets = [...secrets.filter((s) => s.name !== name), { name, updated_at: 0, updated_by: 'Ada' }];
      return { status: 201 };
    }
    if (c.method === 'DELETE' && c.url.startsWith(`${base}/`)) {
      const name = c.url.slice(base.length + 1);
      secrets = secrets.filter((s) => s.name !== name);
      return { status: 204 };
    }
    return undefined;
  });
  renderWithProviders(<SecretsSection app={app} />, { path: '/x', pattern: '/x' });
  return calls;
}

describe('SecretsSection', () => {
  it('lists names, sends a value once and never shows it', async () => {
    const calls = renderSection([{ name: 'API_KEY', updated_at: 0, updated_by: 'Ada' }]);
    const list = await screen.findByRole('list', { name: 'Secrets' });
    expect(within(list).getByText('API_KEY')).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('Name'), 'TOKEN');
    await userEvent.type(screen.getByLabelText('Value'), 'sk-secret-1');
    await userEvent.click(screen.getByRole('button', { name: 'Add secret' }));
    await waitFor(() => expect(within(screen.getByRole('list', { name: 'Secrets' })).getByText('TOKEN')).toBeInTheDocument());
    expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ value: 'sk-secret-1' });
    expect(document.body.textContent).not.toContain('sk-secret-1');
    expect(screen.getByLabelText('Value')).toHaveValue('');
  });

  it("shows the server's refusal at its field", async () => {
    renderSection([]);
    expect(await screen.findByText('No secrets yet.')).toBeInTheDocument();
    // The form's own check first, then the server's message when it refuses.
    await userEvent.type(screen.getByLabelText('Name'), 'a-b');
    await userEvent.type(screen.getByLabelText('Value'), 'v');
    await userEvent.click(screen.getByRole('button', { name: 'Add secret' }));
    expect(await screen.findByText(/not a digit first/)).toBeInTheDocument();
    await userEvent.clear(screen.getByLabelText('Name'));
    await userEvent.type(screen.getByLabelText('Name'), 'REFUSED');
    await userEvent.click(screen.getByRole('button', { name: 'Add secret' }));
    expect(await screen.findByText('server says: not a secret name')).toBeInTheDocument();
    expect(checkSecret('1bad', 'v').name).toBeDefined();
    expect(checkSecret('OK', '')).toEqual({ value: 'Give the secret a value.' });
  });

  it('asks before deleting', async () => {
    const calls = renderSection([{ name: 'API_KEY', updated_at: 0 }]);
    await userEvent.click(await screen.findByRole('button', { name: 'Delete API_KEY' }));
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
    const dialog = screen.getByRole('dialog');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Delete' }));
    expect(await screen.findByText('No secrets yet.')).toBeInTheDocument();
    expect(calls.filter((c) => c.method === 'DELETE').map((c) => c.url)).toEqual([`${base}/API_KEY`]);
  });
});
