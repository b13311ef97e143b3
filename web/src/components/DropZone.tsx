// Drag-and-drop file zone wrapping a real, labelled file input (.py or .zip by default).
import { useId, useState } from 'react';
import { Icon } from './Icon';

export const ACCEPTED = '.py,.zip';

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function DropZone({
  label,
  file,
  onFile,
  error,
  accept = ACCEPTED,
  kinds = '.py or .zip',
}: {
  label: string;
  file: File | null;
  onFile: (file: File | null) => void;
  error?: string | null;
  /** The extensions taken, as the input's `accept`. */
  accept?: string;
  /** The same, as people read it: ".py or .zip". */
  kinds?: string;
}) {
  const id = useId();
  const [over, setOver] = useState(false);
  const [localError, setLocalError] = useState<string | null>(null);

  const take = (f: File | undefined | null) => {
    if (!f) return;
    const name = f.name.toLowerCase();
    if (!accept.split(',').some((ext) => name.endsWith(ext.trim()))) {
      setLocalError(`${f.name} is not a ${kinds} file.`);
      return;
    }
    setLocalError(null);
    onFile(f);
  };

  const shownError = localError ?? error;
  return (
    <div className="dropzone-field">
      <input
        id={id}
        type="file"
        accept={accept}
        className="sr-only-input"
        aria-label={label}
        aria-invalid={shownError ? true : undefined}
        aria-describedby={[file ? `${id}-file` : '', shownError ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined}
        onChange={(e) => {
          take(e.target.files?.[0]);
          e.target.value = '';
        }}
      />
      <label
        htmlFor={id}
        className={['dropzone', over ? 'dropzone-over' : '', file ? 'dropzone-has-file' : '', shownError ? 'dropzone-invalid' : '']
          .filter(Boolean)
          .join(' ')}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          take(e.dataTransfer.files?.[0]);
        }}
      >
        <span className="sr-only">{label}</span>
        <span className="dropzone-icon" aria-hidden="true">
          <Icon name={file ? 'file' : 'upload'} size={22} />
        </span>
        {file ? (
          <span className="dropzone-text" id={`${id}-file`} aria-live="polite">
            <strong>{file.name}</strong>
            <span className="muted"> · {size(file.size)} · click or drop to replace</span>
          </span>
        ) : (
          <span className="dropzone-text" aria-hidden="true">
            <strong>Drop a {kinds} here</strong>
            <span className="muted"> or click to choose a file</span>
          </span>
        )}
      </label>
      {shownError && (
        <p className="field-error" id={`${id}-error`}>
          {shownError}
        </p>
      )}
    </div>
  );
}
