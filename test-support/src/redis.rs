//! A real `redis-server`, the room's shared log for tests (and for
//! chat-compare's Redis rows): on a free TCP port of 127.0.0.1 (never 6379,
//! where a packaged Redis may run; never `--port 0`, which turns TCP off),
//! its files in a temporary folder, ready once it answers `PING`, started
//! again on the same port and folder after a kill, stopped by PID. It dies
//! with the thread that started it (`PR_SET_PDEATHSIG`), so a test binary
//! killed mid-run leaves no Redis behind.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, process, POLL_INTERVAL, TIMEOUT};

/// Ports tried before giving up: another process may take the free port
/// between our probe and Redis's bind.
const PORT_ATTEMPTS: usize = 5;

/// How Redis keeps its data. Never an RDB snapshot (`--save ''`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// In memory only: `--appendonly no`.
    None,
    /// An append-only file synced at every write, so a restart keeps all.
    AppendFsyncAlways,
}

/// How to start one.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// What it keeps across a restart.
    pub persistence: Persistence,
    /// Its log file; `None`: `redis.log` in its temporary folder.
    pub log_file: Option<PathBuf>,
    /// How long it gets to answer `PING` on each port tried.
    pub ready_within: Duration,
}

impl Default for RedisOptions {
    fn default() -> RedisOptions {
        RedisOptions {
            persistence: Persistence::None,
            log_file: None,
            ready_within: TIMEOUT,
        }
    }
}

/// Why no `redis-server` is running.
#[derive(Debug)]
pub enum RedisError {
    /// No `redis-server` on `PATH`, nor in /usr/bin or /usr/sbin.
    NotInstalled,
    /// Something it needs could not be had: its folder, a port, a process.
    Io {
        /// What was being done.
        doing: &'static str,
        source: io::Error,
    },
    /// It did not answer `PING`, on any port tried.
    NotReady {
        /// What happened on the last try: it exited, or it took too long.
        why: String,
        /// The last line of its log.
        log: String,
    },
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::NotInstalled => {
                f.write_str("redis-server is not installed (scripts/setup installs it)")
            }
            RedisError::Io { doing, source } => write!(f, "{doing}: {source}"),
            RedisError::NotReady { why, log } => {
                write!(f, "redis-server did not start ({why}): {log}")
            }
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// One `redis-server` child process; killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    options: RedisOptions,
    port: u16,
    /// `None` while it is down.
    child: Option<Child>,
    /// Its working folder (the AOF, and the log unless placed elsewhere);
    /// deleted with it.
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`.
    ///
    /// # Errors
    ///
    /// When `redis-server` is not installed, when its folder, a port or its
    /// process cannot be had, and when it answers on none of the ports tried.
    pub fn start(options: RedisOptions) -> Result<RedisServer, RedisError> {
        let binary = installed_binary().ok_or(RedisError::NotInstalled)?;
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("redis-")
                .tempdir()
                .map_err(|source| RedisError::Io {
                    doing: "creating a folder for redis-server",
                    source,
                })?;
            let port = free_port().map_err(|source| RedisError::Io {
                doing: "finding a free port for redis-server",
                source,
            })?;
            let mut server = RedisServer {
                binary: binary.clone(),
                options: options.clone(),
                port,
                child: None,
                dir,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(err @ RedisError::Io { .. }) => return Err(err),
                Err(err) => last = Some(err),
            }
        }
        Err(last.expect("at least one port was tried"))
    }

    /// For tests: starts one, or returns `None` (having said why on stderr)
    /// when `redis-server` is not installed and this is not CI. In CI (`CI`
    /// set) a missing `redis-server` fails the test, since CI installs it
    /// (`scripts/setup`). Any other failure fails the test.
    #[track_caller]
    pub fn start_or_skip(persistence: Persistence) -> Option<RedisServer> {
        let options = RedisOptions {
            persistence,
            ..RedisOptions::default()
        };
        match RedisServer::start(options) {
            Ok(server) => Some(server),
            Err(RedisError::NotInstalled) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "redis-server is not installed, and CI must run these tests (scripts/setup \
                     installs it)"
                );
                eprintln!("skipped: redis-server is not installed (scripts/setup installs it)");
                None
            }
            Err(err) => panic!("{err}"),
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends one command (its arguments as a RESP array) and returns the
    /// first line of the reply, without its CRLF (`+OK`, `-ERR ...`): for
    /// the commands that set Redis up (`ACL SETUSER`), whose reply is one
    /// line.
    #[track_caller]
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream =
            TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connect to redis-server");
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

    /// Its log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// Kills it with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; how it
    /// ended (`None`: it had to be killed, or was not running).
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        if let Ok(None) = child.try_wait() {
            process::signal(child.id(), libc::SIGTERM);
        }
        let ended = process::wait_exit(child, grace);
        if ended.is_none() {
            self.kill();
        }
        self.child = None;
        ended
    }

    /// Starts it again (killing it first if it runs) on the same port and
    /// folder, and so with the same append-only file.
    ///
    /// # Errors
    ///
    /// When the process cannot be started or does not answer `PING` in time
    /// (another program took the port meanwhile, say).
    pub fn restart(&mut self) -> Result<(), RedisError> {
        self.kill();
        self.spawn()
    }

    fn log_file(&self) -> PathBuf {
        match &self.options.log_file {
            // Absolute: redis-server moves into `--dir` before it opens its
            // log, so a relative path would make it exit without a word.
            Some(file) => std::path::absolute(file).unwrap_or_else(|_| file.clone()),
            None => self.dir.path().join("redis.log"),
        }
    }

    /// Starts the process and waits until it answers `PING`.
    fn spawn(&mut self) -> Result<(), RedisError> {
        let mut command = Command::new(&self.binary);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_file());
        match self.options.persistence {
            Persistence::None => command.args(["--appendonly", "no"]),
            Persistence::AppendFsyncAlways => {
                command.args(["--appendonly", "yes", "--appendfsync", "always"])
            }
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        process::die_with_parent(&mut command);
        let child = command.spawn().map_err(|source| RedisError::Io {
            doing: "starting redis-server",
            source,
        })?;
        let child = self.child.insert(child);
        let deadline = Instant::now() + self.options.ready_within;
        let why = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break format!("it exited, {status}");
            }
            if answers_ping(self.port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break format!(
                    "no PONG on port {} within {:?}",
                    self.port, self.options.ready_within
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        };
        self.kill();
        Err(RedisError::NotReady {
            why,
            log: last_line(&self.log()),
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where `redis-server` is: on `PATH`, or where Debian puts it.
fn installed_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|binary| is_executable(binary))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Answers `PING` with `PONG`: up, and done loading its append-only file
/// (it answers `-LOADING` until then).
fn answers_ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

fn last_line(log: &str) -> String {
    log.lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("(its log is empty)")
        .to_string()
}
