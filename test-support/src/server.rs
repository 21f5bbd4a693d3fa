//! The real `chat-server` binary as a child process of a test, for what
//! only a process shows (signals, fd limits, threads, memory, a crash and a
//! restart): on 127.0.0.1, port 0 at first and the same port again after a
//! kill, so clients come back to it; its stderr read all along into a log
//! the test can search, or left unread once it listens; killed on drop,
//! even when the test fails. Also where that binary is for the tests of
//! other crates, which cargo does not give its path.

use std::io::{self, BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{process, POLL_INTERVAL, TIMEOUT};

/// The line the server prints on stderr once it listens, before the address.
const LISTENING: &str = "[*] Listening as ";

/// What the test does with the server's stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stderr {
    /// Read all along, so the server never waits on it.
    Drained,
    /// Read up to the `Listening` line, then held open and never read, like
    /// a paused pager or a supervisor that stopped reading.
    StalledAfterStart,
}

/// How to start a `chat-server`: `BINARY --host 127.0.0.1 --port PORT
/// ARGS`, with `--db none` added unless ARGS name the room's log (`--db`,
/// `--redis`) or ask for the threads baseline (which keeps none): a test
/// never writes the default log under the user's home.
#[derive(Debug, Clone)]
pub struct ServerCommand {
    binary: PathBuf,
    args: Vec<String>,
    /// The soft and hard RLIMIT_NOFILE, set before exec.
    fd_limit: Option<u64>,
    stderr: Stderr,
}

impl ServerCommand {
    /// `binary` with no further flags.
    pub fn new(binary: impl Into<PathBuf>) -> ServerCommand {
        ServerCommand {
            binary: binary.into(),
            args: Vec::new(),
            fd_limit: None,
            stderr: Stderr::Drained,
        }
    }

    /// Adds flags.
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> ServerCommand {
        self.args
            .extend(args.iter().map(|arg| arg.as_ref().to_string()));
        self
    }

    /// Sets the soft and hard RLIMIT_NOFILE to `limit` before exec, so the
    /// server cannot raise it.
    pub fn fd_limit(mut self, limit: u64) -> ServerCommand {
        self.fd_limit = Some(limit);
        self
    }

    /// Once it listens, nobody reads its stderr any more: the pipe fills and
    /// stays full until [`ServerProcess::drain_stderr`].
    pub fn stall_stderr_after_start(mut self) -> ServerCommand {
        self.stderr = Stderr::StalledAfterStart;
        self
    }

    /// Starts it and waits until it listens.
    #[track_caller]
    pub fn start(self) -> ServerProcess {
        let mut server = ServerProcess {
            command: self,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            child: None,
            log: Arc::default(),
            stalled_stderr: None,
        };
        server.spawn();
        server
    }

    fn names_a_log(&self) -> bool {
        let threads_mode = self
            .args
            .windows(2)
            .any(|pair| pair == ["--mode", "threads"]);
        threads_mode
            || self
                .args
                .iter()
                .any(|arg| arg == "--db" || arg == "--redis")
    }
}

/// A running (or killed, to be restarted) `chat-server` child process.
#[derive(Debug)]
pub struct ServerProcess {
    command: ServerCommand,
    /// Where it listens: port 0 until it first said which port it took.
    addr: SocketAddr,
    /// `None` while it is down.
    child: Option<Child>,
    /// What it wrote to stderr since its last start (only what was read).
    log: Arc<Mutex<String>>,
    /// With [`ServerCommand::stall_stderr_after_start`]: the read end of its
    /// stderr, held open and not read, until [`ServerProcess::drain_stderr`].
    stalled_stderr: Option<BufReader<ChildStderr>>,
}

impl ServerProcess {
    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    #[track_caller]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// Its stderr since its last start.
    pub fn log(&self) -> String {
        lock(&self.log).clone()
    }

