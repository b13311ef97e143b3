// Formatting for the Data pages: sizes, counts, and which columns read as numbers.
import type { Column } from '../../api/types';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

export const formatCount = (n: number) => n.toLocaleString('en-US');

/** Numbers are right-aligned in grids. */
export const isNumeric = (c: Column) => c.type === 'integer' || c.type === 'float';

/** A table name from a file name: lowercase letters, digits and underscores, starting with a letter. */
export function tableNameFrom(filename: string): string {
  const stem = filename.replace(/\.[^.]+$/, '').toLowerCase();
  let name = stem.replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (!/^[a-z]/.test(name)) name = `t_${name}`;
  return name.slice(0, 63) || 'table';
}
