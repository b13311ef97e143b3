// Same-origin fetch wrapper: JSON in and out, cookie auth, and typed ApiError parsing.
import type { ErrorInfo, Finding } from './types';

/** An error answered by the API (or a network failure, with status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  readonly details: Finding[];

  constructor(status: number, info: ErrorInfo) {
    super(info.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = info.code;
    this.field = info.field ?? undefined;
    this.details = Array.isArray(info.details) ? info.details : [];
  }

  get isNotFound(): boolean {
    return this.status === 404;
  }
}

function fallbackMessage(status: number, statusText: string): string {
  if (status === 413) return 'The upload is too large.';
  if (status === 429) return 'Too many attempts. Wait a moment and try again.';
  if (status >= 500) return `The server had a problem (${status}). Try again in a moment.`;
  return statusText ? `${status} ${statusText}` : `Request failed (${status}).`;
}

/** Turns an error response into an ApiError, whatever its body looks like. */
export async function parseError(res: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await res.text();
  } catch {
    // The body could not be read; fall back to the status line.
  }
  try {
    const body: unknown = JSON.parse(text);
    const info = (body as { error?: Partial<ErrorInfo> } | null)?.error;
    if (info && typeof info.message === 'string') {
      return new ApiError(res.status, {
        code: typeof info.code === 'string' ? info.code : 'error',
        message: info.message,
        field: typeof info.field === 'string' ? info.field : undefined,
        details: Array.isArray(info.details) ? info.details : undefined,
      });
    }
  } catch {
    // Not JSON: use the text if it is short and readable.
  }
  const trimmed = text.trim();
  const message =
    trimmed && trimmed.length < 300 && !trimmed.startsWith('<')
      ? trimmed
      : fallbackMessage(res.status, res.statusText);
  return new ApiError(res.status, { code: `http_${res.status}`, message });
}

type UnauthorizedListener = () => void;
let onUnauthorized: UnauthorizedListener | null = null;

/** Registers what happens when a request finds the session gone (401). */
export function setUnauthorizedHandler(fn: UnauthorizedListener | null): void {
  onUnauthorized = fn;
}

export interface RequestOptions {
  json?: unknown;
  form?: FormData;
  signal?: AbortSignal;
  /** Do not report a 401 to the global handler (for /me and sign-in). */
  quiet401?: boolean;
}

/** Sends a request to the API and returns the parsed JSON (or undefined for 204). */
export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  let body: BodyInit | undefined;
  if (opts.form) {
    body = opts.form;
  } else if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body,
      credentials: 'same-origin',
      signal: opts.signal,
    });
  } catch (e) {
    if ((e as Error)?.name === 'AbortError') throw e;
    throw new ApiError(0, {
      code: 'network_error',
      message: 'Could not reach the server. Check your connection and try again.',
    });
  }
  if (!res.ok) {
    const err = await parseError(res);
    if (res.status === 401 && !opts.quiet401) onUnauthorized?.();
    throw err;
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * Sends a form with upload progress (fetch reports none), as `request` does otherwise:
 * the parsed JSON back, or an `ApiError` in the API's shape.
 */
export function upload<T>(method: string, path: string, form: FormData, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.withCredentials = true;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () =>
      reject(new ApiError(0, { code: 'network_error', message: 'Could not reach the server. Check your connection and try again.' }));
    xhr.onload = () => {
      const res = new Response(xhr.responseText || null, {
        status: xhr.status,
        headers: { 'Content-Type': xhr.getResponseHeader('Content-Type') ?? 'application/json' },
      });
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve((xhr.responseText ? JSON.parse(xhr.responseText) : undefined) as T);
        return;
      }
      void parseError(res).then((err) => {
        if (xhr.status === 401) onUnauthorized?.();
        reject(err);
      });
    };
    xhr.send(form);
  });
}

/** The message to show for any thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
