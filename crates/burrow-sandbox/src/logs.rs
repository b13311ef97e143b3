//! Size-capped, rate-limited sandbox output: written by the shim, read as tail plus follow.
//!
//! Output is stored as records `[stream: u8][len: u32 LE][bytes]` in numbered
//! segment files (`log.000001`, …). When a segment passes half the cap a new
//! one starts and only the newest two are kept, so a sandbox's logs never take
//! more than the cap. Output beyond the rate limit is dropped, and a note on
//! stderr says how much.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Limits on one sandbox's stored output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPolicy {
    /// Most bytes kept on disk.
    pub max_bytes: u64,
    /// Sustained bytes per second accepted.
    pub rate_bytes_per_sec: u64,
    /// Bytes accepted in a burst above the rate.
    pub burst_bytes: u64,
}

impl Default for LogPolicy {
    fn default() -> Self {
        Self {
            max_bytes: 8 << 20,
            rate_bytes_per_sec: 256 << 10,
            burst_bytes: 2 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One piece of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub stream: Stream,
    pub data: Vec<u8>,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("log.{seq:06}"))
}

fn segments(dir: &Path) -> Vec<u64> {
    let mut seqs: Vec<u64> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("log.")?.parse().ok())
        .collect();
    seqs.sort_unstable();
    seqs
}

/// Appends output under a [`LogPolicy`]. Used by the shim only.
#[derive(Debug)]
pub struct LogWriter {
    dir: PathBuf,
    policy: LogPolicy,
    seq: u64,
    file: File,
    written: u64,
    tokens: f64,
    refilled: Instant,
    dropped: u64,
}

impl LogWriter {
    pub fn create(dir: &Path, policy: LogPolicy) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let seq = segments(dir).last().copied().unwrap_or(0) + 1;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, seq))?;
        Ok(Self {
            dir: dir.to_owned(),
            policy,
            seq,
            file,
            written: 0,
            tokens: policy.burst_bytes as f64,
            refilled: Instant::now(),
            dropped: 0,
        })
    }

    /// Stores `data` if the rate allows; otherwise counts it as dropped.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * self.policy.rate_bytes_per_sec as f64)
            .min(self.policy.burst_bytes as f64);
        if (data.len() as f64) > self.tokens {
            self.dropped += data.len() as u64;
            return Ok(());
        }
        self.tokens -= data.len() as f64;
        self.note_dropped()?;
        self.append(stream, data)
    }

    /// Writes the note for output dropped at the end, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.note_dropped()?;
        self.file.flush()
    }

    /// Records how much output was dropped since the last write, if any.
    fn note_dropped(&mut self) -> std::io::Result<()> {
        if self.dropped == 0 {
            return Ok(());
        }
        let note = format!(
            "\n[burrow: {} bytes of output dropped: more than {} bytes/s]\n",
            self.dropped, self.policy.rate_bytes_per_sec
        );
        self.dropped = 0;
        self.append(Stream::Stderr, note.as_bytes())
    }

    fn append(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        let segment_cap = (self.policy.max_bytes / 2).max(4096);
        for piece in data.chunks(64 << 10) {
            if self.written + piece.len() as u64 + 5 > segment_cap && self.written > 0 {
                self.rotate()?;
            }
            let mut record = Vec::with_capacity(piece.len() + 5);
            record.push(match stream {
                Stream::Stdout => 1,
                Stream::Stderr => 2,
            });
            record.extend_from_slice(&(piece.len() as u32).to_le_bytes());
            record.extend_from_slice(piece);
            self.file.write_all(&record)?;
            self.written += record.len() as u64;
        }
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.seq += 1;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(&self.dir, self.seq))?;
        self.written = 0;
        for old in segments(&self.dir) {
            if old + 1 < self.seq {
                let _ = fs::remove_file(segment_path(&self.dir, old));
            }
        }
        Ok(())
    }
}

/// A position in a sandbox's logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    seq: u64,
    offset: u64,
}

impl Cursor {
    /// A position `offset` bytes into output that a runtime keeps as one stream, such as
    /// a pod's log.
    pub fn at_byte(offset: u64) -> Self {
        Self { seq: 0, offset }
    }

