// Follows a Server-Sent Events log stream (`log`, `end`, `error` events) into text state.
import { useCallback, useEffect, useRef, useState } from 'react';

export type StreamState = 'idle' | 'connecting' | 'streaming' | 'ended' | 'failed';

export interface EventStream {
  text: string;
  state: StreamState;
  /** The `end` event's data (a build's final status), or the error text. */
  outcome: string | null;
  retry: () => void;
  clear: () => void;
}

/** Keeps at most this many characters of a log in memory. */
const MAX_CHARS = 400_000;

/**
 * Connects to `url` (null disconnects). The server replays from the start on connect, so a
 * dropped connection is not auto-retried (that would duplicate text); `retry` reconnects afresh.
 */
export function useEventStream(url: string | null, onEnd?: (outcome: string) => void): EventStream {
  const [text, setText] = useState('');
  const [state, setState] = useState<StreamState>('idle');
  const [outcome, setOutcome] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const onEndRef = useRef(onEnd);
  onEndRef.current = onEnd;

  useEffect(() => {
    setText('');
    setOutcome(null);
    if (!url || typeof EventSource === 'undefined') {
      setState('idle');
      return;
    }
    setState('connecting');
    const source = new EventSource(url, { withCredentials: true });
    let done = false;
    source.onopen = () => {
      if (!done) setState('streaming');
    };
    source.addEventListener('log', (e) => {
      const chunk = (e as MessageEvent<string>).data ?? '';
      setState('streaming');
      setText((prev) => {
        // Chunks are byte ranges of the log, so lines may span two of them.
        const next = prev + chunk;
        return next.length > MAX_CHARS ? next.slice(next.length - MAX_CHARS) : next;
      });
    });
    source.addEventListener('end', (e) => {
      done = true;
      const data = (e as MessageEvent<string>).data ?? '';
      source.close();
      setOutcome(data);
      setState('ended');
      onEndRef.current?.(data);
    });
    source.addEventListener('error', (e) => {
      if (done) return;
      done = true;
      source.close();
      const data = (e as MessageEvent<string>).data;
      setOutcome(typeof data === 'string' && data ? data : null);
      setState('failed');
    });
    return () => {
      done = true;
      source.close();
    };
  }, [url, attempt]);

  const retry = useCallback(() => setAttempt((n) => n + 1), []);
  const clear = useCallback(() => setText(''), []);
  return { text, state, outcome, retry, clear };
}
