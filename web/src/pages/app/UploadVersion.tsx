// "Upload new version" form: a .py/.zip bundle or pasted code, with inline 422 findings.
import { useState, type FormEvent } from 'react';
import { api } from '../../api/endpoints';
import { ApiError, errorMessage } from '../../api/client';
import type { AppSource, Finding, Version } from '../../api/types';
import { DropZone } from '../../components/DropZone';
import { CodeEditor } from '../../components/CodeEditorLazy';
import { Findings } from '../../components/Findings';
import { FormError } from '../../components/Field';
import { Button } from '../../components/Button';
import { STARTER_CODE } from '../../lib/starter';
import { findingLines } from '../NewAppPage';

export function UploadVersion({
  projectId,
  appId,
  onUploaded,
  onCancel,
}: {
  projectId: string;
  appId: string;
  onUploaded: (v: Version) => void;
  onCancel: () => void;
}) {
  const [mode, setMode] = useState<'file' | 'code'>('file');
  const [file, setFile] = useState<File | null>(null);
  const [code, setCode] = useState(STARTER_CODE);
  const [busy, setBusy] = useState(false);
  const [findings, setFindings] = useState<Finding[]>([]);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setFindings([]);
    setError(null);
    let source: AppSource;
    if (mode === 'file') {
      if (!file) {
        setError('Choose a .py or .zip file first.');
        return;
      }
      source = { kind: 'file', file };
    } else {
      if (!code.trim()) {
        setError('Paste the code of app.py first.');
        return;
      }
      source = { kind: 'code', code };
    }
    setBusy(true);
    try {
      const version = await api.addVersion(projectId, appId, source);
      onUploaded(version);
    } catch (err) {
      setBusy(false);
      if (err instanceof ApiError && err.details.length > 0) setFindings(err.details);
      setError(errorMessage(err));
    }
  };

  return (
    <form className="upload-version" onSubmit={submit} noValidate aria-label="Upload new version">
      <div className="segmented" role="group" aria-label="Upload from">
        <button type="button" className="segmented-item" aria-pressed={mode === 'file'} onClick={() => setMode('file')}>
          File
        </button>
        <button type="button" className="segmented-item" aria-pressed={mode === 'code'} onClick={() => setMode('code')}>
          Paste code
        </button>
      </div>
      {mode === 'file' ? (
        <DropZone label="Bundle file" file={file} onFile={setFile} />
      ) : (
        <div className="editor-frame">
          <CodeEditor value={code} onChange={setCode} ariaLabel="app.py" markedLines={findingLines(findings)} minHeight={240} />
        </div>
      )}
      {findings.length > 0 ? <Findings findings={findings} title={error ?? undefined} /> : <FormError>{error}</FormError>}
      <div className="row-end">
        <Button variant="ghost" onClick={onCancel}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" loading={busy}>
          Upload
        </Button>
      </div>
    </form>
  );
}
