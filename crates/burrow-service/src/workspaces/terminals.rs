//! A running workspace's terminals: a shell on a pseudo-terminal each, kept while WebSockets come and go, with its recent output to replay.
//!
//! Output is numbered by byte offset from the terminal's start. The last
//! [`REPLAY_BYTES`] are kept, so a viewer that reconnects resumes from the last offset it
//! saw and misses nothing, and sees nothing twice, while that fits. A viewer says how far
//! it has written ([`Terminal::ack`]) and is sent no more than [`WINDOW`] bytes past
//! that; once reading on would drop output an attached viewer has not acknowledged
//! ([`HIGH_WATER`]), the terminal's output is no longer read, so the program on it blocks
//! on a full pseudo-terminal and a viewer that does not read cannot grow Burrow's memory
//! (the WebSocket drops a viewer silent for a minute, so none holds a shell for ever).
//! Input has its own way in and is never held up by output: Ctrl-C reaches the shell at
//! once, however much it prints. With no viewer attached, output is read on and only
//! the last [`REPLAY_BYTES`] kept, as a terminal multiplexer does.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use burrow_sandbox::{ExecSpec, PtyControl, Runtime, SandboxError};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

/// Terminals one workspace may have at once.
pub const MAX_TERMINALS: u8 = 8;
/// Output kept for replay, per terminal.
pub const REPLAY_BYTES: usize = 1 << 20;
/// How far output may be sent ahead of a viewer's acknowledgement.
pub const WINDOW: u64 = 256 << 10;
/// How far output is read ahead of the slowest attached viewer's acknowledgement.
pub const HIGH_WATER: u64 = REPLAY_BYTES as u64 - (64 << 10);

/// One terminal's shell and its recent output.
pub struct Terminal {
    /// The sandbox the shell runs in.
    pub sandbox: String,
    input: tokio::sync::Mutex<WriteHalf<burrow_sandbox::Connection>>,
    control: tokio::sync::Mutex<Option<Box<dyn PtyControl>>>,
    state: parking_lot::Mutex<Output>,
    changed: tokio::sync::watch::Sender<u64>,
    reader: parking_lot::Mutex<Option<tokio::task::AbortHandle>>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Output {
    kept: VecDeque<u8>,
    /// The offset of the first kept byte.
    start: u64,
    /// The offset after the last byte.
    end: u64,
    exit: Option<i32>,
    /// Each attached viewer's acknowledged offset.
    acked: HashMap<u64, u64>,
    next_viewer: u64,
}

impl Output {
    fn push(&mut self, bytes: &[u8]) {
        // Room first, so the buffer never grows past what it keeps.
        let over = (self.kept.len() + bytes.len()).saturating_sub(REPLAY_BYTES);
        let dropped = over.min(self.kept.len());
        self.kept.drain(..dropped);
        let bytes = &bytes[over - dropped..];
        self.kept.extend(bytes);
        self.start += over as u64;
        self.end = self.start + self.kept.len() as u64;
    }

    /// `take` kept bytes from the `skip`th on: the ring's two halves copied as slices.
    fn copy(&self, skip: usize, take: usize) -> Vec<u8> {
        let (front, back) = self.kept.as_slices();
        let end = skip + take;
        let mut bytes = Vec::with_capacity(take);
        if skip < front.len() {
            bytes.extend_from_slice(&front[skip..end.min(front.len())]);
        }
        if end > front.len() {
            bytes.extend_from_slice(&back[skip.saturating_sub(front.len())..end - front.len()]);
        }
        bytes
    }

    /// Whether reading on would drop what an attached viewer has not acknowledged.
    fn paused(&self) -> bool {
        self.acked
            .values()
            .any(|&acked| self.end.saturating_sub(acked) >= HIGH_WATER)
    }
}

/// Kept output from an offset on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The offset of `bytes`' first byte: later than asked when that was dropped.
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// A viewer's place, from [`Terminal::attach`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached {
    pub viewer: u64,
    /// Where its output starts: what it asked for, or the oldest kept offset.
    pub from: u64,
    /// Output before this offset is replayed; after it, live.
    pub live_from: u64,
}

