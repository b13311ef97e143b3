//! Moving bytes both ways through a tunnel, within a sandbox's byte rate, idle time and lifetime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// A token bucket for one sandbox's bytes per second, shared by all its tunnels; one
/// second's worth may go in a burst.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    state: parking_lot::Mutex<(f64, Instant)>,
}

impl Bucket {
    pub fn new(bytes_per_sec: u64) -> Self {
        let rate = bytes_per_sec as f64;
        Self {
            rate,
            state: parking_lot::Mutex::new((rate, Instant::now())),
        }
    }

    /// Takes `n` bytes' worth; how long to wait before the next, when the bucket ran dry.
    pub fn reserve(&self, n: usize) -> Option<Duration> {
        let mut state = self.state.lock();
        let now = Instant::now();
        let refilled =
            (state.0 + now.duration_since(state.1).as_secs_f64() * self.rate).min(self.rate);
        let left = refilled - n as f64;
        *state = (left, now);
        (left < 0.0).then(|| Duration::from_secs_f64(-left / self.rate))
    }

    /// Takes `n` if the bucket holds that much now; nothing otherwise.
    pub fn try_take(&self, n: u64) -> bool {
        let mut state = self.state.lock();
        let now = Instant::now();
        let refilled =
            (state.0 + now.duration_since(state.1).as_secs_f64() * self.rate).min(self.rate);
        let ok = refilled >= n as f64;
        *state = (if ok { refilled - n as f64 } else { refilled }, now);
        ok
    }

    /// Takes `n` bytes' worth, waiting for the bucket to refill when it ran dry.
    pub async fn spend(&self, n: usize) {
        if let Some(wait) = self.reserve(n) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// A tunnel's buffer for each direction starts at this size…
const MIN_BUFFER: usize = 16 * 1024;
/// …and grows to at most this while the data keeps filling it.
const MAX_BUFFER: usize = 512 * 1024;

/// How a tunnel ended.
pub struct Ended {
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub reason: String,
}

/// What bounds a tunnel.
pub struct Bounds<'a> {
    pub idle: Duration,
    pub max_duration: Duration,
    pub bucket: Option<&'a Bucket>,
}

/// Copies both ways until both sides are done, the tunnel idles past `idle` or lives past
/// `max_duration`. A side that finishes sending half-closes the other.
pub async fn pump<C, U>(client: C, upstream: U, bounds: Bounds<'_>) -> Ended
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let last = AtomicU64::new(0);
    let (out, inn) = (AtomicU64::new(0), AtomicU64::new(0));
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut up_read, mut up_write) = tokio::io::split(upstream);
    let both = async {
        tokio::join!(
            copy(
                &mut client_read,
                &mut up_write,
                &out,
                &last,
                start,
                bounds.bucket
            ),
            copy(
                &mut up_read,
                &mut client_write,
                &inn,
                &last,
                start,
                bounds.bucket
            ),
        )
    };
    let idle = async {
        loop {
            let since = Duration::from_millis(last.load(Ordering::Relaxed));
            let deadline = start + since + bounds.idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    };
    let reason = tokio::select! {
        _ = both => "closed".to_owned(),
        () = idle => format!("closed after {} s without traffic", bounds.idle.as_secs()),
        () = tokio::time::sleep(bounds.max_duration) => {
            format!("closed after {} s, the longest a tunnel may stay open", bounds.max_duration.as_secs())
        }
    };
    Ended {
        bytes_out: out.load(Ordering::Relaxed),
        bytes_in: inn.load(Ordering::Relaxed),
        reason,
    }
}

async fn copy<R, W>(
    from: &mut R,
    to: &mut W,
    count: &AtomicU64,
    last: &AtomicU64,
    start: Instant,
    bucket: Option<&Bucket>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Small at first, so that the many quiet tunnels cost little; doubled while reads
    // fill it, so that a bulk transfer moves in few system calls.
    let mut buf = vec![0u8; MIN_BUFFER];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if n == buf.len() && buf.len() < MAX_BUFFER {
            buf.resize(buf.len() * 2, 0);
        }
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        if let Some(bucket) = bucket {
            bucket.spend(n).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_holds_the_rate() {
        let bucket = Bucket::new(1000);
        let start = Instant::now();
        for _ in 0..5 {
            bucket.spend(1000).await;
        }
        // One second's burst, then a second per thousand bytes.
        assert_eq!(start.elapsed().as_secs(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_tunnel_is_closed() {
        let (client, _client_peer) = tokio::io::duplex(1024);
        let (upstream, _upstream_peer) = tokio::io::duplex(1024);
        let ended = pump(
            client,
            upstream,
            Bounds {
                idle: Duration::from_secs(30),
                max_duration: Duration::from_secs(3600),
                bucket: None,
            },
        )
        .await;
        assert_eq!(ended.reason, "closed after 30 s without traffic");
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_tunnel_is_closed_at_its_lifetime() {
        let (client, mut client_peer) = tokio::io::duplex(1 << 20);
        let (upstream, mut upstream_peer) = tokio::io::duplex(1 << 20);
        let talk = async move {
            loop {
                client_peer.write_all(b"ping").await.unwrap();
                let mut got = [0u8; 4];
                upstream_peer.read_exact(&mut got).await.unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        let ended = tokio::select! {
            ended = pump(client, upstream, Bounds { idle: Duration::from_secs(30), max_duration: Duration::from_secs(100), bucket: None }) => ended,
            () = talk => unreachable!(),
        };
        assert!(
            ended.reason.contains("the longest a tunnel may stay open"),
            "{}",
            ended.reason
        );
        assert!(ended.bytes_out >= 4 * 99, "{}", ended.bytes_out);
    }
}
