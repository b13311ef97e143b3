// Tests for diff layout: side-by-side pairing, folding long unchanged runs, and placing threads.
import { describe, expect, it } from 'vitest';
import type { DiffLine, Thread } from '../api/types';
import { foldRuns, pairLines, placeThreads, splitLineOf, unifiedLineOf } from './diff';

const ctx = (old: number, n: number, text = `line ${n}`): DiffLine => ({ kind: 'context', old, new: n, text });
const add = (n: number, text = `added ${n}`): DiffLine => ({ kind: 'added', old: null, new: n, text });
const del = (old: number, text = `removed ${old}`): DiffLine => ({ kind: 'removed', old, new: null, text });

function thread(id: string, side: 'old' | 'new', start: number, end = start): Thread {
  return { id, submission_id: 's1', seq: 1, path: 'main.py', side, line_start: start, line_end: end, carried: false, resolved: false, comments: [] };
}

describe('pairLines', () => {
  it('puts context on both sides and a removed run beside the added run after it', () => {
    const lines = [ctx(1, 1), del(2), del(3), add(2), add(3), ctx(4, 4)];
    const rows = pairLines(lines);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toEqual({ left: lines[0], right: lines[0] });
    expect(rows[1]).toEqual({ left: lines[1], right: lines[3] });
    expect(rows[2]).toEqual({ left: lines[2], right: lines[4] });
    expect(rows[3]).toEqual({ left: lines[5], right: lines[5] });
  });

  it('leaves a blank beside the longer run', () => {
    const rows = pairLines([del(1), del(2), del(3), add(1)]);
    expect(rows.map((r) => [r.left?.old ?? null, r.right?.new ?? null])).toEqual([
      [1, 1],
      [2, null],
      [3, null],
    ]);
    const more = pairLines([del(1), add(1), add(2), add(3)]);
    expect(more.map((r) => [r.left?.old ?? null, r.right?.new ?? null])).toEqual([
      [1, 1],
      [null, 2],
      [null, 3],
    ]);
  });

  it('shows added lines with no removed run before them on the right only', () => {
    const rows = pairLines([ctx(1, 1), add(2), add(3), ctx(2, 4)]);
    expect(rows.map((r) => [r.left?.old ?? null, r.right?.new ?? null])).toEqual([
      [1, 1],
      [null, 2],
      [null, 3],
      [2, 4],
    ]);
  });

  it('pairs an added run followed by a removed run with what follows, not with each other', () => {
    const rows = pairLines([add(1), del(1), add(2)]);
    expect(rows.map((r) => [r.left?.old ?? null, r.right?.new ?? null])).toEqual([
      [null, 1],
      [1, 2],
    ]);
  });
});

describe('foldRuns', () => {
  const isContext = (l: DiffLine) => l.kind === 'context';
  /** n context lines, a change, then m context lines. */
  function file(n: number, m: number): DiffLine[] {
    const lines: DiffLine[] = [];
    for (let i = 1; i <= n; i += 1) lines.push(ctx(i, i));
    lines.push(add(n + 1));
    for (let i = 1; i <= m; i += 1) lines.push(ctx(n + i, n + 1 + i));
    return lines;
  }

  it('keeps runs of up to 8 unchanged lines', () => {
    expect(foldRuns(file(8, 8), isContext)).toEqual([{ kind: 'shown', start: 0, end: 17 }]);
  });

  it('folds a long leading and trailing run but for 3 lines next to the change', () => {
    expect(foldRuns(file(20, 12), isContext)).toEqual([
      { kind: 'folded', start: 0, end: 17 },
      { kind: 'shown', start: 17, end: 24 },
      { kind: 'folded', start: 24, end: 33 },
    ]);
  });

  it('keeps 3 lines on each side of a long run between two changes', () => {
    const lines = [add(1), ...Array.from({ length: 10 }, (_, i) => ctx(i + 1, i + 2)), add(12)];
    expect(foldRuns(lines, isContext)).toEqual([
      { kind: 'shown', start: 0, end: 4 },
      { kind: 'folded', start: 4, end: 8 },
      { kind: 'shown', start: 8, end: 12 },
    ]);
  });

  it('shows a file with no change whole', () => {
    const lines = Array.from({ length: 30 }, (_, i) => ctx(i + 1, i + 1));
    expect(foldRuns(lines, isContext)).toEqual([{ kind: 'shown', start: 0, end: 30 }]);
  });

  it('keeps rows asked for visible, with context around them', () => {
    const segments = foldRuns(file(30, 0), isContext, { keep: (i) => i === 10 });
    expect(segments).toEqual([
      { kind: 'folded', start: 0, end: 7 },
      { kind: 'shown', start: 7, end: 14 },
      { kind: 'folded', start: 14, end: 27 },
      { kind: 'shown', start: 27, end: 31 },
    ]);
  });

  it('honours its threshold and margin', () => {
    expect(foldRuns(file(5, 0), isContext, { threshold: 4, margin: 1 })).toEqual([
      { kind: 'folded', start: 0, end: 4 },
      { kind: 'shown', start: 4, end: 6 },
    ]);
    expect(foldRuns([], isContext)).toEqual([]);
  });
});

describe('placeThreads', () => {
  const lines = [ctx(1, 1), del(2), add(2), add(3), ctx(3, 4), ctx(4, 5)];

  it('puts a thread after the row holding its last line on its side', () => {
    const t1 = thread('t1', 'new', 2, 3);
    const t2 = thread('t2', 'old', 2);
    const t3 = thread('t3', 'new', 4);
    const t4 = thread('t4', 'old', 3);
    const { at, unplaced } = placeThreads(lines, [t1, t2, t3, t4], unifiedLineOf);
    expect(at.get(3)).toEqual([t1]);
    expect(at.get(1)).toEqual([t2]);
    // A context line carries both numbers: new 4 and old 3 are the same row.
    expect(at.get(4)).toEqual([t3, t4]);
    expect(unplaced).toEqual([]);
  });

  it('keeps the threads of one row in their order, and reports lines it cannot find', () => {
    const a = thread('a', 'new', 1);
    const b = thread('b', 'new', 1);
    const gone = thread('gone', 'new', 99);
    const { at, unplaced } = placeThreads(lines, [a, gone, b], unifiedLineOf);
    expect(at.get(0)).toEqual([a, b]);
    expect(unplaced).toEqual([gone]);
  });

  it('places threads on side-by-side rows by side', () => {
    const rows = pairLines(lines);
    const old = thread('old', 'old', 2);
    const neu = thread('new', 'new', 3);
    const { at } = placeThreads(rows, [old, neu], splitLineOf);
    // Row 1 pairs removed old 2 with added new 2; row 2 has added new 3 alone.
    expect(at.get(1)).toEqual([old]);
    expect(at.get(2)).toEqual([neu]);
  });
});
