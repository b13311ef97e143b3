// Tests for useApi: a key's data is never shown under another key, an answer older than a local change does not undo it, a failed poll keeps the data, a vanished resource stops it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, renderHook } from '@testing-library/react';
import { ApiError } from '../api/client';
import { useApi } from './useApi';

afterEach(() => {
  vi.useRealTimers();
});

const gone = () => new ApiError(404, { code: 'app_not_found', message: 'there is no such app' });

describe('useApi keys', () => {
  it('never renders the previous key\'s data under a new key', async () => {
    const seen: [string, string | undefined][] = [];
    const fetcher = (key: string) => (key === 'a' ? Promise.resolve('rows of a') : new Promise<string>(() => {}));
    const { rerender } = renderHook(
      ({ k }) => {
        const { data } = useApi(k, () => fetcher(k));
        seen.push([k, data]);
        return data;
      },
      { initialProps: { k: 'a' } },
    );
    await act(async () => {});
    expect(seen.at(-1)).toEqual(['a', 'rows of a']);
    rerender({ k: 'b' });
    await act(async () => {});
    const underB = seen.filter(([k]) => k === 'b').map(([, data]) => data);
    expect(underB.length).toBeGreaterThan(0);
    expect(underB.every((data) => data === undefined)).toBe(true);
  });
});

describe('useApi local changes', () => {
  it('does not let an answer sent before a local change undo it', async () => {
    const answers: ((v: string[]) => void)[] = [];
    const fetcher = vi.fn(() => new Promise<string[]>((resolve) => answers.push(resolve)));
    const { result } = renderHook(() => useApi('members', fetcher));
    // A member is added while the list is still loading; the list was read before.
    act(() => result.current.setData((prev) => [...(prev ?? []), 'vera']));
    await act(async () => answers[0](['olive']));
    expect(result.current.data).toEqual(['vera']);
    // So the list is asked for again, and that answer is shown.
    expect(fetcher).toHaveBeenCalledTimes(2);
    await act(async () => answers[1](['olive', 'vera']));
    expect(result.current.data).toEqual(['olive', 'vera']);
  });
});

describe('useApi polling', () => {
  it('keeps the last good data through a failed poll', async () => {
    vi.useFakeTimers();
    const fetcher = vi
      .fn<() => Promise<number>>()
      .mockResolvedValueOnce(1)
      .mockRejectedValueOnce(new ApiError(503, { code: 'database_unavailable', message: 'down' }))
      .mockResolvedValue(2);
    const { result } = renderHook(() => useApi('k', fetcher, 1000));
    await act(async () => {});
    expect(result.current.data).toBe(1);
    await act(async () => vi.advanceTimersByTimeAsync(1000));
    expect(result.current.data).toBe(1);
    expect(result.current.error).toBeUndefined();
    await act(async () => vi.advanceTimersByTimeAsync(1000));
    expect(result.current.data).toBe(2);
  });

  it('shows a 404 from a poll and stops polling', async () => {
    vi.useFakeTimers();
    const fetcher = vi.fn<() => Promise<number>>().mockResolvedValueOnce(1).mockRejectedValue(gone());
    const { result } = renderHook(() => useApi('k', fetcher, 1000));
    await act(async () => {});
    await act(async () => vi.advanceTimersByTimeAsync(1000));
    expect(result.current.data).toBeUndefined();
    expect(result.current.error).toBeInstanceOf(ApiError);
    const calls = fetcher.mock.calls.length;
    await act(async () => vi.advanceTimersByTimeAsync(5000));
    expect(fetcher.mock.calls.length).toBe(calls);
  });
});
