// Tests for the editor's line markers: errors and review comments, with the comment as the line's title.
import { describe, expect, it } from 'vitest';
import { render } from '@testing-library/react';
import { EditorView } from '@codemirror/view';
import { CodeEditor } from './CodeEditor';

const text = 'a = 1\nb = 2\nc = 3\n';

describe('CodeEditor markers', () => {
  it('marks comment lines with their text, and error lines', () => {
    const { container } = render(
      <CodeEditor value={text} onChange={() => {}} markedLines={[1, { line: 2, kind: 'comment', title: 'Grace: <b>why</b>?' }]} />,
    );
    const comment = container.querySelector('[data-comment-line="2"]');
    expect(comment).toHaveClass('cm-comment-line');
    expect(comment).toHaveAttribute('title', 'Grace: <b>why</b>?');
    expect(comment).toHaveTextContent('b = 2');
    expect(container.querySelector('b')).toBeNull();
    expect(container.querySelector('[data-error-line="1"]')).toHaveClass('cm-error-line');
  });

  it('moves to the new text when the file changes', () => {
    const marks = [{ line: 3, kind: 'comment' as const, title: 'Look here' }];
    const { container, rerender } = render(<CodeEditor value={text} onChange={() => {}} markedLines={marks} />);
    expect(container.querySelector('[data-comment-line="3"]')).toHaveTextContent('c = 3');
    rerender(<CodeEditor value={'x\ny\nz\n'} onChange={() => {}} markedLines={marks} />);
    expect(container.querySelectorAll('[data-comment-line]')).toHaveLength(1);
    expect(container.querySelector('[data-comment-line="3"]')).toHaveTextContent('z');
  });

  it('keeps comment marks on their lines as text is typed above them, and drops error marks', () => {
    const { container } = render(
      <CodeEditor value={text} onChange={() => {}} markedLines={[2, { line: 3, kind: 'comment', title: 'Look here' }]} />,
    );
    const view = EditorView.findFromDOM(container.querySelector('.cm-editor') as HTMLElement)!;
    view.dispatch({ changes: { from: 0, insert: 'new first line\n' } });
    expect(container.querySelector('[data-error-line]')).toBeNull();
    const comment = container.querySelector('[data-comment-line]');
    expect(comment).toHaveAttribute('data-comment-line', '4');
    expect(comment).toHaveTextContent('c = 3');
    expect(comment).toHaveAttribute('title', 'Look here');
  });
});
