//! The children we start (servers, chat-load) and how they are tied to us: a guard that
//! SIGKILLs a child on drop (errors, panics), waits that notice Ctrl-C/SIGTERM, and
//! `PR_SET_PDEATHSIG` in case we are SIGKILLed ourselves. Also the lines of a child's log the
//! report quotes, and why a whole run stops ([`RunError`]).

use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::thread;
use std::time::{Duration, Instant};

const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Set on SIGINT, SIGTERM or SIGHUP; checked wherever we wait, so children are stopped
/// properly instead of us dying with them still running.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(Arc::default);

pub fn install_interrupt_handlers() -> Result<(), RunError> {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let registered = signal_hook::flag::register(signal, Arc::clone(&INTERRUPTED));
        registered.map_err(|err| RunError::Io(format!("cannot catch Ctrl-C: {err}")))?;
    }
    Ok(())
}

/// `Err(Interrupted)` once Ctrl-C or SIGTERM came.
pub fn check_interrupt() -> Result<(), RunError> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        true => Err(RunError::Interrupted),
        false => Ok(()),
    }
}

/// Why the comparison as a whole stopped.
#[derive(Debug)]
pub enum RunError {
    /// Ctrl-C or SIGTERM; children have been stopped.
    Interrupted,
    /// A binary we drive is missing, or folders or report files could not be written.
    Io(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Interrupted => f.write_str("interrupted"),
            RunError::Io(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for RunError {}

/// `cannot <what> <path>: <err>`, for folders and files the run cannot do without.
pub fn io_error(what: &str, path: &Path, err: io::Error) -> RunError {
    RunError::Io(format!("cannot {what} {}: {err}", path.display()))
}

/// How a child process ended: its exit code or the signal that killed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEnd {
    Code(i32),
    Signal(i32),
}

impl From<ExitStatus> for ProcessEnd {
    fn from(status: ExitStatus) -> ProcessEnd {
        match (status.code(), status.signal()) {
            (Some(code), _) => ProcessEnd::Code(code),
            (None, Some(signal)) => ProcessEnd::Signal(signal),
            (None, None) => ProcessEnd::Code(-1),
        }
    }
}

impl fmt::Display for ProcessEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessEnd::Code(code) => write!(f, "exit {code}"),
            ProcessEnd::Signal(signal) => write!(f, "signal {}", signal_name(*signal)),
        }
    }
}

/// `SIGKILL` rather than `9`, for the report.
pub fn signal_name(signal: i32) -> String {
    let name = signal_hook::low_level::signal_name(signal);
    name.map_or_else(|| format!("signal {signal}"), String::from)
}

/// What waiting on a child came to: what the wait was for, the child's end, or neither in time.
#[derive(Debug)]
pub enum Waited<T> {
    Ready(T),
    Ended(ProcessEnd),
    TimedOut,
}

/// A child that is SIGKILLed and reaped if we leave without ending it properly.
pub struct Supervised {
    pub child: Child,
    ended: Option<ProcessEnd>,
}

impl Supervised {
    /// Starts `command` tied to us (SIGKILLed if we die) and, given a cgroup's `cgroup.procs`,
    /// moved there before `exec`, so not one allocation of the server escapes the limit.
    pub fn spawn(command: &mut Command, cgroup_procs: Option<CString>) -> io::Result<Supervised> {
        test_support::process::die_with_parent(command);
        if let Some(path) = cgroup_procs {
            // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
            // calls (open, write, close) on memory prepared before the fork.
            unsafe { command.pre_exec(move || join_cgroup(&path)) };
        }
        let child = command.spawn()?;
        Ok(Supervised { child, ended: None })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How it ended, without blocking; `None` while it runs.
    pub fn poll_end(&mut self) -> Option<ProcessEnd> {
        if self.ended.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.ended = Some(status.into());
            }
        }
        self.ended
    }

    /// Polls `ready` until it gives a value, the child ends, or `limit` passes; a Ctrl-C ends
    /// the wait with `Err(Interrupted)`.
    pub fn wait_until<T>(
        &mut self,
        limit: Duration,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Result<Waited<T>, RunError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(value) = ready() {
                return Ok(Waited::Ready(value));
            }
            if let Some(end) = self.poll_end() {
                return Ok(Waited::Ended(end));
            }
            check_interrupt()?;
            if Instant::now() >= deadline {
                return Ok(Waited::TimedOut);
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits up to `limit` for the child to end; `None` if still running then.
    pub fn wait_for(&mut self, limit: Duration) -> Result<Option<ProcessEnd>, RunError> {
        match self.wait_until(limit, || None::<()>)? {
            Waited::Ended(end) => Ok(Some(end)),
            Waited::Ready(()) | Waited::TimedOut => Ok(None),
        }
    }

    /// SIGTERM, wait `grace`, then SIGKILL. Returns the end and whether SIGKILL was needed.
    pub fn terminate(&mut self, grace: Duration) -> Result<(ProcessEnd, bool), RunError> {
        if let Some(end) = self.poll_end() {
            return Ok((end, false));
        }
        // SAFETY: kill(2) on our own unreaped child's pid cannot hit another process.
        unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
        match self.wait_for(grace)? {
            Some(end) => Ok((end, false)),
            None => Ok((self.kill(), true)),
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) -> ProcessEnd {
        if let Some(end) = self.poll_end() {
            return end;
        }
        let _ = self.child.kill();
        let end = (self.child.wait()).map_or(ProcessEnd::Signal(libc::SIGKILL), ProcessEnd::from);
        self.ended = Some(end);
        end
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is `path` (between fork and
/// exec: no allocation).
fn join_cgroup(path: &CString) -> io::Result<()> {
    // SAFETY: open, write and close on a C string and a static buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // "0" means "the writing process", i.e. this child.
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let write_error = io::Error::last_os_error();
        libc::close(fd);
        match written {
            1 => Ok(()),
            _ => Err(write_error),
        }
    }
}

/// The lines of a child's log that are not blank, trimmed; none when it cannot be read.
fn log_lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    lines.map(String::from).collect()
}

/// The last line of a child's log, cut to 120 characters.
pub fn last_line(path: &Path) -> String {
    let last = log_lines(path).pop();
    last.map_or_else(|| "(no output)".into(), |line| truncate(&line, 120))
}

/// The server's own complaint (`chat-server: ...`) if it made one, else its last line: a bad
/// flag is followed by the usage line, which says less.
pub fn error_line(path: &Path) -> String {
    let mut lines = log_lines(path).into_iter();
    let complaint = lines.find(|line| line.starts_with("chat-server:"));
    complaint.map_or_else(|| last_line(path), |line| truncate(&line, 120))
}

/// The server's own note of a signal it received, if it logged one.
pub fn signal_line(path: &Path) -> Option<String> {
    let mut noted =
        (log_lines(path).into_iter()).filter(|line| line.to_ascii_lowercase().contains("signal"));
    noted.next().map(|line| truncate(&line, 80))
}

/// `text`, cut to `max_chars` characters with an ellipsis.
pub fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_failure_names_the_server_s_complaint_not_its_usage() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        fs::write(
            &log,
            "chat-server: Unrecognized option: 'redis'\nUsage: chat-server [options]\n",
        )
        .unwrap();
        assert_eq!(
            error_line(&log),
            "chat-server: Unrecognized option: 'redis'"
        );
        fs::write(&log, "[*] Room log: in memory only\npanicked somewhere\n").unwrap();
        assert_eq!(error_line(&log), "panicked somewhere");
    }
}
