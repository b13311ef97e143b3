// Diff layout: pairing lines side by side, folding long unchanged runs, and where comment threads go.
import type { DiffLine, Side, Thread } from '../api/types';

/** A row of the side-by-side view: the old line on the left, the new one on the right. */
export interface SplitRow {
  left: DiffLine | null;
  right: DiffLine | null;
}

/**
 * Lays a file's lines out side by side: context on both sides, and each run of removed
 * lines beside the run of added lines that follows it (the longer run's extra lines face
 * a blank).
 */
export function pairLines(lines: DiffLine[]): SplitRow[] {
  const rows: SplitRow[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i].kind === 'context') {
      rows.push({ left: lines[i], right: lines[i] });
      i += 1;
      continue;
    }
    const removed: DiffLine[] = [];
    while (i < lines.length && lines[i].kind === 'removed') removed.push(lines[i++]);
    const added: DiffLine[] = [];
    while (i < lines.length && lines[i].kind === 'added') added.push(lines[i++]);
    for (let k = 0; k < Math.max(removed.length, added.length); k += 1) {
      rows.push({ left: removed[k] ?? null, right: added[k] ?? null });
    }
  }
  return rows;
}

/** A stretch of rows, `start` to `end` (exclusive): shown, or folded behind a button. */
export interface Segment {
  kind: 'shown' | 'folded';
  start: number;
  end: number;
}

export interface FoldOptions {
  /** Runs of more unchanged rows than this are folded. */
  threshold?: number;
  /** Unchanged rows kept visible next to a change. */
  margin?: number;
  /** Rows that must stay visible (those with comments), as changes do. */
  keep?: (index: number) => boolean;
}

export const FOLD_THRESHOLD = 8;
export const FOLD_MARGIN = 3;

/**
 * Splits rows into shown and folded stretches: each run of more than `threshold` unchanged
 * rows is folded but for `margin` rows next to the changes around it (none at the file's
 * start or end). A file with nothing but unchanged rows is shown whole.
 */
export function foldRuns<T>(items: T[], isContext: (item: T) => boolean, opts: FoldOptions = {}): Segment[] {
  const { threshold = FOLD_THRESHOLD, margin = FOLD_MARGIN, keep = () => false } = opts;
  const quiet = (i: number) => isContext(items[i]) && !keep(i);
  if (items.length === 0) return [];
  if (items.every((_, i) => quiet(i))) return [{ kind: 'shown', start: 0, end: items.length }];

  const segments: Segment[] = [];
  const push = (kind: Segment['kind'], start: number, end: number) => {
    if (end <= start) return;
    const last = segments[segments.length - 1];
    if (last && last.kind === kind && last.end === start) last.end = end;
    else segments.push({ kind, start, end });
  };

  let i = 0;
  while (i < items.length) {
    if (!quiet(i)) {
      push('shown', i, i + 1);
      i += 1;
      continue;
    }
    const start = i;
    while (i < items.length && quiet(i)) i += 1;
    const end = i;
    if (end - start <= threshold) {
      push('shown', start, end);
      continue;
    }
    const lead = start === 0 ? 0 : margin;
    const trail = end === items.length ? 0 : margin;
    push('shown', start, start + lead);
    push('folded', start + lead, end - trail);
    push('shown', end - trail, end);
  }
  return segments;
}

/** Where threads go: after the row holding their last line, on their side. */
export interface Placement {
  /** Row index → the threads shown right under it. */
  at: Map<number, Thread[]>;
  /** Threads whose last line is in none of the rows. */
  unplaced: Thread[];
}

/**
 * Places each thread after the row that holds its `line_end` on its side; `lineOf` says
 * which line number of a side a row shows (null for none).
 */
export function placeThreads<R>(rows: R[], threads: Thread[], lineOf: (row: R, side: Side) => number | null): Placement {
  const index: Record<Side, Map<number, number>> = { old: new Map(), new: new Map() };
  rows.forEach((row, i) => {
    for (const side of ['old', 'new'] as const) {
      const n = lineOf(row, side);
      if (n !== null && !index[side].has(n)) index[side].set(n, i);
    }
  });
  const at = new Map<number, Thread[]>();
  const unplaced: Thread[] = [];
  for (const t of threads) {
    const row = index[t.side].get(t.line_end);
    if (row === undefined) {
      unplaced.push(t);
      continue;
    }
    const list = at.get(row);
    if (list) list.push(t);
    else at.set(row, [t]);
  }
  return { at, unplaced };
}

/** The line number a unified row shows for `side`: old for context and removed lines, new for context and added. */
export const unifiedLineOf = (line: DiffLine, side: Side): number | null => (side === 'old' ? line.old : line.new);

/** The line number a side-by-side row shows for `side`. */
export const splitLineOf = (row: SplitRow, side: Side): number | null => (side === 'old' ? (row.left?.old ?? null) : (row.right?.new ?? null));
