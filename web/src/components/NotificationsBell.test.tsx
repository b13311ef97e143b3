// Tests for the notifications bell: its unread count, marking read, and following a link.
import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import type { Notification } from '../api/types';
import { mockFetch, renderWithProviders } from '../test/utils';
import { NotificationsBell } from './NotificationsBell';

function note(id: string, read: boolean, overrides: Partial<Notification> = {}): Notification {
  return {
    id,
    kind: 'submission_made',
    project_id: 'p1',
    app_id: null,
    link: null,
    message: `Message ${id}`,
    created_at: new Date().toISOString(),
    read,
    ...overrides,
  };
}

/** The bell stays in the frame while the page beside it follows the links. */
function renderBell() {
  return renderWithProviders(
    <>
      <NotificationsBell />
      <Routes>
        <Route path="projects/p1/submissions/s1" element={<h1>Submission page</h1>} />
      </Routes>
    </>,
    { path: '/', pattern: '/*' },
  );
}

describe('NotificationsBell', () => {
  it('counts the unread ones', async () => {
    mockFetch((c) => (c.url === '/api/v1/notifications' ? { body: [note('n1', false), note('n2', true), note('n3', false)] } : undefined));
    renderBell();
    expect(await screen.findByRole('button', { name: 'Notifications, 2 unread' })).toBeInTheDocument();
    expect(screen.getByTestId('notifications-unread')).toHaveTextContent('2');
  });

  it('shows no badge when all are read', async () => {
    mockFetch((c) => (c.url === '/api/v1/notifications' ? { body: [note('n1', true)] } : undefined));
    renderBell();
    await screen.findByRole('button', { name: 'Notifications, 0 unread' });
    expect(screen.queryByTestId('notifications-unread')).toBeNull();
  });

  it('marks all read', async () => {
    const calls = mockFetch((c) => {
      if (c.url === '/api/v1/notifications') return { body: [note('n1', false), note('n2', false)] };
      if (c.url === '/api/v1/notifications/read') return { status: 204 };
      return undefined;
    });
    renderBell();
    await userEvent.click(await screen.findByRole('button', { name: 'Notifications, 2 unread' }));
    await userEvent.click(screen.getByRole('button', { name: 'Mark all read' }));
    expect(screen.getByRole('button', { name: 'Notifications, 0 unread' })).toBeInTheDocument();
    expect(calls.some((c) => c.method === 'POST' && c.url === '/api/v1/notifications/read')).toBe(true);
  });

  it('marks one read and follows its link, newest first', async () => {
    const older = note('n1', false, { created_at: '2026-01-01T00:00:00Z', message: 'Older' });
    const newer = note('n2', false, { link: '/projects/p1/submissions/s1', message: 'Ada submitted analysis #1' });
    const calls = mockFetch((c) => {
      if (c.url === '/api/v1/notifications') return { body: [older, newer] };
      if (c.url === '/api/v1/notifications/n2/read') return { status: 204 };
      return undefined;
    });
    renderBell();
    await userEvent.click(await screen.findByRole('button', { name: 'Notifications, 2 unread' }));
    const items = screen.getAllByRole('listitem');
    expect(items[0]).toHaveTextContent('Ada submitted analysis #1');
    expect(items[1]).toHaveTextContent('Older');
    await userEvent.click(screen.getByRole('button', { name: /Ada submitted analysis #1/ }));
    expect(await screen.findByRole('heading', { name: 'Submission page' })).toBeInTheDocument();
    await waitFor(() => expect(calls.some((c) => c.method === 'POST' && c.url === '/api/v1/notifications/n2/read')).toBe(true));
    expect(screen.getByRole('button', { name: 'Notifications, 1 unread' })).toBeInTheDocument();
  });
});
