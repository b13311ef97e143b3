// One file of a submission's diff: its head (path, status, +a −d) and its lines, unified or side by
// side, with long unchanged runs folded and comment threads right under the lines they end at.
import { Fragment, useMemo, useState, type MouseEvent, type ReactNode } from 'react';
import type { DiffLine, FileDiff, Side, Thread } from '../api/types';
import { foldRuns, pairLines, placeThreads, splitLineOf, unifiedLineOf, type Placement, type Segment } from '../lib/diff';
import type { DiffViewMode } from '../lib/storage';
import { formatBytes } from '../pages/data/format';
import { Icon } from './Icon';

/** The comment being written: on `start`–`end` of one side of a file (`anchor` is the first line clicked). */
export interface Draft {
  path: string;
  side: Side;
  anchor: number;
  start: number;
  end: number;
}

interface LinesProps {
  file: FileDiff;
  lines: DiffLine[];
  threads: Thread[];
  canComment: boolean;
  draft: Draft | null;
  onLine: (side: Side, line: number, extend: boolean) => void;
  renderThread: (t: Thread) => ReactNode;
  renderDraft: () => ReactNode;
}

export interface FileDiffProps extends Omit<LinesProps, 'lines'> {
  /** The element id, for links to the file. */
  id: string;
  mode: DiffViewMode;
  expanded: boolean;
  onToggle: () => void;
}

/** "old.py → new.py" for a renamed file, else its path. */
export const fileTitle = (f: FileDiff) => (f.status === 'renamed' && f.old_path ? `${f.old_path} → ${f.path}` : f.path);

export function DiffCounts({ file }: { file: FileDiff }) {
  return (
    <span className="diff-counts mono small">
      <span className="diff-add">+{file.additions}</span> <span className="diff-del">−{file.deletions}</span>
    </span>
  );
}

export function FileDiffView({ id, mode, expanded, onToggle, ...rest }: FileDiffProps) {
  const { file, threads } = rest;
  const size = (n: number | null) => (n === null ? 'none' : formatBytes(n));
  let body: ReactNode;
  if (file.binary) {
    body = (
      <p className="muted diff-note">
        binary file, sizes {size(file.old_size)} → {size(file.new_size)}
      </p>
    );
  } else if (!file.lines) {
    body = <p className="muted diff-note">This file is too large to show.</p>;
  } else if (file.lines.length === 0) {
    body = <p className="muted diff-note">Empty file.</p>;
  } else if (mode === 'split') {
    body = <SplitLines key="split" lines={file.lines} {...rest} />;
  } else {
    body = <UnifiedLines key="unified" lines={file.lines} {...rest} />;
  }

  return (
    <section className="diff-file" id={id} aria-label={file.path}>
      <header className="diff-file-head">
        <button type="button" className="diff-file-toggle" aria-expanded={expanded} onClick={onToggle}>
          <Icon name={expanded ? 'chevronDown' : 'chevronRight'} size={14} />
          <span className="mono">{fileTitle(file)}</span>
        </button>
        <span className={`diff-status diff-status-${file.status}`}>{file.status}</span>
        <DiffCounts file={file} />
        {threads.length > 0 && (
          <span className="muted small diff-thread-count">
            <Icon name="message" size={13} /> {threads.length} {threads.length === 1 ? 'thread' : 'threads'}
          </span>
        )}
      </header>
      {expanded && <div className="diff-file-body">{body}</div>}
    </section>
  );
}

/** A line number: a button that starts a comment there, when this person may comment. */
function LineNumber({
  n,
  side,
  path,
  canComment,
  onLine,
  selected,
}: {
  n: number | null;
  side: Side;
  path: string;
  canComment: boolean;
  onLine: LinesProps['onLine'];
  selected?: boolean;
}) {
  if (n === null) return <td className="diff-num" />;
  if (!canComment) return <td className="diff-num">{n}</td>;
  return (
    <td className="diff-num" data-selected={selected || undefined}>
      <button
        type="button"
        className="diff-num-btn"
        aria-label={`Comment on ${side === 'old' ? 'old ' : ''}line ${n} of ${path}`}
        title="Comment on this line (shift-click to extend a comment's range)"
        onClick={(e: MouseEvent) => onLine(side, n, e.shiftKey)}
      >
        {n}
      </button>
    </td>
  );
}

const SIGN: Record<DiffLine['kind'], string> = { context: ' ', added: '+', removed: '−' };

function Code({ line, selected }: { line: DiffLine | null; selected?: boolean }) {
  if (!line) return <td className="diff-code diff-blank" />;
  return (
    <td className={`diff-code diff-${line.kind}`} data-selected={selected || undefined}>
      <span className="diff-sign" aria-hidden="true">
        {SIGN[line.kind]}
      </span>
      <span className="diff-text">{line.text}</span>
    </td>
  );
}

function FoldRow({ count, colSpan, onShow }: { count: number; colSpan: number; onShow: () => void }) {
  return (
    <tr className="diff-fold">
      <td colSpan={colSpan}>
        <button type="button" className="diff-fold-btn" onClick={onShow}>
          <Icon name="chevronDown" size={13} />
          Show {count} unchanged {count === 1 ? 'line' : 'lines'}
        </button>
      </td>
    </tr>
  );
}

