// Tests for the API client's error parsing and request handling.
import { describe, expect, it, vi } from 'vitest';
import { ApiError, parseError, request, setUnauthorizedHandler } from './client';
import { sourceBody } from './endpoints';
import { mockFetch } from '../test/utils';

describe('parseError', () => {
  it('reads code, message, field and details from the error body', async () => {
    const res = new Response(
      JSON.stringify({
        error: {
          code: 'bundle_refused',
          message: 'the bundle was refused',
          field: 'file',
          details: [{ file: 'app.py', line: 3, message: 'os.system is not allowed' }],
        },
      }),
      { status: 422 },
    );
    const err = await parseError(res);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(422);
    expect(err.code).toBe('bundle_refused');
    expect(err.message).toBe('the bundle was refused');
    expect(err.field).toBe('file');
    expect(err.details).toEqual([{ file: 'app.py', line: 3, message: 'os.system is not allowed' }]);
  });

  it('falls back to a readable message when the body is not the error shape', async () => {
    const err = await parseError(new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    expect(err.status).toBe(502);
    expect(err.code).toBe('http_502');
    expect(err.message).toMatch(/server had a problem/i);
    expect(err.details).toEqual([]);
  });

  it('uses short plain-text bodies as the message', async () => {
    const err = await parseError(new Response('Too many requests, slow down', { status: 429 }));
    expect(err.message).toBe('Too many requests, slow down');
  });
});

describe('request', () => {
  it('sends JSON with same-origin credentials and parses the answer', async () => {
    const calls = mockFetch(() => ({ status: 201, body: { id: 'p1' } }));
    const out = await request<{ id: string }>('POST', '/api/v1/projects', { json: { name: 'X' } });
    expect(out).toEqual({ id: 'p1' });
    expect(calls[0]).toMatchObject({ method: 'POST', url: '/api/v1/projects', body: { name: 'X' } });
    const init = vi.mocked(fetch).mock.calls[0][1]!;
    expect(init.credentials).toBe('same-origin');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
  });

  it('throws ApiError with the server message and reports a 401', async () => {
    mockFetch(() => ({ status: 401, body: { error: { code: 'unauthenticated', message: 'sign in first' } } }));
    const onUnauthorized = vi.fn();
    setUnauthorizedHandler(onUnauthorized);
    await expect(request('GET', '/api/v1/projects')).rejects.toMatchObject({ status: 401, message: 'sign in first' });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    setUnauthorizedHandler(null);
  });

  it('returns undefined for 204', async () => {
    mockFetch(() => ({ status: 204 }));
    await expect(request('DELETE', '/api/v1/projects/p1')).resolves.toBeUndefined();
  });

  it('turns network failures into a friendly ApiError', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    await expect(request('GET', '/api/v1/me')).rejects.toMatchObject({ status: 0, code: 'network_error' });
  });
});

describe('sourceBody', () => {
  it('builds multipart with file, name and description for uploads', () => {
    const file = new File(['print(1)'], 'app.py');
    const { form, json } = sourceBody({ kind: 'file', file }, { name: 'A', description: 'B' });
    expect(json).toBeUndefined();
    expect(form!.get('name')).toBe('A');
    expect(form!.get('description')).toBe('B');
    expect((form!.get('file') as File).name).toBe('app.py');
  });
});
