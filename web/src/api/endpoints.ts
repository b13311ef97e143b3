// Typed functions for every REST endpoint the dashboard uses.
import { ApiError, parseError, request, upload } from './client';
import type {
  App,
  Job,
  JobForm,
  JobScript,
  JobScriptDetail,
  JobSchedule,
  ScheduleForm,
  ScriptTrial,
  AppDetail,
  AppSource,
  EgressDecision,
  Secret,
  Column,
  DataTable,
  DataSource,
  SourceForm,
  SourceTest,
  SourceTable,
  SourceTableDetail,
  Member,
  Package,
  QueryResult,
  Rows,
  Project,
  Role,
  Session,
  UpdateApp,
  User,
  Version,
  Workspace,
  WorkspaceFilePage,
  WorkspaceTerminal,
  FileText,
  Template,
  Submission,
  SubmissionStatus,
  ReviewVerdict,
  Diff,
  Thread,
  ThreadAnchor,
  WorkspaceReview,
  Notification,
} from './types';

const enc = encodeURIComponent;
const projectPath = (p: string) => `/api/v1/projects/${enc(p)}`;
const appPath = (p: string, a: string) => `${projectPath(p)}/apps/${enc(a)}`;
const tablePath = (p: string, t: string) => `${projectPath(p)}/tables/${enc(t)}`;
const sourcePath = (p: string, s: string) => `${projectPath(p)}/sources/${enc(s)}`;
const scriptPath = (p: string, s: string) => `${projectPath(p)}/scripts/${enc(s)}`;
const jobPath = (p: string, j: string) => `${projectPath(p)}/jobs/${enc(j)}`;
const workspacePath = (p: string, w: string) => `${projectPath(p)}/workspaces/${enc(w)}`;
const filePath = (p: string, w: string, path: string) => `${workspacePath(p, w)}/file?path=${enc(path)}`;
const submissionPath = (p: string, s: string) => `${projectPath(p)}/submissions/${enc(s)}`;
const threadPath = (p: string, t: string) => `${projectPath(p)}/comments/${enc(t)}`;

/** Which submissions a list shows; empty fields show all. */
export interface SubmissionFilter {
  status?: SubmissionStatus | '';
  /** A user id. */
  learner?: string;
  /** A template id. */
  template?: string;
}

/** A save refused because the file changed since it was read: the file as it is now. */
export class FileChanged extends Error {
  constructor(
    message: string,
    readonly current: { version: number; content: string | null } | null,
  ) {
    super(message);
  }
}

/** Reads a workspace file's text and its version (the ETag). */
async function readFile(p: string, w: string, path: string): Promise<FileText> {
  const res = await fetch(filePath(p, w, path), { credentials: 'same-origin' });
  if (!res.ok) throw await parseError(res);
  const version = Number((res.headers.get('ETag') ?? '0').replace(/"/g, ''));
  const bytes = await res.arrayBuffer();
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), version, binary: false };
  } catch {
    return { text: '', version, binary: true };
  }
}

/**
 * Writes a workspace file: over `version` (refused with `FileChanged` if it moved on),
 * over whatever is there (`'any'`), or as a new file (`null`).
 */
