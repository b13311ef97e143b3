// One workspace: its files on the left, the open file in the editor on the right, its
// terminals below. Saving names the version the file was read at; if it changed meanwhile
// (another tab, another save), the page says so and offers to reload it or to overwrite it.
// Opening the page starts the workspace's sandbox; files its programs write show up in the tree.
// Its owner submits it for review; the review side shows the latest submission's comment threads,
// and the editor marks the lines they are on.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api, FileChanged } from '../api/endpoints';
import type { Thread, Workspace, WorkspaceFile, WorkspaceStatus, WorkspaceThread } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { useNow } from '../hooks/useNow';
import { Button, ButtonAnchor } from '../components/Button';
import { CodeEditor } from '../components/CodeEditorLazy';
import { Terminal, type TerminalHandle, type TerminalState } from '../components/TerminalLazy';
import { FileTree } from '../components/FileTree';
import { FormError } from '../components/Field';
import { ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton, Spinner } from '../components/Spinner';
import { StatusBadge } from '../components/StatusBadge';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { ApiError, errorMessage } from '../api/client';
import { runCommand } from '../lib/terminalProtocol';
import { canReview } from '../lib/roles';
import { ReviewPanel, SubmitDialog, commentMarks } from './workspaces/ReviewPanel';

const MAX_TERMINALS = 8;
/** Warn this long before the workspace stops. */
const WARN_MS = 5 * 60_000;

interface OpenFile {
  path: string;
  /** The version it was read or last saved at. */
  version: number;
  saved: string;
  text: string;
  /** Not UTF-8 text: not editable here. */
  binary: boolean;
}

const isPython = (path: string) => path.toLowerCase().endsWith('.py');

/** Typed into a terminal by Rebuild packages: kept packages go, requirements.txt's come. */
const REBUILD_PACKAGES = 'cd ~/work && rm -rf ~/packages && pip install -r requirements.txt\r';

/** Warnings that the workspace stops soon: for idleness, or at the end of its lifetime. */
export function stopWarnings(w: Workspace, now: number): string[] {
  if (w.status !== 'running') return [];
  // The API gives times as RFC 3339 text.
  const ms = (at: string | null) => (at === null ? null : Date.parse(at));
  const [idleStops, stops, started] = [ms(w.idle_stops_at), ms(w.stops_at), ms(w.started_at)];
  const minutes = (at: number) => `${Math.max(1, Math.ceil((at - now) / 60_000))} min`;
  const out: string[] = [];
  const idleFirst = idleStops !== null && (stops === null || idleStops <= stops);
  if (idleStops !== null && idleFirst && idleStops - now < WARN_MS) {
    out.push(
      `This workspace stops in ${minutes(idleStops)}: nobody has used it for a while. Type anything in a terminal, or save a file, to keep it.`,
    );
  }
  if (stops !== null && stops - now < WARN_MS) {
    const hours = started !== null ? Math.round((stops - started) / 3_600_000) : 0;
    const limit = hours > 0 ? ` (${hours}-hour limit)` : '';
    out.push(`This workspace stops in ${minutes(stops)}${limit}; your files are kept.`);
  }
  return out;
}

/** Every file of the workspace, page after page. */
async function allFiles(project: string, workspace: string): Promise<WorkspaceFile[]> {
  const files: WorkspaceFile[] = [];
  let after = '';
  for (;;) {
    const page = await api.workspaceFiles(project, workspace, after);
    files.push(...page.files);
    if (!page.next) return files;
    after = page.next;
  }
}

