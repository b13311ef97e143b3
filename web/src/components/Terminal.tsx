// One workspace terminal: xterm.js over the terminal WebSocket. Output is written once
// (by offset), acknowledged as written, and picked up where it was after a reconnect.
import { useEffect, useImperativeHandle, useRef, useState, type Ref } from 'react';
import { Terminal as XTerm, type ITheme } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { WebLinksAddon } from '@xterm/addon-web-links';
import '@xterm/xterm/css/xterm.css';
import { terminalUrl } from '../api/endpoints';
import {
  Acker,
  OutputCursor,
  backoff,
  decodeFrame,
  encodeAck,
  encodeBinaryInput,
  encodeInput,
  encodeResize,
  safeLink,
} from '../lib/terminalProtocol';

export type TerminalState = 'connecting' | 'open' | 'reconnecting' | 'exited' | 'denied';

/** The close code Burrow ends a terminal's connection with once its holder may not use it. */
const DENIED = 4401;

export interface TerminalHandle {
  /** Types text into the shell (starting a new one if it exited). */
  send: (text: string) => void;
  focus: () => void;
}

/** Input kept while the socket is not open, at most this much. */
const MAX_QUEUED = 64 * 1024;

const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Colours from the page's theme; ANSI colours darker on a light background. */
function theme(dark: boolean): ITheme {
  const base: ITheme = {
    background: cssVar('--code-bg', dark ? '#13110f' : '#fbfbfa'),
    foreground: cssVar('--fg', dark ? '#f5f2ef' : '#1c1917'),
    cursor: cssVar('--fg', dark ? '#f5f2ef' : '#1c1917'),
    selectionBackground: dark ? 'rgba(255, 138, 61, 0.35)' : 'rgba(224, 100, 27, 0.25)',
  };
  if (dark) return base;
  return {
    ...base,
    cursorAccent: '#fbfbfa',
    black: '#1c1917',
    red: '#b42318',
    green: '#16794a',
    yellow: '#8a6100',
    blue: '#1d5bbf',
    magenta: '#8e3ba8',
    cyan: '#0b7285',
    white: '#6b645e',
    brightBlack: '#57514c',
    brightRed: '#d92d20',
    brightGreen: '#1a8f57',
    brightYellow: '#a37200',
    brightBlue: '#2f6fd6',
    brightMagenta: '#a64dc2',
    brightCyan: '#0c8599',
    brightWhite: '#3f3a36',
  };
}

