// The project's data: its tables (upload one, or add the sample), its external PostgreSQL sources (owners add them), and, for editors, the SQL console.
import { Link, useNavigate } from 'react-router-dom';
import { useState } from 'react';
import { api } from '../api/endpoints';
import type { DataSource, DataTable } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { Button } from '../components/Button';
import { EmptyState, ErrorState } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { canEditApps, canManageProject } from '../lib/roles';
import { formatAbsolute, formatRelative } from '../lib/time';
import { useNow } from '../hooks/useNow';
import { UploadTableDialog } from './data/UploadTableDialog';
import { SqlConsole } from './data/SqlConsole';
import { SourceDialog } from './data/SourceDialog';
import { formatBytes, formatCount } from './data/format';

export function DataPage() {
  const { project } = useProject();
  useDocumentTitle('Data', project.name);
  const { data: tables, error, reload } = useApi(`tables:${project.id}`, () => api.tables(project.id));
  const { data: sources, error: sourcesError, reload: reloadSources } = useApi(`sources:${project.id}`, () => api.sources(project.id));
  const editor = canEditApps(project.role);
  const owner = canManageProject(project.role);
  const [addingSource, setAddingSource] = useState(false);
  const [uploading, setUploading] = useState(false);
  const [adding, setAdding] = useState(false);
  const toast = useToast();
  const navigate = useNavigate();
  const hasSample = !!tables?.some((t) => t.name === 'daily_sales');

  const addSample = async () => {
    setAdding(true);
    try {
      const table = await api.addSample(project.id);
      toast.success(`Added ${table.name}: ${formatCount(table.rows)} rows.`);
      await reload();
    } catch (e) {
      toast.error(e);
    } finally {
      setAdding(false);
    }
  };

  const actions = editor && (
    <>
      {!hasSample && (
        <Button onClick={() => void addSample()} loading={adding} icon={<Icon name="plus" />}>
          Add sample data
        </Button>
      )}
      <Button variant="primary" onClick={() => setUploading(true)} icon={<Icon name="upload" />}>
        Upload table
      </Button>
    </>
  );

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1 className="page-title">Data</h1>
          <p className="page-subtitle">
            Tables and data sources of {project.name}. Apps query them with <code>burrow.sql()</code>; nothing outside this
            project can.
          </p>
        </div>
        {tables && tables.length > 0 && <div className="row">{actions}</div>}
      </div>

      {error && !tables ? (
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the tables" />
      ) : !tables ? (
        <div className="panel" aria-busy="true" aria-label="Loading tables">
          <Skeleton width="40%" height={18} />
          <Skeleton width="70%" />
        </div>
      ) : tables.length === 0 ? (
        <EmptyState icon={<Icon name="database" size={28} />} title="No tables yet" actions={actions || undefined}>
          <p>
            Upload a CSV or Parquet file, or add the sample: 120 days of sales by region, the same data as the CSV Explorer
            template. Then query it here, or chart it with the Table dashboard template.
          </p>
          {!editor && <p className="muted">You are a viewer in this project: an editor or owner can add tables here.</p>}
        </EmptyState>
      ) : (
        <TableList tables={tables} projectId={project.id} />
      )}

      <SourceList
        sources={sources}
        error={sourcesError}
        onRetry={() => void reloadSources()}
        projectId={project.id}
        owner={owner}
        onAdd={() => setAddingSource(true)}
      />

      {editor && tables && (tables.length > 0 || (sources?.length ?? 0) > 0) && (
        <SqlConsole
          projectId={project.id}
          sources={sources?.map((s) => s.name)}
          initial={
            hasSample
              ? 'select region, sum(units) as units, round(sum(revenue), 2) as revenue\nfrom daily_sales\ngroup by region\norder by revenue desc'
              : tables.length > 0
                ? `select * from ${tables[0].name} limit 100`
                : 'select 1'
          }
        />
      )}

      {addingSource && (
        <SourceDialog
          projectId={project.id}
          onClose={() => setAddingSource(false)}
          onSaved={(source) => {
            setAddingSource(false);
            toast.success(`Added ${source.name}.`);
            navigate(`/projects/${project.id}/data/sources/${source.name}`);
          }}
        />
      )}

      {uploading && (
        <UploadTableDialog
          projectId={project.id}
          onClose={() => setUploading(false)}
          onSaved={(table) => {
            setUploading(false);
            toast.success(`Created ${table.name}: ${formatCount(table.rows)} rows.`);
            navigate(`/projects/${project.id}/data/${table.name}`);
          }}
        />
      )}
    </div>
  );
}

function SourceList({
  sources,
  error,
  onRetry,
  projectId,
  owner,
  onAdd,
}: {
  sources: DataSource[] | undefined;
  error: unknown;
  onRetry: () => void;
  projectId: string;
  owner: boolean;
  onAdd: () => void;
}) {
  return (
    <section className="panel" aria-labelledby="sources-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="sources-heading">
          <Icon name="link" size={16} /> Data sources
        </h2>
        {owner && (
          <Button size="sm" onClick={onAdd} icon={<Icon name="plus" />}>
            Add data source
          </Button>
        )}
      </div>
      {error && !sources ? (
        <ErrorState error={error} onRetry={onRetry} title="Could not load the data sources" />
      ) : !sources ? (
        <Skeleton width="50%" />
      ) : sources.length === 0 ? (
        <p className="muted small">
          External PostgreSQL databases this project reads, read-only, as a SELECT-only user.{' '}
          {owner ? 'Add one to browse its tables here and query it from apps.' : 'An owner of the project can add one.'}
        </p>
      ) : (
        <div className="grid-scroll">
          <table className="data-grid table-list" aria-label="Data sources">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Connection</th>
                <th scope="col">TLS</th>
              </tr>
            </thead>
            <tbody>
              {sources.map((s) => (
                <tr key={s.id}>
                  <td>
                    <Link to={`/projects/${projectId}/data/sources/${s.name}`} className="mono">
                      {s.name}
                    </Link>{' '}
                    {s.destination && <span className="badge-soft">job destination</span>}
                  </td>
                  <td className="mono">
                    {s.user}@{s.host}:{s.port}/{s.database}
                  </td>
                  <td>{s.tls_mode}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function TableList({ tables, projectId }: { tables: DataTable[]; projectId: string }) {
  const now = useNow(30_000);
  return (
    <section className="panel" aria-labelledby="tables-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="tables-heading">
          <Icon name="database" size={16} /> Tables
        </h2>
      </div>
      <div className="grid-scroll">
        <table className="data-grid table-list" aria-label="Tables">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" className="num">Rows</th>
              <th scope="col" className="num">Columns</th>
              <th scope="col" className="num">Size</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {tables.map((t) => (
              <tr key={t.id}>
                <td>
                  <Link to={`/projects/${projectId}/data/${t.name}`} className="mono">
                    {t.name}
                  </Link>
                </td>
                <td className="num">{formatCount(t.rows)}</td>
                <td className="num">{t.columns.length}</td>
                <td className="num">{formatBytes(t.size_bytes)}</td>
                <td title={formatAbsolute(t.updated_at)}>{formatRelative(t.updated_at, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
