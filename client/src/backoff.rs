//! When to try the server again after losing it: exponential backoff with
//! jitter. Pure timing; `link` does the waiting and the connecting.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The middle of the first wait. With the jitter below the first retry
/// comes 0.25 to 0.75 s after the loss: soon enough that a quick server
/// restart goes unnoticed, late enough not to hammer a port that is
/// still closed.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);

/// The longest wait between two tries: a desk left on over a long outage
/// still notices the server's return within half a minute.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// Successive waits before reconnecting: each is the previous one doubled,
/// up to [`MAX_RETRY`], and then spread by ±50 % so that a whole office
/// of desks losing the server at the same moment do not all knock again
/// at the same moment.
#[derive(Debug)]
pub struct Backoff {
    /// The middle of the next wait, before jitter.
    base: Duration,
    /// The jitter's random state (splitmix64).
    seed: u64,
}

impl Backoff {
    /// A backoff seeded from the OS, different for every process.
    pub fn new() -> Backoff {
        Backoff::with_seed(RandomState::new().hash_one(std::process::id()))
    }

    /// A backoff with a fixed seed, for tests.
    pub fn with_seed(seed: u64) -> Backoff {
        Backoff {
            base: FIRST_RETRY,
            seed,
        }
    }

    /// How long to wait before the next try.
    pub fn next_delay(&mut self) -> Duration {
        // 0.5 to 1.5 times the base.
        let spread = 0.5 + self.next_fraction();
        let delay = self.base.mul_f64(spread).min(MAX_RETRY);
        self.base = (self.base * 2).min(MAX_RETRY);
        delay
    }

    /// The connection is back: the next loss starts from the first wait.
    pub fn reset(&mut self) {
        self.base = FIRST_RETRY;
    }

    /// A number in [0, 1).
    fn next_fraction(&mut self) -> f64 {
        // splitmix64: plenty for spreading retries, and no dependency.
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits fill an f64's mantissa exactly.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_retry_is_within_a_second() {
        for seed in 0..1000 {
            let delay = Backoff::with_seed(seed).next_delay();
            assert!(delay >= FIRST_RETRY / 2, "{delay:?}");
            assert!(delay < Duration::from_secs(1), "{delay:?}");
        }
    }

    #[test]
    fn waits_double_then_stay_at_the_cap() {
        let mut backoff = Backoff::with_seed(7);
        let delays: Vec<Duration> = (0..12).map(|_| backoff.next_delay()).collect();
        for (i, delay) in delays.iter().enumerate() {
            let base = (FIRST_RETRY * 2u32.pow(i as u32)).min(MAX_RETRY);
            assert!(*delay >= base / 2, "try {i}: {delay:?}");
            assert!(
                *delay <= base.mul_f64(1.5).min(MAX_RETRY),
                "try {i}: {delay:?}"
            );
        }
        assert!(delays.iter().all(|d| *d <= MAX_RETRY));
        // By the tenth try the base is at the cap: never under half of it.
        assert!(
            delays[10..].iter().all(|d| *d >= MAX_RETRY / 2),
            "{delays:?}"
        );
    }

    #[test]
    fn jitter_spreads_desks_apart() {
        let firsts: Vec<Duration> = (0..100)
            .map(|seed| Backoff::with_seed(seed).next_delay())
            .collect();
        let earliest = firsts.iter().min().unwrap();
        let latest = firsts.iter().max().unwrap();
        assert!(
            *latest - *earliest > FIRST_RETRY / 2,
            "{earliest:?}..{latest:?}"
        );
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::with_seed(3);
        for _ in 0..8 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() < Duration::from_secs(1));
    }
}