impl Terminal {
    /// Starts `shell` on a new pseudo-terminal in `sandbox`.
    async fn start(
        runtime: &dyn Runtime,
        sandbox: &str,
        shell: ExecSpec,
        (cols, rows): (u16, u16),
    ) -> Result<Arc<Self>, SandboxError> {
        let session = runtime.exec_pty(sandbox, shell, cols, rows).await?;
        let (io, control) = session.split();
        let (read, write) = tokio::io::split(io);
        let (changed, _) = tokio::sync::watch::channel(0);
        let terminal = Arc::new(Self {
            sandbox: sandbox.to_owned(),
            input: tokio::sync::Mutex::new(write),
            control: tokio::sync::Mutex::new(Some(control)),
            state: parking_lot::Mutex::new(Output {
                kept: VecDeque::with_capacity(REPLAY_BYTES),
                ..Output::default()
            }),
            changed,
            reader: parking_lot::Mutex::new(None),
        });
        let task = tokio::spawn(Arc::clone(&terminal).read_output(read));
        *terminal.reader.lock() = Some(task.abort_handle());
        Ok(terminal)
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Reads the terminal's output while no viewer is a window behind, until it ends;
    /// then records the shell's exit code.
    async fn read_output(self: Arc<Self>, mut read: ReadHalf<burrow_sandbox::Connection>) {
        let mut changes = self.changed.subscribe();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            while self.state.lock().paused() {
                if changes.changed().await.is_err() {
                    return;
                }
            }
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.state.lock().push(&buf[..n]);
                    self.notify();
                }
            }
        }
        let control = self.control.lock().await.take();
        let code = match control {
            Some(mut control) => control.wait().await.unwrap_or(-1),
            None => -1,
        };
        self.state.lock().exit = Some(code);
        self.notify();
    }

    /// Adds a viewer that has seen output up to `seen`: from there on, or from the oldest
    /// kept byte when that is gone. A viewer that saw nothing, or more than this shell
    /// ever printed (it saw an earlier shell), gets everything kept.
    pub fn attach(&self, seen: Option<u64>) -> Attached {
        let mut state = self.state.lock();
        let from = match seen {
            Some(seen) if seen <= state.end => seen.max(state.start),
            _ => state.start,
        };
        let viewer = state.next_viewer;
        state.next_viewer += 1;
        state.acked.insert(viewer, from);
        Attached {
            viewer,
            from,
            live_from: state.end,
        }
    }

    /// The viewer has gone: its acknowledgements hold nothing up any more.
    pub fn detach(&self, viewer: u64) {
        self.state.lock().acked.remove(&viewer);
        self.notify();
    }

    /// The viewer has written everything before `offset`.
    pub fn ack(&self, viewer: u64, offset: u64) {
        let mut state = self.state.lock();
        let end = state.end;
        if let Some(acked) = state.acked.get_mut(&viewer) {
            *acked = offset.clamp(*acked, end);
        }
        drop(state);
        self.notify();
    }

    /// What `viewer` may be sent from `offset` now: at most `max` bytes, and no further
    /// than a window past its acknowledgement.
    pub fn read(&self, viewer: u64, offset: u64, max: usize) -> Chunk {
        let state = self.state.lock();
        let offset = offset.clamp(state.start, state.end);
        let acked = state.acked.get(&viewer).copied().unwrap_or(offset);
        let room = (acked + WINDOW).saturating_sub(offset);
        let take = (state.end - offset).min(room).min(max as u64) as usize;
        let skip = (offset - state.start) as usize;
        Chunk {
            offset,
            bytes: state.copy(skip, take),
        }
    }

    /// The offset after the last output byte, and the exit code once the shell ended.
    pub fn end(&self) -> (u64, Option<i32>) {
        let state = self.state.lock();
        (state.end, state.exit)
    }

    /// Wakes on new output, an acknowledgement or the end.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Keystrokes for the shell.
    pub async fn input(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut input = self.input.lock().await;
        input.write_all(bytes).await?;
        input.flush().await
    }

    /// The viewer's window changed size.
    pub async fn resize(&self, cols: u16, rows: u16) {
        if let Some(control) = self.control.lock().await.as_ref() {
            let _ = control.resize(cols.clamp(1, 1000), rows.clamp(1, 1000));
        }
    }

    /// Whether the shell still runs.
    pub fn running(&self) -> bool {
        self.state.lock().exit.is_none()
    }

    /// Ends the shell: its terminal closes, which hangs it up.
    async fn close(&self) {
        if let Some(reader) = self.reader.lock().take() {
            reader.abort();
        }
        drop(self.control.lock().await.take());
        let mut state = self.state.lock();
        state.exit.get_or_insert(-1);
        drop(state);
        self.notify();
    }
}

