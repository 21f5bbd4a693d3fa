//! Child processes a test runs: each output pipe copied by a thread of its
//! own (so a chatty child never blocks on a full pipe), waits bounded in
//! time, signals, and a binary run to its end.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::{POLL_INTERVAL, TIMEOUT};

/// One of a child's output pipes, copied into a shared buffer by a thread
/// until the pipe's end of file.
#[derive(Debug)]
pub struct Pipe {
    /// "stdout" or "stderr", for failure messages.
    name: &'static str,
    buffer: Arc<Mutex<Vec<u8>>>,
    /// Disconnected when the thread ends (its sender is dropped).
    done: Receiver<()>,
    /// `None` once joined.
    thread: Option<JoinHandle<()>>,
}

impl Pipe {
    /// Starts the thread copying everything `pipe` produces; `name` says
    /// which pipe it is in failure messages.
    pub fn collect<R: Read + Send + 'static>(name: &'static str, mut pipe: R) -> Pipe {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let (finished, done) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            let _finished = finished;
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                lock(&sink).extend_from_slice(&chunk[..n]);
            }
        });
        Pipe {
            name,
            buffer,
            done,
            thread: Some(thread),
        }
    }

    /// Everything read so far.
    pub fn bytes(&self) -> Vec<u8> {
        lock(&self.buffer).clone()
    }

    /// Everything read so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.buffer)).into_owned()
    }

    /// Joins the thread once the pipe has reached its end of file (the
    /// child has exited); after this, [`Pipe::text`] is all the child wrote.
    /// Waits at most [`TIMEOUT`] for the end of file; `label` names the
    /// child in failure messages.
    #[track_caller]
    pub fn finish(&mut self, label: &str) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        match self.done.recv_timeout(TIMEOUT) {
            Err(RecvTimeoutError::Disconnected) => {}
            Ok(()) | Err(RecvTimeoutError::Timeout) => panic!(
                "{label}: expected end of file on {} within {TIMEOUT:?} of exit, \
                 got none (something still holds the pipe open)\n--- {} so far ---\n{}",
                self.name,
                self.name,
                self.text()
            ),
        }
        if thread.join().is_err() {
            panic!("{label}: the {} reader thread panicked", self.name);
        }
    }
}

/// A poisoned buffer still holds what was read: a failing test wants it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits up to `timeout` for `child` to exit; `None` if it is still running
/// then. Polls: std has no wait with a timeout.
#[track_caller]
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL_INTERVAL),
            Ok(None) => return None,
            Err(err) => panic!("waiting for process {}: {err}", child.id()),
        }
    }
}

/// Runs `command` with stdin closed until it exits and its output is read
/// to the end. Killed after [`TIMEOUT`], failing the test with what it
/// printed: a flag that wrongly starts a server cannot hang the suite.
/// `label` names it in failure messages.
#[track_caller]
pub fn run_to_exit(mut command: Command, label: &str) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{label}: cannot start it: {err}"));
    let mut stdout = Pipe::collect("stdout", child.stdout.take().expect("stdout is piped"));
    let mut stderr = Pipe::collect("stderr", child.stderr.take().expect("stderr is piped"));
    let Some(status) = wait_exit(&mut child, TIMEOUT) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{label}: expected it to exit within {TIMEOUT:?}, it was still running\n\
             --- stdout ---\n{}\n--- stderr ---\n{}",
            stdout.text(),
            stderr.text()
        );
    };
    stdout.finish(label);
    stderr.finish(label);
    Output {
        status,
        stdout: stdout.bytes(),
        stderr: stderr.bytes(),
    }
}

/// Makes the child `command` starts get SIGKILL when the thread that
/// started it ends (`PR_SET_PDEATHSIG`): a test binary or a tool killed
/// mid-run leaves no child behind.
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: runs between fork and exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Sends `signal` to process `pid`.
#[track_caller]
pub fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        result,
        0,
        "kill({pid}, {signal}): {}",
        io::Error::last_os_error()
    );
}
