// Wire types of the Burrow REST API. The shapes come from `schema.ts`, which
// `scripts/web-types.sh` generates from the server's OpenAPI document, so a field the
// server renames, drops or retypes fails the type check here. Where the document says
// only `string` for a field that holds one of a few values, the UI narrows it
// (`Narrowed`, which refuses a field the document does not have). Request shapes the
// UI builds itself (forms, an app's source) are written out below.
import type { components } from './schema';

type Schemas = components['schemas'];
/** `T` with some of its own fields given narrower types. */
type Narrowed<T, N extends { [K in keyof N]: K extends keyof T ? unknown : never }> = Omit<T, keyof N> & N;

export type Role = Schemas['Role'];
export type AppStatus = Schemas['AppStatusDto'];
export type BuildStatus = Schemas['BuildStatusDto'];
/** A workspace's sandbox: the same steps as an app's. */
export type WorkspaceStatus = AppStatus;

export type User = Schemas['UserDto'];
export type Session = Schemas['SessionDto'];
export type Project = Schemas['ProjectDto'];
export type Member = Schemas['MemberDto'];
export type Finding = Schemas['FindingDto'];
export type Person = Schemas['PersonDto'];
export type App = Schemas['AppDto'];
export type Build = Schemas['BuildDto'];
export type Version = Schemas['VersionDto'];
export type AppDetail = Schemas['AppDetailDto'];
export type Package = Schemas['PackageDto'];
export type ErrorInfo = Schemas['ErrorInfo'];
export type ErrorBody = Schemas['ErrorBody'];

/** What a new app or version is made from. */
export type AppSource =
  | { kind: 'code'; code: string }
  | { kind: 'template'; template: string }
  | { kind: 'file'; file: File };

export type UpdateApp = Schemas['UpdateAppRequest'];

export type EgressPolicy = Schemas['PolicyName'];
/** What an app's sandbox may reach through the egress proxy. */
export type Network = Schemas['NetworkDto'];
/** An app's secret as editors see it: never its value. */
export type Secret = Schemas['SecretDto'];
/** What became of one request an app's sandbox made through the egress proxy. */
export type EgressDecision = Narrowed<Schemas['EgressDecisionDto'], { verdict: 'allowed' | 'denied' | 'limited' | 'failed' }>;

/** A table column's type. */
export type ColumnType = 'integer' | 'float' | 'boolean' | 'text' | 'date' | 'timestamp';
export const COLUMN_TYPES: ColumnType[] = ['integer', 'float', 'boolean', 'text', 'date', 'timestamp'];

export type Column = Schemas['ColumnDto'];
/** A project table and its current version. */
export type DataTable = Narrowed<Schemas['TableDto'], { origin: 'upload' | 'sample' | 'job' }>;
/** Rows as text (null for null), with their columns. */
export type Rows = Schemas['RowsDto'];
export type QueryResult = Schemas['QueryResultDto'];

/** TLS for a data source's connection. */
export type TlsMode = 'disable' | 'prefer' | 'require' | 'verify-full';
export const TLS_MODES: TlsMode[] = ['disable', 'prefer', 'require', 'verify-full'];

/** An external PostgreSQL source; its password never comes back. */
export type DataSource = Narrowed<Schemas['SourceDto'], { tls_mode: TlsMode }>;

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

export type SourceTest = Schemas['TestResultDto'];
export type SourceTable = Schemas['SourceTableDto'];
export type SourceTableDetail = Schemas['SourceTableDetailDto'];

/** A job script, with its newest version's source. */
export type JobScript = Schemas['ScriptDto'];
export type ScriptVersion = Schemas['ScriptVersionDto'];
export type JobScriptDetail = Schemas['ScriptDetailDto'];

export type JobStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type JobMode = 'create' | 'replace' | 'append';
export const JOB_MODES: JobMode[] = ['create', 'replace', 'append'];

/** A transform job: a script version run from one project table into another. */
export type Job = Narrowed<Schemas['JobDto'], { status: JobStatus; mode: JobMode }>;
/** A job definition run at each tick of a cron expression (UTC). */
export type JobSchedule = Narrowed<Schemas['ScheduleDto'], { mode: JobMode }>;

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
export type ScriptTrial = Schemas['TryDto'];

/** A person's workspace: files kept by Burrow, and the sandbox that runs them. */
export type Workspace = Narrowed<Schemas['WorkspaceDto'], { status: WorkspaceStatus }>;
/** A terminal of a workspace, as the page reopens it after a reload. */
export type WorkspaceTerminal = Schemas['TerminalDto'];
/** A file as the workspace's tree lists it. */
export type WorkspaceFile = Schemas['FileDto'];
export type WorkspaceFilePage = Schemas['FilePage'];

/** A file's text and the version it was read at. */
export interface FileText {
  text: string;
  version: number;
  /** Not UTF-8 text: shown as such, never edited (a save would mangle it). */
  binary: boolean;
}

/** A workspace's files kept for learners to start from. */
export type Template = Schemas['TemplateDto'];

export type SubmissionStatus = 'submitted' | 'changes_requested' | 'approved' | 'superseded' | 'withdrawn';
export const SUBMISSION_STATUSES: SubmissionStatus[] = ['submitted', 'changes_requested', 'approved', 'superseded', 'withdrawn'];

/** What a submission's diff is against: its template, an earlier submission (by seq), or nothing. */
export type DiffBase = Narrowed<Schemas['BaseDto'], { kind: 'template' | 'submission' | 'empty' }>;
/** A snapshot of a workspace handed in for review, and its last review. */
export type Submission = Narrowed<Schemas['SubmissionDto'], { status: SubmissionStatus; base: DiffBase }>;

export type ReviewVerdict = 'approved' | 'changes_requested';

/** One line of a file's diff; `old` is set for context and removed lines, `new` for context and added ones. */
export type DiffLine = Narrowed<Schemas['DiffLineDto'], { kind: 'context' | 'added' | 'removed' }>;

export type FileDiffStatus = 'added' | 'removed' | 'modified' | 'renamed' | 'unchanged';

export type FileDiff = Narrowed<Schemas['FileDiffDto'], { status: FileDiffStatus; lines?: DiffLine[] | null }>;
export type Diff = Narrowed<Schemas['DiffDto'], { base: DiffBase; files: FileDiff[] }>;

export type Side = 'old' | 'new';

export type Comment = Schemas['CommentDto'];
/** Comments on a range of lines of one side of a file, oldest first. */
export type Thread = Narrowed<Schemas['ThreadDto'], { side: Side }>;

/** Where a new thread is anchored. */
export interface ThreadAnchor {
  path: string;
  side: Side;
  line_start: number;
  line_end: number;
}

/** A thread with where its first line is in the workspace's file now (null once those lines changed). */
export type WorkspaceThread = Narrowed<Schemas['PlacedThreadDto'], { side: Side }>;
/** The IDE's review panel: the latest submission that was not withdrawn, and its threads. */
export type WorkspaceReview = Narrowed<Schemas['WorkspaceReviewDto'], { submission?: Submission | null; threads: WorkspaceThread[] }>;

export type NotificationKind = 'app_crashed' | 'submission_made' | 'submission_reviewed';

export type Notification = Narrowed<Schemas['NotificationDto'], { kind: NotificationKind }>;
