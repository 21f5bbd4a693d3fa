//! Helpers shared by the server's integration tests, written once: starting a
//! real server (in this process on port 0, or the real binary as a child),
//! clients on real sockets that write raw bytes and read bounded lines, and
//! readings from `/proc`.
//!
//! No helper sleeps to wait for the server: every read is bounded by a socket
//! timeout. Helpers that assert are `#[track_caller]` and say what they
//! expected and what they got.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

pub mod desks;
pub mod tls;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use chat_server::config::Db;
use chat_server::{Config, RunningServer};
use chat_shared::ServerLine;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

pub mod redis;

/// How long any single expectation may take. Generous: the suite runs on a
/// loaded two-core machine next to other builds, and a passing test never
/// waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The in-process server's settings unless a test says otherwise.
pub fn config() -> Config {
    Config {
        history: 20,
        max_queue_bytes: 64 * 1024,
        db: Db::None,
        ..Config::default()
    }
}

/// Starts the real event loop (or `config.mode`) on `127.0.0.1:0` in this
/// process; dropping the handle stops it.
#[track_caller]
pub fn start(config: Config) -> RunningServer {
    RunningServer::start(config).unwrap_or_else(|e| panic!("cannot start the server: {e}"))
}

/// How a connection ended, as seen by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// An orderly close: `read` returned 0.
    Eof,
    /// The server reset the connection (it closed with unread input).
    Reset,
}

/// What one bounded read for a line came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A whole line, without its `\n`.
    Line(String),
    /// The connection ended, and no whole line was left.
    Closed(End),
    /// Nothing whole arrived in time.
    TimedOut,
}

/// A client's stream: plain, or TLS over it.
#[derive(Debug)]
enum Wire {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Wire {
    /// The TCP socket under it, for socket options.
    fn socket(&self) -> &TcpStream {
        match self {
            Wire::Plain(stream) => stream,
            Wire::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(stream) => stream.read(buf),
            Wire::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(stream) => stream.write(buf),
            Wire::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(stream) => stream.flush(),
            Wire::Tls(tls) => tls.flush(),
        }
    }
}

/// One client connection, plain or TLS: raw bytes out, bounded lines in.
#[derive(Debug)]
pub struct Client {
    stream: Wire,
    /// Received bytes not yet handed out as lines.
    pending: Vec<u8>,
    /// Every byte ever received, for assertions on raw bytes.
    received: Vec<u8>,
    /// Set once the server closed or reset the connection.
    closed: Option<End>,
}

impl Client {
    /// Connects and makes sure the server is serving this connection (a
    /// `/ping` answered), so a broadcast sent after this returns reaches it.
    /// History and anything else before the `PONG` is skipped.
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> Client {
        let mut client = Client::connect_silent(addr);
        client.send(b"/ping\n");
        client.wait_for("PONG", |line| line == "PONG");
        client
    }

    /// Connects without sending anything.
    #[track_caller]
    pub fn connect_silent(addr: SocketAddr) -> Client {
        let stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        Client::from_stream(stream)
    }

    /// Connects with a small receive buffer (set before connecting, so the
    /// window is small from the start): a client the server cannot push much
    /// into when it does not read.
    #[track_caller]
    pub fn connect_with_rcvbuf(addr: SocketAddr, bytes: usize) -> Client {
        let socket =
            Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("create a socket");
        socket.set_recv_buffer_size(bytes).expect("set SO_RCVBUF");
        socket
            .connect(&addr.into())
            .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        Client::from_stream(socket.into())
    }