/// Every running workspace's terminals, by workspace and number.
#[derive(Debug, Default)]
pub struct Terminals {
    open: parking_lot::Mutex<HashMap<(String, u8), Arc<Terminal>>>,
    /// Starts take turns, so two tabs asking for one terminal get one shell.
    starting: tokio::sync::Mutex<()>,
}

impl Terminals {
    /// Terminal `n` of `workspace`, attached to its shell in `sandbox`, started with
    /// `shell` when it has none there or its shell ended.
    pub async fn open(
        &self,
        runtime: &dyn Runtime,
        workspace: &str,
        sandbox: &str,
        n: u8,
        shell: ExecSpec,
        size: (u16, u16),
    ) -> Result<Arc<Terminal>, SandboxError> {
        let _turn = self.starting.lock().await;
        let key = (workspace.to_owned(), n);
        let existing = self.open.lock().get(&key).cloned();
        if let Some(terminal) = existing {
            if terminal.sandbox == sandbox && terminal.running() {
                return Ok(terminal);
            }
            terminal.close().await;
        }
        let terminal = Terminal::start(runtime, sandbox, shell, size).await?;
        self.open.lock().insert(key, Arc::clone(&terminal));
        Ok(terminal)
    }

    /// The workspace's terminals, by number, and whether each one's shell runs.
    pub fn list(&self, workspace: &str) -> Vec<(u8, bool)> {
        let mut listed: Vec<(u8, bool)> = self
            .open
            .lock()
            .iter()
            .filter(|((w, _), _)| w == workspace)
            .map(|((_, n), t)| (*n, t.running()))
            .collect();
        listed.sort_unstable();
        listed
    }

    /// Ends terminal `n` of `workspace`; false when there is none.
    pub async fn close(&self, workspace: &str, n: u8) -> bool {
        let removed = self.open.lock().remove(&(workspace.to_owned(), n));
        match removed {
            Some(terminal) => {
                terminal.close().await;
                true
            }
            None => false,
        }
    }

    /// Ends every terminal of `workspace`, whose sandbox stops.
    pub async fn close_all(&self, workspace: &str) {
        let removed: Vec<Arc<Terminal>> = {
            let mut open = self.open.lock();
            let keys: Vec<(String, u8)> = open
                .keys()
                .filter(|(w, _)| w == workspace)
                .cloned()
                .collect();
            keys.iter().filter_map(|k| open.remove(k)).collect()
        };
        for terminal in removed {
            terminal.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_across_the_ring_s_wrap_is_in_order() {
        let mut out = Output {
            kept: VecDeque::with_capacity(REPLAY_BYTES),
            ..Output::default()
        };
        let all: Vec<u8> = (0..REPLAY_BYTES + 1000).map(|i| (i % 251) as u8).collect();
        out.push(&all[..REPLAY_BYTES]);
        out.push(&all[REPLAY_BYTES..]);
        assert!(!out.kept.as_slices().1.is_empty(), "the ring wraps");
        let front = out.kept.as_slices().0.len();
        for (skip, take) in [
            (0, 10),
            (front - 5, 10),
            (front, 7),
            (REPLAY_BYTES - 3, 3),
            (0, REPLAY_BYTES),
        ] {
            assert_eq!(
                out.copy(skip, take),
                all[1000 + skip..1000 + skip + take],
                "{skip} {take}"
            );
        }
    }

    #[test]
    fn output_keeps_the_last_mebibyte_by_offset() {
        let mut out = Output::default();
        out.push(&vec![b'a'; REPLAY_BYTES]);
        out.push(b"bcd");
        assert_eq!((out.start, out.end), (3, REPLAY_BYTES as u64 + 3));
        assert_eq!(out.kept.len(), REPLAY_BYTES);
        assert_eq!(out.kept.back(), Some(&b'd'));
    }

    #[test]
    fn output_a_viewer_has_not_acknowledged_pauses_reading_before_it_is_dropped() {
        let mut out = Output::default();
        out.acked.insert(0, 0);
        out.push(&vec![b'x'; HIGH_WATER as usize - 1]);
        assert!(!out.paused());
        out.push(b"y");
        assert!(out.paused());
        assert_eq!(out.start, 0, "nothing unacknowledged was dropped");
        out.acked.insert(0, 10);
        assert!(!out.paused());
        // With no viewer, nothing is held up.
        out.acked.clear();
        out.push(&vec![b'z'; REPLAY_BYTES * 2]);
        assert!(!out.paused());
        assert_eq!(out.kept.len(), REPLAY_BYTES);
        assert!(out.kept.capacity() < REPLAY_BYTES * 2);
    }
}