    /// The fingerprint of the TLS certificate it printed at start
    /// (`... fingerprint SHA256:..`), as printed.
    #[track_caller]
    pub fn fingerprint(&self) -> String {
        let log = self.log();
        log.split("fingerprint ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("expected a fingerprint in the server's log: {log:?}"))
            .trim_end_matches(',')
            .to_string()
    }

    /// Waits up to [`TIMEOUT`] for `needle` to appear in its stderr (the log
    /// is read by another thread, so it may trail what clients saw).
    #[track_caller]
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "expected {needle:?} in the server's stderr, got {log:?}"
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Bytes waiting unread in its stalled stderr pipe.
    #[track_caller]
    pub fn stalled_stderr_bytes(&self) -> usize {
        let reader = self
            .stalled_stderr
            .as_ref()
            .expect("started with a stalled stderr");
        let mut waiting: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, which is valid.
        let result =
            unsafe { libc::ioctl(reader.get_ref().as_raw_fd(), libc::FIONREAD, &mut waiting) };
        assert_eq!(result, 0, "FIONREAD failed: {}", io::Error::last_os_error());
        waiting as usize
    }

    /// Starts reading a stalled stderr again, from now on into [`Self::log`].
    pub fn drain_stderr(&mut self) {
        let Some(reader) = self.stalled_stderr.take() else {
            return;
        };
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                let mut log = lock(&log);
                log.push_str(&line);
                log.push('\n');
            }
        });
    }

    /// Sends `signal` to it.
    #[track_caller]
    pub fn signal(&self, signal: libc::c_int) {
        process::signal(self.pid(), signal);
    }

    /// True while it has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Waits up to `timeout` for it to exit; `None` if it still runs then.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("the server was started");
        process::wait_exit(child, timeout)
    }

    /// `kill -9`: gone at once, without a word to anyone.
    #[track_caller]
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the server is running");
        child.kill().expect("SIGKILL chat-server");
        child.wait().expect("reap chat-server");
    }

    /// SIGTERM: the server says `BYE` to every client and must exit 0
    /// within [`TIMEOUT`].
    #[track_caller]
    pub fn terminate(&mut self) {
        let mut child = self.child.take().expect("the server is running");
        process::signal(child.id(), libc::SIGTERM);
        match process::wait_exit(&mut child, TIMEOUT) {
            Some(status) => assert!(status.success(), "chat-server after SIGTERM: {status}"),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chat-server after SIGTERM: still running after {TIMEOUT:?}");
            }
        }
    }

    /// Starts it again, on the same port and with the same flags (so the
    /// same log), and waits until it listens.
    #[track_caller]
    pub fn restart(&mut self) {
        assert!(!self.is_running(), "the server is already running");
        self.spawn();
    }

    #[track_caller]
    fn spawn(&mut self) {
        let binary = &self.command.binary;
        let mut command = Command::new(binary);
        command.args([
            "--host",
            "127.0.0.1",
            "--port",
            &self.addr.port().to_string(),
        ]);
        if !self.command.names_a_log() {
            command.args(["--db", "none"]);
        }
        command
            .args(&self.command.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(limit) = self.command.fd_limit {
            let limit = limit as libc::rlim_t;
            // SAFETY: runs in the forked child before exec; setrlimit is
            // async-signal-safe and the closure allocates nothing.
            unsafe {
                command.pre_exec(move || {
                    let rlimit = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stderr = child.stderr.take().expect("stderr is piped");
        // Stored before waiting, so a failed start is killed on drop.
        self.child = Some(child);
        self.log = Arc::default();
        let (listening_tx, listening_rx) = mpsc::channel();
        let stall = self.command.stderr == Stderr::StalledAfterStart;
        let log = Arc::clone(&self.log);
        // Reads stderr for the whole run, so a chatty server never blocks on
        // a full pipe, and keeps it for assertions; or, stalled, hands the
        // pipe back unread once the server listens.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                lock(&log).push_str(&line);
                if let Some(rest) = line.strip_prefix(LISTENING) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    if stall {
                        let _ = listening_tx.send((addr, Some(reader)));
                        return;
                    }
                    let _ = listening_tx.send((addr, None));
                }
                line.clear();
            }
        });
        match listening_rx.recv_timeout(TIMEOUT) {
            Ok((addr, stalled)) => {
                self.addr = addr.parse().unwrap_or_else(|_| {
                    panic!("expected an address after {LISTENING:?}, got {addr:?}")
                });
                self.stalled_stderr = stalled;
            }
            Err(_) => {
                let ended = self.child.as_mut().and_then(|child| child.try_wait().ok());
                panic!(
                    "expected '{LISTENING}127.0.0.1:PORT' on stderr within {TIMEOUT:?}, got none \
                     (exited: {ended:?}); stderr so far: {:?}",
                    self.log()
                );
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A poisoned log still holds what was read: a failing test wants it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The `chat-server` binary of this build, for tests outside the server
/// crate (see [`workspace_binary`]).
#[track_caller]
pub fn chat_server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| workspace_binary("chat-server"))
}

/// The binary named `package` of that workspace package, in this build's
/// profile: cargo gives a package's tests the paths of its own binaries
/// only, and does not build another package's. So the cargo that builds
/// these tests builds it, into the profile folder the running test binary
/// is in (`target/PROFILE/deps/TEST`), a no-op when `cargo test
/// --workspace` has built it already. Cargo holds no lock while tests run.
#[track_caller]
pub fn workspace_binary(package: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("a test binary lives in target/PROFILE/deps");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", package, "--bin", package])
        .arg("--manifest-path")
        .arg(&manifest);
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(profile) => {
            build.args(["--profile", profile]);
        }
    }
    let built = build
        .output()
        .unwrap_or_else(|e| panic!("run cargo build -p {package}: {e}"));
    assert!(
        built.status.success(),
        "cargo build -p {package}: {}\n{}",
        built.status,
        String::from_utf8_lossy(&built.stderr)
    );
    let binary = profile_dir.join(package);
    assert!(
        binary.is_file(),
        "expected {} after building {package} (a --target-dir given on cargo's command \
         line is not seen here; use CARGO_TARGET_DIR)",
        binary.display()
    );
    binary
}
