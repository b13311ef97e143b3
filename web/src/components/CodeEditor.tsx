// CodeMirror 6 Python editor with theme from CSS variables and optional line markers (errors,
// review comments): completion, closing brackets, find and replace, and multiple cursors.
import { useEffect, useId, useRef } from 'react';
import { python } from '@codemirror/lang-python';
import { EditorState, RangeSetBuilder, StateEffect, StateField } from '@codemirror/state';
import {
  Decoration,
  EditorView,
  crosshairCursor,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
  type DecorationSet,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { autocompletion, closeBrackets, closeBracketsKeymap, completeAnyWord, completionKeymap } from '@codemirror/autocomplete';
import { highlightSelectionMatches, search, searchKeymap } from '@codemirror/search';
import { HighlightStyle, bracketMatching, foldGutter, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { tags as t } from '@lezer/highlight';

/** Syntax colours from CSS variables, so the editor follows light and dark mode. */
const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.operatorKeyword, t.definitionKeyword, t.moduleKeyword], color: 'var(--syn-keyword)' },
  { tag: [t.string, t.special(t.string)], color: 'var(--syn-string)' },
  { tag: [t.number, t.bool, t.null], color: 'var(--syn-number)' },
  { tag: [t.comment, t.lineComment, t.blockComment], color: 'var(--syn-comment)', fontStyle: 'italic' },
  { tag: [t.function(t.variableName), t.function(t.propertyName), t.definition(t.function(t.variableName))], color: 'var(--syn-function)' },
  { tag: [t.className, t.definition(t.className), t.typeName], color: 'var(--syn-type)' },
  { tag: [t.propertyName], color: 'var(--syn-property)' },
  { tag: [t.operator, t.punctuation], color: 'var(--fg-muted)' },
]);

const basicSetup = [
  lineNumbers(),
  highlightActiveLineGutter(),
  highlightSpecialChars(),
  history(),
  foldGutter(),
  drawSelection(),
  EditorState.allowMultipleSelections.of(true),
  // Alt-drag selects a rectangle (a cursor on each line); Ctrl/Cmd-click adds a cursor.
  rectangularSelection(),
  crosshairCursor(),
  indentOnInput(),
  syntaxHighlighting(highlight),
  bracketMatching(),
  closeBrackets(),
  // Python's keywords, builtins and names in scope come with python(); any word of the file too.
  autocompletion(),
  EditorState.languageData.of(() => [{ autocomplete: completeAnyWord }]),
  search({ top: true }),
  highlightSelectionMatches(),
  highlightActiveLine(),
  keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, ...completionKeymap, indentWithTab]),
];

/** A marked line: an error (the default), or a line with review comments, whose text `title` holds. */
export interface LineMark {
  line: number;
  kind?: 'error' | 'comment';
  title?: string;
}

/** Marks by line, one per line: titles of the same line are joined, a comment wins over an error. */
function normalize(marks: Array<number | LineMark>): LineMark[] {
  const byLine = new Map<number, LineMark>();
  for (const m of marks) {
    const mark: LineMark = typeof m === 'number' ? { line: m, kind: 'error' } : { kind: 'error', ...m };
    const seen = byLine.get(mark.line);
    if (!seen) {
      byLine.set(mark.line, mark);
      continue;
    }
    const title = [seen.title, mark.title].filter(Boolean).join('\n\n') || undefined;
    byLine.set(mark.line, { line: mark.line, kind: seen.kind === 'comment' || mark.kind === 'comment' ? 'comment' : 'error', title });
  }
  return [...byLine.values()].sort((a, b) => a.line - b.line);
}

const setMarked = StateEffect.define<LineMark[]>();

function decorate(state: EditorState, marks: LineMark[]): DecorationSet {
  const builder = new RangeSetBuilder<Decoration>();
  for (const m of marks) {
    if (m.line < 1 || m.line > state.doc.lines) continue;
    const attributes: Record<string, string> =
      m.kind === 'comment' ? { 'data-comment-line': String(m.line) } : { 'data-error-line': String(m.line) };
    if (m.title) {
      attributes.title = m.title;
      attributes['aria-description'] = m.title;
    }
    const deco = Decoration.line({ class: m.kind === 'comment' ? 'cm-comment-line' : 'cm-error-line', attributes, kind: m.kind });
    const from = state.doc.line(m.line).from;
    builder.add(from, from, deco);
  }
  return builder.finish();
}

const markedField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    for (const e of tr.effects) if (e.is(setMarked)) return decorate(tr.state, e.value);
    if (!tr.docChanged) return deco;
    // Edits drop error markers (they were about the old text); comment markers follow their lines.
    const kept: LineMark[] = [];
    deco.map(tr.changes).between(0, tr.state.doc.length, (from, _to, d) => {
      if (d.spec.kind === 'comment') kept.push({ line: tr.state.doc.lineAt(from).number, kind: 'comment', title: d.spec.attributes?.title });
    });
    return decorate(tr.state, normalize(kept));
  },
  provide: (f) => EditorView.decorations.from(f),
});

