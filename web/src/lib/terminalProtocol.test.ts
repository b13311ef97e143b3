// Tests for the terminal WebSocket frames, the output cursor and the acknowledgements.
import { describe, expect, it } from 'vitest';
import {
  Acker,
  OutputCursor,
  backoff,
  decodeFrame,
  encodeAck,
  encodeBinaryInput,
  encodeInput,
  encodeResize,
  runCommand,
  safeLink,
} from './terminalProtocol';

const bytes = (...xs: number[]) => new Uint8Array(xs);
const list = (b: Uint8Array) => Array.from(b);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A server frame: kind, u64 BE offset, then the bytes. */
function outputFrame(kind: number, offset: number, payload: string): ArrayBuffer {
  const body = new TextEncoder().encode(payload);
  const out = new Uint8Array(9 + body.length);
  out[0] = kind;
  new DataView(out.buffer).setBigUint64(1, BigInt(offset));
  out.set(body, 9);
  return out.buffer;
}

describe('encoding', () => {
  it('sends input as UTF-8 after 0x00', () => {
    expect(list(encodeInput('ls\r'))).toEqual([0x00, 0x6c, 0x73, 0x0d]);
    expect(list(encodeInput('é'))).toEqual([0x00, 0xc3, 0xa9]);
  });

  it('sends binary input one byte per character', () => {
    expect(list(encodeBinaryInput('\x1b[M\xff'))).toEqual([0x00, 0x1b, 0x5b, 0x4d, 0xff]);
  });

  it('sends a resize as two u16 big-endian', () => {
    expect(list(encodeResize(300, 40))).toEqual([0x01, 0x01, 0x2c, 0x00, 0x28]);
    expect(list(encodeResize(0, 70000))).toEqual([0x01, 0x00, 0x01, 0xff, 0xff]);
  });

  it('sends an ack as a u64 big-endian offset', () => {
    expect(list(encodeAck(0x0102030405))).toEqual([0x02, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05]);
    expect(list(encodeAck(65536))).toEqual([0x02, 0, 0, 0, 0, 0, 0x01, 0, 0]);
  });
});

describe('decodeFrame', () => {
  it('reads output and replay with their offsets', () => {
    const out = decodeFrame(outputFrame(0x01, 2 ** 40 + 7, 'hi'));
    expect(out).toMatchObject({ kind: 'output', offset: 2 ** 40 + 7 });
    expect(out && 'data' in out && text(out.data)).toBe('hi');
    const replay = decodeFrame(new Uint8Array(outputFrame(0x02, 5, '')));
    expect(replay).toMatchObject({ kind: 'replay', offset: 5 });
    expect(replay && 'data' in replay && replay.data.length).toBe(0);
  });

  it('reads a frame that is a view into a larger buffer', () => {
    const whole = new Uint8Array([9, 9, ...new Uint8Array(outputFrame(0x01, 3, 'ok'))]);
    const frame = decodeFrame(whole.subarray(2));
    expect(frame).toMatchObject({ kind: 'output', offset: 3 });
    expect(frame && 'data' in frame && text(frame.data)).toBe('ok');
  });

  it('reads an exit code as a signed i32', () => {
    expect(decodeFrame(bytes(0x03, 0, 0, 0, 0))).toEqual({ kind: 'exit', code: 0 });
    expect(decodeFrame(bytes(0x03, 0, 0, 0, 130))).toEqual({ kind: 'exit', code: 130 });
    expect(decodeFrame(bytes(0x03, 0xff, 0xff, 0xff, 0xff))).toEqual({ kind: 'exit', code: -1 });
  });

  it('refuses empty, short and unknown frames', () => {
    expect(decodeFrame(bytes())).toBeNull();
    expect(decodeFrame(bytes(0x01, 0, 0, 0))).toBeNull();
    expect(decodeFrame(bytes(0x03, 0, 0))).toBeNull();
    expect(decodeFrame(bytes(0x07, 1, 2, 3))).toBeNull();
  });
});

