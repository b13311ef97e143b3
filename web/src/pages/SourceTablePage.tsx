// One table of an external source: its columns with PostgreSQL's types, and a preview that pages and sorts.
import { Link, useParams } from 'react-router-dom';
import { api } from '../api/endpoints';
import { useApi } from '../hooks/useApi';
import { useProject } from '../hooks/useProject';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { ErrorState, NotFoundState, isNotFound } from '../components/States';
import { Skeleton } from '../components/Spinner';
import { Icon } from '../components/Icon';
import { RowsPreview } from './data/RowsPreview';

export function SourceTablePage() {
  const { project } = useProject();
  const { sourceName = '', schema = '', tableName = '' } = useParams();
  useDocumentTitle(`${schema}.${tableName}`, project.name);
  const key = `${project.id}:${sourceName}:${schema}:${tableName}`;
  const { data: table, error, reload } = useApi(`source-table:${key}`, () => api.sourceTable(project.id, sourceName, schema, tableName));
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
      <RowsPreview
        label={`Rows of ${table.schema}.${table.name}`}
        cacheKey={`source-rows:${key}`}
        load={(page) => api.sourceRows(project.id, sourceName, schema, tableName, page)}
      />
    </div>
  );
}
