// A table's preview panel: a page of rows at a time, Previous and Next, sorted by clicking a column's header; for project tables and a source's alike.
import { useState } from 'react';
import type { Rows } from '../../api/types';
import { useApi } from '../../hooks/useApi';
import { Button } from '../../components/Button';
import { ErrorState } from '../../components/States';
import { Skeleton } from '../../components/Spinner';
import { RowsGrid, type Sort } from './RowsGrid';
import { formatCount } from './format';

export const PAGE_ROWS = 50;

export interface Page {
  offset: number;
  limit: number;
  sort?: string;
  order?: 'asc' | 'desc';
}

/**
 * `cacheKey` names the table (and its version, when it has one); `total` is its row count when
 * known, else the last page is the first one shorter than a page.
 */
export function RowsPreview({
  label,
  cacheKey,
  load,
  total,
}: {
  label: string;
  cacheKey: string;
  load: (page: Page) => Promise<Rows>;
  total?: number;
}) {
  const [offset, setOffset] = useState(0);
  const [sort, setSort] = useState<Sort | null>(null);
  const { data: rows, error } = useApi<Rows>(`${cacheKey}:${offset}:${sort?.column}:${sort?.order}`, () =>
    load({ offset, limit: PAGE_ROWS, sort: sort?.column, order: sort?.order }),
  );
  const shown = rows?.rows.length ?? 0;
  const last = total === undefined ? offset + shown : Math.min(offset + PAGE_ROWS, total);
  const atEnd = total === undefined ? shown < PAGE_ROWS : last >= total;
  const empty = total === undefined ? shown === 0 : total === 0;
  return (
    <section className="panel" aria-labelledby="preview-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="preview-heading">
          Preview
        </h2>
        <div className="panel-tools">
          <span className="muted small" aria-live="polite">
            {empty
              ? 'No rows'
              : `Rows ${formatCount(offset + 1)}–${formatCount(last)}${total === undefined ? '' : ` of ${formatCount(total)}`}`}
          </span>
          <Button size="sm" onClick={() => setOffset(Math.max(0, offset - PAGE_ROWS))} disabled={offset === 0}>
            Previous
          </Button>
          <Button size="sm" onClick={() => setOffset(offset + PAGE_ROWS)} disabled={atEnd}>
            Next
          </Button>
        </div>
      </div>
      {error ? (
        <ErrorState error={error} title="Could not read the rows" />
      ) : !rows ? (
        <Skeleton width="100%" height={120} />
      ) : (
        <RowsGrid
          columns={rows.columns}
          rows={rows.rows}
          label={label}
          sort={sort}
          onSort={(s) => {
            setSort(s);
            setOffset(0);
          }}
        />
      )}
    </section>
  );
}
