// Upload a CSV or Parquet file as a table: Burrow infers the column types from the file's start, a person corrects them, and the upload shows its progress.
import { useState, type FormEvent } from 'react';
import { api } from '../../api/endpoints';
import { errorMessage } from '../../api/client';
import { COLUMN_TYPES, type Column, type DataTable, type Rows } from '../../api/types';
import { Dialog } from '../../components/Dialog';
import { DropZone } from '../../components/DropZone';
import { FormError, TextField } from '../../components/Field';
import { Button } from '../../components/Button';
import { RowsGrid } from './RowsGrid';
import { tableNameFrom } from './format';

/** How much of a CSV is read to infer its types; a Parquet file is sent whole (its types are in its footer). */
const HEAD_BYTES = 1 << 20;

export function UploadTableDialog({
  projectId,
  replacing,
  onClose,
  onSaved,
}: {
  projectId: string;
  /** The table whose contents the file replaces; a new table otherwise. */
  replacing?: DataTable;
  onClose: () => void;
  onSaved: (table: DataTable) => void;
}) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState(replacing?.name ?? '');
  const [inferred, setInferred] = useState<Rows | null>(null);
  const [columns, setColumns] = useState<Column[]>([]);
  const [inferring, setInferring] = useState(false);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  const choose = async (f: File | null) => {
    setFile(f);
    setInferred(null);
    setError(null);
    if (!f) return;
    if (!replacing) setName(tableNameFrom(f.name));
    setInferring(true);
    try {
      const isCsv = f.name.toLowerCase().endsWith('.csv');
      const rows = await api.inferTable(projectId, isCsv ? f.slice(0, HEAD_BYTES) : f, f.name);
      setInferred(rows);
      setColumns(rows.columns);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setInferring(false);
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setProgress(0);
    try {
      const table = await api.saveTable(projectId, name.trim(), file, columns, !!replacing, setProgress);
      onSaved(table);
    } catch (err) {
      setError(errorMessage(err));
      setProgress(null);
    }
  };

  const busy = progress !== null;
  return (
    <Dialog
      title={replacing ? `Replace ${replacing.name}` : 'Upload a table'}
      description={
        replacing
          ? 'The new file becomes the table at once; queries running now finish on the old contents.'
          : 'A CSV or Parquet file. Check the column types Burrow found, and correct any before saving.'
      }
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" form="upload-table" variant="primary" loading={busy} disabled={!inferred || !name.trim()}>
            {replacing ? 'Replace table' : 'Create table'}
          </Button>
        </>
      }
    >
      <form id="upload-table" className="stack" onSubmit={(e) => void submit(e)}>
        <DropZone label="Table file" file={file} onFile={(f) => void choose(f)} accept=".csv,.parquet" kinds=".csv or .parquet" />
        {inferring && <p className="muted small">Reading the file's columns…</p>}
        {inferred && (
          <>
            {!replacing && (
              <TextField
                label="Table name"
                hint="What SQL calls it: lowercase letters, digits and underscores."
                value={name}
                onChange={(e) => setName(e.target.value)}
                required
              />
            )}
            <fieldset className="column-types">
              <legend>Column types</legend>
              {columns.map((c, i) => (
                <label key={c.name} className="column-type">
                  <span className="mono">{c.name}</span>
                  <select
                    aria-label={`Type of ${c.name}`}
                    value={c.type}
                    onChange={(e) => setColumns(columns.map((col, j) => (j === i ? { ...col, type: e.target.value } : col)))}
                  >
                    {COLUMN_TYPES.map((t) => (
                      <option key={t} value={t}>
                        {t}
                      </option>
                    ))}
                  </select>
                </label>
              ))}
            </fieldset>
            <p className="muted small">The first rows, as read with the types found:</p>
            <RowsGrid columns={inferred.columns} rows={inferred.rows.slice(0, 8)} label="First rows of the file" />
          </>
        )}
        {progress !== null && (
          <div className="upload-progress">
            <progress max={1} value={progress} aria-label="Upload progress" />
            <span className="muted small">
              {progress < 1 ? `Uploading… ${Math.round(progress * 100)}%` : 'Checking every value and writing the table…'}
            </span>
          </div>
        )}
        {error && <FormError>{error}</FormError>}
      </form>
    </Dialog>
  );
}
