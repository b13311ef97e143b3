// What each project role may do, mirroring the API's rules.
import type { Role } from '../api/types';

const rank: Record<Role, number> = { viewer: 0, editor: 1, owner: 2 };

/** Editors and owners deploy, start, stop, configure and delete apps. */
export const canEditApps = (role: Role | undefined) => !!role && rank[role] >= rank.editor;
/** Only owners rename or delete the project and manage its members. */
export const canManageProject = (role: Role | undefined) => role === 'owner';

export const roleLabel: Record<Role, string> = { owner: 'Owner', editor: 'Editor', viewer: 'Viewer' };
export const roles: Role[] = ['viewer', 'editor', 'owner'];
