// One external PostgreSQL source: where it is, the tables its user may read (each linking to a preview), and for owners change and remove.
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api } from '../api/endpoints';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { Button } from '../components/Button';
import { Dialog } from '../components/Dialog';
import { EmptyState, ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { canManageProject } from '../lib/roles';
import { SourceDialog } from './data/SourceDialog';
import { formatCount } from './data/format';

export function SourcePage() {
  const { project } = useProject();
  const { sourceName = '' } = useParams();
  useDocumentTitle(sourceName, project.name);
  const { data: source, error, reload, setData } = useApi(`source:${project.id}:${sourceName}`, () => api.source(project.id, sourceName));
  const { data: tables, error: tablesError, reload: reloadTables } = useApi(
    `source-tables:${project.id}:${sourceName}:${source?.updated_at}`,
    () => api.sourceTables(project.id, sourceName),
  );
  const owner = canManageProject(project.role);
  const [editing, setEditing] = useState(false);
  const [removing, setRemoving] = useState(false);
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const navigate = useNavigate();
  const back = `/projects/${project.id}/data`;

  if (isNotFound(error)) {
    return (
      <div className="page">
        <NotFoundState what="Data source" actions={<Link to={back}>Back to Data</Link>} />
      </div>
    );
  }
  if (error) {
    return (
      <div className="page">
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the data source" />
      </div>
    );
  }
  if (!source) {
    return (
      <div className="page">
        <Skeleton width={240} height={24} />
      </div>
    );
  }

  return (
    <div className="page">
      <Link to={back} className="back-link">
        <Icon name="arrowLeft" size={14} /> Data
      </Link>
      <div className="page-header">
        <div>
          <h1 className="page-title mono">{source.name}</h1>
          <p className="page-subtitle">
            PostgreSQL · <span className="mono">{source.user}@{source.host}:{source.port}/{source.database}</span> · TLS {source.tls_mode}
            {source.destination && (
              <>
                {' '}
                · <span className="badge-soft">job destination</span>
              </>
            )}
          </p>
        </div>
        {owner && (
          <div className="row">
            <Button onClick={() => setEditing(true)} icon={<Icon name="settings" />}>
              Change
            </Button>
            <Button variant="danger" onClick={() => setRemoving(true)} icon={<Icon name="trash" />}>
              Remove
            </Button>
          </div>
        )}
      </div>

      <section className="panel" aria-labelledby="source-tables-heading">
        <div className="panel-header">
          <h2 className="panel-title" id="source-tables-heading">
            <Icon name="database" size={16} /> Tables the user may read
          </h2>
          <span className="muted small">
            In an app: <code>burrow.sql("select …", source="{source.name}")</code>
          </span>
        </div>
        {tablesError ? (
          <ErrorState error={tablesError} onRetry={() => void reloadTables()} title="Could not reach the data source" />
        ) : !tables ? (
          <Skeleton width="100%" height={80} />
        ) : tables.length === 0 ? (
          <EmptyState icon={<Icon name="database" size={28} />} title="No tables to read">
            <p>The user {source.user} may not read any table or view here: grant it SELECT on the ones apps need.</p>
          </EmptyState>
        ) : (
          <div className="grid-scroll">
            <table className="data-grid table-list" aria-label={`Tables of ${source.name}`}>
              <thead>
                <tr>
                  <th scope="col">Schema</th>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col" className="num">
                    Rows (estimate)
                  </th>
                </tr>
              </thead>
              <tbody>
                {tables.map((t) => (
                  <tr key={`${t.schema}.${t.name}`}>
                    <td className="mono">{t.schema}</td>
                    <td>
                      <Link
                        className="mono"
                        to={`/projects/${project.id}/data/sources/${encodeURIComponent(source.name)}/${encodeURIComponent(t.schema)}/${encodeURIComponent(t.name)}`}
                      >
                        {t.name}
                      </Link>
                    </td>
                    <td>{t.kind}</td>
                    <td className="num">{t.rows_estimate === null ? '—' : formatCount(t.rows_estimate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      {editing && (
        <SourceDialog
          projectId={project.id}
          editing={source}
          onClose={() => setEditing(false)}
          onSaved={(s) => {
            setEditing(false);
            setData(s);
            toast.success(`Saved ${s.name}.`);
          }}
        />
      )}
      {removing && (
        <Dialog
          title={`Remove ${source.name}?`}
          tone="danger"
          description="Apps that query it will get an error. The database itself is not touched."
          onClose={() => setRemoving(false)}
          footer={
            <>
              <Button onClick={() => setRemoving(false)}>Cancel</Button>
              <Button
                variant="danger"
                loading={busy}
                onClick={async () => {
                  setBusy(true);
                  try {
                    await api.deleteSource(project.id, source.name);
                    toast.success(`Removed ${source.name}.`);
                    navigate(back);
                  } catch (e) {
                    toast.error(e);
                    setBusy(false);
                  }
                }}
              >
                Remove source
              </Button>
            </>
          }
        >
          <p>
            Burrow forgets <strong className="mono">{source.name}</strong> and its password.
          </p>
        </Dialog>
      )}
    </div>
  );
}