async function writeFile(p: string, w: string, path: string, text: string | Blob, version: number | 'any' | null): Promise<number> {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (version === 'any') headers['If-Match'] = '*';
  else if (version !== null) headers['If-Match'] = `"${version}"`;
  let res: Response;
  try {
    res = await fetch(filePath(p, w, path), { method: 'PUT', headers, body: text, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, { code: 'network_error', message: 'Could not reach the server. Check your connection and try again.' });
  }
  if (res.status === 409) {
    const body = (await res.clone().json().catch(() => null)) as {
      error?: { code?: string; message?: string };
      current?: { version: number; content: string | null } | null;
    } | null;
    if (body?.error?.code === 'file_changed') throw new FileChanged(body.error.message ?? 'The file changed.', body.current ?? null);
  }
  if (!res.ok) throw await parseError(res);
  return ((await res.json()) as { version: number }).version;
}

/** A page of rows, optionally sorted by one column. */
function pageQuery(page: { offset: number; limit: number; sort?: string; order?: 'asc' | 'desc' }) {
  const q = new URLSearchParams({ offset: String(page.offset), limit: String(page.limit) });
  if (page.sort) {
    q.set('sort', page.sort);
    q.set('order', page.order ?? 'asc');
  }
  return q;
}

/** A table file and, when a person corrected them, its column types. */
function tableForm(file: File | Blob, filename: string, fields: { name?: string; columns?: Column[] }): FormData {
  const form = new FormData();
  if (fields.name !== undefined) form.append('name', fields.name);
  if (fields.columns) form.append('columns', JSON.stringify(fields.columns.map((c) => ({ name: c.name, type: c.type }))));
  form.append('file', file, filename);
  return form;
}

export const api = {
  me: () => request<User>('GET', '/api/v1/me', { quiet401: true }),
  login: (email: string, password: string) =>
    request<Session>('POST', '/api/v1/auth/login', { json: { email, password }, quiet401: true }),
  register: (name: string, email: string, password: string) =>
    request<Session>('POST', '/api/v1/auth/register', { json: { name, email, password }, quiet401: true }),
  logout: () => request<void>('POST', '/api/v1/auth/logout', { quiet401: true }),

  projects: () => request<Project[]>('GET', '/api/v1/projects'),
  project: (p: string) => request<Project>('GET', projectPath(p)),
  createProject: (name: string) => request<Project>('POST', '/api/v1/projects', { json: { name } }),
  renameProject: (p: string, name: string) => request<Project>('PATCH', projectPath(p), { json: { name } }),
  deleteProject: (p: string) => request<void>('DELETE', projectPath(p)),

  members: (p: string) => request<Member[]>('GET', `${projectPath(p)}/members`),
  addMember: (p: string, email: string, role: Role) =>
    request<Member>('POST', `${projectPath(p)}/members`, { json: { email, role } }),
  setMemberRole: (p: string, user: string, role: Role) =>
    request<Member>('PATCH', `${projectPath(p)}/members/${enc(user)}`, { json: { role } }),
  removeMember: (p: string, user: string) => request<void>('DELETE', `${projectPath(p)}/members/${enc(user)}`),

  apps: (p: string) => request<App[]>('GET', `${projectPath(p)}/apps`),
  app: (p: string, a: string) => request<AppDetail>('GET', appPath(p, a)),
  createApp: (p: string, name: string, description: string, source: AppSource) =>
    request<AppDetail>('POST', `${projectPath(p)}/apps`, sourceBody(source, { name, description })),
  updateApp: (p: string, a: string, changes: UpdateApp) =>
    request<App>('PATCH', appPath(p, a), { json: changes }),
  deleteApp: (p: string, a: string) => request<void>('DELETE', appPath(p, a)),
  egress: (p: string, a: string) => request<EgressDecision[]>('GET', `${appPath(p, a)}/egress`),
  secrets: (p: string, a: string) => request<Secret[]>('GET', `${appPath(p, a)}/secrets`),
  putSecret: (p: string, a: string, name: string, value: string) =>
    request<void>('PUT', `${appPath(p, a)}/secrets/${enc(name)}`, { json: { value } }),
  deleteSecret: (p: string, a: string, name: string) => request<void>('DELETE', `${appPath(p, a)}/secrets/${enc(name)}`),
  addVersion: (p: string, a: string, source: AppSource) =>
    request<Version>('POST', `${appPath(p, a)}/versions`, sourceBody(source, {})),
  activateVersion: (p: string, a: string, n: number) =>
    request<App>('POST', `${appPath(p, a)}/versions/${n}/activate`),
  lifecycle: (p: string, a: string, action: 'start' | 'stop' | 'restart') =>
    request<App>('POST', `${appPath(p, a)}/${action}${action === 'stop' ? '' : '?wait=false'}`),

  tables: (p: string) => request<DataTable[]>('GET', `${projectPath(p)}/tables`),
  table: (p: string, t: string) => request<DataTable>('GET', tablePath(p, t)),
  addSample: (p: string) => request<DataTable>('POST', `${projectPath(p)}/tables/sample`),
  /** The columns Burrow infers from a file (a CSV's start is enough) and its first rows. */
  inferTable: (p: string, head: Blob, filename: string) =>
    request<Rows>('POST', `${projectPath(p)}/tables/infer`, { form: tableForm(head, filename, {}) }),
  /** Makes (or, with `replace`, replaces) a table from a file, reporting upload progress from 0 to 1. */
  saveTable: (p: string, t: string, file: File, columns: Column[] | undefined, replace: boolean, onProgress: (f: number) => void) =>
    upload<DataTable>(
      replace ? 'PUT' : 'POST',
      replace ? tablePath(p, t) : `${projectPath(p)}/tables`,
      tableForm(file, file.name, { name: replace ? undefined : t, columns }),
      onProgress,
    ),
  deleteTable: (p: string, t: string) => request<void>('DELETE', tablePath(p, t)),
  tableRows: (p: string, t: string, page: { offset: number; limit: number; sort?: string; order?: 'asc' | 'desc' }) =>
    request<Rows>('GET', `${tablePath(p, t)}/rows?${pageQuery(page)}`),
  /** One read-only statement over the project's tables, or on `source` when given. */
  query: (p: string, sql: string, source?: string) =>
    request<QueryResult>('POST', `${projectPath(p)}/sql`, { json: { sql, source: source || null } }),

  sources: (p: string) => request<DataSource[]>('GET', `${projectPath(p)}/sources`),
  source: (p: string, s: string) => request<DataSource>('GET', sourcePath(p, s)),
  createSource: (p: string, form: SourceForm) => request<DataSource>('POST', `${projectPath(p)}/sources`, { json: form }),
  updateSource: (p: string, s: string, form: SourceForm) => request<DataSource>('PUT', sourcePath(p, s), { json: form }),
  deleteSource: (p: string, s: string) => request<void>('DELETE', sourcePath(p, s)),
  /** Connects and checks the user without saving; `form.name` of a saved source without a password uses the stored one. */
  testSource: (p: string, form: SourceForm) => request<SourceTest>('POST', `${projectPath(p)}/sources/test`, { json: form }),
  sourceTables: (p: string, s: string) => request<SourceTable[]>('GET', `${sourcePath(p, s)}/tables`),
  sourceTable: (p: string, s: string, schema: string, t: string) =>
    request<SourceTableDetail>('GET', `${sourcePath(p, s)}/tables/${enc(schema)}/${enc(t)}`),
  sourceRows: (p: string, s: string, schema: string, t: string, page: { offset: number; limit: number; sort?: string; order?: 'asc' | 'desc' }) =>
    request<Rows>('GET', `${sourcePath(p, s)}/tables/${enc(schema)}/${enc(t)}/rows?${pageQuery(page)}`),

  scripts: (p: string) => request<JobScript[]>('GET', `${projectPath(p)}/scripts`),
  script: (p: string, s: string) => request<JobScriptDetail>('GET', scriptPath(p, s)),
  createScript: (p: string, name: string, source: string) =>
    request<JobScript>('POST', `${projectPath(p)}/scripts`, { json: { name, source } }),
  /** Saves the script's next version. */
  saveScript: (p: string, s: string, source: string) => request<JobScript>('PUT', scriptPath(p, s), { json: { source } }),
  /** Runs a script, saved or not, on the first 100 rows of a table; writes nothing. */
  tryScript: (p: string, source: string, table: string) =>
    request<ScriptTrial>('POST', `${projectPath(p)}/scripts/try`, { json: { source, table } }),
  jobs: (p: string, filter: { status?: string; table?: string } = {}) => {
    const q = new URLSearchParams();
    if (filter.status) q.set('status', filter.status);
    if (filter.table) q.set('table', filter.table);
    const query = q.toString();
    return request<Job[]>('GET', `${projectPath(p)}/jobs${query ? `?${query}` : ''}`);
  },
  job: (p: string, j: string) => request<Job>('GET', jobPath(p, j)),
  createJob: (p: string, form: JobForm) => request<Job>('POST', `${projectPath(p)}/jobs`, { json: form }),
  cancelJob: (p: string, j: string) => request<Job>('POST', `${jobPath(p, j)}/cancel`),
  schedules: (p: string) => request<JobSchedule[]>('GET', `${projectPath(p)}/schedules`),
  createSchedule: (p: string, form: ScheduleForm) =>
    request<JobSchedule>('POST', `${projectPath(p)}/schedules`, { json: form }),
  deleteSchedule: (p: string, id: string) => request<void>('DELETE', `${projectPath(p)}/schedules/${enc(id)}`),

  workspaces: (p: string) => request<Workspace[]>('GET', `${projectPath(p)}/workspaces`),
  workspace: (p: string, w: string) => request<Workspace>('GET', workspacePath(p, w)),
  /** An empty workspace, or one holding the files of `zip`, or a copy of a template's. */
  createWorkspace: (p: string, name: string, from: { zip?: File; templateId?: string } = {}) => {
    const { zip, templateId } = from;
    if (!zip) {
      const json = templateId ? { name, template_id: templateId } : { name };
      return request<Workspace>('POST', `${projectPath(p)}/workspaces`, { json });
    }
    const form = new FormData();
    form.append('name', name);
    form.append('file', zip, zip.name);
    return request<Workspace>('POST', `${projectPath(p)}/workspaces`, { form });
  },
  deleteWorkspace: (p: string, w: string) => request<void>('DELETE', workspacePath(p, w)),
  /** Starts the workspace's sandbox; answers once it is ready. */
  startWorkspace: (p: string, w: string) => request<Workspace>('POST', `${workspacePath(p, w)}/start`),
  /** Stops the sandbox; the files stay. */
  stopWorkspace: (p: string, w: string) => request<Workspace>('POST', `${workspacePath(p, w)}/stop`),
  workspaceTerminals: (p: string, w: string) => request<WorkspaceTerminal[]>('GET', `${workspacePath(p, w)}/terminals`),
  /** Ends a terminal's shell. */
  closeTerminal: (p: string, w: string, n: number) => request<void>('DELETE', `${workspacePath(p, w)}/terminals/${n}`),
  workspaceFiles: (p: string, w: string, after = '') =>
    request<WorkspaceFilePage>('GET', `${workspacePath(p, w)}/files?limit=1000&after=${enc(after)}`),
  readFile,
  writeFile,
  moveFile: (p: string, w: string, from: string, to: string) =>
    request<{ files: number }>('POST', `${workspacePath(p, w)}/move`, { json: { from, to } }),
  deleteFile: (p: string, w: string, path: string) => request<{ files: number }>('DELETE', filePath(p, w, path)),
  workspaceZipUrl: (p: string, w: string) => `${workspacePath(p, w)}/download`,

  templates: (p: string) => request<Template[]>('GET', `${projectPath(p)}/templates`),
  /** A template holding a snapshot of one of the caller's workspaces. */
  createTemplateFromWorkspace: (p: string, name: string, description: string, workspaceId: string) =>
    request<Template>('POST', `${projectPath(p)}/templates`, { json: { name, description, workspace_id: workspaceId } }),
  /** A template holding the files of a `.zip`. */
  createTemplateFromZip: (p: string, name: string, description: string, zip: File) => {
    const form = new FormData();
    form.append('name', name);
    if (description) form.append('description', description);
    form.append('file', zip, zip.name);
    return request<Template>('POST', `${projectPath(p)}/templates`, { form });
  },
  deleteTemplate: (p: string, t: string) => request<void>('DELETE', `${projectPath(p)}/templates/${enc(t)}`),

  /** Hands the workspace's files in for review (its owner only). */
  submitWorkspace: (p: string, w: string, message: string) =>
    request<Submission>('POST', `${workspacePath(p, w)}/submissions`, { json: { message } }),
  workspaceSubmissions: (p: string, w: string) => request<Submission[]>('GET', `${workspacePath(p, w)}/submissions`),
  /** The latest submission of a workspace that was not withdrawn, with its threads, for the IDE. */
  workspaceReview: (p: string, w: string) => request<WorkspaceReview>('GET', `${workspacePath(p, w)}/review`),
  /** The project's submissions, newest first: all of them for reviewers, one's own for editors. */
  submissions: (p: string, filter: SubmissionFilter = {}) => {
    const q = new URLSearchParams();
    if (filter.status) q.set('status', filter.status);
    if (filter.learner) q.set('learner', filter.learner);
    if (filter.template) q.set('template', filter.template);
    const query = q.toString();
    return request<Submission[]>('GET', `${projectPath(p)}/submissions${query ? `?${query}` : ''}`);
  },
  submission: (p: string, s: string) => request<Submission>('GET', submissionPath(p, s)),
  withdrawSubmission: (p: string, s: string) => request<Submission>('POST', `${submissionPath(p, s)}/withdraw`),
  reviewSubmission: (p: string, s: string, verdict: ReviewVerdict, summary: string) =>
    request<Submission>('POST', `${submissionPath(p, s)}/review`, { json: { verdict, summary } }),
  submissionDiff: (p: string, s: string) => request<Diff>('GET', `${submissionPath(p, s)}/diff`),
  /** The submission's threads, with those carried from earlier submissions of its workspace. */
  threads: (p: string, s: string) => request<Thread[]>('GET', `${submissionPath(p, s)}/comments`),
  createThread: (p: string, s: string, anchor: ThreadAnchor, body: string) =>
    request<Thread>('POST', `${submissionPath(p, s)}/comments`, { json: { ...anchor, body } }),
  replyToThread: (p: string, t: string, body: string) => request<Thread>('POST', `${threadPath(p, t)}/replies`, { json: { body } }),
  resolveThread: (p: string, t: string, resolved: boolean) =>
    request<Thread>('POST', `${threadPath(p, t)}/resolve`, { json: { resolved } }),

  notifications: () => request<Notification[]>('GET', '/api/v1/notifications'),
  markNotificationRead: (id: string) => request<void>('POST', `/api/v1/notifications/${enc(id)}/read`),
  markAllNotificationsRead: () => request<void>('POST', '/api/v1/notifications/read'),

  packages: () => request<Package[]>('GET', '/api/v1/packages'),
  addPackage: (name: string, maxVersion?: string) =>
    request<Package>('POST', '/api/v1/packages', { json: { name, max_version: maxVersion || null } }),
  removePackage: (name: string) => request<void>('DELETE', `/api/v1/packages/${enc(name)}`),

  users: () => request<User[]>('GET', '/api/v1/users'),
  createUser: (u: { name: string; email: string; password: string; is_admin: boolean }) =>
    request<User>('POST', '/api/v1/users', { json: u }),
};

/** Where to stream a job's log from (Server-Sent Events). */
export const jobLogUrl = (p: string, j: string) => `${jobPath(p, j)}/log`;
/** Where to stream a build's log from (Server-Sent Events). */
export const buildLogUrl = (p: string, a: string, build: string) => `${appPath(p, a)}/builds/${enc(build)}/log`;
/** Where to stream an app's output from (Server-Sent Events). */
export const appLogsUrl = (p: string, a: string) => `${appPath(p, a)}/logs`;
/** The server route that mints a view ticket and redirects to the app. */
export const openAppUrl = (a: string) => `/api/v1/apps/${enc(a)}/open`;
/** Where a version's bundle can be downloaded. */
export const downloadVersionUrl = (p: string, a: string, n: number) => `${appPath(p, a)}/versions/${n}/download`;

/** Where terminal `n`'s WebSocket is: same origin, `from` the last output offset seen (none for a new page). */
export function terminalUrl(p: string, w: string, n: number, from?: number | null, cols?: number, rows?: number): string {
  const q = new URLSearchParams();
  if (from !== undefined && from !== null) q.set('from', String(from));
  if (cols) q.set('cols', String(cols));
  if (rows) q.set('rows', String(rows));
  const query = q.toString();
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}${workspacePath(p, w)}/terminals/${n}${query ? `?${query}` : ''}`;
}

/** The request body for a new app or version: JSON for code and templates, multipart for files. */
export function sourceBody(
  source: AppSource,
  meta: { name?: string; description?: string },
): { json?: unknown; form?: FormData } {
  if (source.kind === 'file') {
    const form = new FormData();
    if (meta.name !== undefined) form.append('name', meta.name);
    if (meta.description !== undefined) form.append('description', meta.description);
    form.append('file', source.file, source.file.name);
    return { form };
  }
  const json: Record<string, string> = {};
  if (meta.name !== undefined) json.name = meta.name;
  if (meta.description !== undefined) json.description = meta.description;
  if (source.kind === 'code') json.code = source.code;
  else json.template = source.template;
  return { json };
}
