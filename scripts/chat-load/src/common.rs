//! What the load modes and the restart scenario share around their event
//! loops: the run's id, the open-file limit, the time limits of the connect
//! and warm-up phases, the senders' schedule and jitter, the note about the
//! server's rate limit, and the progress line on stderr.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::conn::CONNECT_TIMEOUT;
use crate::modes::Plan;
use crate::Error;

/// File descriptors kept free beyond one per client: stdio, the epoll fds,
/// /proc reads, and slack for the test harness.
const FD_RESERVE: u64 = 64;

/// The server's default per-connection rate limit, msgs/s.
const SERVER_DEFAULT_RATE_LIMIT: f64 = 20.0;

/// Longest wait for every reader to see a warm-up probe, plus a little per
/// client for the server to accept them.
pub(crate) const WARMUP_BASE: Duration = Duration::from_secs(10);

/// How often the warm-up probe is repeated, for clients the server had not
/// yet accepted when the previous one went out. Well under the server's
/// default rate limit of 20 msgs/s.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// Longest single wait in `poll`, so a phase change is seen promptly.
pub(crate) const MAX_POLL_WAIT: Duration = Duration::from_millis(20);

/// How often a progress line is printed.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// A short id for names and markers, different for runs started close together.
pub(crate) fn run_id() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mixed = (nanos ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) as u32
}

/// Raises the open-file limit far enough for `clients` sockets.
pub(crate) fn raise_fd_limit(clients: usize) -> Result<(), Error> {
    let needed = clients as u64 + FD_RESERVE;
    let limit = rlimit::increase_nofile_limit(needed).map_err(|source| Error::Io {
        context: "raising the open-file limit".into(),
        source,
    })?;
    if limit < needed {
        return Err(Error::FdLimit { needed, limit });
    }
    Ok(())
}

/// How long the connect phase may take: its pacing, then time for the last
/// connects to time out.
pub(crate) fn connect_budget(config: &Config, plan: &Plan) -> Duration {
    let pacing = match plan.connect_rate {
        Some(rate) => Duration::from_secs_f64(plan.clients as f64 / rate),
        // Unpaced: allow ~2k connects/s as a generous floor.
        None => Duration::from_millis(plan.clients as u64 / 2),
    };
    let pacing = if plan.connect_storm {
        pacing.min(config.duration)
    } else {
        pacing
    };
    pacing + CONNECT_TIMEOUT + Duration::from_secs(2)
}

/// A note for the report when `--rate` is above the server's default limit.
pub(crate) fn rate_limit_note(config: &Config) -> Option<String> {
    (config.rate_per_sender > SERVER_DEFAULT_RATE_LIMIT).then(|| {
        format!(
            "--rate {} is above the server's default limit of {SERVER_DEFAULT_RATE_LIMIT} msgs/s per connection: the server delays the excess",
            config.rate_per_sender
        )
    })
}

/// Whether a sender whose next send is due at `next` sends now; if so,
/// `next` moves on by `interval`. A sender that fell more than a second
/// behind (a stalled loop) restarts its schedule instead of bursting.
pub(crate) fn take_turn(next: &mut Instant, interval: Duration, now: Instant) -> bool {
    if *next > now {
        return false;
    }
    *next += interval;
    if *next + Duration::from_secs(1) < now {
        *next = now + interval;
    }
    true
}

/// xorshift64*: enough to spread send times and retries, no crate needed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator whose sequence differs for each `stream`.
    pub(crate) fn new(stream: u64) -> Rng {
        Rng(0x9E37_79B9_7F4A_7C15 ^ ((stream + 1).wrapping_mul(0x2545_F491_4F6C_DD1D)))
    }

    /// The next number in `0.0..1.0`.
    pub(crate) fn fraction(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Progress on stderr about once a second: rewritten in place on a
/// terminal, plain lines otherwise (logs, pipes).
pub(crate) struct Progress {
    /// No output at all.
    quiet: bool,
    /// stderr is a terminal: use `\r`.
    in_place: bool,
    /// A `\r` line is showing and needs a newline before anything else.
    dirty: bool,
    /// When the last line was printed.
    last: Instant,
    /// When the run started.
    start: Instant,
    /// Mode name, for the line.
    mode: &'static str,
    /// Clients asked for.
    clients: usize,
}

impl Progress {
    pub(crate) fn new(config: &Config) -> Progress {
        Progress {
            quiet: config.quiet,
            in_place: std::io::stderr().is_terminal(),
            dirty: false,
            last: Instant::now(),
            start: Instant::now(),
            mode: config.mode.name(),
            clients: config.clients,
        }
    }

    /// Clients asked for, for the counts.
    pub(crate) fn clients(&self) -> usize {
        self.clients
    }

    /// At most once a second: the mode, the time, `stage` and what `counts`
    /// says.
    pub(crate) fn tick_with(&mut self, stage: &str, counts: impl FnOnce() -> String) {
        if self.quiet || self.last.elapsed() < PROGRESS_INTERVAL {
            return;
        }
        self.last = Instant::now();
        let text = format!(
            "[chat-load] {} {:>6.1}s {stage:<8} {}",
            self.mode,
            self.start.elapsed().as_secs_f64(),
            counts()
        );
        let mut err = std::io::stderr().lock();
        if self.in_place {
            let _ = write!(err, "\r{text}\x1b[K");
            self.dirty = true;
        } else {
            let _ = writeln!(err, "{text}");
        }
    }

    pub(crate) fn say(&mut self, text: &str) {
        if self.quiet {
            return;
        }
        self.finish();
        eprintln!("[chat-load] {text}");
    }

    pub(crate) fn finish(&mut self) {
        if self.dirty {
            eprintln!();
            self.dirty = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_takes_its_turn_on_schedule_and_never_bursts() {
        let start = Instant::now();
        let interval = Duration::from_millis(100);
        let mut next = start + interval;
        assert!(!take_turn(&mut next, interval, start));
        assert!(take_turn(&mut next, interval, start + interval));
        assert_eq!(next, start + 2 * interval);
        // Three seconds late: one send, then the schedule starts again.
        let late = start + Duration::from_secs(3);
        assert!(take_turn(&mut next, interval, late));
        assert_eq!(next, late + interval);
        assert!(!take_turn(&mut next, interval, late));
    }
}