    /// How many bytes into such output the position is.
    pub fn byte(&self) -> u64 {
        self.offset
    }
}

/// Reads chunks after `cursor`; returns them and the cursor to continue from.
/// Starting from `Cursor::default()` reads everything still kept (the tail).
pub fn read_after(dir: &Path, cursor: Cursor) -> std::io::Result<(Vec<Chunk>, Cursor)> {
    let mut cursor = cursor;
    let mut chunks = Vec::new();
    let seqs = segments(dir);
    let Some(&first) = seqs.first() else {
        return Ok((chunks, cursor));
    };
    if cursor.seq < first {
        cursor = Cursor {
            seq: first,
            offset: 0,
        };
    }
    let start = cursor.seq;
    for &seq in seqs.iter().filter(|s| **s >= start) {
        if seq > cursor.seq {
            cursor = Cursor { seq, offset: 0 };
        }
        let Ok(mut file) = File::open(segment_path(dir, seq)) else {
            continue;
        };
        file.seek(SeekFrom::Start(cursor.offset))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        let mut pos = 0;
        while pos + 5 <= buf.len() {
            let len =
                u32::from_le_bytes(buf[pos + 1..pos + 5].try_into().expect("4 bytes")) as usize;
            if pos + 5 + len > buf.len() {
                break; // A record still being written.
            }
            let stream = if buf[pos] == 2 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            chunks.push(Chunk {
                stream,
                data: buf[pos + 5..pos + 5 + len].to_vec(),
            });
            pos += 5 + len;
        }
        cursor.offset += pos as u64;
    }
    Ok((chunks, cursor))
}

/// Total bytes the logs take on disk.
pub fn disk_usage(dir: &Path) -> u64 {
    segments(dir)
        .iter()
        .filter_map(|s| fs::metadata(segment_path(dir, *s)).ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_and_follow_see_every_record_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::create(dir.path(), LogPolicy::default()).unwrap();
        w.write(Stream::Stdout, b"hello ").unwrap();
        w.write(Stream::Stderr, b"oops\n").unwrap();
        let (chunks, cursor) = read_after(dir.path(), Cursor::default()).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[1],
            Chunk {
                stream: Stream::Stderr,
                data: b"oops\n".to_vec()
            }
        );
        w.write(Stream::Stdout, b"world\n").unwrap();
        let (more, _) = read_after(dir.path(), cursor).unwrap();
        assert_eq!(
            more,
            vec![Chunk {
                stream: Stream::Stdout,
                data: b"world\n".to_vec()
            }]
        );
    }

    #[test]
    fn a_flood_stays_within_the_cap_and_is_noted() {
        let dir = tempfile::tempdir().unwrap();
        let policy = LogPolicy {
            max_bytes: 64 << 10,
            rate_bytes_per_sec: 1 << 20,
            burst_bytes: 10 << 20,
        };
        let mut w = LogWriter::create(dir.path(), policy).unwrap();
        for _ in 0..1000 {
            w.write(Stream::Stdout, &[b'x'; 1000]).unwrap();
        }
        w.finish().unwrap();
        assert!(
            disk_usage(dir.path()) <= 64 << 10,
            "{}",
            disk_usage(dir.path())
        );
        let (chunks, _) = read_after(dir.path(), Cursor::default()).unwrap();
        assert!(!chunks.is_empty());

        let dir = tempfile::tempdir().unwrap();
        let policy = LogPolicy {
            max_bytes: 1 << 20,
            rate_bytes_per_sec: 1000,
            burst_bytes: 4000,
        };
        let mut w = LogWriter::create(dir.path(), policy).unwrap();
        for _ in 0..100 {
            w.write(Stream::Stdout, &[b'y'; 1000]).unwrap();
        }
        w.finish().unwrap();
        let (chunks, _) = read_after(dir.path(), Cursor::default()).unwrap();
        let text: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        let text = String::from_utf8_lossy(&text);
        assert!(
            text.contains("bytes of output dropped"),
            "{}",
            &text[text.len().saturating_sub(200)..]
        );
        assert!(disk_usage(dir.path()) < 10_000);
    }
}
