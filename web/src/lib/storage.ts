// Tiny localStorage helpers (remembering the last-used project), safe when storage is unavailable.

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
