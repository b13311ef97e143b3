// Tiny localStorage helpers (the last-used project, the diff layout), safe when storage is unavailable.

const LAST_PROJECT = 'burrow.lastProject';

export function getLastProject(): string | null {
  try {
    return window.localStorage.getItem(LAST_PROJECT);
  } catch {
    return null;
  }
}

export function setLastProject(id: string | null): void {
  try {
    if (id) window.localStorage.setItem(LAST_PROJECT, id);
    else window.localStorage.removeItem(LAST_PROJECT);
  } catch {
    // Private mode or disabled storage: nothing to remember.
  }
}

const DIFF_VIEW = 'burrow.diffView';

/** How diffs are laid out: one column, or the old and new side by side. */
export type DiffViewMode = 'unified' | 'split';

export function getDiffView(): DiffViewMode {
  try {
    return window.localStorage.getItem(DIFF_VIEW) === 'split' ? 'split' : 'unified';
  } catch {
    return 'unified';
  }
}

export function setDiffView(mode: DiffViewMode): void {
  try {
    window.localStorage.setItem(DIFF_VIEW, mode);
  } catch {
    // Nothing to remember without storage.
  }
}
