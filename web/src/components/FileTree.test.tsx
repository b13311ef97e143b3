import { describe, expect, it } from 'vitest';
import { buildTree, dropTarget } from './FileTree';
import type { WorkspaceFile } from '../api/types';

const file = (path: string) => ({ path, size: 1, version: 1 }) as unknown as WorkspaceFile;

describe('the file tree', () => {
  it('makes folders of the paths, folders before files, each sorted', () => {
    const root = buildTree(['b.py', 'src/z.py', 'a.py', 'src/data/x.csv', 'docs/r.md'].map(file));
    expect(root.folders.map((f) => f.path)).toEqual(['docs', 'src']);
    expect(root.files.map((f) => f.path)).toEqual(['a.py', 'b.py']);
    const src = root.folders[1];
    expect(src.folders.map((f) => f.path)).toEqual(['src/data']);
    expect(src.files.map((f) => f.path)).toEqual(['src/z.py']);
    expect(src.folders[0].files.map((f) => f.path)).toEqual(['src/data/x.csv']);
  });

  it('moves into a folder or to the top, never where it is or into itself', () => {
    expect(dropTarget('a.py', 'src')).toBe('src/a.py');
    expect(dropTarget('src/a.py', '')).toBe('a.py');
    expect(dropTarget('src/data', 'docs')).toBe('docs/data');
    expect(dropTarget('a.py', '')).toBeNull();
    expect(dropTarget('src', 'src')).toBeNull();
    expect(dropTarget('src', 'src/data')).toBeNull();
    expect(dropTarget('src/a.py', 'src')).toBeNull();
    // A folder whose name starts the same is not inside it.
    expect(dropTarget('src', 'srcs')).toBe('srcs/src');
  });
});
