//! Shared helpers for the client's integration tests: a real `chat-server`
//! on port 0, or the real `chat-server` binary as a child process on a
//! fixed port (to kill and restart), the real `chat-client` binary with
//! piped stdin/stdout, and bounded waits on what it prints. Every wait ends
//! in at most [`STEP_TIMEOUT`], failing with what was printed so far. Once
//! the client has exited, its pipe-reading threads are joined, so what the
//! tests read afterwards is everything it printed.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chat_server::config::Db;
use chat_server::{Config, RunningServer};

/// The longest any single expected thing may take to show up.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

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
            .set_read_timeout(Some(STEP_TIMEOUT))
            .expect("set a read timeout");
        RawDesk {
            lines: BufReader::new(stream),
        }
    }

    /// Reads lines until one starts with `prefix`; returns it.
    #[track_caller]
    pub fn expect_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + STEP_TIMEOUT;
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

/// One of the child's output pipes, copied into a shared buffer by a
/// thread until the pipe's end of file.
struct Pipe {
    /// "stdout" or "stderr", for failure messages.
    name: &'static str,
    buffer: Arc<Mutex<Vec<u8>>>,
    /// Disconnected when the thread ends (its sender is dropped).
    done: Receiver<()>,
    /// `None` once joined.
    thread: Option<JoinHandle<()>>,
}

impl Pipe {
    /// Starts the thread copying everything `pipe` produces.
    fn collect<R: Read + Send + 'static>(name: &'static str, mut pipe: R) -> Pipe {
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
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
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
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }

    /// Joins the thread, once the pipe has reached end of file (the child
    /// has exited); after this [`Pipe::text`] is all the child wrote. Waits
    /// at most [`STEP_TIMEOUT`] for the end of file.
    #[track_caller]
    fn finish(&mut self, label: &str) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        match self.done.recv_timeout(STEP_TIMEOUT) {
            Err(RecvTimeoutError::Disconnected) => {}
            Ok(()) | Err(RecvTimeoutError::Timeout) => panic!(
                "{label}: expected end of file on {} within {STEP_TIMEOUT:?} of exit, \
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
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let out = self.stdout();
            if let Some(found) = needles.iter().find(|needle| out.contains(**needle)) {
                return found;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: expected one of {needles:?} on stdout within {STEP_TIMEOUT:?}\n\
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
        self.expect_count_within(needle, count, STEP_TIMEOUT);
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
        let status = match wait_child(&mut self.child) {
            Ok(status) => status,
            Err(err) => panic!(
                "{}: {err}\n--- stdout ---\n{}\n--- stderr ---\n{}",
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

/// Waits at most [`STEP_TIMEOUT`] for `child` to exit.
fn wait_child(child: &mut Child) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL_INTERVAL),
            Ok(None) => {
                return Err(format!(
                    "expected an exit within {STEP_TIMEOUT:?}, got none"
                ))
            }
            Err(err) => return Err(format!("wait: {err}")),
        }
    }
}

/// Runs the client binary with `args` and no server, stdin closed; returns
/// (exit code, stdout, stderr).
#[track_caller]
pub fn run_client(args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(CLIENT_BIN);
    command.args(args);
    run_to_exit(command, &format!("chat-client {args:?}"))
}

/// Runs `command` with stdin closed until it exits (at most
/// [`STEP_TIMEOUT`]) and its output is read to the end; returns (exit
/// code, stdout, stderr). `label` names it in failure messages.
#[track_caller]
pub fn run_to_exit(mut command: Command, label: &str) -> (Option<i32>, String, String) {
    let mut child = match command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => panic!("{label}: spawn: {err}"),
    };
    let mut stdout = Pipe::collect("stdout", child.stdout.take().expect("piped stdout"));
    let mut stderr = Pipe::collect("stderr", child.stderr.take().expect("piped stderr"));
    let status = match wait_child(&mut child) {
        Ok(status) => status,
        Err(err) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{label}: {err}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                stdout.text(),
                stderr.text()
            )
        }
    };
    stdout.finish(label);
    stderr.finish(label);
    (status.code(), stdout.text(), stderr.text())
}

/// Sends `signal` to process `pid`.
#[track_caller]
pub fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) only takes two integers.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        result,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// A port that was free a moment ago: bound to 0, read, released.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The real `chat-server` binary, built once per test run with the cargo
/// that builds these tests (a dev-dependency's binaries are not built for
/// us, and cargo holds no lock while tests run).
pub fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut build = Command::new(env!("CARGO"));
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "chat-server",
                "--bin",
                "chat-server",
            ])
            .arg("--manifest-path")
            .arg(&workspace);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let built = build.output().expect("run cargo build -p chat-server");
        assert!(
            built.status.success(),
            "cargo build -p chat-server: {}\n{}",
            built.status,
            String::from_utf8_lossy(&built.stderr)
        );
        // The client binary's directory is the profile's output directory.
        Path::new(CLIENT_BIN).with_file_name("chat-server")
    })
}