export function WorkspacePage() {
  const { project } = useProject();
  const { workspaceId = '' } = useParams();
  const toast = useToast();
  const uploadInput = useRef<HTMLInputElement>(null);
  const {
    data: workspace,
    error,
    reload: refreshWorkspace,
    setData: setWorkspace,
  } = useApi(`workspace:${project.id}:${workspaceId}`, () => api.workspace(project.id, workspaceId), 10_000);
  // The page starts the workspace as it opens: starting until that is asked.
  const [starting, setStarting] = useState(true);
  const [stopping, setStopping] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);
  const status: WorkspaceStatus | undefined = starting ? 'starting' : stopping ? 'stopping' : workspace && (workspace.status ?? 'stopped');
  const running = status === 'running';
  const { data: files, reload } = useApi(
    `workspace-files:${project.id}:${workspaceId}`,
    () => allFiles(project.id, workspaceId),
    running ? 3_000 : undefined,
  );
  useDocumentTitle(workspace?.name ?? 'Workspace', project.name);
  // Only its owner submits it: the caller's own workspaces are those the list shows.
  const { data: mine } = useApi(`my-workspaces:${project.id}`, () => api.workspaces(project.id));
  const isOwner = mine?.some((w) => w.id === workspaceId) ?? false;
  const {
    data: review,
    error: reviewError,
    reload: refreshReview,
    setData: setReview,
  } = useApi(`workspace-review:${project.id}:${workspaceId}`, () => api.workspaceReview(project.id, workspaceId), 30_000);
  const [submitting, setSubmitting] = useState(false);
  /** Where a thread chosen in the review side wants the editor: that file, at that line. */
  const [reveal, setReveal] = useState<{ path: string; line: number; key: number } | null>(null);
  const now = useNow(10_000);
  /** The file in front, in the editor. */
  const [open, setOpen] = useState<OpenFile | null>(null);
  /** The editor's tabs, by path, in order: the one in front and the others. */
  const [tabs, setTabs] = useState<string[]>([]);
  /** The files open in tabs behind, as they were left (unsaved text included). */
  const [behind, setBehind] = useState<Record<string, OpenFile>>({});
  const [changed, setChanged] = useState<FileChanged | null>(null);
  const [saving, setSaving] = useState(false);
  const [newPath, setNewPath] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const dirty = open !== null && open.text !== open.saved;
  const unsavedBehind = Object.values(behind).filter((f) => f.text !== f.saved);
  const anyDirty = dirty || unsavedBehind.length > 0;
  const openRef = useRef(open);
  openRef.current = open;
  const savingNow = useRef(false);
  /** A move in progress: the tree may miss the open file for a moment. */
  const moving = useRef(false);
  /** The open file's version being fetched after it changed in the workspace. */
  const refreshing = useRef<string | null>(null);

  const start = useCallback(async () => {
    setStarting(true);
    setStartError(null);
    try {
      setWorkspace(await api.startWorkspace(project.id, workspaceId));
    } catch (e) {
      setStartError(errorMessage(e));
      void refreshWorkspace();
    } finally {
      setStarting(false);
    }
  }, [project.id, workspaceId, setWorkspace, refreshWorkspace]);

  const stop = async () => {
    setStopping(true);
    try {
      setWorkspace(await api.stopWorkspace(project.id, workspaceId));
    } catch (e) {
      toast.error(e);
      void refreshWorkspace();
    } finally {
      setStopping(false);
    }
  };

  // Start it once, when the page first has it.
  const autoStarted = useRef<string | null>(null);
  const loaded = workspace !== undefined;
  const alreadyRunning = workspace?.status === 'running';
  useEffect(() => {
    if (!loaded || autoStarted.current === workspaceId) return;
    autoStarted.current = workspaceId;
    if (alreadyRunning) setStarting(false);
    else void start();
  }, [loaded, alreadyRunning, start, workspaceId]);

  // Leaving the page with unsaved text in any tab asks first.
  useEffect(() => {
    if (!anyDirty) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [anyDirty]);

  /** Puts `file` in front, keeping the one there in its tab behind. */
  const toFront = (file: OpenFile) => {
    const current = openRef.current;
    setBehind(({ [file.path]: _, ...rest }) => (current && current.path !== file.path ? { ...rest, [current.path]: current } : rest));
    setTabs((cur) => (cur.includes(file.path) ? cur : [...cur, file.path]));
    setOpen(file);
    setChanged(null);
  };

  /** Opens `path` in a tab, or brings its tab to the front. */
  const openFile = async (path: string) => {
    setProblem(null);
    setNotice(null);
    if (open?.path === path) return;
    const kept = behind[path];
    // A tab with unsaved text comes back as it was left; the save says if it changed.
    if (kept && kept.text !== kept.saved) {
      toFront(kept);
      return;
    }
    try {
      const file = await api.readFile(project.id, workspaceId, path);
      toFront({ path, version: file.version, saved: file.text, text: file.text, binary: file.binary });
    } catch (e) {
      if (e instanceof ApiError && e.isNotFound) {
        forgetTabs((p) => p === path);
        setNotice(`${path} was deleted or moved in the workspace.`);
        void reload();
      } else {
        setProblem((e as Error).message);
      }
    }
  };

  /** Closes the tab of `path` (asking first if its text is unsaved); the next tab comes to the front. */
  const closeTab = (path: string) => {
    const file = open?.path === path ? open : behind[path];
    if (file && file.text !== file.saved && !window.confirm(`${path} has unsaved changes. Close it anyway?`)) return;
    const i = tabs.indexOf(path);
    const rest = tabs.filter((t) => t !== path);
    setTabs(rest);
    setBehind(({ [path]: _, ...others }) => others);
    if (open?.path === path) {
      setOpen(null);
      setChanged(null);
      // The closed file is not kept behind by what comes to the front next.
      openRef.current = null;
      const next = rest[Math.min(i, rest.length - 1)];
      if (next) void openFile(next);
    }
  };

  /** Tabs of files that are gone (deleted, here or in the workspace) close without asking. */
  const forgetTabs = (gone: (path: string) => boolean) => {
    setTabs((cur) => cur.filter((t) => !gone(t)));
    setBehind((cur) => Object.fromEntries(Object.entries(cur).filter(([p]) => !gone(p))));
    setOpen((cur) => (cur && gone(cur.path) ? null : cur));
  };

  /** Saves the open file; true once it is saved. */
  const save = useCallback(
    async (over: number | 'any' | null = open?.version ?? null): Promise<boolean> => {
      // One save at a time, and only of a text file.
      if (!open || open.binary || savingNow.current) return false;
      savingNow.current = true;
      setSaving(true);
      setProblem(null);
      const sent = { path: open.path, text: open.text };
      try {
        const version = await api.writeFile(project.id, workspaceId, sent.path, sent.text, over);
        // What was typed meanwhile stays, and stays unsaved.
        setOpen((cur) => (cur && cur.path === sent.path ? { ...cur, version, saved: sent.text } : cur));
        setChanged(null);
        void reload();
        // Threads follow their lines in the saved file.
        void refreshReview();
        return true;
      } catch (e) {
        if (e instanceof FileChanged) setChanged(e);
        else setProblem((e as Error).message);
        return false;
      } finally {
        savingNow.current = false;
        setSaving(false);
      }
    },
    [open, project.id, workspaceId, reload, refreshReview],
  );

  // Ctrl/Cmd+S saves the open file.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
        e.preventDefault();
        if (dirty) void save();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [save, dirty]);

  // The tree follows the workspace (programs in the sandbox write files too). An open file
  // that changed there is reloaded if it has no unsaved edits; if it is gone, it closes.
  // The file itself is asked first: a list that crossed a save or a new file may be stale.
  useEffect(() => {
    if (!files || !open || savingNow.current || moving.current || changed || open.text !== open.saved) return;
    const entry = files.find((f) => f.path === open.path);
    if (entry && entry.version <= open.version) return;
    const key = `${open.path}@${entry?.version ?? 'gone'}`;
    if (refreshing.current === key) return;
    refreshing.current = key;
    const { path, version } = open;
    // Only if nothing was typed, saved or opened meanwhile.
    const untouched = (cur: OpenFile | null): cur is OpenFile =>
      cur !== null && cur.path === path && cur.version === version && cur.text === cur.saved;
    api
      .readFile(project.id, workspaceId, path)
      .then((file) => {
        if (!untouched(openRef.current) || file.version <= version) return;
        const fresh = { path, version: file.version, saved: file.text, text: file.text, binary: file.binary };
        setOpen((cur) => (untouched(cur) ? fresh : cur));
      })
      .catch((e: unknown) => {
        // Anything but "not found" waits for the next poll, as does one that crossed a move.
        if (!(e instanceof ApiError && e.isNotFound) || moving.current || !untouched(openRef.current)) return;
        forgetTabs((p) => p === path);
        setNotice(`${path} was deleted or moved in the workspace.`);
      })
      .finally(() => {
        if (refreshing.current === key) refreshing.current = null;
      });
  }, [files, open, changed, project.id, workspaceId]);

  // Terminals: the tabs that exist, the one in front, and a way to type into each.
  const [terminals, setTerminals] = useState<number[]>([]);
  const [active, setActive] = useState<number | null>(null);
  /** The terminal in front: the chosen one while it exists, else the first. */
  const front = active !== null && terminals.includes(active) ? active : (terminals[0] ?? null);
  const handles = useRef(new Map<number, TerminalHandle>());
  const pending = useRef(new Map<number, { input: string[]; focus: boolean }>());
  const handleRefs = useRef(new Map<number, (h: TerminalHandle | null) => void>());

  /** A stable ref callback for terminal n: keeps its handle and flushes what waited for it. */
  const handleRef = (n: number) => {
    let fn = handleRefs.current.get(n);
    if (!fn) {
      fn = (h) => {
        if (!h) {
          handles.current.delete(n);
          return;
        }
        handles.current.set(n, h);
        const waiting = pending.current.get(n);
        pending.current.delete(n);
        for (const text of waiting?.input ?? []) h.send(text);
        if (waiting?.focus) h.focus();
      };
      handleRefs.current.set(n, fn);
    }
    return fn;
  };

  /** Types into terminal n, opening it first if needed. */
  const toTerminal = (n: number, what: { input?: string; focus?: boolean }) => {
    setTerminals((cur) => (cur.includes(n) ? cur : [...cur, n].sort((a, b) => a - b)));
    setActive(n);
    const h = handles.current.get(n);
    if (h) {
      if (what.input) h.send(what.input);
      if (what.focus) h.focus();
      return;
    }
    const waiting = pending.current.get(n) ?? { input: [], focus: false };
    if (what.input) waiting.input.push(what.input);
    waiting.focus ||= Boolean(what.focus);
    pending.current.set(n, waiting);
  };

  // A running workspace reopens the terminals it has (a reload reattaches to them), or one.
  useEffect(() => {
    if (!running) {
      setTerminals([]);
      setActive(null);
      pending.current.clear();
      return;
    }
    let gone = false;
    const show = (ids: number[]) => {
      if (gone) return;
      setTerminals((cur) => {
        const all = [...new Set([...cur, ...ids])].sort((a, b) => a - b);
        return all.length > 0 ? all : [1];
      });
    };
    api
      .workspaceTerminals(project.id, workspaceId)
      .then((list) => show(list.map((t) => t.id).filter((id) => id >= 1 && id <= MAX_TERMINALS)))
      .catch(() => show([]));
    return () => {
      gone = true;
    };
  }, [running, project.id, workspaceId]);

  const addTerminal = () => {
    const n = Array.from({ length: MAX_TERMINALS }, (_, i) => i + 1).find((id) => !terminals.includes(id));
    if (n !== undefined) toTerminal(n, { focus: true });
  };

  const closeTerminal = async (n: number) => {
    // The tab goes first, so it does not reconnect to the shell that is ending.
    const rest = terminals.filter((id) => id !== n);
    const i = terminals.indexOf(n);
    setTerminals(rest);
    if (front === n) setActive(rest[Math.min(i, rest.length - 1)] ?? null);
    pending.current.delete(n);
    try {
      await api.closeTerminal(project.id, workspaceId, n);
    } catch (e) {
      toast.error(e);
    }
  };

  const onTerminalState = (state: TerminalState) => {
    // A lost terminal may mean the workspace stopped: look now rather than at the next poll.
    if (state === 'reconnecting' || state === 'denied') void refreshWorkspace();
  };

  /** Runs the open Python file in the terminal in front (terminal 1 if none), saving it first. */
  const run = async () => {
    if (!open || open.binary || !isPython(open.path) || !running) return;
    if (open.text !== open.saved && !(await save())) return;
    toTerminal(front ?? 1, { input: runCommand(open.path) });
  };

  /** Installs requirements.txt afresh in the terminal in front: the packages folder is emptied first. */
  const rebuildPackages = () => {
    if (!running) return;
    if (!window.confirm('Remove the packages installed in this workspace and install those listed in requirements.txt again?')) return;
    // A terminal of its own, so nothing running in another reads the command.
    const free = Array.from({ length: MAX_TERMINALS }, (_, i) => i + 1).find((id) => !terminals.includes(id));
    toTerminal(free ?? front ?? 1, { input: REBUILD_PACKAGES, focus: true });
  };

  // Ctrl+` puts the keyboard in the terminal in front.
  const focusTerminal = useRef<() => void>(() => {});
  focusTerminal.current = () => {
    if (running) toTerminal(front ?? 1, { focus: true });
  };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey && !e.altKey && !e.metaKey && (e.code === 'Backquote' || e.key === '`')) {
        e.preventDefault();
        focusTerminal.current();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    const path = newPath.trim();
    setProblem(null);
    try {
      const version = await api.writeFile(project.id, workspaceId, path, '', null);
      setNewPath('');
      await reload();
      toFront({ path, version, saved: '', text: '', binary: false });
    } catch (err) {
      setProblem((err as Error).message);
    }
  };

  /** Uploads the chosen files at the top of the workspace, asking before replacing one. */
  const upload = async (chosen: FileList | null) => {
    if (!chosen || chosen.length === 0) return;
    setProblem(null);
    const failed: string[] = [];
    for (const file of Array.from(chosen)) {
      const exists = files?.some((f) => f.path === file.name) ?? false;
      if (exists && !window.confirm(`Replace ${file.name} with the uploaded file?`)) continue;
      try {
        await api.writeFile(project.id, workspaceId, file.name, file, exists ? 'any' : null);
      } catch (err) {
        failed.push(`${file.name}: ${(err as Error).message}`);
      }
    }
    if (uploadInput.current) uploadInput.current.value = '';
    if (failed.length > 0) setProblem(failed.join('\n'));
    await reload();
  };

  /** Whether `path` is `at`, or inside the folder `at`. */
  const within = (path: string, at: string) => path === at || path.startsWith(`${at}/`);

  /** Moves a file, or a folder with everything in it; open files follow, with the versions the move gave them. */
  const move = async (from: string, to: string) => {
    moving.current = true;
    try {
      await api.moveFile(project.id, workspaceId, from, to);
      await reload();
      const versions = new Map((await allFiles(project.id, workspaceId)).map((f) => [f.path, f.version]));
      const follow = (f: OpenFile): OpenFile => {
        if (!within(f.path, from)) return f;
        const path = to + f.path.slice(from.length);
        return { ...f, path, version: versions.get(path) ?? f.version };
      };
      const moved = (p: string) => (within(p, from) ? to + p.slice(from.length) : p);
      setOpen((cur) => (cur ? follow(cur) : cur));
      setBehind((cur) => Object.fromEntries(Object.values(cur).map((f) => [moved(f.path), follow(f)])));
      setTabs((cur) => cur.map(moved));
      toast.success(`Moved ${from} to ${to}.`);
    } catch (err) {
      toast.error(err);
    } finally {
      moving.current = false;
    }
  };

  const rename = async (path: string) => {
    const to = window.prompt(`Move or rename ${path} to:`, path)?.trim();
    if (!to || to === path) return;
    await move(path, to);
  };

  const remove = async (path: string) => {
    const isFolder = !(files ?? []).some((f) => f.path === path);
    const unsaved = [open, ...Object.values(behind)].some((f) => f && within(f.path, path) && f.text !== f.saved)
      ? ' Unsaved changes in it go too.'
      : '';
    if (!window.confirm(`Delete ${path}${isFolder ? ' and everything in it' : ''}?${unsaved}`)) return;
    try {
      await api.deleteFile(project.id, workspaceId, path);
      forgetTabs((p) => within(p, path));
      await reload();
    } catch (err) {
      toast.error(err);
    }
  };

  /** Opens a thread's file with the cursor at the thread's line (where it is now, if known). */
  const openThread = (t: WorkspaceThread) => {
    setReveal({ path: t.path, line: t.current_line ?? t.line_start, key: Date.now() });
    void openFile(t.path);
  };

  /** A reply or a resolve: the thread's comments and state change, its place stays. */
  const onThreadChange = (next: Thread) =>
    setReview((cur) => ({
      submission: cur?.submission ?? null,
      threads: (cur?.threads ?? []).map((t) => (t.id === next.id ? { ...t, ...next, current_line: t.current_line } : t)),
    }));

  const openPath = open?.path;
  const marks = useMemo(
    () => (openPath !== undefined && review ? commentMarks(review.threads, openPath) : []),
    [openPath, review],
  );

  const back = `/projects/${project.id}/workspaces`;
  if (isNotFound(error)) {
    return (
      <div className="page">
        <NotFoundState what="Workspace" actions={<Link to={back}>Back to your workspaces</Link>} />
      </div>
    );
  }
  if (error) return <ErrorState error={error} title="Could not load the workspace" />;
  if (!workspace || !status) {
    return (
      <div className="page" aria-busy="true">
        <Skeleton width="30%" height={24} />
      </div>
    );
  }
  const failure = startError ?? (workspace.status === 'error' ? (workspace.error ?? 'The workspace could not start.') : null);
  const warnings = stopWarnings(workspace, now);
  const canRun = open !== null && !open.binary && isPython(open.path);

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <p className="muted">
            <Link to={back}>Workspaces</Link> /
          </p>
          <h1 className="page-title">{workspace.name}</h1>
        </div>
        <div className="row">
          <StatusBadge status={status} testId="workspace-status" />
          {status === 'starting' && (
            <span className="muted workspace-starting" role="status" data-testid="workspace-starting">
              <Spinner size={14} /> Starting workspace…
            </span>
          )}
          {status === 'running' && (files ?? []).some((f) => f.path === 'requirements.txt') && (
            <Button icon={<Icon name="package" />} onClick={rebuildPackages} title="Remove the installed packages and install requirements.txt again">
              Rebuild packages
            </Button>
          )}
          {status === 'running' && (
            <Button icon={<Icon name="stop" />} onClick={() => void stop()}>
              Stop
            </Button>
          )}
          {(status === 'stopped' || status === 'error') && (
            <Button variant="primary" icon={<Icon name="play" />} onClick={() => void start()}>
              Start
            </Button>
          )}
          <ButtonAnchor href={api.workspaceZipUrl(project.id, workspaceId)} icon={<Icon name="download" />}>
            Download .zip
          </ButtonAnchor>
          {isOwner && (
            <Button icon={<Icon name="send" />} onClick={() => setSubmitting(true)} title="Hand in the saved files for review">
              Submit
            </Button>
          )}
        </div>
      </div>
      {failure && status !== 'starting' && status !== 'running' && (
        <div className="callout callout-danger" role="alert" data-testid="workspace-error">
          <p className="callout-title">
            <Icon name="alert" /> The workspace could not start
          </p>
          <p>{failure}</p>
        </div>
      )}
      {warnings.length > 0 && (
        <div className="callout callout-warning" role="status" data-testid="workspace-stop-warning">
          {warnings.map((w) => (
            <p key={w}>
              <Icon name="clock" /> {w}
            </p>
          ))}
        </div>
      )}
      {(workspace.sync_problems ?? []).length > 0 && (
        <div className="callout callout-warning" role="status" data-testid="sync-problems">
          <p className="callout-title">
            <Icon name="alert" /> Some files made in the workspace were not kept
          </p>
          <ul className="workspace-sync-problems">
            {workspace.sync_problems.map((p) => (
              <li key={p} className="mono small">
                {p}
              </li>
            ))}
          </ul>
        </div>
      )}
      {submitting && (
        <SubmitDialog
          projectId={project.id}
          workspaceId={workspaceId}
          unsaved={[open, ...Object.values(behind)].filter((f): f is OpenFile => f !== null && f.text !== f.saved).map((f) => f.path)}
          onClose={() => setSubmitting(false)}
          onSubmitted={() => void refreshReview()}
        />
      )}
      <div className="workspace">
        <div className="workspace-side">
          <aside className="panel workspace-files" aria-label="Files">
            <form className="row" onSubmit={(e) => void create(e)}>
              <input
                className="input"
                aria-label="New file's path"
                placeholder="new_file.py"
                value={newPath}
                onChange={(e) => setNewPath(e.target.value)}
                required
              />
              <Button type="submit" size="sm" icon={<Icon name="plus" />}>
                New file
              </Button>
              <Button type="button" size="sm" variant="ghost" onClick={() => uploadInput.current?.click()}>
                Upload
              </Button>
              <input
                ref={uploadInput}
                type="file"
                multiple
                hidden
                aria-label="Upload files"
                onChange={(e) => void upload(e.target.files)}
              />
            </form>
            {!files ? (
              <Skeleton width="80%" height={16} />
            ) : files.length === 0 ? (
              <p className="muted">No files yet: make one above.</p>
            ) : (
              <FileTree
                files={files}
                openPath={open?.path ?? null}
                onOpen={(path) => void openFile(path)}
                onRename={(path) => void rename(path)}
                onDelete={(path) => void remove(path)}
                onMove={(from, to) => void move(from, to)}
              />
            )}
          </aside>
          <ReviewPanel
            projectId={project.id}
            review={review}
            error={reviewError}
            canRespond={isOwner || canReview(project.role)}
            isOwner={isOwner}
            now={now}
            onThreadChange={onThreadChange}
            onOpenThread={openThread}
          />
        </div>
        <div className="workspace-main">
          <section className="panel workspace-editor" aria-label="Editor">
            {tabs.length > 0 && (
              <div className="editor-tabs" role="tablist" aria-label="Open files">
                {tabs.map((path) => {
                  const file = open?.path === path ? open : behind[path];
                  const unsaved = file !== undefined && file.text !== file.saved;
                  return (
                    <span key={path} className="terminal-tab" data-active={open?.path === path || undefined}>
                      <button
                        type="button"
                        role="tab"
                        aria-selected={open?.path === path}
                        className="terminal-tab-label mono"
                        title={path}
                        onClick={() => void openFile(path)}
                      >
                        {path.slice(path.lastIndexOf('/') + 1)}
                        {unsaved && <span aria-label="unsaved"> ●</span>}
                      </button>
                      <button type="button" className="terminal-tab-close" aria-label={`Close ${path}`} title="Close" onClick={() => closeTab(path)}>
                        <Icon name="x" size={12} />
                      </button>
                    </span>
                  );
                })}
              </div>
            )}
            {open ? (
              <>
                <div className="panel-header">
                  <h2 className="panel-title mono">{open.path}</h2>
                  <div className="row">
                    <span className="muted" role="status" data-testid="save-state">
                      {saving ? 'Saving…' : dirty ? 'Unsaved changes' : `Saved (version ${open.version})`}
                    </span>
                    <Button variant="primary" size="sm" loading={saving} disabled={!dirty} onClick={() => void save()}>
                      Save
                    </Button>
                    {canRun && (
                      <Button
                        size="sm"
                        icon={<Icon name="play" />}
                        disabled={!running || saving}
                        title={running ? `Save and run python3 ${open.path} in the terminal` : 'Start the workspace to run files'}
                        onClick={() => void run()}
                      >
                        Run
                      </Button>
                    )}
                  </div>
                </div>
                {changed && (
                  <div className="callout callout-danger" role="alert">
                    <p>
                      {changed.current
                        ? `${open.path} was changed elsewhere since you opened it (it is at version ${changed.current.version} now). Reload their text, or overwrite it with yours.`
                        : `${open.path} was deleted elsewhere since you opened it. Make it again with your text, or leave it deleted.`}
                    </p>
                    <div className="row">
                      {!changed.current && (
                        <Button size="sm" variant="primary" onClick={() => void save(null)}>
                          Make it again
                        </Button>
                      )}
                      <Button
                        size="sm"
                        hidden={!changed.current}
                        onClick={() => {
                          if (changed.current) {
                            const text = changed.current.content ?? '';
                            setOpen({ ...open, version: changed.current.version, saved: text, text, binary: changed.current.content === null });
                          }
                          setChanged(null);
                        }}
                      >
                        Reload theirs
                      </Button>
                      <Button size="sm" variant="danger" hidden={!changed.current} onClick={() => void save(changed.current?.version ?? null)}>
                        Overwrite with mine
                      </Button>
                    </div>
                  </div>
                )}
                {open.binary ? (
                  <p className="muted">This file is not text: download the workspace to open it.</p>
                ) : (
                  <CodeEditor
                    value={open.text}
                    onChange={(text: string) => setOpen((cur) => (cur ? { ...cur, text } : cur))}
                    ariaLabel={`Editing ${open.path}`}
                    markedLines={marks}
                    revealLine={reveal && reveal.path === open.path ? { line: reveal.line, key: reveal.key } : undefined}
                    minHeight={420}
                  />
                )}
              </>
            ) : (
              <p className="muted" role={notice ? 'status' : undefined}>
                {notice ? `${notice} ` : ''}Open a file on the left, or make a new one.
              </p>
            )}
            <FormError>{problem}</FormError>
          </section>
          <section className="panel workspace-terminals" aria-label="Terminals">
            <div className="terminal-bar">
              <div className="terminal-tabs" role="tablist" aria-label="Terminals">
                {terminals.map((n) => (
                  <span key={n} className="terminal-tab" data-active={n === front || undefined}>
                    <button
                      type="button"
                      role="tab"
                      id={`terminal-tab-${n}`}
                      aria-selected={n === front}
                      aria-controls={`terminal-panel-${n}`}
                      className="terminal-tab-label"
                      onClick={() => toTerminal(n, { focus: true })}
                    >
                      Terminal {n}
                    </button>
                    <button type="button" className="terminal-tab-close" aria-label={`Close terminal ${n}`} title="Close (ends its shell)" onClick={() => void closeTerminal(n)}>
                      <Icon name="x" size={12} />
                    </button>
                  </span>
                ))}
              </div>
              <Button
                size="sm"
                variant="ghost"
                aria-label="New terminal"
                title="New terminal"
                icon={<Icon name="plus" />}
                disabled={!running || terminals.length >= MAX_TERMINALS}
                onClick={addTerminal}
              />
              <span className="small muted terminal-hint">Ctrl+` for the terminal</span>
            </div>
            {running ? (
              terminals.length > 0 ? (
                <div className="terminal-panes">
                  {terminals.map((n) => (
                    <div
                      key={n}
                      role="tabpanel"
                      id={`terminal-panel-${n}`}
                      aria-labelledby={`terminal-tab-${n}`}
                      className="terminal-pane"
                      data-active={n === front}
                    >
                      <Terminal project={project.id} workspace={workspaceId} n={n} ref={handleRef(n)} onStateChange={onTerminalState} />
                    </div>
                  ))}
                </div>
              ) : (
                <p className="muted">No terminal open: + opens one.</p>
              )
            ) : status === 'starting' ? (
              <p className="muted">The terminals open once the workspace is running.</p>
            ) : status === 'stopping' ? (
              <p className="muted">Stopping…</p>
            ) : (
              <p className="muted" data-testid="workspace-stopped">
                The workspace is stopped. Start it to use terminals and Run; your files are kept.
              </p>
            )}
          </section>
        </div>
      </div>
    </div>
  );
}
