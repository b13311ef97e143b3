// The warnings that a running workspace stops soon, from the times the API gives as RFC 3339 text.
import { describe, expect, it } from 'vitest';
import { stopWarnings } from './WorkspacePage';
import type { Workspace } from '../api/types';

const now = Date.parse('2026-06-01T12:00:00Z');
const at = (minutes: number) => new Date(now + minutes * 60_000).toISOString();

function running(idleStops: string | null, stops: string | null): Workspace {
  return {
    id: 'w1',
    name: 'analysis',
    owner: 'Ada Lovelace',
    files: 1,
    bytes: 10,
    created_at: at(-600),
    updated_at: at(-1),
    status: 'running',
    error: null,
    started_at: at(-240),
    last_active_at: at(-28),
    idle_stops_at: idleStops,
    stops_at: stops,
    sync_problems: [],
    template_id: null,
    template: null,
  };
}

describe('stopWarnings', () => {
  it('warns of an idle stop in the next minutes, as the server words its times', () => {
    const [warning] = stopWarnings(running(at(2), at(60)), now);
    expect(warning).toContain('stops in 2 min: nobody has used it for a while');
  });

  it('warns of the lifetime ending, with the limit in hours', () => {
    expect(stopWarnings(running(at(30), at(3)), now)).toEqual([
      'This workspace stops in 3 min (4-hour limit); your files are kept.',
    ]);
  });

  it('says nothing while the stops are far off, or once it is stopped', () => {
    expect(stopWarnings(running(at(20), at(120)), now)).toEqual([]);
    expect(stopWarnings({ ...running(at(1), at(1)), status: 'stopped' }, now)).toEqual([]);
  });
});
