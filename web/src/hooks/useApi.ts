// Loads data from the API with loading/error state, manual reload, local changes and optional silent polling.
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client';

export interface ApiState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => Promise<void>;
  setData: (update: T | ((prev: T | undefined) => T)) => void;
}

/**
 * Runs `fetcher` when `key` changes (null skips). With `pollMs`, refreshes silently on that
 * interval while the page is visible; a failed poll keeps the last good data, unless the
 * thing is gone (404, 403, or signed out): then the error shows and polling stops.
 */
export function useApi<T>(key: string | null, fetcher: () => Promise<T>, pollMs?: number): ApiState<T> {
  // The data with the key it was loaded for: the first render after the key changes must
  // not show the previous key's data under the new one (rows of one sort order under the
  // other's header).
  const [loaded, setLoaded] = useState<{ key: string | null; data: T | undefined }>({ key: null, data: undefined });
  const keyRef = useRef(key);
  keyRef.current = key;
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState<boolean>(key !== null);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;
  const generation = useRef(0);
  const stopped = useRef(false);
  // Local changes (`setData`) so far: an answer to a request sent before one of them may
  // not include it, so it is not shown; the data is asked for again instead.
  const edits = useRef(0);

  const load = useCallback(async function run(silent: boolean): Promise<void> {
    const gen = generation.current;
    const loadedKey = keyRef.current;
    const editsBefore = edits.current;
    if (!silent) setLoading(true);
    try {
      const value = await fetcherRef.current();
      if (gen !== generation.current) return;
      if (edits.current !== editsBefore) {
        void run(true);
        return;
      }
      setLoaded({ key: loadedKey, data: value });
      setError(undefined);
    } catch (e) {
      if (gen !== generation.current) return;
      const gone = e instanceof ApiError && [401, 403, 404].includes(e.status);
      if (gone) {
        stopped.current = true;
        setLoaded({ key: loadedKey, data: undefined });
      }
      if (!silent || gone) setError(e);
    } finally {
      if (gen === generation.current && !silent) setLoading(false);
    }
  }, []);

  useEffect(() => {
    generation.current += 1;
    stopped.current = false;
    setLoaded({ key, data: undefined });
    setError(undefined);
    if (key === null) {
      setLoading(false);
      return;
    }
    void load(false);
  }, [key, load]);

  useEffect(() => {
    if (key === null || !pollMs) return;
    const id = window.setInterval(() => {
      if (document.visibilityState !== 'hidden' && !stopped.current) void load(true);
    }, pollMs);
    return () => window.clearInterval(id);
  }, [key, pollMs, load]);

  const reload = useCallback(() => load(false), [load]);
  const refresh = useCallback(() => load(true), [load]);
  const setData = useCallback((update: T | ((prev: T | undefined) => T)) => {
    edits.current += 1;
    setLoaded((prev) => {
      const current = prev.key === keyRef.current ? prev.data : undefined;
      const data = typeof update === 'function' ? (update as (p: T | undefined) => T)(current) : update;
      return { key: keyRef.current, data };
    });
  }, []);

  const data = loaded.key === key ? loaded.data : undefined;

  return { data, error, loading, reload: data === undefined ? reload : refresh, setData };
}
