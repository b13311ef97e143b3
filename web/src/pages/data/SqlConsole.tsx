// The SQL console: one read-only statement over the project's tables or one of its data sources, its result in a grid with the time taken and the rows returned.
import { useState, type FormEvent } from 'react';
import { api } from '../../api/endpoints';
import { errorMessage } from '../../api/client';
import type { QueryResult } from '../../api/types';
import { Button } from '../../components/Button';
import { FormError } from '../../components/Field';
import { Icon } from '../../components/Icon';
import { RowsGrid } from './RowsGrid';
import { formatCount } from './format';

export function SqlConsole({ projectId, initial, sources = [] }: { projectId: string; initial: string; sources?: string[] }) {
  const [sql, setSql] = useState(initial);
  const [target, setTarget] = useState('');
  const [result, setResult] = useState<QueryResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (e?: FormEvent) => {
    e?.preventDefault();
    if (!sql.trim() || busy) return;
    setBusy(true);
    setError(null);
    try {
      setResult(await api.query(projectId, sql, target || undefined));
    } catch (err) {
      setError(errorMessage(err));
      setResult(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="console-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="console-heading">
          <Icon name="code" size={16} /> SQL console
        </h2>
        <span className="muted small">Read-only · one statement · Ctrl+Enter runs it</span>
      </div>
      <form className="stack" onSubmit={(e) => void run(e)}>
        <textarea
          className="sql-input mono"
          aria-label="SQL statement"
          spellCheck={false}
          rows={5}
          value={sql}
          onChange={(e) => setSql(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void run();
          }}
        />
        <div className="row">
          {sources.length > 0 && (
            <label className="row small">
              Run on
              <select className="input select" aria-label="Run on" value={target} onChange={(e) => setTarget(e.target.value)}>
                <option value="">Project tables (DataFusion SQL)</option>
                {sources.map((s) => (
                  <option key={s} value={s}>
                    {s} (PostgreSQL)
                  </option>
                ))}
              </select>
            </label>
          )}
          <Button type="submit" variant="primary" loading={busy} icon={<Icon name="play" />}>
            Run
          </Button>
          {result && (
            <span className="muted small" aria-live="polite">
              {formatCount(result.row_count)} {result.row_count === 1 ? 'row' : 'rows'} in {result.elapsed_ms} ms
              {result.shown < result.row_count && ` · showing the first ${formatCount(result.shown)}`}
            </span>
          )}
        </div>
        {error && <FormError>{error}</FormError>}
      </form>
      {result && <RowsGrid columns={result.columns} rows={result.rows} label="Query result" />}
    </section>
  );
}
