// The binary frames of a workspace terminal's WebSocket, and the bookkeeping around them:
// which output bytes are new, when to acknowledge, what Run types.

/** Browser to server. */
export const INPUT = 0x00;
export const RESIZE = 0x01;
export const ACK = 0x02;

/** Server to browser. */
export const OUTPUT = 0x01;
export const REPLAY = 0x02;
export const EXIT = 0x03;

export type Frame =
  | { kind: 'output' | 'replay'; offset: number; data: Uint8Array }
  | { kind: 'exit'; code: number };

const encoder = new TextEncoder();

/** What the person typed or pasted (`term.onData`), as UTF-8. */
export function encodeInput(text: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(text);
  const out = new Uint8Array(1 + bytes.length);
  out[0] = INPUT;
  out.set(bytes, 1);
  return out;
}

/** Raw bytes from `term.onBinary`: one byte per character. */
export function encodeBinaryInput(binary: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(1 + binary.length);
  out[0] = INPUT;
  for (let i = 0; i < binary.length; i++) out[i + 1] = binary.charCodeAt(i) & 0xff;
  return out;
}

export function encodeResize(cols: number, rows: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(5);
  const view = new DataView(out.buffer);
  out[0] = RESIZE;
  view.setUint16(1, clampU16(cols));
  view.setUint16(3, clampU16(rows));
  return out;
}

/** Everything below `offset` has been written to the terminal. */
export function encodeAck(offset: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(9);
  out[0] = ACK;
  new DataView(out.buffer).setBigUint64(1, BigInt(Math.max(0, Math.floor(offset))));
  return out;
}

function clampU16(n: number): number {
  return Math.min(0xffff, Math.max(1, Math.floor(n) || 1));
}

/** Reads a frame from the server; null for anything malformed or unknown. */
export function decodeFrame(buf: ArrayBuffer | Uint8Array): Frame | null {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  if (bytes.length === 0) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (bytes[0]) {
    case OUTPUT:
    case REPLAY: {
      if (bytes.length < 9) return null;
      const offset = Number(view.getBigUint64(1));
      return { kind: bytes[0] === OUTPUT ? 'output' : 'replay', offset, data: bytes.subarray(9) };
    }
    case EXIT:
      if (bytes.length < 5) return null;
      return { kind: 'exit', code: view.getInt32(1) };
    default:
      return null;
  }
}

/**
 * The output stream as far as the page has written it. `seen` is the offset just past the
 * last byte written; bytes below it are never written again.
 */
export class OutputCursor {
  constructor(public seen = 0) {}

  /**
   * The part of a chunk at `offset` not written yet (possibly empty), and whether output
   * between what was seen and this chunk is missing (the server no longer holds it).
   */
  take(offset: number, data: Uint8Array): { bytes: Uint8Array; dropped: boolean; end: number } {
    const end = offset + data.length;
    const dropped = offset > this.seen;
    if (end <= this.seen) return { bytes: data.subarray(0, 0), dropped: false, end: this.seen };
    const bytes = offset < this.seen ? data.subarray(this.seen - offset) : data;
    this.seen = end;
    return { bytes, dropped, end };
  }
}

/**
 * When to acknowledge written output: once `every` bytes are written past the last
 * acknowledgement, and whenever the last pending write finishes (the end of a burst).
 */
export class Acker {
  private pending = 0;
  private written: number;

  constructor(
    private readonly send: (offset: number) => void,
    private acked = 0,
    private readonly every = 64 * 1024,
  ) {
    this.written = acked;
  }

  /** A write to the terminal began. */
  begin(): void {
    this.pending += 1;
  }

  /** A write that began finished; the stream is written up to `offset`. */
  done(offset: number): void {
    this.pending = Math.max(0, this.pending - 1);
    if (offset > this.written) this.written = offset;
    if (this.written > this.acked && (this.pending === 0 || this.written - this.acked >= this.every)) {
      this.acked = this.written;
      this.send(this.acked);
    }
  }
}

/** Quotes a string for the shell: inside single quotes, each ' as '\''. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What Run types into the terminal for a Python file. */
export function runCommand(path: string): string {
  return `python3 ${shellQuote(path)}\r`;
}

/** The URL a terminal link may open: only http and https, else null. */
export function safeLink(uri: string): string | null {
  try {
    const url = new URL(uri);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** Reconnect delays: 0.5, 1, 2, 4 s, then 5 s. */
export function backoff(attempt: number): number {
  return Math.min(5000, 500 * 2 ** Math.max(0, attempt));
}
