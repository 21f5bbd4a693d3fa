//! The server's log: `tracing` events written to stderr by a helper thread,
//! so that a stderr nobody drains (a paused pager, a stopped supervisor, a
//! terminal held with Ctrl-S) costs dropped log lines, never a stalled loop.
//!
//! Lines keep the seed project's look (`[*] Listening as 0.0.0.0:5002`,
//! `[+] ADDR connected.`, `[-] ADDR disconnected (reason).`); message bodies
//! are never logged. [`DroppedLines`] counts what a stalled stderr cost and
//! says so once the log flows again.

use std::str::FromStr;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{EnvFilter, ParseError};

/// Log lines waiting for stderr before new ones are dropped: a bound on the
/// memory a stalled reader can cost (well under a MiB), and more than the
/// burst a thousand desks reconnecting at once write to a reader that keeps up.
const BUFFERED_LINES: usize = 4096;

/// The verbosity when neither `--log-level` nor `RUST_LOG` says otherwise.
pub const DEFAULT_LEVEL: &str = "info";

/// The writer's count of dropped lines, once [`init`] has run.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// A verbosity: a level (`error`, `warn`, `info`, `debug`, `trace`, `off`) or
/// any `RUST_LOG`-style directive list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLevel(String);

impl FromStr for LogLevel {
    type Err = ParseError;

    fn from_str(value: &str) -> Result<LogLevel, ParseError> {
        EnvFilter::try_new(value)?;
        Ok(LogLevel(value.to_string()))
    }
}

/// Sends the process's log to stderr through a non-blocking, lossy writer.
/// `level` wins over `RUST_LOG`, which wins over [`DEFAULT_LEVEL`].
///
/// Keep the guard while the log is wanted: dropping it writes out what is
/// buffered (waiting at most a second for a stalled stderr) and stops the
/// writer thread.
pub fn init(level: Option<&LogLevel>) -> WorkerGuard {
    let filter = match level {
        Some(LogLevel(directives)) => EnvFilter::new(directives),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LEVEL)),
    };
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("chat-server-log")
        .finish(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .init();
    guard
}

/// Tells the log how many lines a stalled stderr made it drop, once lines
/// stop being dropped, so the report itself is likely to get through; a
/// report that is dropped too is tried again later and not counted.
#[derive(Debug, Default)]
pub struct DroppedLines {
    /// Lines dropped, not counting our own reports, at the last check.
    seen: usize,
    /// Of those, how many were reported already.
    reported: usize,
    /// Our own reports that were dropped.
    own: usize,
}

impl DroppedLines {
    /// Call now and then (the loop does, once a second).
    pub fn check(&mut self) {
        let Some(counter) = DROPPED.get() else {
            return;
        };
        let dropped = counter.dropped_lines() - self.own;
        let flowing = dropped == self.seen;
        self.seen = dropped;
        if !flowing || dropped == self.reported {
            return;
        }
        let before = counter.dropped_lines();
        tracing::warn!(
            lines = dropped - self.reported,
            "[!] Some log lines were dropped while stderr was not being read."
        );
        // The writer drops synchronously, so a report that did not fit shows
        // in the count at once.
        let lost = counter.dropped_lines() - before;
        if lost == 0 {
            self.reported = dropped;
        } else {
            self.own += lost;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_directives_parse() {
        for good in ["info", "debug", "off", "chat_server=debug,warn"] {
            assert!(good.parse::<LogLevel>().is_ok(), "{good}");
        }
    }

    #[test]
    fn nonsense_is_refused() {
        assert!("loud=very=much".parse::<LogLevel>().is_err());
    }
}
