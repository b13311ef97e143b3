// Empty, error and not-found states shown in place of content.
import type { ReactNode } from 'react';
import { ApiError, errorMessage } from '../api/client';
import { Button } from './Button';
import { Hedgehog } from './Hedgehog';
import { Icon } from './Icon';

export function EmptyState({
  icon = <Hedgehog size={56} />,
  title,
  children,
  actions,
}: {
  icon?: ReactNode;
  title: string;
  children?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <div className="empty-state">
      <div className="empty-state-icon" aria-hidden="true">
        {icon}
      </div>
      <h2 className="empty-state-title">{title}</h2>
      {children && <div className="empty-state-body">{children}</div>}
      {actions && <div className="empty-state-actions">{actions}</div>}
    </div>
  );
}

export function ErrorState({ error, onRetry, title = 'Something went wrong' }: { error: unknown; onRetry?: () => void; title?: string }) {
  return (
    <div className="error-state" role="alert">
      <Icon name="alert" size={20} />
      <div>
        <h2 className="error-state-title">{title}</h2>
        <p className="muted">{errorMessage(error)}</p>
      </div>
      {onRetry && (
        <Button onClick={onRetry} icon={<Icon name="refresh" size={14} />}>
          Retry
        </Button>
      )}
    </div>
  );
}

export function NotFoundState({ what, children, actions }: { what: string; children?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="not-found">
      <div className="not-found-icon" aria-hidden="true">
        <Hedgehog size={56} />
      </div>
      <h1 className="not-found-title">{what} not found</h1>
      <p className="muted">
        {children ??
          (what === 'Project'
            ? 'This project does not exist, or you are not one of its members.'
            : `This ${what.toLowerCase()} does not exist, or you are not a member of its project.`)}
      </p>
      {actions && <div className="empty-state-actions">{actions}</div>}
    </div>
  );
}

/** Whether an error is the API's "no such thing, or not a member" answer. */
export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.status === 404;
}
