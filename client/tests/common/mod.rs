//! Shared helpers for the client's integration tests: a real `chat-server`
//! on port 0, or the real `chat-server` binary as a child process (to kill
//! and restart on the same port, through `test-support`), the real
//! `chat-client` binary with piped stdin/stdout, and bounded waits on what it
//! prints. Every wait ends in at most [`TIMEOUT`], failing with what was
//! printed so far. Once the client has exited, its pipe-reading threads are
//! joined, so what the tests read afterwards is everything it printed.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chat_server::config::Db;
use chat_server::{Config, RunningServer};
pub use test_support::process::signal;
use test_support::process::{run_to_exit, wait_exit, Pipe};
use test_support::{chat_server_binary, ServerCommand};
pub use test_support::{ServerProcess, TIMEOUT};

/// How often waits re-check.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The binary under test.
pub const CLIENT_BIN: &str = env!("CARGO_BIN_EXE_chat-client");

/// A server on `127.0.0.1:0` replaying `history` messages, without the
/// per-client rate limit (the burst tests send faster than a person), its
/// log in memory.
pub fn start_server(history: usize) -> RunningServer {
    RunningServer::start(Config {
        history,
        rate_limit: None,
        db: Db::None,
        ..Config::default()
    })
    .expect("start chat-server on 127.0.0.1:0")
}

/// Starts a muted client that joins as `name` (also its label) and waits
/// until the server has welcomed it.
pub fn join(name: &str, addr: SocketAddr) -> Client {
    let client = ClientBuilder::new(name, addr).name(name).spawn();
    client.expect(&format!("You are {name}"));
    client
}

/// A desk speaking the protocol by hand, to see what the client cannot
/// show on a pipe (the colour a name is announced in, the exact text sent).
pub struct RawDesk {
    lines: BufReader<TcpStream>,
}

impl RawDesk {
    /// Connects, without a name: it receives the room from then on.
    pub fn connect(addr: SocketAddr) -> RawDesk {
        let stream = TcpStream::connect(addr).expect("connect a raw desk");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("set a read timeout");
        RawDesk {
            lines: BufReader::new(stream),
        }
    }

    /// Reads lines until one starts with `prefix`; returns it.
    #[track_caller]
    pub fn expect_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let mut line = String::new();
            match self.lines.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line.starts_with(prefix) => return line.trim_end().to_string(),
                Ok(_) => seen.push(line),
            }
        }
        panic!("no line starting {prefix:?}; got:\n{}", seen.concat());
    }
}

/// A running `chat-client` with its stdin, stdout and stderr piped.
pub struct Client {
    /// For failure messages.
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Pipe,
    stderr: Pipe,
}

/// How to start a client.
pub struct ClientBuilder {
    label: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    mute: bool,
}

impl ClientBuilder {
    /// A client of the server at `addr`, muted unless [`ClientBuilder::sound`].
    pub fn new(label: &str, addr: SocketAddr) -> ClientBuilder {
        ClientBuilder {
            label: label.to_string(),
            args: vec![
                "--host".into(),
                addr.ip().to_string(),
                "--port".into(),
                addr.port().to_string(),
            ],
            envs: Vec::new(),
            mute: true,
        }
    }

    /// A client of every server in `addrs`, tried in turn (`--host a,b`).
    pub fn failover(label: &str, addrs: &[SocketAddr]) -> ClientBuilder {
        let hosts: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
        ClientBuilder {
            label: label.to_string(),
            args: vec!["--host".into(), hosts.join(",")],
            envs: Vec::new(),
            mute: true,
        }
    }

    /// Adds `--name NAME`.
    pub fn name(mut self, name: &str) -> ClientBuilder {
        self.args.push("--name".into());
        self.args.push(name.into());
        self
    }

