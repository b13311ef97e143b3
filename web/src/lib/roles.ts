// What each project role may do, mirroring the API's rules.
import type { Role } from '../api/types';

const rank: Record<Role, number> = { viewer: 0, editor: 1, reviewer: 2, owner: 3 };

/** Whether `role` is `least` or above it. */
export const atLeast = (role: Role | undefined, least: Role) => !!role && rank[role] >= rank[least];

/** Editors, reviewers and owners deploy, start, stop, configure and delete apps, and make workspaces. */
export const canEditApps = (role: Role | undefined) => atLeast(role, 'editor');
/** Reviewers and owners make templates, see every submission and review them. */
export const canReview = (role: Role | undefined) => atLeast(role, 'reviewer');
/** Only owners rename or delete the project and manage its members. */
export const canManageProject = (role: Role | undefined) => role === 'owner';

export const roleLabel: Record<Role, string> = { owner: 'Owner', reviewer: 'Reviewer', editor: 'Editor', viewer: 'Viewer' };
export const roles: Role[] = ['viewer', 'editor', 'reviewer', 'owner'];

/** One line on what each role may do, for the members list. */
export const roleDescription: Record<Role, string> = {
  viewer: 'Sees the project; makes no changes and no workspaces.',
  editor: 'Deploys apps, runs jobs, and makes and submits workspaces of their own.',
  reviewer: 'An editor who also makes templates and reviews every submission.',
  owner: 'Everything, plus the project settings and its members.',
};

/** "an editor", "a reviewer". */
export const withArticle = (role: Role) => `${role === 'owner' || role === 'editor' ? 'an' : 'a'} ${roleLabel[role].toLowerCase()}`;
