//! Real `redis-server` processes for the tests of the shared room: each on a
//! free TCP port of 127.0.0.1 (never 6379, where a packaged Redis may run;
//! never `--port 0`, which turns TCP off), its files in a temporary folder,
//! stopped by PID when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{ServerProcess, TIMEOUT};

/// Tries at a free port before giving up: another process may take the
/// port between our probe and Redis's bind.
const PORT_ATTEMPTS: usize = 5;

/// How the tests' Redis keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// In memory only: `--save '' --appendonly no`.
    None,
    /// An append-only file synced at every write, so a restart keeps all.
    AppendFsyncAlways,
}

/// One `redis-server` child process.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    persistence: Persistence,
    /// Its working folder: the AOF, and its log.
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one, or returns `None` (having said why) when `redis-server`
    /// is not installed and this is not CI; in CI (`CI` set) a missing
    /// `redis-server` fails the test, since CI installs it (`scripts/setup`).
    #[track_caller]
    pub fn start_or_skip(persistence: Persistence) -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is not installed, and CI must run these tests (scripts/setup \
                 installs it)"
            );
            eprintln!("skipped: redis-server is not installed (scripts/setup installs it)");
            return None;
        }
        let mut dir = tempfile::tempdir().expect("create a folder for redis-server");
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut server = RedisServer {
                child: None,
                port,
                persistence,
                dir,
            };
            if server.spawn() {
                return Some(server);
            }
            dir = server.into_dir();
        }
        panic!("redis-server did not start on any of {PORT_ATTEMPTS} free ports");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it with SIGKILL, as a crash would, and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and folder (and so the same AOF).
    #[track_caller]
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "redis-server did not start again on port {}; its log: {}",
            self.port,
            self.log()
        );
    }

    /// A `chat-server` in office `office` of this Redis, without a rate
    /// limit, once its search index is filled (so a search is answered
    /// over everything the stream holds).
    #[track_caller]
    pub fn office_server(&self, office: &str) -> ServerProcess {
        let server = ServerProcess::start(&[
            "--redis",
            &self.url(),
            "--office",
            office,
            "--rate-limit",
            "0",
        ]);
        server.wait_for_log("[*] Search index ready");
        server
    }

    /// Sends one command (its arguments as a RESP array) and returns the
    /// first line of the reply, without its CRLF (`+OK`, `-ERR ...`): for
    /// the commands that set Redis up, whose reply is one line.
    #[track_caller]
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis-server");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !reply.ends_with(b"\r\n") {
            stream
                .read_exact(&mut byte)
                .unwrap_or_else(|e| panic!("no reply to {args:?}: {e}"));
            reply.push(byte[0]);
        }
        reply.truncate(reply.len() - 2);
        String::from_utf8_lossy(&reply).into_owned()
    }

    /// Its log file, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Starts the process and waits until it answers `PING`; false if it
    /// exited (its port was taken).
    fn spawn(&mut self) -> bool {
        let dir: &Path = self.dir.path();
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"));
        match self.persistence {
            Persistence::None => command.args(["--appendonly", "no"]),
            Persistence::AppendFsyncAlways => {
                command.args(["--appendonly", "yes", "--appendfsync", "always"])
            }
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server: {e}"));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if answers_ping(self.port) {
                self.child = Some(child);
                return true;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn into_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let dir = tempfile::tempdir().expect("create a folder for redis-server");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on now: bound to 0, read, released.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind 127.0.0.1:0 to find a free port")
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
