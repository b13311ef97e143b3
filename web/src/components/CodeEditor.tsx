// CodeMirror 6 Python editor with theme from CSS variables and optional error-line markers:
// completion, closing brackets, find and replace, and multiple cursors.
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

const setMarked = StateEffect.define<number[]>();

function decorate(state: EditorState, lines: number[]): DecorationSet {
  const builder = new RangeSetBuilder<Decoration>();
  const mark = Decoration.line({ class: 'cm-error-line' });
  for (const n of [...new Set(lines)].sort((a, b) => a - b)) {
    if (n >= 1 && n <= state.doc.lines) builder.add(state.doc.line(n).from, state.doc.line(n).from, mark);
  }
  return builder.finish();
}

const markedField = StateField.define<{ lines: number[]; deco: DecorationSet }>({
  create: () => ({ lines: [], deco: Decoration.none }),
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setMarked)) return { lines: e.value, deco: decorate(tr.state, e.value) };
    // Edits clear the markers on the lines they touch by remapping; keep it simple: drop on change.
    if (tr.docChanged) return { lines: [], deco: Decoration.none };
    return value;
  },
  provide: (f) => EditorView.decorations.from(f, (v) => v.deco),
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
  minHeight = 320,
}: {
  value: string;
  onChange: (value: string) => void;
  ariaLabel?: string;
  markedLines?: number[];
  minHeight?: number;
}) {
  const host = useRef<HTMLDivElement>(null);
  const hintId = useId();
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;

  useEffect(() => {
    if (!host.current) return;
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
    // The editor owns its document after mount; outside changes are synced below.
  }, []);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);

  const key = markedLines.join(',');
  useEffect(() => {
    view.current?.dispatch({ effects: setMarked.of(markedLines) });
  }, [key]);

  return (
    <>
      <div ref={host} className="code-editor" style={{ minHeight }} />
      <p id={hintId} className="small muted code-editor-hint">
        Tab indents. To move on with the keyboard, press Escape, then Tab. Ctrl/Cmd+F finds and replaces.
      </p>
    </>
  );
}