const theme = EditorView.theme({
  '&': { fontSize: '13px', backgroundColor: 'var(--code-bg)', color: 'var(--fg)', height: '100%' },
  '.cm-content': { fontFamily: 'var(--font-mono)', caretColor: 'var(--fg)' },
  '.cm-gutters': { backgroundColor: 'var(--code-bg)', color: 'var(--fg-subtle)', border: 'none', borderRight: '1px solid var(--border)' },
  '.cm-activeLine': { backgroundColor: 'var(--code-active)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--code-active)' },
  '&.cm-focused': { outline: 'none' },
  '.cm-scroller': { fontFamily: 'var(--font-mono)', lineHeight: '1.6' },
  '.cm-error-line': { backgroundColor: 'var(--danger-soft)', boxShadow: 'inset 3px 0 0 var(--danger)' },
  '.cm-comment-line': { backgroundColor: 'var(--warning-soft)', boxShadow: 'inset 3px 0 0 var(--warning)' },
  '.cm-selectionBackground, &.cm-focused .cm-selectionBackground, ::selection': { backgroundColor: 'var(--selection) !important' },
  '.cm-panels': { backgroundColor: 'var(--bg-subtle)', color: 'var(--fg)' },
  '.cm-panels.cm-panels-top': { borderBottom: '1px solid var(--border)' },
  '.cm-textfield': { backgroundColor: 'var(--bg-elevated)', color: 'var(--fg)', border: '1px solid var(--border-strong)', borderRadius: '4px' },
  '.cm-button': { backgroundImage: 'none', backgroundColor: 'var(--bg-elevated)', color: 'var(--fg)', border: '1px solid var(--border-strong)', borderRadius: '4px' },
  '.cm-searchMatch': { backgroundColor: 'var(--warning-soft)', outline: '1px solid var(--warning)' },
  '.cm-searchMatch.cm-searchMatch-selected': { backgroundColor: 'var(--selection)' },
  '.cm-selectionMatch': { backgroundColor: 'var(--code-active)', outline: '1px solid var(--border-strong)' },
  '.cm-tooltip': { backgroundColor: 'var(--bg-elevated)', color: 'var(--fg)', border: '1px solid var(--border)' },
  '.cm-tooltip-autocomplete > ul > li[aria-selected]': { backgroundColor: 'var(--accent)', color: 'var(--accent-fg, #fff)' },
});

export function CodeEditor({
  value,
  onChange,
  ariaLabel = 'Python code',
  markedLines = [],
  revealLine,
  minHeight = 320,
}: {
  value: string;
  onChange: (value: string) => void;
  ariaLabel?: string;
  /** Line numbers marked as errors, or marks of either kind. */
  markedLines?: Array<number | LineMark>;
  /** A line to put the cursor on and scroll to, each time `key` changes. */
  revealLine?: { line: number; key: number };
  minHeight?: number;
}) {
  const host = useRef<HTMLDivElement>(null);
  const hintId = useId();
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  // What the editor is made with; it owns its document after mount, and outside changes
  // are synced below.
  const mountedWith = useRef({ value, ariaLabel, hintId });

  useEffect(() => {
    if (!host.current) return;
    const { value, ariaLabel, hintId } = mountedWith.current;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          basicSetup,
          python(),
          theme,
          markedField,
          EditorView.contentAttributes.of({ 'aria-label': ariaLabel, 'aria-describedby': hintId }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChangeRef.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
  }, []);

  const marks = normalize(markedLines);
  const marksRef = useRef(marks);
  marksRef.current = marks;

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      // A new text (another file, a reload) gets the marks meant for it, not the old ones moved.
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value }, effects: setMarked.of(marksRef.current) });
    }
  }, [value]);

  // Marks are compared by content: a new array of the same marks changes nothing.
  const key = JSON.stringify(marks);
  useEffect(() => {
    view.current?.dispatch({ effects: setMarked.of(marksRef.current) });
  }, [key]);

  const revealRef = useRef(revealLine);
  revealRef.current = revealLine;
  useEffect(() => {
    const v = view.current;
    const revealLine = revealRef.current;
    if (!v || !revealLine) return;
    const n = Math.min(Math.max(1, revealLine.line), v.state.doc.lines);
    const at = v.state.doc.line(n).from;
    v.dispatch({ selection: { anchor: at }, effects: EditorView.scrollIntoView(at, { y: 'center' }) });
    v.focus();
  }, [revealLine?.key]);

  return (
    <>
      <div ref={host} className="code-editor" style={{ minHeight }} />
      <p id={hintId} className="small muted code-editor-hint">
        Tab indents. To move on with the keyboard, press Escape, then Tab. Ctrl/Cmd+F finds and replaces.
      </p>
    </>
  );
}
