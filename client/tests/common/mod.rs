//! Shared helpers for the client's integration tests: a real `chat-server`
//! on port 0, the real `chat-client` binary with piped stdin/stdout, and
//! bounded waits on what it prints. Every wait ends in at most
//! [`STEP_TIMEOUT`], failing with what was printed so far.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chat_server::{Config, RunningServer};

/// The longest any single expected thing may take to show up.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often waits re-check.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The binary under test.
pub const CLIENT_BIN: &str = env!("CARGO_BIN_EXE_chat-client");

/// A server on `127.0.0.1:0` replaying `history` messages, without the
/// per-client rate limit (the burst tests send faster than a person).
pub fn start_server(history: usize) -> RunningServer {
    RunningServer::start(Config {
        history,
        rate_limit: None,
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

/// A running `chat-client` with its stdin, stdout and stderr piped.
pub struct Client {
    /// For failure messages.
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
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
        let stdout = collect(child.stdout.take().expect("piped stdout"));
        let stderr = collect(child.stderr.take().expect("piped stderr"));
        Client {
            label: self.label,
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }
}

/// Copies everything `pipe` produces into a shared buffer, on a thread.
fn collect<R: Read + Send + 'static>(mut pipe: R) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buffer);
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buffer
}

impl Client {
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
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until stdout contains `needle`.
    #[track_caller]
    pub fn expect(&self, needle: &str) {
        self.expect_count(needle, 1);
    }

    /// Waits until stdout contains `needle` at least `count` times.
    #[track_caller]
    pub fn expect_count(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if self.stdout().matches(needle).count() >= count {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: expected {count} x {needle:?} on stdout within {STEP_TIMEOUT:?}\n\
                     --- stdout ---\n{}\n--- stderr ---\n{}",
                    self.label,
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits for the client to exit and returns its status.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // Let the pipe threads catch the last output.
                    thread::sleep(Duration::from_millis(50));
                    return status;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL_INTERVAL),
                Ok(None) => panic!(
                    "{}: did not exit within {STEP_TIMEOUT:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.label,
                    self.stdout(),
                    self.stderr()
                ),
                Err(err) => panic!("{}: wait: {err}", self.label),
            }
        }
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
pub fn run_client(args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(CLIENT_BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chat-client");
    let stdout = collect(child.stdout.take().expect("piped stdout"));
    let stderr = collect(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + STEP_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("chat-client {args:?} did not exit within {STEP_TIMEOUT:?}");
        }
        thread::sleep(POLL_INTERVAL);
    };
    thread::sleep(Duration::from_millis(50));
    let text =
        |buf: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    (status.code(), text(&stdout), text(&stderr))
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
