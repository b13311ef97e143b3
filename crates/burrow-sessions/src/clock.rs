//! The one clock the supervisor reads: wall-clock milliseconds advanced by tokio's clock.

use std::time::Duration;

/// Milliseconds since the epoch, taken from the wall clock once and advanced by
/// tokio's monotonic clock after that. So the supervisor's notion of time is
/// tokio's: real in `serve`, and paused and advanced at will in tests
/// (`#[tokio::test(start_paused = true)]`), where hours of backoff, idle and
/// lifetime pass in milliseconds.
#[derive(Debug, Clone)]
pub struct Clock {
    epoch_ms: i64,
    start: tokio::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Self {
            epoch_ms,
            start: tokio::time::Instant::now(),
        }
    }

    /// Now, in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.epoch_ms + self.start.elapsed().as_millis() as i64
    }

    pub async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
