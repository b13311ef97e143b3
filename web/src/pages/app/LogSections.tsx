// Build log (per version, live over SSE) and app output (tail + follow) panels.
import { useState } from 'react';
import type { Version } from '../../api/types';
import type { EventStream } from '../../hooks/useEventStream';
import { LogPanel } from '../../components/LogPanel';
import { BuildBadge } from '../../components/StatusBadge';
import { Button } from '../../components/Button';
import { Spinner } from '../../components/Spinner';
import { Icon } from '../../components/Icon';

function streamNote(stream: EventStream, what: string) {
  switch (stream.state) {
    case 'connecting':
      return (
        <span className="log-state">
          <Spinner size={12} /> Connecting…
        </span>
      );
    case 'streaming':
      return (
        <span className="log-state log-state-live">
          <span className="live-dot" aria-hidden="true" /> Live
        </span>
      );
    case 'ended':
      return <span className="log-state">{what} ended{stream.outcome ? `: ${stream.outcome}` : ''}</span>;
    case 'failed':
      return (
        <span className="log-state log-state-failed">
          {stream.outcome ?? 'Disconnected'}
          <Button size="sm" variant="ghost" onClick={stream.retry} icon={<Icon name="refresh" size={12} />}>
            Reconnect
          </Button>
        </span>
      );
    default:
      return null;
  }
}

export function BuildLogSection({
  versions,
  selected,
  onSelect,
  stream,
}: {
  versions: Version[];
  selected: Version | undefined;
  onSelect: (n: number) => void;
  stream: EventStream;
}) {
  return (
    <section className="panel" aria-labelledby="build-log-heading" id="build-log">
      <div className="panel-header">
        <h2 className="panel-title" id="build-log-heading">
          Build log
        </h2>
        <div className="panel-tools">
          {selected && <BuildBadge status={selected.build.status} />}
          {versions.length > 0 && (
            <>
              <label htmlFor="build-log-version" className="sr-only">
                Build log for version
              </label>
              <select
                id="build-log-version"
                className="input select input-sm"
                value={selected?.number ?? ''}
                onChange={(e) => onSelect(Number(e.target.value))}
              >
                {versions.map((v) => (
                  <option key={v.number} value={v.number}>
                    Version {v.number}
                    {v.active ? ' (active)' : ''}
                  </option>
                ))}
              </select>
            </>
          )}
        </div>
      </div>
      <LogPanel
        label="Build log"
        testId="build-log"
        text={stream.text}
        placeholder={selected ? (stream.state === 'ended' ? 'This build wrote no output.' : 'Waiting for build output…') : 'No builds yet.'}
        footer={streamNote(stream, 'Build')}
      />
    </section>
  );
}

const TAILS = [200, 1000, 5000] as const;

export function tailLines(text: string, n: number): string {
  if (!text) return text;
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  return lines.slice(-n).join('\n') + '\n';
}

export function AppLogsSection({ stream, running }: { stream: EventStream; running: boolean }) {
  const [tail, setTail] = useState<number>(1000);
  const [follow, setFollow] = useState(true);
  return (
    <section className="panel" aria-labelledby="app-logs-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="app-logs-heading">
          App logs
        </h2>
        <div className="panel-tools">
          <label htmlFor="app-logs-tail" className="small muted">
            Tail
          </label>
          <select id="app-logs-tail" className="input select input-sm" value={tail} onChange={(e) => setTail(Number(e.target.value))}>
            {TAILS.map((n) => (
              <option key={n} value={n}>
                {n} lines
              </option>
            ))}
          </select>
          <label className="toggle">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} />
            <span className="toggle-track" aria-hidden="true" />
            Follow
          </label>
          <Button size="sm" variant="ghost" onClick={stream.retry} aria-label="Reload app logs" icon={<Icon name="refresh" size={14} />} />
        </div>
      </div>
      <LogPanel
        label="App logs"
        testId="app-logs"
        text={tailLines(stream.text, tail)}
        follow={follow}
        placeholder={running ? 'Waiting for output…' : 'The app is not running. Its output appears here while it runs.'}
        footer={running ? streamNote(stream, 'Stream') : <span className="log-state">Not running</span>}
      />
    </section>
  );
}