describe('OutputCursor', () => {
  it('writes each byte once, whatever overlaps', () => {
    const cursor = new OutputCursor();
    expect(text(cursor.take(0, new TextEncoder().encode('hello')).bytes)).toBe('hello');
    expect(cursor.seen).toBe(5);
    // Replayed again after a reconnect: nothing new.
    const again = cursor.take(0, new TextEncoder().encode('hello'));
    expect(again.bytes.length).toBe(0);
    expect(again.dropped).toBe(false);
    expect(cursor.seen).toBe(5);
    // Partly new: only the new part.
    expect(text(cursor.take(3, new TextEncoder().encode('lo world')).bytes)).toBe(' world');
    expect(cursor.seen).toBe(11);
    // Exactly at seen.
    const next = cursor.take(11, new TextEncoder().encode('!'));
    expect(text(next.bytes)).toBe('!');
    expect(next.dropped).toBe(false);
    expect(next.end).toBe(12);
  });

  it('says when output before a chunk is missing', () => {
    const cursor = new OutputCursor(100);
    const chunk = cursor.take(150, new TextEncoder().encode('later'));
    expect(chunk.dropped).toBe(true);
    expect(text(chunk.bytes)).toBe('later');
    expect(cursor.seen).toBe(155);
  });

  it('keeps a new page from saying so for a buffer that starts at 0', () => {
    const cursor = new OutputCursor();
    expect(cursor.take(0, new TextEncoder().encode('$ ')).dropped).toBe(false);
  });
});

describe('Acker', () => {
  it('acks at the end of a burst', () => {
    const sent: number[] = [];
    const acker = new Acker((o) => sent.push(o));
    acker.begin();
    acker.begin();
    acker.done(10);
    expect(sent).toEqual([]);
    acker.done(20);
    expect(sent).toEqual([20]);
  });

  it('acks every 64 KiB within a long burst', () => {
    const sent: number[] = [];
    const acker = new Acker((o) => sent.push(o), 1000);
    for (let i = 0; i < 5; i++) acker.begin();
    acker.done(1000 + 40_000);
    acker.done(1000 + 70_000);
    acker.done(1000 + 100_000);
    acker.done(1000 + 140_000);
    expect(sent).toEqual([71_000, 141_000]);
    acker.done(1000 + 150_000);
    expect(sent).toEqual([71_000, 141_000, 151_000]);
  });

  it('acks a chunk that had nothing new only if it moves the offset', () => {
    const sent: number[] = [];
    const acker = new Acker((o) => sent.push(o), 50);
    acker.begin();
    acker.done(50);
    expect(sent).toEqual([]);
    acker.begin();
    acker.done(60);
    expect(sent).toEqual([60]);
  });
});

describe('runCommand', () => {
  it('quotes the path for the shell', () => {
    expect(runCommand('main.py')).toBe("python3 'main.py'\r");
    expect(runCommand("it's here/a b.py")).toBe("python3 'it'\\''s here/a b.py'\r");
    expect(runCommand('$(rm -rf ~).py')).toBe("python3 '$(rm -rf ~).py'\r");
  });
});

describe('safeLink', () => {
  it('opens only http and https', () => {
    expect(safeLink('https://example.com/a?b=1')).toBe('https://example.com/a?b=1');
    expect(safeLink('http://localhost:8000')).toBe('http://localhost:8000/');
    expect(safeLink('javascript:alert(1)')).toBeNull();
    expect(safeLink('file:///etc/passwd')).toBeNull();
    expect(safeLink('data:text/html,hi')).toBeNull();
    expect(safeLink('not a url')).toBeNull();
  });
});

describe('backoff', () => {
  it('waits 0.5, 1, 2, 4 then 5 seconds', () => {
    expect([0, 1, 2, 3, 4, 10].map(backoff)).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
  });
});
