// Inline list of validation findings from a 422 (one row per file:line — message).
import type { Finding } from '../api/types';
import { Icon } from './Icon';

export function formatFindingLocation(f: Finding): string {
  if (f.file && f.line) return `${f.file}:${f.line}`;
  if (f.file) return f.file;
  if (f.line) return `line ${f.line}`;
  return '';
}

export function Findings({ findings, title = 'The upload was refused', tone = 'danger' }: { findings: Finding[]; title?: string; tone?: 'danger' | 'warning' }) {
  if (findings.length === 0) return null;
  return (
    <div className={`findings findings-${tone}`} role={tone === 'danger' ? 'alert' : undefined}>
      <div className="findings-title">
        <Icon name="alert" size={15} />
        {title}
      </div>
      <ul className="findings-list">
        {findings.map((f, i) => {
          const where = formatFindingLocation(f);
          return (
            <li key={i} className="finding" data-testid="finding">
              {where && <code className="finding-where">{where}</code>}
              {where && <span className="finding-sep"> — </span>}
              <span className="finding-message">{f.message}</span>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
