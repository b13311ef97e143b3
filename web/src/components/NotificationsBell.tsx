// The top bar's bell: my notifications (polled, and refreshed when the window regains focus), an
// unread count, and a popover list where opening one marks it read and follows its link.
import { useEffect, useId, useRef, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { api } from '../api/endpoints';
import type { Notification } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useNow } from '../hooks/useNow';
import { formatAbsolute, formatRelative } from '../lib/time';
import { Icon } from './Icon';
import { useToast } from './Toast';

const POLL_MS = 30_000;

/** Where a notification leads in the dashboard: its link, or the crashed app's page; never off-site. */
export function notificationTarget(n: Notification): string | null {
  const link = n.link ?? (n.project_id && n.app_id ? `/projects/${n.project_id}/apps/${n.app_id}` : null);
  return link && link.startsWith('/') && !link.startsWith('//') ? link : null;
}

export function NotificationsBell() {
  const navigate = useNavigate();
  const toast = useToast();
  const now = useNow(POLL_MS);
  const { data, reload, setData } = useApi('notifications', api.notifications, POLL_MS);
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);
  const panelId = useId();
  const list = [...(data ?? [])].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  const unread = list.filter((n) => !n.read).length;

  // Back to the window: news may have come meanwhile.
  useEffect(() => {
    const onFocus = () => void reload();
    window.addEventListener('focus', onFocus);
    return () => window.removeEventListener('focus', onFocus);
  }, [reload]);

  useEffect(() => {
    if (!open) return;
    panel.current?.focus();
    const onDown = (e: MouseEvent) => {
      const t = e.target as Node;
      if (!panel.current?.contains(t) && !button.current?.contains(t)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setOpen(false);
        button.current?.focus();
      }
    };
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);

  const markRead = (ids: string[] | 'all') =>
    setData((cur) => (cur ?? []).map((n) => (ids === 'all' || ids.includes(n.id) ? { ...n, read: true } : n)));

  const choose = async (n: Notification) => {
    const target = notificationTarget(n);
    if (!n.read) {
      markRead([n.id]);
      api.markNotificationRead(n.id).catch((e: unknown) => {
        toast.error(e);
        void reload();
      });
    }
    if (target) {
      setOpen(false);
      navigate(target);
    }
  };

  const readAll = async () => {
    markRead('all');
    try {
      await api.markAllNotificationsRead();
    } catch (e) {
      toast.error(e);
      void reload();
    }
  };

  return (
    <div className="menu-wrap">
      <button
        ref={button}
        type="button"
        className="bell-trigger"
        aria-label={`Notifications, ${unread} unread`}
        aria-expanded={open}
        aria-controls={open ? panelId : undefined}
        onClick={() => setOpen((o) => !o)}
      >
        <Icon name="bell" size={18} />
        {unread > 0 && (
          <span className="bell-badge" aria-hidden="true" data-testid="notifications-unread">
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </button>
      {open && (
        <div ref={panel} id={panelId} role="dialog" aria-label="Notifications" tabIndex={-1} className="menu menu-end notifications">
          <div className="notifications-head">
            <span className="strong">Notifications</span>
            <button type="button" className="btn btn-ghost btn-sm" disabled={unread === 0} onClick={() => void readAll()}>
              Mark all read
            </button>
          </div>
          {list.length === 0 ? (
            <p className="menu-note">Nothing new.</p>
          ) : (
            <ul className="notifications-list">
              {list.map((n) => (
                <li key={n.id}>
                  <button type="button" className="notification" data-unread={!n.read || undefined} onClick={() => void choose(n)}>
                    {!n.read && <span className="sr-only">Unread: </span>}
                    <span className="notification-message">{n.message}</span>
                    <time className="notification-time" dateTime={n.created_at} title={formatAbsolute(n.created_at)}>
                      {formatRelative(n.created_at, now)}
                    </time>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}
