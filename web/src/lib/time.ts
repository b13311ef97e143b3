// Human-friendly relative and absolute time formatting ("2 hours ago").

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MONTH = 30 * DAY;
const YEAR = 365 * DAY;

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** Formats an ISO timestamp relative to `now`, e.g. "just now", "5 minutes ago", "in 2 days". */
export function formatRelative(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return 'never';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return 'unknown';
  const diff = Math.round((now - then) / 1000);
  const abs = Math.abs(diff);
  // Small differences either way (clock skew) read as now.
  if (abs < 45) return 'just now';
  let text: string;
  if (abs < 90) text = '1 minute';
  else if (abs < HOUR) text = plural(Math.round(abs / MINUTE), 'minute');
  else if (abs < DAY) text = plural(Math.round(abs / HOUR), 'hour');
  else if (abs < MONTH) text = plural(Math.round(abs / DAY), 'day');
  else if (abs < YEAR) text = plural(Math.round(abs / MONTH), 'month');
  else text = plural(Math.round(abs / YEAR), 'year');
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** Formats an ISO timestamp as a readable local date and time, for tooltips. */
export function formatAbsolute(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
