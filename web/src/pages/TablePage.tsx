// One table: its columns and types, row count and size, a preview that pages and sorts, and (for editors) replace and delete.
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { api } from '../api/endpoints';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { Button } from '../components/Button';
import { Dialog } from '../components/Dialog';
import { ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { useToast } from '../components/Toast';
import { canEditApps } from '../lib/roles';
import { formatAbsolute } from '../lib/time';
import { RowsPreview } from './data/RowsPreview';
import { JobList } from './JobsPage';
import { UploadTableDialog } from './data/UploadTableDialog';
import { formatBytes, formatCount } from './data/format';

export function TablePage() {
  const { project } = useProject();
  const { tableName = '' } = useParams();
  useDocumentTitle(tableName, project.name);
  const { data: table, error, reload, setData } = useApi(`table:${project.id}:${tableName}`, () => api.table(project.id, tableName));
  const { data: jobs, error: jobsError, reload: reloadJobs } = useApi(`jobs:${project.id}:table:${tableName}`, () =>
    api.jobs(project.id, { table: tableName }),
  );
  const editor = canEditApps(project.role);
  const [replacing, setReplacing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const navigate = useNavigate();
  const back = `/projects/${project.id}/data`;

  if (isNotFound(error)) {
    return (
      <div className="page">
        <NotFoundState what="Table" actions={<Link to={back}>Back to the tables</Link>} />
      </div>
    );
  }
  if (error) {
    return (
      <div className="page">
        <ErrorState error={error} onRetry={() => void reload()} title="Could not load the table" />
      </div>
    );
  }
  if (!table) {
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
          <h1 className="page-title mono">{table.name}</h1>
          <p className="page-subtitle">
            {formatCount(table.rows)} rows · {table.columns.length} columns · {formatBytes(table.size_bytes)} · from{' '}
            {table.origin === 'sample' ? 'the sample' : table.origin === 'job' ? 'a job' : 'an upload'}, updated{' '}
            {formatAbsolute(table.updated_at)}
          </p>
        </div>
        {editor && (
          <div className="row">
            <Button onClick={() => setReplacing(true)} icon={<Icon name="upload" />}>
              Replace
            </Button>
            <Button variant="danger" onClick={() => setDeleting(true)} icon={<Icon name="trash" />}>
              Delete
            </Button>
          </div>
        )}
      </div>

      <section className="panel" aria-labelledby="columns-heading">
        <h2 className="panel-title" id="columns-heading">
          Columns
        </h2>
        <ul className="column-list" aria-label="Columns">
          {table.columns.map((c) => (
            <li key={c.name}>
              <span className="mono">{c.name}</span> <span className="grid-type">{c.type}</span>
            </li>
          ))}
        </ul>
        <p className="muted small">
          In an app of this project: <code>burrow.sql("select * from {table.name}")</code>
        </p>
      </section>

      <RowsPreview
        key={table.version}
        label={`Rows of ${table.name}`}
        cacheKey={`rows:${project.id}:${tableName}:${table.version}`}
        total={table.rows}
        load={(page) => api.tableRows(project.id, tableName, page)}
      />

      <JobList
        jobs={jobs}
        error={jobsError}
        onRetry={() => void reloadJobs()}
        projectId={project.id}
        title="Jobs that read or wrote this table"
      />

      {replacing && (
        <UploadTableDialog
          projectId={project.id}
          replacing={table}
          onClose={() => setReplacing(false)}
          onSaved={(t) => {
            setReplacing(false);
            setData(t);
            toast.success(`Replaced ${t.name}: ${formatCount(t.rows)} rows.`);
          }}
        />
      )}
      {deleting && (
        <Dialog
          title={`Delete ${table.name}?`}
          tone="danger"
          description="Apps that query it will get an error. This cannot be undone."
          onClose={() => setDeleting(false)}
          footer={
            <>
              <Button onClick={() => setDeleting(false)}>Cancel</Button>
              <Button
                variant="danger"
                loading={busy}
                onClick={async () => {
                  setBusy(true);
                  try {
                    await api.deleteTable(project.id, table.name);
                    toast.success(`Deleted ${table.name}.`);
                    navigate(back);
                  } catch (e) {
                    toast.error(e);
                    setBusy(false);
                  }
                }}
              >
                Delete table
              </Button>
            </>
          }
        >
          <p>
            The table <strong className="mono">{table.name}</strong> and its {formatCount(table.rows)} rows.
          </p>
        </Dialog>
      )}
    </div>
  );
}