/** Folding state shared by both layouts: which rows were unfolded, and the segments to draw. */
function useFolding<R>(rows: R[], isContext: (r: R) => boolean, placement: Placement, draftRow: number) {
  const [revealed, setRevealed] = useState<Set<number>>(() => new Set());
  const segments = foldRuns(rows, isContext, { keep: (i) => placement.at.has(i) || i === draftRow || revealed.has(i) });
  const reveal = (seg: Segment) =>
    setRevealed((prev) => {
      const next = new Set(prev);
      for (let i = seg.start; i < seg.end; i += 1) next.add(i);
      return next;
    });
  return { segments, reveal };
}

const inDraft = (draft: Draft | null, side: Side, n: number | null) => draft !== null && n !== null && draft.side === side && n >= draft.start && n <= draft.end;

function UnifiedLines({ file, lines, threads, canComment, draft, onLine, renderThread, renderDraft }: LinesProps) {
  const placement = useMemo(() => placeThreads(lines, threads, unifiedLineOf), [lines, threads]);
  const draftRow = draft ? lines.findIndex((l) => unifiedLineOf(l, draft.side) === draft.end) : -1;
  const { segments, reveal } = useFolding(lines, (l) => l.kind === 'context', placement, draftRow);

  const rows: ReactNode[] = [];
  for (const seg of segments) {
    if (seg.kind === 'folded') {
      rows.push(<FoldRow key={`fold-${seg.start}`} count={seg.end - seg.start} colSpan={3} onShow={() => reveal(seg)} />);
      continue;
    }
    for (let i = seg.start; i < seg.end; i += 1) {
      const line = lines[i];
      const selected = inDraft(draft, 'old', line.old) || inDraft(draft, 'new', line.new);
      rows.push(
        <tr key={i} className="diff-line" data-selected={selected || undefined}>
          {line.kind === 'removed' ? (
            <LineNumber n={line.old} side="old" path={file.path} canComment={canComment} onLine={onLine} />
          ) : (
            <td className="diff-num">{line.old}</td>
          )}
          <LineNumber n={line.new} side="new" path={file.path} canComment={canComment} onLine={onLine} />
          <Code line={line} />
        </tr>,
      );
      const here = placement.at.get(i);
      if (here || i === draftRow) {
        rows.push(
          <tr key={`threads-${i}`} className="diff-threads">
            <td colSpan={3}>
              {here?.map((t) => <Fragment key={t.id}>{renderThread(t)}</Fragment>)}
              {i === draftRow && renderDraft()}
            </td>
          </tr>,
        );
      }
    }
  }
  return (
    <>
      <table className="diff-table diff-unified" aria-label={`Changes to ${file.path}`}>
        <tbody>{rows}</tbody>
      </table>
      <Unplaced threads={placement.unplaced} renderThread={renderThread} />
    </>
  );
}

function SplitLines({ file, lines, threads, canComment, draft, onLine, renderThread, renderDraft }: LinesProps) {
  const paired = useMemo(() => pairLines(lines), [lines]);
  const placement = useMemo(() => placeThreads(paired, threads, splitLineOf), [paired, threads]);
  const draftRow = draft ? paired.findIndex((r) => splitLineOf(r, draft.side) === draft.end) : -1;
  const { segments, reveal } = useFolding(paired, (r) => r.left?.kind === 'context', placement, draftRow);

  const side = (i: number, s: Side) => (
    <td colSpan={2} className="diff-threads-side">
      {placement.at
        .get(i)
        ?.filter((t) => t.side === s)
        .map((t) => <Fragment key={t.id}>{renderThread(t)}</Fragment>)}
      {i === draftRow && draft?.side === s && renderDraft()}
    </td>
  );

  const rows: ReactNode[] = [];
  for (const seg of segments) {
    if (seg.kind === 'folded') {
      rows.push(<FoldRow key={`fold-${seg.start}`} count={seg.end - seg.start} colSpan={4} onShow={() => reveal(seg)} />);
      continue;
    }
    for (let i = seg.start; i < seg.end; i += 1) {
      const { left, right } = paired[i];
      const oldSelected = inDraft(draft, 'old', left?.old ?? null);
      const newSelected = inDraft(draft, 'new', right?.new ?? null);
      rows.push(
        <tr key={i} className="diff-line">
          <LineNumber n={left?.old ?? null} side="old" path={file.path} canComment={canComment} onLine={onLine} selected={oldSelected} />
          <Code line={left} selected={oldSelected} />
          <LineNumber n={right?.new ?? null} side="new" path={file.path} canComment={canComment} onLine={onLine} selected={newSelected} />
          <Code line={right} selected={newSelected} />
        </tr>,
      );
      if (placement.at.has(i) || i === draftRow) {
        rows.push(
          <tr key={`threads-${i}`} className="diff-threads">
            {side(i, 'old')}
            {side(i, 'new')}
          </tr>,
        );
      }
    }
  }
  return (
    <>
      <table className="diff-table diff-split" aria-label={`Changes to ${file.path}, side by side`}>
        <colgroup>
          <col className="diff-col-num" />
          <col />
          <col className="diff-col-num" />
          <col />
        </colgroup>
        <tbody>{rows}</tbody>
      </table>
      <Unplaced threads={placement.unplaced} renderThread={renderThread} />
    </>
  );
}

/** Threads whose lines are not in this file's lines (rare: a file changed under a carried thread). */
function Unplaced({ threads, renderThread }: { threads: Thread[]; renderThread: (t: Thread) => ReactNode }) {
  if (threads.length === 0) return null;
  return (
    <div className="diff-unplaced stack-sm">
      <p className="muted small">Comments on lines not shown here:</p>
      {threads.map((t) => (
        <Fragment key={t.id}>{renderThread(t)}</Fragment>
      ))}
    </div>
  );
}
