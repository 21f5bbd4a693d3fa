//! A token bucket for each client's line rate.
//!
//! The loop does not drop lines over the rate: it stops reading that socket
//! until a token is due, so TCP pushes back on the sender and nothing it sent
//! is lost (a pasted paragraph arrives paced, not truncated).

use std::time::{Duration, Instant};

/// Lines a client may send now, refilled at a steady rate.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens available now; one line costs one.
    tokens: f64,
    /// Most tokens the bucket holds: the burst a client may send at once.
    capacity: f64,
    /// Tokens added per second.
    per_second: f64,
    /// When `tokens` was last brought up to date.
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket for `per_second` lines a second, with bursts of twice that.
    pub fn new(per_second: u32, now: Instant) -> TokenBucket {
        let per_second = f64::from(per_second.max(1));
        TokenBucket {
            tokens: per_second * 2.0,
            capacity: per_second * 2.0,
            per_second,
            refilled_at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.refilled_at = now;
    }

    /// True if a line may be taken now (without taking it).
    pub fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// Spends one token; the bucket may go below one, never below zero.
    pub fn take(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    /// When the next whole token will be there.
    pub fn next_token_at(&self) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        self.refilled_at + Duration::from_secs_f64(missing / self.per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_empty() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, start);
        for _ in 0..20 {
            assert!(bucket.has_token(start));
            bucket.take();
        }
        assert!(!bucket.has_token(start));
    }

    #[test]
    fn refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, start);
        for _ in 0..20 {
            bucket.take();
        }
        let due = bucket.next_token_at();
        assert_eq!(due, start + Duration::from_millis(100));
        assert!(bucket.has_token(due));
    }

    #[test]
    fn never_holds_more_than_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5, start);
        assert!(bucket.has_token(start + Duration::from_secs(3600)));
        for _ in 0..10 {
            bucket.take();
        }
        assert!(!bucket.has_token(start + Duration::from_secs(3600)));
    }
}
