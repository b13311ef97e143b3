// Wire types of the Burrow REST API (mirrors crates/burrow-api/src/dto.rs).

export type Role = 'owner' | 'reviewer' | 'editor' | 'viewer';
export type AppStatus = 'stopped' | 'starting' | 'running' | 'stopping' | 'error';
export type BuildStatus = 'queued' | 'running' | 'succeeded' | 'failed';
/** A workspace's sandbox: the same steps as an app's. */
export type WorkspaceStatus = AppStatus;

export interface User {
  id: string;
  email: string;
  name: string;
  is_admin: boolean;
  created_at: string;
}

export interface Session {
  token: string;
  expires_at: string;
  user: User;
}

export interface Project {
  id: string;
  name: string;
  role: Role;
  created_at: string;
  updated_at: string;
}

export interface Member {
  user_id: string;
  email: string;
  name: string;
  role: Role;
  added_at: string;
}

export interface Finding {
  file?: string | null;
  line?: number | null;
  message: string;
}

export interface Person {
  id: string;
  name: string;
}

export interface App {
  id: string;
  project_id: string;
  name: string;
  description: string;
  status: AppStatus;
  active_version: number | null;
  running_version?: number | null;
  cpus: number;
  memory_mb: number;
  idle_timeout_secs: number;
  network: Network;
  /** What the proxy enforces instead, when the instance now allows less than was chosen. */
  network_enforced?: Network | null;
  restart_count: number;
  last_error: string | null;
  url: string;
  created_by: Person | null;
  created_at: string;
  updated_at: string;
}