/// The real `chat-server` binary as a child process on `127.0.0.1:PORT`,
/// its room log in a SQLite file (or in memory, or in Redis): it can be
/// killed (`kill -9`), stopped (SIGTERM, which says `BYE` to everyone) and
/// started again on the same port with the same log.
pub struct ServerProcess {
    port: u16,
    /// Its flags beyond address, port, rate limit and log level: the log
    /// (`--db`, `--redis`), `--tls`, `--auth token`, ...
    args: Vec<String>,
    /// `None` while it is down.
    child: Option<Child>,
    /// Its log (stderr), kept for failure messages.
    log: Option<Pipe>,
}

impl ServerProcess {
    /// Starts it on a free port, its log in `db`, and waits until it listens.
    #[track_caller]
    pub fn start(db: &Path) -> ServerProcess {
        ServerProcess::start_with(db, &[])
    }

    /// Starts it with more flags; `db` may be `none`.
    #[track_caller]
    pub fn start_with(db: &Path, extra: &[&str]) -> ServerProcess {
        let db = db.to_str().expect("a UTF-8 path");
        let args: Vec<&str> = ["--db", db].iter().chain(extra).copied().collect();
        ServerProcess::start_args(&args)
    }

    /// Starts it with exactly these flags for its log and the rest.
    #[track_caller]
    pub fn start_args(args: &[&str]) -> ServerProcess {
        let mut server = ServerProcess {
            port: free_port(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            child: None,
            log: None,
        };
        server.restart();
        server
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// Starts it (again) on the same port and log, and waits until it
    /// listens.
    #[track_caller]
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let mut child = Command::new(server_binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            // The tests type faster than a person.
            .args(["--rate-limit", "0", "--log-level", "info"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chat-server");
        let log = Pipe::collect("stderr", child.stderr.take().expect("piped stderr"));
        let deadline = Instant::now() + STEP_TIMEOUT;
        while !log.text().contains("Listening as") {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "chat-server exited ({status}) before listening:\n{}",
                    log.text()
                );
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!(
                    "chat-server not listening within {STEP_TIMEOUT:?}:\n{}",
                    log.text()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
        self.child = Some(child);
        self.log = Some(log);
    }

    /// `kill -9`: gone at once, without a word to anyone.
    #[track_caller]
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the server is running");
        child.kill().expect("SIGKILL chat-server");
        child.wait().expect("reap chat-server");
    }

    /// SIGTERM: the server says `BYE` to every client and exits 0.
    #[track_caller]
    pub fn terminate(&mut self) {
        let mut child = self.child.take().expect("the server is running");
        signal(child.id(), libc::SIGTERM);
        match wait_child(&mut child) {
            Ok(status) => assert!(status.success(), "chat-server after SIGTERM: {status}"),
            Err(err) => {
                let _ = child.kill();
                panic!("chat-server after SIGTERM: {err}");
            }
        }
    }

    /// Everything it logged since its last start.
    pub fn log(&self) -> String {
        self.log.as_ref().map(Pipe::text).unwrap_or_default()
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

/// A real `redis-server` on a free port of 127.0.0.1, in memory only
/// (`--save '' --appendonly no`), its files in a temporary folder, killed
/// when dropped: one room's log for several chat servers.
pub struct RedisProcess {
    port: u16,
    child: Child,
    _dir: TempDir,
}

impl RedisProcess {
    /// Starts one and waits until it takes connections; `None` (having
    /// said why) when `redis-server` is not installed, except in CI
    /// (`CI` set), which installs it (`scripts/setup`).
    #[track_caller]
    pub fn start_or_skip() -> Option<RedisProcess> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is not installed, and CI must run this test"
            );
            eprintln!("skipped: redis-server is not installed (scripts/setup installs it)");
            return None;
        }
        let dir = TempDir::new("redis");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let redis = RedisProcess {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + STEP_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server not listening on {port} within {STEP_TIMEOUT:?}"
            );
            thread::sleep(POLL_INTERVAL);
        }
        Some(redis)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `chat-server ARGS` (an admin command such as `user add`) to its
/// end; returns (exit code, stdout, stderr).
#[track_caller]
pub fn run_server(args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(server_binary());
    command.args(args);
    run_to_exit(command, &format!("chat-server {args:?}"))
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

/// The certificate fingerprint a server printed at start
/// (`... fingerprint SHA256:..`), as printed.
#[track_caller]
pub fn fingerprint_in(log: &str) -> String {
    log.split("fingerprint ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("expected a fingerprint in the server's log: {log:?}"))
        .trim_end_matches(',')
        .to_string()
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
