// A workspace's files as a tree of folders: open a file, rename or delete a file or a
// folder, and drag either onto a folder (or onto the tree's top) to move it there.
import { useMemo, useState, type DragEvent } from 'react';
import type { WorkspaceFile } from '../api/types';
import { Button } from './Button';
import { Icon } from './Icon';
import { formatBytes } from '../pages/data/format';

/** The drag's payload: the path being moved. */
const DRAGGED = 'application/x-burrow-path';

export interface FolderNode {
  name: string;
  /** '' for the top. */
  path: string;
  folders: FolderNode[];
  files: WorkspaceFile[];
}

/** The folders that the files' paths make, each sorted: folders first, then files. */
export function buildTree(files: WorkspaceFile[]): FolderNode {
  const root: FolderNode = { name: '', path: '', folders: [], files: [] };
  const folders = new Map<string, FolderNode>([['', root]]);
  const folderOf = (path: string): FolderNode => {
    const found = folders.get(path);
    if (found) return found;
    const cut = path.lastIndexOf('/');
    const parent = folderOf(cut < 0 ? '' : path.slice(0, cut));
    const node: FolderNode = { name: path.slice(cut + 1), path, folders: [], files: [] };
    parent.folders.push(node);
    folders.set(path, node);
    return node;
  };
  for (const f of files) {
    const cut = f.path.lastIndexOf('/');
    folderOf(cut < 0 ? '' : f.path.slice(0, cut)).files.push(f);
  }
  const order = (node: FolderNode) => {
    node.folders.sort((a, b) => a.name.localeCompare(b.name));
    node.files.sort((a, b) => a.path.localeCompare(b.path));
    node.folders.forEach(order);
  };
  order(root);
  return root;
}

const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** Where `from` goes when dropped on `folder`; null when it cannot go there. */
export function dropTarget(from: string, folder: string): string | null {
  const to = folder ? `${folder}/${baseName(from)}` : baseName(from);
  // Not where it is, and not into itself.
  if (to === from || folder === from || folder.startsWith(`${from}/`)) return null;
  return to;
}

interface Props {
  files: WorkspaceFile[];
  openPath: string | null;
  onOpen: (path: string) => void;
  onRename: (path: string) => void;
  onDelete: (path: string) => void;
  onMove: (from: string, to: string) => void;
}

export function FileTree({ files, openPath, onOpen, onRename, onDelete, onMove }: Props) {
  const root = useMemo(() => buildTree(files), [files]);
  const [closed, setClosed] = useState<Set<string>>(new Set());
  /** The folder a drag is over ('' for the top), to show where it would land. */
  const [over, setOver] = useState<string | null>(null);

  const toggle = (path: string) =>
    setClosed((cur) => {
      const next = new Set(cur);
      if (!next.delete(path)) next.add(path);
      return next;
    });

  const dragStart = (path: string) => (e: DragEvent) => {
    e.dataTransfer.setData(DRAGGED, path);
    e.dataTransfer.effectAllowed = 'move';
  };
  const dropZone = (folder: string) => ({
    onDragOver: (e: DragEvent) => {
      if (!e.dataTransfer.types.includes(DRAGGED)) return;
      e.preventDefault();
      e.stopPropagation();
      e.dataTransfer.dropEffect = 'move';
      setOver(folder);
    },
    onDragLeave: (e: DragEvent) => {
      if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOver((cur) => (cur === folder ? null : cur));
    },
    onDrop: (e: DragEvent) => {
      e.preventDefault();
      e.stopPropagation();
      setOver(null);
      const from = e.dataTransfer.getData(DRAGGED);
      const to = from ? dropTarget(from, folder) : null;
      if (from && to) onMove(from, to);
    },
  });

  const actions = (path: string, what: string) => (
    <span className="workspace-file-actions">
      <Button size="sm" variant="ghost" aria-label={`Rename ${path}`} title={`Rename or move this ${what}`} onClick={() => onRename(path)}>
        Rename
      </Button>
      <Button size="sm" variant="ghost" aria-label={`Delete ${path}`} title={`Delete this ${what}`} icon={<Icon name="trash" />} onClick={() => onDelete(path)} />
    </span>
  );

  const folder = (node: FolderNode, depth: number) => (
    <ul className="workspace-tree" role={depth === 0 ? 'tree' : 'group'} aria-label={depth === 0 ? 'Files' : undefined}>
      {node.folders.map((f) => {
        const open = !closed.has(f.path);
        return (
          <li key={`d:${f.path}`} role="treeitem" aria-expanded={open} aria-label={`${f.path}/`}>
            <div className="workspace-tree-row" data-drop={over === f.path || undefined} style={{ paddingLeft: depth * 14 }} {...dropZone(f.path)}>
              <button type="button" className="linklike mono" draggable onDragStart={dragStart(f.path)} onClick={() => toggle(f.path)} title={f.path}>
                <Icon name={open ? 'chevronDown' : 'folder'} size={14} /> {f.name}/
              </button>
              {actions(f.path, 'folder and everything in it')}
            </div>
            {open && folder(f, depth + 1)}
          </li>
        );
      })}
      {node.files.map((f) => (
        <li key={f.path} role="treeitem" aria-selected={openPath === f.path} className={openPath === f.path ? 'active' : undefined}>
          {/* Dropped on a file, it lands in the file's folder. */}
          <div className="workspace-tree-row" style={{ paddingLeft: depth * 14 }} {...dropZone(node.path)}>
            <button
              type="button"
              className="linklike mono"
              draggable
              onDragStart={dragStart(f.path)}
              onClick={() => onOpen(f.path)}
              aria-label={f.path}
              title={`${f.path}: ${formatBytes(f.size)}, version ${f.version}`}
            >
              <Icon name="file" size={14} /> {baseName(f.path)}
            </button>
            {actions(f.path, 'file')}
          </div>
        </li>
      ))}
    </ul>
  );

  return (
    <div className="workspace-tree-top" data-drop={over === '' || undefined} data-testid="file-tree" {...dropZone('')}>
      {folder(root, 0)}
    </div>
  );
}