export function Terminal({
  project,
  workspace,
  n,
  onStateChange,
  ref,
}: {
  project: string;
  workspace: string;
  /** Which terminal, 1 to 8. */
  n: number;
  onStateChange?: (state: TerminalState) => void;
  ref?: Ref<TerminalHandle>;
}) {
  const host = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<TerminalState>('connecting');
  const onStateRef = useRef(onStateChange);
  onStateRef.current = onStateChange;
  const control = useRef<TerminalHandle | null>(null);
  /** Text sent, and focus asked, before the terminal was set up. */
  const early = useRef<{ input: string[]; focus: boolean }>({ input: [], focus: false });

  useImperativeHandle(
    ref,
    () => ({
      send: (text) => (control.current ? control.current.send(text) : early.current.input.push(text)),
      focus: () => (control.current ? control.current.focus() : (early.current.focus = true)),
    }),
    [],
  );

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const dark = window.matchMedia('(prefers-color-scheme: dark)');
    const term = new XTerm({
      allowProposedApi: true,
      cursorBlink: true,
      fontFamily: cssVar('--font-mono', 'monospace'),
      fontSize: 13,
      lineHeight: 1.2,
      scrollback: 5000,
      theme: theme(dark.matches),
      minimumContrastRatio: dark.matches ? 1 : 4.5,
      // Links a program writes with escape sequences (OSC 8) open as typed ones do:
      // http(s) only.
      linkHandler: {
        activate: (event, uri) => {
          const url = safeLink(uri);
          if (!url) return;
          event.preventDefault();
          window.open(url, '_blank', 'noopener,noreferrer');
        },
      },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.loadAddon(new Unicode11Addon());
    term.unicode.activeVersion = '11';
    term.loadAddon(
      new WebLinksAddon((event, uri) => {
        const url = safeLink(uri);
        if (!url) return;
        event.preventDefault();
        window.open(url, '_blank', 'noopener,noreferrer');
      }),
    );
    term.open(el);
    try {
      fit.fit();
    } catch {
      // Not laid out yet; the resize observer fits it later.
    }

    const onScheme = () => {
      term.options.theme = theme(dark.matches);
      term.options.minimumContrastRatio = dark.matches ? 1 : 4.5;
    };
    dark.addEventListener('change', onScheme);

    // A new shell's output is numbered from 0 again.
    let cursor = new OutputCursor();
    let received = false;
    let socket: WebSocket | null = null;
    let queue: Uint8Array<ArrayBuffer>[] = [];
    let queued = 0;
    let exited = false;
    let disposed = false;
    let attempt = 0;
    let timer: number | undefined;
    /** Replayed chunks being written: what xterm answers meanwhile is not input. */
    let replaying = 0;

    const report = (s: TerminalState) => {
      setState(s);
      onStateRef.current?.(s);
    };

    const send = (frame: Uint8Array<ArrayBuffer>) => {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(frame);
      } else if (queued + frame.length <= MAX_QUEUED) {
        queue.push(frame);
        queued += frame.length;
      }
    };

    const connect = () => {
      window.clearTimeout(timer);
      if (disposed) return;
      const ws = new WebSocket(terminalUrl(project, workspace, n, received ? cursor.seen : undefined, term.cols, term.rows));
      ws.binaryType = 'arraybuffer';
      socket = ws;
      let openedAt = 0;
      const ackTo = (offset: number) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(encodeAck(offset));
      };
      let acker = new Acker(ackTo, cursor.seen);
      // The first output after connecting says whether this is the shell the page saw:
      // the same one never starts below what was seen, a new one (after a restart) does.
      let first = true;

      ws.onopen = () => {
        if (socket !== ws) return;
        openedAt = Date.now();
        report('open');
        // The size may have changed while it was connecting.
        ws.send(encodeResize(term.cols, term.rows));
        for (const frame of queue) ws.send(frame);
        queue = [];
        queued = 0;
      };

      ws.onmessage = (e: MessageEvent) => {
        if (socket !== ws || !(e.data instanceof ArrayBuffer)) return;
        const frame = decodeFrame(e.data);
        if (!frame) return;
        if (frame.kind === 'exit') {
          exited = true;
          term.write(`\r\n${DIM}[exited with ${frame.code}] press Enter to start a new shell${RESET}\r\n`);
          report('exited');
          ws.close();
          return;
        }
        if (first) {
          first = false;
          if (frame.offset < cursor.seen) {
            cursor = new OutputCursor();
            acker = new Acker(ackTo, 0);
            term.write(`\r\n${DIM}[a new shell]${RESET}\r\n`);
          }
        }
        const chunk = cursor.take(frame.offset, frame.data);
        if (chunk.dropped) term.write(`${DIM}[earlier output dropped]${RESET}\r\n`);
        received = true;
        const replay = frame.kind === 'replay';
        acker.begin();
        if (chunk.bytes.length === 0) {
          acker.done(chunk.end);
          return;
        }
        if (replay) replaying += 1;
        term.write(chunk.bytes, () => {
          if (replay) replaying -= 1;
          acker.done(chunk.end);
        });
      };

      ws.onclose = (e) => {
        if (socket !== ws) return;
        socket = null;
        if (disposed || exited) return;
        // Signed out, or no longer allowed: trying again would not help.
        if (e.code === DENIED) {
          term.write(`\r\n${DIM}[${e.reason || 'no longer allowed'}]${RESET}\r\n`);
          report('denied');
          return;
        }
        // A connection that lasted starts the delays over.
        if (openedAt && Date.now() - openedAt > 5000) attempt = 0;
        report('reconnecting');
        timer = window.setTimeout(connect, backoff(attempt));
        attempt += 1;
      };
    };

    /** After an exit, Enter (or Run) starts a new shell. */
    const restart = () => {
      exited = false;
      cursor = new OutputCursor();
      received = false;
      attempt = 0;
      report('connecting');
      connect();
    };

    const data = term.onData((text) => {
      if (replaying > 0) return;
      if (exited) {
        if (text.includes('\r')) restart();
        return;
      }
      send(encodeInput(text));
    });
    const binary = term.onBinary((text) => {
      if (replaying > 0 || exited) return;
      send(encodeBinaryInput(text));
    });
    const resized = term.onResize(({ cols, rows }) => {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(encodeResize(cols, rows));
    });

    let frame = 0;
    const observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        try {
          fit.fit();
        } catch {
          // Hidden or not measurable yet.
        }
      });
    });
    observer.observe(el);

    control.current = {
      send: (text) => {
        if (exited) restart();
        send(encodeInput(text));
      },
      focus: () => term.focus(),
    };
    for (const text of early.current.input) control.current.send(text);
    if (early.current.focus) term.focus();
    early.current = { input: [], focus: false };

    connect();

    return () => {
      disposed = true;
      control.current = null;
      window.clearTimeout(timer);
      cancelAnimationFrame(frame);
      observer.disconnect();
      dark.removeEventListener('change', onScheme);
      data.dispose();
      binary.dispose();
      resized.dispose();
      const ws = socket;
      socket = null;
      ws?.close();
      term.dispose();
    };
  }, [project, workspace, n]);

  return (
    <div className="workspace-terminal" data-testid={`terminal-${n}`} data-state={state}>
      <div ref={host} className="workspace-terminal-host" />
      {(state === 'connecting' || state === 'reconnecting') && (
        <span className="workspace-terminal-note small" role="status">
          {state === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
        </span>
      )}
    </div>
  );
}
