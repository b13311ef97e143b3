// One table of an external source: its columns with PostgreSQL's types, and a preview that pages and sorts.
import { useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { api } from '../api/endpoints';
import type { Rows } from '../api/types';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { Button } from '../components/Button';
import { ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { RowsGrid, type Sort } from './data/RowsGrid';
import { formatCount } from './data/format';
import { PAGE_ROWS } from './TablePage';

export function SourceTablePage() {
  const { project } = useProject();
  const { sourceName = '', schema = '', tableName = '' } = useParams();
  useDocumentTitle(`${schema}.${tableName}`, project.name);
  const key = `${project.id}:${sourceName}:${schema}:${tableName}`;
  const { data: table, error, reload } = useApi(`source-table:${key}`, () => api.sourceTable(project.id, sourceName, schema, tableName));
  const [offset, setOffset] = useState(0);
  const [sort, setSort] = useState<Sort | null>(null);
  const { data: rows, error: rowsError } = useApi<Rows>(`source-rows:${key}:${offset}:${sort?.column}:${sort?.order}`, () =>
    api.sourceRows(project.id, sourceName, schema, tableName, { offset, limit: PAGE_ROWS, sort: sort?.column, order: sort?.order }),
  );
  const back = `/projects/${project.id}/data/sources/${encodeURIComponent(sourceName)}`;

  if (isNotFound(error)) {
    return (
      <div className="page">
        <NotFoundState what="Table" actions={<Link to={back}>Back to {sourceName}</Link>} />
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
  const shown = rows?.rows.length ?? 0;
  return (
    <div className="page">
      <Link to={back} className="back-link">
        <Icon name="arrowLeft" size={14} /> {sourceName}
      </Link>
      <div className="page-header">
        <div>
          <h1 className="page-title mono">
            {table.schema}.{table.name}
          </h1>
          <p className="page-subtitle">
            {table.columns.length} columns · in the data source <span className="mono">{sourceName}</span>, read-only
          </p>
        </div>
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
      </section>
      <section className="panel" aria-labelledby="preview-heading">
        <div className="panel-header">
          <h2 className="panel-title" id="preview-heading">
            Preview
          </h2>
          <div className="panel-tools">
            <span className="muted small" aria-live="polite">
              {shown === 0 ? 'No rows' : `Rows ${formatCount(offset + 1)}–${formatCount(offset + shown)}`}
            </span>
            <Button size="sm" onClick={() => setOffset(Math.max(0, offset - PAGE_ROWS))} disabled={offset === 0}>
              Previous
            </Button>
            <Button size="sm" onClick={() => setOffset(offset + PAGE_ROWS)} disabled={shown < PAGE_ROWS}>
              Next
            </Button>
          </div>
        </div>
        {rowsError ? (
          <ErrorState error={rowsError} title="Could not read the rows" />
        ) : !rows ? (
          <Skeleton width="100%" height={120} />
        ) : (
          <RowsGrid
            columns={rows.columns}
            rows={rows.rows}
            label={`Rows of ${table.schema}.${table.name}`}
            sort={sort}
            onSort={(s) => {
              setSort(s);
              setOffset(0);
            }}
          />
        )}
      </section>
    </div>
  );
}
