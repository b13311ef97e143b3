// The "Danger zone" panel: one destructive action, described, behind its button.
import type { ReactNode } from 'react';
import { Button } from './Button';
import { Icon } from './Icon';

export function DangerPanel({
  id,
  title,
  description,
  action,
  onAction,
  children,
}: {
  id: string;
  /** What the action does, such as "Delete this app". */
  title: string;
  description: string;
  /** The button's label. */
  action: string;
  onAction: () => void;
  /** The confirmation dialog, while it is open. */
  children?: ReactNode;
}) {
  return (
    <section className="panel panel-danger" aria-labelledby={id}>
      <div className="panel-header">
        <h2 className="panel-title" id={id}>
          Danger zone
        </h2>
      </div>
      <div className="danger-row">
        <div>
          <div className="strong">{title}</div>
          <p className="muted small">{description}</p>
        </div>
        <Button variant="danger" icon={<Icon name="trash" size={14} />} onClick={onAction}>
          {action}
        </Button>
      </div>
      {children}
    </section>
  );
}