    /// Adds any other arguments.
    pub fn args(mut self, args: &[&str]) -> ClientBuilder {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Sets an environment variable for the client.
    pub fn env(mut self, key: &str, value: &str) -> ClientBuilder {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Leaves out `--mute`, so the client opens its audio device.
    pub fn sound(mut self) -> ClientBuilder {
        self.mute = false;
        self
    }

    /// Starts the client.
    pub fn spawn(self) -> Client {
        let mut command = Command::new(CLIENT_BIN);
        command
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The tests decide colour and audio themselves.
            .env_remove("CLICOLOR_FORCE")
            .env_remove("ALSA_CONFIG_PATH");
        if self.mute {
            command.arg("--mute");
        }
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn chat-client");
        let stdout = Pipe::collect("stdout", child.stdout.take().expect("piped stdout"));
        let stderr = Pipe::collect("stderr", child.stderr.take().expect("piped stderr"));
        Client {
            label: self.label,
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }
}

impl Client {
    /// The client's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Freezes the client (SIGSTOP): it reads, writes and retries nothing
    /// until [`Client::resume`].
    pub fn freeze(&self) {
        signal(self.child.id(), libc::SIGSTOP);
    }

    /// Lets a frozen client go on (SIGCONT).
    pub fn resume(&self) {
        signal(self.child.id(), libc::SIGCONT);
    }

    /// How many times stdout holds `needle` now.
    pub fn count(&self, needle: &str) -> usize {
        self.stdout().matches(needle).count()
    }

    /// Types one line.
    #[track_caller]
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|err| panic!("{}: writing to stdin: {err}", self.label));
    }

    /// Closes stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Waits until stdout contains `needle`.
    #[track_caller]
    pub fn expect(&self, needle: &str) {
        self.expect_count(needle, 1);
    }

    /// Waits until stdout contains one of `needles`; returns the first
    /// found.
    #[track_caller]
    pub fn expect_any<'a>(&self, needles: &[&'a str]) -> &'a str {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let out = self.stdout();
            if let Some(found) = needles.iter().find(|needle| out.contains(**needle)) {
                return found;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: expected one of {needles:?} on stdout within {TIMEOUT:?}\n\
                     --- stdout ---\n{out}\n--- stderr ---\n{}",
                    self.label,
                    self.stderr()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits until stdout contains `needle` at least `count` times.
    #[track_caller]
    pub fn expect_count(&self, needle: &str, count: usize) {
        self.expect_count_within(needle, count, TIMEOUT);
    }

    /// Waits up to `timeout` (for what the client itself takes a while to
    /// do) until stdout contains `needle`.
    #[track_caller]
    pub fn expect_within(&self, needle: &str, timeout: Duration) {
        self.expect_count_within(needle, 1, timeout);
    }

    #[track_caller]
    fn expect_count_within(&self, needle: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout().matches(needle).count() >= count {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: expected {count} x {needle:?} on stdout within {timeout:?}\n\
                     --- stdout ---\n{}\n--- stderr ---\n{}",
                    self.label,
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits for the client to exit, then for its stdout and stderr to be
    /// read to the end (joining the reader threads), and returns its status.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        let status = match wait_exit(&mut self.child, TIMEOUT) {
            Some(status) => status,
            None => panic!(
                "{}: expected an exit within {TIMEOUT:?}, got none\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.label,
                self.stdout(),
                self.stderr()
            ),
        };
        self.stdout.finish(&self.label);
        self.stderr.finish(&self.label);
        status
    }

    /// Asserts that the client has exited with status `code`.
    #[track_caller]
    pub fn expect_exit_code(&mut self, code: i32) {
        let status = self.wait_exit();
        assert_eq!(
            status.code(),
            Some(code),
            "{}: exit status\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.label,
            self.stdout(),
            self.stderr()
        );
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the client binary with `args` and no server, stdin closed; returns
/// (exit code, stdout, stderr).
#[track_caller]
pub fn run_client(args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(CLIENT_BIN);
    command.args(args);
    run_to_end(command, &format!("chat-client {args:?}"))
}

/// `chat-server` as these tests run it, on a free port with its log in
/// `db` (a file, or `none`) and `extra` flags (`--tls`, `--auth token`,
/// ...), once it listens: it can be killed (`kill -9`), stopped (SIGTERM,
/// which says `BYE` to everyone) and started again on the same port with
/// the same log.
#[track_caller]
pub fn server_process(db: &Path, extra: &[&str]) -> ServerProcess {
    let db = db.to_str().expect("a UTF-8 path");
    let args: Vec<&str> = ["--db", db].iter().chain(extra).copied().collect();
    server_process_args(&args)
}

/// The same with exactly these flags for its log and the rest.
#[track_caller]
pub fn server_process_args(args: &[&str]) -> ServerProcess {
    ServerCommand::new(chat_server_binary())
        // The tests type faster than a person; the listening line is a log line.
        .args(&["--rate-limit", "0", "--log-level", "info"])
        .args(args)
        .start()
}

/// Runs `chat-server ARGS` (an admin command such as `user add`) to its
/// end; returns (exit code, stdout, stderr).
#[track_caller]
pub fn run_server(args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(chat_server_binary());
    command.args(args);
    run_to_end(command, &format!("chat-server {args:?}"))
}

/// Runs `command` with stdin closed to its end (see [`run_to_exit`]);
/// returns (exit code, stdout, stderr). `label` names it in failure messages.
#[track_caller]
pub fn run_to_end(command: Command, label: &str) -> (Option<i32>, String, String) {
    let output = run_to_exit(command, label);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Creates the account `name` in the log `db` and writes its token to a
/// file in `dir`; returns the file.
#[track_caller]
pub fn add_account(db: &Path, name: &str, dir: &Path) -> PathBuf {
    let db_arg = db.to_str().expect("a UTF-8 path");
    let (code, stdout, stderr) = run_server(&["user", "add", name, "--db", db_arg]);
    assert_eq!(code, Some(0), "user add {name}: {stdout}{stderr}");
    let token = stdout.trim();
    assert_eq!(token.len(), 64, "a 64-hex-digit token, not {stdout:?}");
    let file = dir.join(format!("{name}.token"));
    std::fs::write(&file, format!("{token}\n")).expect("write the token file");
    // As a person should keep it: the client warns otherwise.
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod 600 the token file");
    file
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A fresh, empty directory with `label` in its name.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "chat-client-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Sleeps a little: for "nothing more should happen" checks only, never
/// to wait for something that should.
pub fn settle() {
    thread::sleep(Duration::from_millis(300));
}

/// True if `line` starts with `[YYYY-MM-DD HH:MM:SS] `.
pub fn starts_with_timestamp(line: &str) -> bool {
    let pattern = "[dddd-dd-dd dd:dd:dd] ";
    line.len() >= pattern.len()
        && line
            .bytes()
            .zip(pattern.bytes())
            .all(|(got, want)| match want {
                b'd' => got.is_ascii_digit(),
                other => got == other,
            })
}
