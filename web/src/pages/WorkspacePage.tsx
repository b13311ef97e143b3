// One workspace: its files on the left, the open file in the editor on the right. Saving
// names the version the file was read at; if it changed meanwhile (another tab, another
// save), the page says so and offers to reload it or to overwrite it.
import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api, FileChanged } from '../api/endpoints';
import type { WorkspaceFile } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { Button, ButtonAnchor } from '../components/Button';
import { CodeEditor } from '../components/CodeEditorLazy';
import { FormError } from '../components/Field';
import { ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { formatBytes } from './data/format';

interface OpenFile {
  path: string;
  /** The version it was read or last saved at. */
  version: number;
  saved: string;
  text: string;
  /** Not UTF-8 text: not editable here. */
  binary: boolean;
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
  const { data: workspace, error } = useApi(`workspace:${project.id}:${workspaceId}`, () => api.workspace(project.id, workspaceId));
  const { data: files, reload } = useApi(`workspace-files:${project.id}:${workspaceId}`, () => allFiles(project.id, workspaceId));
  useDocumentTitle(workspace?.name ?? 'Workspace', project.name);
  const [open, setOpen] = useState<OpenFile | null>(null);
  const [changed, setChanged] = useState<FileChanged | null>(null);
  const [saving, setSaving] = useState(false);
  const [newPath, setNewPath] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const dirty = open !== null && open.text !== open.saved;
  const savingNow = useRef(false);

  // Leaving the page with unsaved text asks first.
  useEffect(() => {
    if (!dirty) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [dirty]);

  const leaveOpen = (what: string) => !dirty || window.confirm(`${open?.path} has unsaved changes. ${what} anyway?`);

  const openFile = async (path: string) => {
    if (!leaveOpen(`Open ${path}`)) return;
    setProblem(null);
    setChanged(null);
    try {
      const file = await api.readFile(project.id, workspaceId, path);
      setOpen({ path, version: file.version, saved: file.text, text: file.text, binary: file.binary });
    } catch (e) {
      setProblem((e as Error).message);
    }
  };

  const save = useCallback(
    async (over: number | 'any' | null = open?.version ?? null) => {
      // One save at a time, and only of a text file.
      if (!open || open.binary || savingNow.current) return;
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
      } catch (e) {
        if (e instanceof FileChanged) setChanged(e);
        else setProblem((e as Error).message);
      } finally {
        savingNow.current = false;
        setSaving(false);
      }
    },
    [open, project.id, workspaceId, reload],
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

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    const path = newPath.trim();
    if (!leaveOpen(`Make ${path}`)) return;
    setProblem(null);
    try {
      const version = await api.writeFile(project.id, workspaceId, path, '', null);
      setNewPath('');
      await reload();
      setOpen({ path, version, saved: '', text: '', binary: false });
      setChanged(null);
    } catch (err) {
      setProblem((err as Error).message);
    }
  };

  const rename = async (path: string) => {
    const to = window.prompt(`Move or rename ${path} to:`, path)?.trim();
    if (!to || to === path) return;
    try {
      await api.moveFile(project.id, workspaceId, path, to);
      await reload();
      const moved = (await allFiles(project.id, workspaceId)).find((f) => f.path === to);
      // The open file follows its move, with the version the move gave it.
      setOpen((cur) => (cur && cur.path === path ? { ...cur, path: to, version: moved?.version ?? cur.version } : cur));
    } catch (err) {
      toast.error(err);
    }
  };

  const remove = async (path: string) => {
    const unsaved = dirty && open?.path === path ? ' Your unsaved changes to it go too.' : '';
    if (!window.confirm(`Delete ${path}?${unsaved}`)) return;
    try {
      await api.deleteFile(project.id, workspaceId, path);
      if (open?.path === path) setOpen(null);
      await reload();
    } catch (err) {
      toast.error(err);
    }
  };

  const back = `/projects/${project.id}/workspaces`;
  if (isNotFound(error)) {
    return (
      <div className="page">
        <NotFoundState what="Workspace" actions={<Link to={back}>Back to your workspaces</Link>} />
      </div>
    );
  }
  if (error) return <ErrorState error={error} title="Could not load the workspace" />;
  if (!workspace) {
    return (
      <div className="page" aria-busy="true">
        <Skeleton width="30%" height={24} />
      </div>
    );
  }

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
          <ButtonAnchor href={api.workspaceZipUrl(project.id, workspaceId)} icon={<Icon name="download" />}>
            Download .zip
          </ButtonAnchor>
        </div>
      </div>
      <div className="workspace">
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
          </form>
          {!files ? (
            <Skeleton width="80%" height={16} />
          ) : files.length === 0 ? (
            <p className="muted">No files yet: make one above.</p>
          ) : (
            <ul className="workspace-tree">
              {files.map((f) => (
                <li key={f.path} className={open?.path === f.path ? 'active' : undefined}>
                  <button type="button" className="linklike mono" onClick={() => void openFile(f.path)} title={`${formatBytes(f.size)}, version ${f.version}`}>
                    <Icon name="file" size={14} /> {f.path}
                  </button>
                  <span className="workspace-file-actions">
                    <Button size="sm" variant="ghost" aria-label={`Rename ${f.path}`} onClick={() => void rename(f.path)}>
                      Rename
                    </Button>
                    <Button size="sm" variant="ghost" aria-label={`Delete ${f.path}`} icon={<Icon name="trash" />} onClick={() => void remove(f.path)} />
                  </span>
                </li>
              ))}
            </ul>
          )}
        </aside>
        <section className="panel workspace-editor" aria-label="Editor">
          {open ? (
            <>
              <div className="panel-header">
                <h2 className="panel-title mono">{open.path}</h2>
                <div className="row">
                  <span className="muted" role="status">
                    {saving ? 'Saving…' : dirty ? 'Unsaved changes' : `Saved (version ${open.version})`}
                  </span>
                  <Button variant="primary" size="sm" loading={saving} disabled={!dirty} onClick={() => void save()}>
                    Save
                  </Button>
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
                  minHeight={420}
                />
              )}
            </>
          ) : (
            <p className="muted">Open a file on the left, or make a new one.</p>
          )}
          <FormError>{problem}</FormError>
        </section>
      </div>
    </div>
  );
}
