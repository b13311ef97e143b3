// Monospace, auto-scrolling log viewer (<pre>) that stops following when the reader scrolls up.
import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';

export function LogPanel({
  text,
  testId,
  placeholder,
  follow = true,
  label,
  footer,
}: {
  text: string;
  testId?: string;
  placeholder?: ReactNode;
  follow?: boolean;
  label: string;
  footer?: ReactNode;
}) {
  const pre = useRef<HTMLPreElement>(null);
  const [pinned, setPinned] = useState(true);

  useLayoutEffect(() => {
    const el = pre.current;
    if (el && follow && pinned) el.scrollTop = el.scrollHeight;
  }, [text, follow, pinned]);

  useEffect(() => {
    if (follow) setPinned(true);
  }, [follow]);

  return (
    <div className="log-panel">
      <pre
        ref={pre}
        className="log-pre"
        data-testid={testId}
        tabIndex={0}
        aria-label={label}
        aria-live="off"
        onScroll={(e) => {
          const el = e.currentTarget;
          setPinned(el.scrollHeight - el.scrollTop - el.clientHeight < 24);
        }}
      >
        {text}
      </pre>
      {!text && placeholder && <div className="log-placeholder">{placeholder}</div>}
      {footer && <div className="log-footer">{footer}</div>}
    </div>
  );
}
