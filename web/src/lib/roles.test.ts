// Tests for the project roles' ranks and what each may do.
import { describe, expect, it } from 'vitest';
import { atLeast, canEditApps, canManageProject, canReview, roleDescription, roleLabel, roles, withArticle } from './roles';

describe('roles', () => {
  it('ranks viewer < editor < reviewer < owner', () => {
    expect(roles).toEqual(['viewer', 'editor', 'reviewer', 'owner']);
    expect(atLeast('reviewer', 'editor')).toBe(true);
    expect(atLeast('editor', 'reviewer')).toBe(false);
    expect(atLeast('owner', 'reviewer')).toBe(true);
    expect(atLeast(undefined, 'viewer')).toBe(false);
  });

  it('lets editors and above edit apps', () => {
    expect(roles.filter(canEditApps)).toEqual(['editor', 'reviewer', 'owner']);
    expect(canEditApps(undefined)).toBe(false);
  });

  it('lets reviewers and owners review', () => {
    expect(roles.filter(canReview)).toEqual(['reviewer', 'owner']);
    expect(canReview(undefined)).toBe(false);
  });

  it('lets only owners manage the project', () => {
    expect(roles.filter(canManageProject)).toEqual(['owner']);
  });

  it('labels and describes every role', () => {
    expect(roles.map((r) => roleLabel[r])).toEqual(['Viewer', 'Editor', 'Reviewer', 'Owner']);
    for (const r of roles) expect(roleDescription[r]).toMatch(/\.$/);
    expect(withArticle('editor')).toBe('an editor');
    expect(withArticle('reviewer')).toBe('a reviewer');
  });
});
