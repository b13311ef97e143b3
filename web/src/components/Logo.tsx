// The Burrow wordmark with its hedgehog mascot.
import { Link } from 'react-router-dom';
import { Hedgehog } from './Hedgehog';

export function Logo({ to = '/', size = 'md' }: { to?: string; size?: 'md' | 'lg' }) {
  return (
    <Link to={to} className={`logo logo-${size}`} aria-label="Burrow home">
      <span className="logo-mark" aria-hidden="true">
        <Hedgehog size={size === 'lg' ? 30 : 21} />
      </span>
      <span className="logo-word">Burrow</span>
    </Link>
  );
}

export function Avatar({ name, size = 28 }: { name: string; size?: number }) {
  const initials =
    name
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((p) => p[0]?.toUpperCase())
      .join('') || '?';
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  return (
    <span
      className="avatar"
      aria-hidden="true"
      style={{ width: size, height: size, fontSize: size * 0.4, background: `hsl(${hue} 55% 45%)` }}
    >
      {initials}
    </span>
  );
}