    /// Connects over TLS with `config` (see [`tls`]), checking the
    /// certificate against `server_name`, and makes sure the server serves
    /// it, as [`Client::connect`] does; the handshake happens on the way.
    #[track_caller]
    pub fn connect_tls(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Client {
        let mut client = Client::connect_tls_silent(addr, config, server_name);
        client.send(b"/ping\n");
        client.wait_for("PONG", |line| line == "PONG");
        client
    }

    /// Connects over TLS without sending anything.
    #[track_caller]
    pub fn connect_tls_silent(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Client {
        let stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
            .expect("a valid server name");
        let connection = rustls::ClientConnection::new(config, name).expect("a TLS client");
        Client::from_wire(Wire::Tls(Box::new(rustls::StreamOwned::new(
            connection, stream,
        ))))
    }

    fn from_stream(stream: TcpStream) -> Client {
        // Small lines must not wait for Nagle and delayed ACKs.
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Client::from_wire(Wire::Plain(stream))
    }

    fn from_wire(stream: Wire) -> Client {
        Client {
            stream,
            pending: Vec::new(),
            received: Vec::new(),
            closed: None,
        }
    }

    /// The socket, for socket options and clones.
    pub fn stream(&self) -> &TcpStream {
        self.stream.socket()
    }

    /// Every byte received so far.
    pub fn received(&self) -> &[u8] {
        &self.received
    }

    /// Writes raw bytes; fails the test if the write fails.
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        if let Err(e) = self.stream.write_all(bytes) {
            panic!("writing {} bytes to the server failed: {e}", bytes.len());
        }
    }

    /// Writes raw bytes, handing back any error.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes one line, adding the `\n`.
    #[track_caller]
    pub fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes());
    }

    /// Reads until a whole line, the end of the connection or `timeout`.
    #[track_caller]
    pub fn next(&mut self, timeout: Duration) -> Next {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=pos).collect();
                let line = &line[..pos];
                return match String::from_utf8(line.to_vec()) {
                    Ok(line) => Next::Line(line),
                    Err(_) => panic!("expected a UTF-8 line from the server, got {line:?}"),
                };
            }
            if let Some(end) = self.closed {
                return Next::Closed(end);
            }
            let now = Instant::now();
            if now >= deadline {
                return Next::TimedOut;
            }
            self.stream
                .socket()
                .set_read_timeout(Some(deadline - now))
                .expect("set a read timeout");
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = Some(End::Eof),
                Ok(n) => {
                    self.pending.extend_from_slice(&chunk[..n]);
                    self.received.extend_from_slice(&chunk[..n]);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    self.closed = Some(End::Reset)
                }
                // TLS: the socket closed without a close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => self.closed = Some(End::Eof),
                Err(e) => panic!("reading from the server failed: {e}"),
            }
        }
    }

    /// The next line; fails if none comes within [`TIMEOUT`].
    #[track_caller]
    pub fn line(&mut self) -> String {
        match self.next(TIMEOUT) {
            Next::Line(line) => line,
            other => panic!("expected a line, got {other:?}"),
        }
    }

    /// The next line must be exactly `expected`.
    #[track_caller]
    pub fn expect_line(&mut self, expected: &str) {
        let got = self.line();
        assert_eq!(got, expected, "expected line {expected:?}, got {got:?}");
    }

    /// The next line must start with `prefix`; returns it.
    #[track_caller]
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        let got = self.line();
        assert!(
            got.starts_with(prefix),
            "expected a line starting {prefix:?}, got {got:?}"
        );
        got
    }

    /// Skips lines until one satisfies `wanted`, within [`TIMEOUT`].
    #[track_caller]
    pub fn wait_for(&mut self, what: &str, wanted: impl FnMut(&str) -> bool) -> String {
        self.wait_for_within(TIMEOUT, what, wanted)
    }

    /// Skips lines until one satisfies `wanted`, within `timeout`; fails with
    /// the last lines skipped otherwise.
    #[track_caller]
    pub fn wait_for_within(
        &mut self,
        timeout: Duration,
        what: &str,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Next::Line(line) if wanted(&line) => return line,
                Next::Line(line) => skipped.push(line),
                other => {
                    let start = skipped.len().saturating_sub(10);
                    panic!(
                        "expected {what} within {timeout:?}, got {other:?} after {} other lines \
                         (the last ones: {:?})",
                        skipped.len(),
                        &skipped[start..]
                    );
                }
            }
        }
    }

    /// The connection must end next, with no further line.
    #[track_caller]
    pub fn expect_closed(&mut self) -> End {
        match self.next(TIMEOUT) {
            Next::Closed(end) => end,
            other => panic!("expected the server to close the connection, got {other:?}"),
        }
    }

    /// Reads everything until the connection ends or `timeout`: the whole
    /// lines, any unfinished last line, and how it ended (`None`: still open).
    #[track_caller]
    pub fn drain(&mut self, timeout: Duration) -> (Vec<String>, Vec<u8>, Option<End>) {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Next::Line(line) => lines.push(line),
                Next::Closed(end) => return (lines, std::mem::take(&mut self.pending), Some(end)),
                Next::TimedOut => return (lines, std::mem::take(&mut self.pending), None),
            }
        }
    }

    /// Takes `name` with `/join` and waits for the `WELCOME` and its own
    /// `JOIN`, which must come right after it.
    #[track_caller]
    pub fn join(&mut self, name: &str) {
        self.send_line(&format!("/join {name}"));
        self.wait_for(&format!("WELCOME for {name}"), |line| {
            line.starts_with(&format!("WELCOME<SEP>{name}<SEP>"))
        });
        let got = self.line();
        assert!(
            is_join(&got, name),
            "expected our own JOIN after the WELCOME, got {got:?}"
        );
    }

    /// Says `text` as `name` and waits for its own echo.
    #[track_caller]
    pub fn say(&mut self, name: &str, text: &str) {
        self.send_line(&format!("{name}<SEP>{text}"));
        self.expect_msg(name, text);
    }

    /// Skips lines until the `MSG` of `name` saying `text`.
    #[track_caller]
    pub fn expect_msg(&mut self, name: &str, text: &str) {
        self.wait_for(&format!("MSG from {name} saying {text:?}"), |line| {
            msg(line) == Some((name.to_string(), text.to_string()))
        });
    }

    /// Closes with SO_LINGER 0: the kernel sends a reset, not a FIN, as when
    /// a desk loses power or its network mid-conversation.
    pub fn reset(self) {
        SockRef::from(self.stream.socket())
            .set_linger(Some(Duration::ZERO))
            .expect("set SO_LINGER 0");
        drop(self);
    }
}

