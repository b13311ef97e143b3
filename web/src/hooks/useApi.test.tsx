// Tests for useApi's polling: a failed poll keeps the data, a vanished resource stops it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, renderHook } from '@testing-library/react';
import { ApiError } from '../api/client';
import { useApi } from './useApi';

afterEach(() => {
  vi.useRealTimers();
});

const gone = () => new ApiError(404, { code: 'app_not_found', message: 'there is no such app' });

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
