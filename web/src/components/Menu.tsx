// Disclosure menu: a trigger button opening a role="menu" list with arrow-key navigation.
import { useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { Link } from 'react-router-dom';

export interface MenuProps {
  /** Content of the trigger button. */
  trigger: ReactNode;
  label: string;
  triggerClassName?: string;
  align?: 'start' | 'end';
  children: (close: () => void) => ReactNode;
}

export function Menu({ trigger, label, triggerClassName, align = 'start', children }: MenuProps) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const list = useRef<HTMLDivElement>(null);
  const menuId = useId();

  const items = () => Array.from(list.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? []);
  const close = (refocus = true) => {
    setOpen(false);
    if (refocus) button.current?.focus();
  };

  useEffect(() => {
    if (!open) return;
    items()[0]?.focus();
    const onDown = (e: MouseEvent) => {
      const t = e.target as Node;
      if (!list.current?.contains(t) && !button.current?.contains(t)) setOpen(false);
    };
    document.addEventListener('mousedown', onDown);
    return () => document.removeEventListener('mousedown', onDown);
  }, [open]);

  const onKeyDown = (e: KeyboardEvent) => {
    const all = items();
    const i = all.indexOf(document.activeElement as HTMLElement);
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      all[(i + 1) % all.length]?.focus();
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      all[(i - 1 + all.length) % all.length]?.focus();
    } else if (e.key === 'Home') {
      e.preventDefault();
      all[0]?.focus();
    } else if (e.key === 'End') {
      e.preventDefault();
      all[all.length - 1]?.focus();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      close();
    } else if (e.key === 'Tab') {
      setOpen(false);
    }
  };

  return (
    <div className="menu-wrap">
      <button
        ref={button}
        type="button"
        className={triggerClassName ?? 'btn btn-ghost btn-md'}
        aria-label={label}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        onClick={() => setOpen((o) => !o)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' && !open) {
            e.preventDefault();
            setOpen(true);
          }
        }}
      >
        {trigger}
      </button>
      {open && (
        <div ref={list} id={menuId} role="menu" aria-label={label} className={`menu menu-${align}`} onKeyDown={onKeyDown}>
          {children(() => close(true))}
        </div>
      )}
    </div>
  );
}

export function MenuItem({ onSelect, children, tone }: { onSelect: () => void; children: ReactNode; tone?: 'danger' }) {
  return (
    <button type="button" role="menuitem" tabIndex={-1} className={`menu-item ${tone === 'danger' ? 'menu-item-danger' : ''}`} onClick={onSelect}>
      {children}
    </button>
  );
}

export function MenuLink({ to, onSelect, children, current }: { to: string; onSelect: () => void; children: ReactNode; current?: boolean }) {
  return (
    <Link to={to} role="menuitem" tabIndex={-1} className="menu-item" aria-current={current ? 'true' : undefined} onClick={onSelect}>
      {children}
    </Link>
  );
}

export function MenuSeparator() {
  return <div role="separator" className="menu-separator" />;
}

export function MenuHeader({ children }: { children: ReactNode }) {
  return <div className="menu-header">{children}</div>;
}