/// The NAME and TEXT of a `MSG` line; `None` for any other line.
pub fn msg(line: &str) -> Option<(String, String)> {
    match ServerLine::parse(line) {
        Ok(ServerLine::Msg(chat)) => Some((chat.name.to_string(), chat.text.to_string())),
        _ => None,
    }
}

/// True for a `JOIN` line about `name`.
pub fn is_join(line: &str, name: &str) -> bool {
    matches!(ServerLine::parse(line), Ok(ServerLine::Join(p)) if p.name == name)
}

/// True for a `LEAVE` line about `name`.
pub fn is_leave(line: &str, name: &str) -> bool {
    matches!(ServerLine::parse(line), Ok(ServerLine::Leave(p)) if p.name == name)
}

/// The real `chat-server` binary running as a child process, for what only a
/// process shows (signals, fd limits, threads, memory). Killed on drop, even
/// when the test fails.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    /// Everything it wrote to stderr so far (only what was read).
    log: Arc<Mutex<String>>,
    /// With [`ServerProcess::start_with_stalled_stderr`]: the read end of its
    /// stderr, held open and not read, until [`ServerProcess::drain_stderr`].
    stalled_stderr: Option<BufReader<ChildStderr>>,
}

/// What the test does with the server's stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stderr {
    /// Read all along, so the server never waits on it.
    Drained,
    /// Read up to the `Listening` line, then held open and never read, like
    /// a paused pager or a supervisor that stopped reading.
    StalledAfterStart,
}

impl ServerProcess {
    /// Starts `chat-server --host 127.0.0.1 --port 0 ARGS` and waits until it
    /// listens.
    #[track_caller]
    pub fn start(args: &[&str]) -> ServerProcess {
        ServerProcess::spawn(args, None, Stderr::Drained)
    }

    /// Same, but once it listens nobody reads its stderr any more: the pipe
    /// fills and stays full until [`ServerProcess::drain_stderr`].
    #[track_caller]
    pub fn start_with_stalled_stderr(args: &[&str]) -> ServerProcess {
        ServerProcess::spawn(args, None, Stderr::StalledAfterStart)
    }

