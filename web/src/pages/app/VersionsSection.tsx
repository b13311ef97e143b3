// The app's versions (newest first) with build status, active marker, rollback and new uploads.
import { useState } from 'react';
import { api, downloadVersionUrl } from '../../api/endpoints';
import type { AppDetail, Version } from '../../api/types';
import { BuildBadge } from '../../components/StatusBadge';
import { Button } from '../../components/Button';
import { Icon } from '../../components/Icon';
import { useToast } from '../../components/Toast';
import { useNow } from '../../hooks/useNow';
import { formatAbsolute, formatRelative } from '../../lib/time';
import { UploadVersion } from './UploadVersion';

export function VersionsSection({
  app,
  editor,
  selectedLog,
  onSelectLog,
  onChanged,
}: {
  app: AppDetail;
  editor: boolean;
  selectedLog: number | null;
  onSelectLog: (n: number) => void;
  onChanged: (uploaded?: Version) => void;
}) {
  const [uploading, setUploading] = useState(false);
  const [activating, setActivating] = useState<number | null>(null);
  const toast = useToast();
  const now = useNow(30_000);

  const activate = async (n: number) => {
    setActivating(n);
    try {
      await api.activateVersion(app.project_id, app.id, n);
      toast.success(`Version ${n} is now active`);
      onChanged();
    } catch (e) {
      toast.error(e);
    } finally {
      setActivating(null);
    }
  };

  return (
    <section className="panel" aria-labelledby="versions-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="versions-heading">
          Versions
        </h2>
        {editor && !uploading && (
          <Button size="sm" icon={<Icon name="upload" size={14} />} onClick={() => setUploading(true)}>
            Upload new version
          </Button>
        )}
      </div>
      {uploading && (
        <UploadVersion
          projectId={app.project_id}
          appId={app.id}
          onCancel={() => setUploading(false)}
          onUploaded={(v) => {
            setUploading(false);
            toast.success(`Version ${v.number} uploaded: building`);
            onChanged(v);
          }}
        />
      )}
      {app.versions.length === 0 ? (
        <p className="muted">No versions yet.</p>
      ) : (
        <ol className="versions">
          {app.versions.map((v) => {
            const activatable = editor && !v.active && v.build.status === 'succeeded';
            return (
              <li key={v.number} className={`version ${v.active ? 'version-active' : ''}`} data-testid={`version-${v.number}`}>
                <div className="version-main">
                  <span className="version-number">v{v.number}</span>
                  {v.active && <span className="active-marker">Active</span>}
                  <BuildBadge status={v.build.status} />
                </div>
                <div className="version-meta">
                  <span title={formatAbsolute(v.created_at)}>{formatRelative(v.created_at, now)}</span>
                  {v.created_by && <span>by {v.created_by.name}</span>}
                  {v.packages.length > 0 && (
                    <span className="version-pkgs" title={v.packages.join('\n')}>
                      {v.packages.length} package{v.packages.length === 1 ? '' : 's'}
                      {v.inferred ? ' (inferred)' : ''}
                    </span>
                  )}
                </div>
                {v.build.status === 'failed' && v.build.error && <p className="version-error">{v.build.error}</p>}
                {v.warnings.length > 0 && (
                  <ul className="version-warnings">
                    {v.warnings.map((w, i) => (
                      <li key={i}>
                        {w.file ? `${w.file}${w.line ? `:${w.line}` : ''} — ` : ''}
                        {w.message}
                      </li>
                    ))}
                  </ul>
                )}
                <div className="version-actions">
                  <Button
                    size="sm"
                    variant="ghost"
                    aria-label={`Show build log for version ${v.number}`}
                    aria-pressed={selectedLog === v.number}
                    onClick={() => onSelectLog(v.number)}
                  >
                    Log
                  </Button>
                  <a className="btn btn-ghost btn-sm" href={downloadVersionUrl(app.project_id, app.id, v.number)} aria-label={`Download version ${v.number}`}>
                    <Icon name="download" size={14} />
                  </a>
                  {activatable && (
                    <Button size="sm" aria-label={`Activate version ${v.number}`} loading={activating === v.number} disabled={activating !== null} onClick={() => void activate(v.number)}>
                      Activate
                    </Button>
                  )}
                </div>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}