export interface Build {
  id: string;
  status: BuildStatus;
  error: string | null;
  environment: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface Version {
  number: number;
  sha256: string;
  packages: string[];
  inferred: boolean;
  warnings: Finding[];
  active: boolean;
  build: Build;
  created_by: Person | null;
  created_at: string;
}

export interface AppDetail extends App {
  versions: Version[];
}

export interface Package {
  name: string;
  max_version?: string | null;
  added_at: string;
  added_by?: string | null;
}

export interface ErrorInfo {
  code: string;
  message: string;
  field?: string | null;
  details?: Finding[];
}

export interface ErrorBody {
  error: ErrorInfo;
}

/** What a new app or version is made from. */
export type AppSource =
  | { kind: 'code'; code: string }
  | { kind: 'template'; template: string }
  | { kind: 'file'; file: File };

export interface UpdateApp {
  name?: string;
  description?: string;
  cpus?: number;
  memory_mb?: number;
  idle_timeout_secs?: number;
  network?: Network;
}

export type EgressPolicy = 'none' | 'allowlist' | 'public';

/** What an app's sandbox may reach through the egress proxy. */
export interface Network {
  policy: EgressPolicy;
  domains: string[];
}

/** What became of one request an app's sandbox made through the egress proxy. */
/** An app's secret as editors see it: never its value. */
export interface Secret {
  name: string;
  /** Milliseconds since the epoch. */
  updated_at: number;
  updated_by?: string;
}

export interface EgressDecision {
  at: string;
  method: string;
  host: string;
  port: number;
  address: string | null;
  verdict: 'allowed' | 'denied' | 'limited' | 'failed';
  reason: string;
  bytes_out: number;
  bytes_in: number;
  duration_ms: number;
}

/** A table column's type. */
export type ColumnType = 'integer' | 'float' | 'boolean' | 'text' | 'date' | 'timestamp';
export const COLUMN_TYPES: ColumnType[] = ['integer', 'float', 'boolean', 'text', 'date', 'timestamp'];

export interface Column {
  name: string;
  type: ColumnType | string;
}

/** A project table and its current version. */
export interface DataTable {
  id: string;
  name: string;
  columns: Column[];
  rows: number;
  size_bytes: number;
  version: string;
  origin: 'upload' | 'sample' | 'job';
  created_by: string | null;
  creator_name: string | null;
  created_at: string;
  updated_at: string;
}

/** Rows as text (null for null), with their columns. */
export interface Rows {
  columns: Column[];
  rows: (string | null)[][];
}

export interface QueryResult extends Rows {
  row_count: number;
  shown: number;
  elapsed_ms: number;
}

/** TLS for a data source's connection. */
export type TlsMode = 'disable' | 'prefer' | 'require' | 'verify-full';
export const TLS_MODES: TlsMode[] = ['disable', 'prefer', 'require', 'verify-full'];

/** An external PostgreSQL source; its password never comes back. */
export interface DataSource {
  id: string;
  name: string;
  host: string;
  port: number;
  database: string;
  user: string;
  tls_mode: TlsMode;
  destination: boolean;
  created_at: string;
  updated_at: string;
}

/** What an owner enters for a source; no password keeps (or tests with) the stored one. */
export interface SourceForm {
  name?: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  tls_mode: TlsMode;
  destination: boolean;
}

export interface SourceTest {
  server_version: string;
  tls: boolean;
  tables: number;
}

export interface SourceTable {
  schema: string;
  name: string;
  kind: string;
  rows_estimate: number | null;
}

export interface SourceTableDetail {
  schema: string;
  name: string;
  columns: Column[];
}

/** A job script, with its newest version's source. */
export interface JobScript {
  id: string;
  name: string;
  version: number;
  source: string;
  created_at: string;
  updated_at: string;
}

export interface ScriptVersion {
  version: number;
  source: string;
  created_by: string | null;
  created_at: string;
}

export interface JobScriptDetail extends JobScript {
  versions: ScriptVersion[];
}

export type JobStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type JobMode = 'create' | 'replace' | 'append';
export const JOB_MODES: JobMode[] = ['create', 'replace', 'append'];

/** A transform job: a script version run from one project table into another. */
export interface Job {
  id: string;
  script: string;
  script_version: number;
  /** A project table, or `schema.table` on `source_database`. */
  source: string;
  source_database: string | null;
  destination: string;
  destination_database: string | null;
  mode: JobMode;
  status: JobStatus;
  rows_read: number;
  rows_written: number;
  chunks: number;
  error: string | null;
  traceback: string | null;
  created_by: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  /** The most memory its sandbox used, once it ended. */
  peak_memory_bytes: number | null;
  /** The schedule that made it, and the tick it ran for. */
  schedule_id: string | null;
  scheduled_for: string | null;
}

/** A job definition run at each tick of a cron expression (UTC). */
export interface JobSchedule {
  id: string;
  script: string;
  source: string;
  source_database: string | null;
  destination: string;
  destination_database: string | null;
  mode: JobMode;
  cron: string;
  next_run: string;
  last_job_id: string | null;
  created_by: string | null;
  created_at: string;
}

export interface ScheduleForm {
  script: string;
  source: string;
  source_database?: string;
  destination: string;
  destination_database?: string;
  mode: JobMode;
  cron: string;
}

export interface JobForm {
  script: string;
  version?: number;
  source: string;
  source_database?: string;
  destination: string;
  destination_database?: string;
  mode: JobMode;
}

/** What a script did to a table's first 100 rows: before, and after or why not. */
export interface ScriptTrial {
  before: Rows;
  after: Rows | null;
  output: string;
  error: string | null;
  traceback: string | null;
}

/** A person's workspace: files kept by Burrow, and the sandbox that runs them. */
export interface Workspace {
  id: string;
  name: string;
  owner: string | null;
  files: number;
  bytes: number;
  created_at: string;
  updated_at: string;
  status: WorkspaceStatus;
  /** Why the last start failed. */
  error: string | null;
  /** Times below are ms since the epoch. */
  started_at: number | null;
  /** The last input of a person: keystroke, save, run, file operation. */
  last_active_at: number | null;
  /** When it stops for idleness unless there is input (running only). */
  idle_stops_at: number | null;
  /** When its maximum lifetime ends it (running only). */
  stops_at: number | null;
  /** Files the sandbox made that Burrow refused to keep, with why. */
  sync_problems: string[];
  /** The template it was made from, if any (its name, or null once deleted). */
  template_id?: string | null;
  template?: string | null;
}

/** A terminal of a workspace, as the page reopens it after a reload. */
export interface WorkspaceTerminal {
  id: number;
  running: boolean;
}

/** A file as the workspace's tree lists it. */
export interface WorkspaceFile {
  path: string;
  size: number;
  sha256: string;
  version: number;
  updated_by: string | null;
  updated_at: string;
}

export interface WorkspaceFilePage {
  files: WorkspaceFile[];
  next: string | null;
}

/** A file's text and the version it was read at. */
export interface FileText {
  text: string;
  version: number;
  /** Not UTF-8 text: shown as such, never edited (a save would mangle it). */
  binary: boolean;
}

/** A workspace's files kept for learners to start from. */
export interface Template {
  id: string;
  name: string;
  description: string;
  files: number;
  bytes: number;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export type SubmissionStatus = 'submitted' | 'changes_requested' | 'approved' | 'superseded' | 'withdrawn';
export const SUBMISSION_STATUSES: SubmissionStatus[] = ['submitted', 'changes_requested', 'approved', 'superseded', 'withdrawn'];

/** What a submission's diff is against: its template, an earlier submission (by seq), or nothing. */
export interface DiffBase {
  kind: 'template' | 'submission' | 'empty';
  seq: number | null;
}

/** A snapshot of a workspace handed in for review, and its last review. */
export interface Submission {
  id: string;
  project_id: string;
  workspace_id: string;
  workspace: string;
  learner_id: string;
  learner: string | null;
  /** 1, 2, 3… per workspace. */
  seq: number;
  message: string;
  status: SubmissionStatus;
  template_id: string | null;
  template: string | null;
  base: DiffBase;
  files: number;
  bytes: number;
  created_at: string;
  reviewed_by: string | null;
  reviewed_at: string | null;
  summary: string | null;
  /** Whether it may take a verdict: not superseded or withdrawn, and the newest of its workspace's not withdrawn. */
  live: boolean;
}

export type ReviewVerdict = 'approved' | 'changes_requested';

/** One line of a file's diff; `old` is set for context and removed lines, `new` for context and added ones. */
export interface DiffLine {
  kind: 'context' | 'added' | 'removed';
  old: number | null;
  new: number | null;
  text: string;
}

export type FileDiffStatus = 'added' | 'removed' | 'modified' | 'renamed' | 'unchanged';

export interface FileDiff {
  /** The path in this submission (the old path for a removed file). */
  path: string;
  old_path: string | null;
  status: FileDiffStatus;
  /** Binary or too large: no lines, only sizes. */
  binary: boolean;
  old_size: number | null;
  new_size: number | null;
  additions: number;
  deletions: number;
  /** The whole file with its changes marked, or null when binary. */
  lines: DiffLine[] | null;
}

export interface Diff {
  base: DiffBase;
  files: FileDiff[];
}

export type Side = 'old' | 'new';

export interface Comment {
  id: string;
  author: string | null;
  author_id: string | null;
  body: string;
  created_at: string;
}

/** Comments on a range of lines of one side of a file, oldest first. */
export interface Thread {
  id: string;
  /** The submission it was made on, and that submission's seq. */
  submission_id: string;
  seq: number;
  path: string;
  side: Side;
  line_start: number;
  line_end: number;
  /** Made on an earlier submission; its lines are unchanged since. */
  carried: boolean;
  resolved: boolean;
  comments: Comment[];
}

/** Where a new thread is anchored. */
export interface ThreadAnchor {
  path: string;
  side: Side;
  line_start: number;
  line_end: number;
}

/** A thread with where its first line is in the workspace's file now (null once those lines changed). */
export interface WorkspaceThread extends Thread {
  current_line: number | null;
}

/** The IDE's review panel: the latest submission that was not withdrawn, and its threads. */
export interface WorkspaceReview {
  submission: Submission | null;
  threads: WorkspaceThread[];
}

export type NotificationKind = 'app_crashed' | 'submission_made' | 'submission_reviewed';

export interface Notification {
  id: string;
  kind: NotificationKind;
  project_id: string | null;
  app_id: string | null;
  /** A dashboard path, e.g. /projects/{p}/submissions/{s}. */
  link: string | null;
  message: string;
  created_at: string;
  read: boolean;
}
