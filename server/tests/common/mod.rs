//! Helpers shared by the server's integration tests: starting a real server
//! (in this process on port 0, or the real binary as a child, through
//! `test-support`), clients on real sockets that write raw bytes and read
//! bounded lines, and readings from `/proc`.
//!
//! No helper sleeps to wait for the server: every read is bounded by a socket
//! timeout. Helpers that assert are `#[track_caller]` and say what they
//! expected and what they got.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

pub mod desks;
pub mod tls;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_server::config::Db;
use chat_server::{Config, RunningServer};
use chat_shared::ServerLine;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use test_support::process::run_to_exit;
use test_support::RedisServer;
pub use test_support::{ServerCommand, ServerProcess, TIMEOUT};

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

/// This build's `chat-server`.
pub const SERVER_BIN: &str = env!("CARGO_BIN_EXE_chat-server");

/// `chat-server ARGS` as a child process, not started yet (see
/// [`ServerCommand`]).
pub fn server_command(args: &[&str]) -> ServerCommand {
    ServerCommand::new(SERVER_BIN).args(args)
}

/// `chat-server ARGS` as a child process, once it listens: for what only a
/// process shows (signals, fd limits, threads, memory).
#[track_caller]
pub fn server_process(args: &[&str]) -> ServerProcess {
    server_command(args).start()
}

/// `chat-server` on the log at `db` (a file, or `none`) with `more` flags,
/// once it listens; the tests type faster than a person, so no rate limit.
#[track_caller]
pub fn server_on(db: &Path, more: &[&str]) -> ServerProcess {
    let db = db.to_str().expect("a UTF-8 temporary path");
    let mut args = vec!["--db", db, "--rate-limit", "0"];
    args.extend_from_slice(more);
    server_process(&args)
}

/// `chat-server` in office `office` of `redis`, without a rate limit, once
/// its search index is filled (so a search is answered over everything the
/// stream holds).
#[track_caller]
pub fn office_server(redis: &RedisServer, office: &str) -> ServerProcess {
    let server = server_process(&[
        "--redis",
        &redis.url(),
        "--office",
        office,
        "--rate-limit",
        "0",
    ]);
    server.wait_for_log("[*] Search index ready");
    server
}

/// Runs the binary with `args` to completion (killed after [`TIMEOUT`], so a
/// flag that wrongly starts the server cannot hang the suite).
#[track_caller]
pub fn run_cli(args: &[&str]) -> Output {
    let mut command = Command::new(SERVER_BIN);
    command.args(args);
    run_to_exit(command, &format!("chat-server {args:?}"))
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