    /// Same, with the soft and hard RLIMIT_NOFILE set to `limit` before exec,
    /// so the server cannot raise it.
    #[track_caller]
    pub fn start_with_fd_limit(args: &[&str], limit: u64) -> ServerProcess {
        ServerProcess::spawn(args, Some(limit), Stderr::Drained)
    }

    #[track_caller]
    fn spawn(args: &[&str], fd_limit: Option<u64>, stderr_mode: Stderr) -> ServerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chat-server"));
        command.args(["--host", "127.0.0.1", "--port", "0"]);
        // A test's room is its own: in memory unless the test names a file.
        let threads_mode = args.windows(2).any(|pair| pair == ["--mode", "threads"]);
        let names_a_log = args.contains(&"--db") || args.contains(&"--redis");
        if !names_a_log && !threads_mode {
            command.args(["--db", "none"]);
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(limit) = fd_limit {
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
            .unwrap_or_else(|e| panic!("cannot start chat-server: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = mpsc::channel();
        let (stalled_tx, stalled_rx) = mpsc::channel();
        let thread_log = Arc::clone(&log);
        // Drains stderr for the whole run, so a chatty server never blocks
        // on a full pipe, and keeps it for assertions; or, stalled, hands the
        // pipe back unread once the server listens.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                let listening = line.starts_with("[*] Listening as ");
                thread_log
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&line);
                let _ = lines_tx.send(line.trim_end().to_string());
                line.clear();
                if listening && stderr_mode == Stderr::StalledAfterStart {
                    let _ = stalled_tx.send(reader);
                    return;
                }
            }
        });
        let mut server = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            stalled_stderr: None,
        };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("[*] Listening as ") {
                        let addr = rest.split_whitespace().next().unwrap_or("");
                        server.addr = addr.parse().unwrap_or_else(|_| {
                            panic!("expected an address after 'Listening as', got {line:?}")
                        });
                        if stderr_mode == Stderr::StalledAfterStart {
                            server.stalled_stderr = Some(
                                stalled_rx
                                    .recv_timeout(TIMEOUT)
                                    .expect("the stderr reader hands the pipe back"),
                            );
                        }
                        return server;
                    }
                }
                Err(e) => panic!(
                    "expected '[*] Listening as 127.0.0.1:PORT' on stderr, got {e:?}; \
                     stderr so far: {:?}",
                    server.log()
                ),
            }
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
    }

    /// Sends `signal` to it.
    #[track_caller]
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill has no memory-safety preconditions.
        let result = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert_eq!(result, 0, "kill failed: {}", io::Error::last_os_error());
    }

    /// True while it has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for it to exit. Polls: std has no wait with a
    /// timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs the binary with `args` to completion (killed after [`TIMEOUT`], so a
/// flag that wrongly starts the server cannot hang the suite).
#[track_caller]
pub fn run_cli(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chat-server: {e}"));
    let deadline = Instant::now() + TIMEOUT;
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("expected chat-server {args:?} to exit, it was still running after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
        .wait_with_output()
        .expect("collect chat-server's output")
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
#[track_caller]
pub fn status_kib_field(pid: u32, field: &str) -> u64 {
    status_field(pid, field)
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .unwrap_or_else(|e| panic!("expected a number of kB in {field}: {e}"))
        * 1024
}

/// The value of a field of `/proc/PID/status`, trimmed.
#[track_caller]
pub fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("expected a {field} line in /proc/{pid}/status"))
        .trim()
        .to_string()
}

/// User plus system CPU time the process has used so far.
#[track_caller]
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/stat: {e}"));
    // Fields after the `(comm)`, which may hold spaces, start at field 3.
    let after_comm = &stat[stat.rfind(')').expect("a (comm) field") + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |field: usize| -> u64 {
        fields[field - 3]
            .parse()
            .unwrap_or_else(|e| panic!("expected a number in field {field} of {stat:?}: {e}"))
    };
    // utime and stime are fields 14 and 15, in clock ticks.
    let total = ticks(14) + ticks(15);
    // SAFETY: sysconf has no memory-safety preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_secs_f64(total as f64 / per_second as f64)
}
