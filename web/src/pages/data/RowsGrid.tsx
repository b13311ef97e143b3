// A grid of rows as the API returns them (text, or null), optionally sortable by clicking a column's header.
import type { Column } from '../../api/types';
import { isNumeric } from './format';

export interface Sort {
  column: string;
  order: 'asc' | 'desc';
}

export function RowsGrid({
  columns,
  rows,
  label,
  sort,
  onSort,
}: {
  columns: Column[];
  rows: (string | null)[][];
  label: string;
  sort?: Sort | null;
  onSort?: (sort: Sort) => void;
}) {
  return (
    <div className="grid-scroll">
      <table className="data-grid" aria-label={label}>
        <thead>
          <tr>
            {columns.map((c) => {
              const sorted = sort?.column === c.name ? sort.order : null;
              return (
                <th
                  key={c.name}
                  scope="col"
                  className={isNumeric(c) ? 'num' : undefined}
                  aria-sort={sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : undefined}
                >
                  {onSort ? (
                    <button
                      type="button"
                      className="grid-sort"
                      onClick={() => onSort({ column: c.name, order: sorted === 'asc' ? 'desc' : 'asc' })}
                    >
                      {c.name}
                      <span className="grid-type">{c.type}</span>
                      <span aria-hidden="true">{sorted === 'asc' ? ' ▲' : sorted === 'desc' ? ' ▼' : ''}</span>
                    </button>
                  ) : (
                    <>
                      {c.name}
                      <span className="grid-type">{c.type}</span>
                    </>
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i}>
              {row.map((cell, j) => (
                <td key={j} className={columns[j] && isNumeric(columns[j]) ? 'num' : undefined}>
                  {cell === null ? <span className="null">null</span> : cell}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
