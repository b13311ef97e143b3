//! A sliding-window counter of failures per key, used to slow down password guessing.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Counts failures per key (an account, a client address) within a window.
///
/// Once a key has `max_failures` failures inside `window`, further attempts are
/// refused until the oldest failure leaves the window. Memory is bounded: at
/// most `max_failures` instants per key and `max_keys` keys.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: usize,
    window: Duration,
    max_keys: usize,
    failures: HashMap<String, VecDeque<Instant>>,
}

impl FailureLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            max_keys: 100_000,
            failures: HashMap::new(),
        }
    }

    fn prune(&mut self, key: &str, now: Instant) {
        if let Some(times) = self.failures.get_mut(key) {
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                times.pop_front();
            }
            if times.is_empty() {
                self.failures.remove(key);
            }
        }
    }

    /// `Err(retry_after)` when `key` has used up its failures.
    pub fn check(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        self.prune(key, now);
        match self.failures.get(key) {
            Some(times) if times.len() >= self.max_failures => {
                let oldest = *times.front().expect("a full window is not empty");
                Err(self
                    .window
                    .saturating_sub(now.duration_since(oldest))
                    .max(Duration::from_secs(1)))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&mut self, key: &str, now: Instant) {
        self.prune(key, now);
        if self.failures.len() >= self.max_keys && !self.failures.contains_key(key) {
            self.evict_expired(now);
        }
        if self.failures.len() >= self.max_keys && !self.failures.contains_key(key) {
            // Still full of live keys: forget one rather than grow without bound.
            if let Some(victim) = self.failures.keys().next().cloned() {
                self.failures.remove(&victim);
            }
        }
        let times = self.failures.entry(key.to_owned()).or_default();
        times.push_back(now);
        while times.len() > self.max_failures {
            times.pop_front();
        }
    }

    /// Takes back the newest failure of `key`, for an attempt that was counted
    /// in advance and then succeeded.
    pub fn forgive_one(&mut self, key: &str) {
        if let Some(times) = self.failures.get_mut(key) {
            times.pop_back();
            if times.is_empty() {
                self.failures.remove(key);
            }
        }
    }

    /// A success clears the key's failures.
    pub fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }

    fn evict_expired(&mut self, now: Instant) {
        let window = self.window;
        self.failures.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.duration_since(*t) < window)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_passes() {
        let mut limiter = FailureLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(limiter.check("ada", t0 + Duration::from_secs(i)).is_ok());
            limiter.record_failure("ada", t0 + Duration::from_secs(i));
        }
        let retry = limiter
            .check("ada", t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(retry, Duration::from_secs(50));
        assert!(
            limiter.check("bob", t0).is_ok(),
            "other keys are unaffected"
        );
        assert!(limiter.check("ada", t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn success_clears_failures() {
        let mut limiter = FailureLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        limiter.record_failure("ada", t0);
        limiter.record_failure("ada", t0);
        assert!(limiter.check("ada", t0).is_err());
        limiter.clear("ada");
        assert!(limiter.check("ada", t0).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let mut limiter = FailureLimiter::new(2, Duration::from_secs(60));
        limiter.max_keys = 10;
        let t0 = Instant::now();
        for i in 0..100 {
            limiter.record_failure(&format!("k{i}"), t0);
        }
        assert!(limiter.failures.len() <= 10);
    }
}
