// Tests for the review workflow's words: what a diff is against, thread labels, file statuses.
import { describe, expect, it } from 'vitest';
import { anchorPath, baseText, fileStatusText, threadLabel } from './review';

describe('review words', () => {
  it('says what a submission is compared with', () => {
    expect(baseText({ base: { kind: 'template', seq: null }, template: 'Intro' })).toBe('compared with the template Intro');
    expect(baseText({ base: { kind: 'submission', seq: 2 }, template: null })).toBe('compared with submission #2');
    expect(baseText({ base: { kind: 'empty', seq: null }, template: null })).toBe('compared with nothing');
  });

  it('names a thread by its file and lines', () => {
    expect(threadLabel({ path: 'main.py', line_start: 3, line_end: 3 })).toBe('Comment thread on main.py line 3');
    expect(threadLabel({ path: 'main.py', line_start: 3, line_end: 5 })).toBe('Comment thread on main.py lines 3–5');
  });

  it('describes a renamed file with both paths', () => {
    expect(fileStatusText({ status: 'renamed', old_path: 'a.py', path: 'b.py' })).toBe('renamed a.py → b.py');
    expect(fileStatusText({ status: 'added', old_path: null, path: 'b.py' })).toBe('added');
  });

  it('anchors the old side of a renamed file to its old path', () => {
    const renamed = { path: 'b.py', old_path: 'a.py' };
    expect(anchorPath(renamed, 'old')).toBe('a.py');
    expect(anchorPath(renamed, 'new')).toBe('b.py');
    expect(anchorPath({ path: 'c.py', old_path: null }, 'old')).toBe('c.py');
  });
});
