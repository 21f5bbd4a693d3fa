//! What the attacks of issue 17 ([`crate::search_storm`],
//! [`crate::resume_bomb`], [`crate::handshake_stall`]) share: the attacked
//! server and its log, filled before the attack, the blocking desks they
//! attack with, and the server's memory around a burst of connections
//! ([`burst`]).
//!
//! Each attack starts chat-server itself ([`crate::server`]) on a log in a
//! temporary folder of its own, deleted at the end, with the server's
//! stderr in a file there (quoted when it fails to start). The log is
//! filled the honest way, through a desk, on a server started for that
//! with no rate limit and a queue deep enough for the echoes; that server
//! is stopped and the attacked one started on the same log, with the
//! server's defaults (and `--server-arg`s), so the attack meets what a
//! desk would meet.
//!
//! The desks are plain blocking sockets on threads, not the load modes'
//! event loops: an attack is a few dozen desks that talk, or a burst of
//! sockets that are opened, written once and never read. They speak the
//! wire lines of the scripts and read back only the fields older
//! servers have too (the line's kind, an `ERR`'s code, `WELCOME`'s epoch,
//! `WHO`'s count), so the same run measures a server from before the fix.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chat_shared::{Line, LineReader, SEPARATOR};

use crate::config::AttackPlan;
use crate::conn::{errno_name, CONNECT_TIMEOUT, MAX_LINE_BYTES, READ_CHUNK_BYTES};
use crate::report::ServerReport;
use crate::server::{self, Server};
use crate::stats::{rss_kb, ServerWatch};
use crate::Error;

/// The filling server's `--max-queue`: the writer reads its echoes while it
/// writes, but may fall behind by a few thousand lines.
const FILL_MAX_QUEUE_BYTES: usize = 64 << 20;

/// The longest the filling may go without one more echo before the run
/// gives up.
const FILL_STALL_LIMIT: Duration = Duration::from_secs(30);

/// How long a desk waits for its `WELCOME`.
const WELCOME_LIMIT: Duration = Duration::from_secs(10);

/// The attacked server and where it keeps its log.
pub struct Target {
    /// The folder of the log and the server's stderr; deleted when dropped.
    dir: tempfile::TempDir,
    /// The chat-server binary.
    bin: PathBuf,
    /// `--server-arg`s.
    server_args: Vec<String>,
}

impl Target {
    /// A temporary folder for the attack's log, and the binary to attack.
    pub fn new(plan: &AttackPlan) -> Result<Target, Error> {
        let bin = server::binary(plan.server_bin.as_deref())?;
        let dir = tempfile::Builder::new()
            .prefix("chat-load-attack-")
            .tempdir()
            .map_err(|source| Error::Io {
                context: "creating a folder for the attack's log".into(),
                source,
            })?;
        Ok(Target {
            dir,
            bin,
            server_args: plan.server_args.clone(),
        })
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("room.db")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Fills the log with `count` messages from one desk, `text(i)` the
    /// i-th, on a server started for that and stopped after; how long it
    /// took.
    pub fn fill(&self, count: usize, text: impl FnMut(usize) -> String) -> Result<Duration, Error> {
        let started = Instant::now();
        let flags = [
            "--rate-limit".to_string(),
            "0".to_string(),
            "--max-queue".to_string(),
            FILL_MAX_QUEUE_BYTES.to_string(),
        ];
        let mut server = self.start(&flags)?;
        let writer = Desk::join(server.addr(), "writer").map_err(fill_error)?;
        fill_through(writer, count, text)?;
        server.stop().map_err(fill_error)?;
        Ok(started.elapsed())
    }

    /// Starts the server to attack on the filled log: its defaults, the
    /// flags the attack needs (`attack_flags`) and the `--server-arg`s.
    pub fn start_attacked(&self, attack_flags: &[&str]) -> Result<Server, Error> {
        let flags: Vec<String> = (attack_flags.iter().map(|flag| flag.to_string()))
            .chain(self.server_args.iter().cloned())
            .collect();
        self.start(&flags)
    }

    fn start(&self, flags: &[String]) -> Result<Server, Error> {
        let context = format!("starting {} on {}", self.bin.display(), self.db().display());
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .map_err(|source| Error::Io {
                context: context.clone(),
                source,
            })?;
        Server::start_with(&self.bin, &self.db(), flags, Stdio::from(stderr)).map_err(|source| {
            Error::Io {
                context: format!("{context} (its stderr: {})", self.stderr_tail()),
                source,
            }
        })
    }

    /// The last lines the servers wrote on stderr, for an error.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(self.stderr_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(3).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

fn fill_error(source: io::Error) -> Error {
    Error::Io {
        context: "filling the log".into(),
        source,
    }
}

/// Writes `count` lines from `writer` on a thread of their own while this
/// one counts their echoes, so the desk is never the server's slow reader.
fn fill_through(
    mut writer: Desk,
    count: usize,
    mut text: impl FnMut(usize) -> String,
) -> Result<(), Error> {
    let mut lines = Vec::with_capacity(count);
    for index in 0..count {
        lines.push(format!("writer{SEPARATOR}{}\n", text(index)));
    }
    let mut sending = writer.stream.try_clone().map_err(fill_error)?;
    let sender = std::thread::spawn(move || -> io::Result<()> {
        for line in lines {
            sending.write_all(line.as_bytes())?;
        }
        Ok(())
    });
    let mut echoed = 0;
    while echoed < count {
        let until = Instant::now() + FILL_STALL_LIMIT;
        let before = echoed;
        let read = writer
            .read_until(until, |line| {
                if kind(line) == "MSG" {
                    echoed += 1;
                }
                if echoed == count {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .map_err(fill_error)?;
        if read == ReadEnd::Closed || echoed == before {
            return Err(Error::Worker(format!(
                "filling the log: {echoed} of {count} messages echoed, then {}",
                if read == ReadEnd::Closed {
                    "the server closed the writer"
                } else {
                    "nothing more"
                }
            )));
        }
    }
    match sender.join() {
        Ok(result) => result.map_err(fill_error),
        Err(_) => Err(Error::Worker("the log's writer thread panicked".into())),
    }
}

/// How a [`Desk::read_until`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// The time was up.
    TimeUp,
    /// The caller had read enough.
    Stopped,
    /// The server closed the connection.
    Closed,
}

/// One blocking desk: a socket and the lines read from it.
pub struct Desk {
    stream: TcpStream,
    lines: LineReader,
    buf: Vec<u8>,
    /// `WELCOME`'s fields, the line's kind first.
    welcome: Vec<String>,
}

impl Desk {
    /// Connects, joins as `name` and waits for `WELCOME`.
    pub fn join(addr: SocketAddr, name: &str) -> io::Result<Desk> {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        let mut desk = Desk {
            stream,
            lines: LineReader::new(MAX_LINE_BYTES),
            buf: vec![0; READ_CHUNK_BYTES],
            welcome: Vec::new(),
        };
        desk.send(&format!("/join {name}"))?;
        let mut welcome = None;
        desk.read_until(Instant::now() + WELCOME_LIMIT, |line| {
            if kind(line) == "WELCOME" {
                welcome = Some(line.split(SEPARATOR).map(String::from).collect());
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })?;
        desk.welcome = welcome.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{name}: no WELCOME within {} s", WELCOME_LIMIT.as_secs()),
            )
        })?;
        Ok(desk)
    }

    /// The log's epoch, from `WELCOME` (its fifth field, in old servers too).
    pub fn epoch(&self) -> Option<&str> {
        self.welcome.get(4).map(String::as_str)
    }

    /// Sends one line; `\n` is added.
    pub fn send(&mut self, line: &str) -> io::Result<()> {
        self.stream.write_all(format!("{line}\n").as_bytes())
    }

    /// Reads lines into `on_line` until `deadline`, until it breaks, or
    /// until the server closes the connection.
    pub fn read_until(
        &mut self,
        deadline: Instant,
        mut on_line: impl FnMut(&str) -> ControlFlow<()>,
    ) -> io::Result<ReadEnd> {
        let mut each = |line: Line<'_>| match line {
            Line::Complete(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => on_line(text),
                Err(_) => ControlFlow::Continue(()),
            },
            Line::TooLong => ControlFlow::Continue(()),
        };
        // Lines left over when the caller broke off last time come first.
        if self.lines.feed(&[], &mut each).is_break() {
            return Ok(ReadEnd::Stopped);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(ReadEnd::TimeUp);
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Ok(ReadEnd::Closed),
                Ok(n) => {
                    if self.lines.feed(&self.buf[..n], &mut each).is_break() {
                        return Ok(ReadEnd::Stopped);
                    }
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(ReadEnd::TimeUp)
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(ReadEnd::Closed)
                }
                Err(err) => return Err(err),
            }
        }
    }
}

/// A server line's kind: its first field (`MSG`, `ERR`, `SEARCH`, ...).
pub fn kind(line: &str) -> &str {
    line.split(SEPARATOR).next().unwrap_or("")
}

/// The `n`-th field of a server line, from 0 (the kind).
pub fn field(line: &str, n: usize) -> Option<&str> {
    line.split(SEPARATOR).nth(n)
}

/// The attacked server's figures: what `watch` sampled, and the CPU it
/// used since `cpu_ticks_before`.
pub fn server_report(pid: u32, watch: ServerWatch, cpu_ticks_before: Option<u64>) -> ServerReport {
    let cpu_ticks = match (watch.cpu_ticks(), cpu_ticks_before) {
        (Some(now), Some(before)) => Some(now.saturating_sub(before)),
        _ => None,
    };
    ServerReport::sampled(pid, &watch.finish(), cpu_ticks)
}

/// Starts sampling the attacked server in /proc.
pub fn watch(server: &Server) -> Result<(u32, ServerWatch), Error> {
    let pid = server
        .pid()
        .ok_or_else(|| Error::Worker("the attacked server is not running".into()))?;
    let watch = ServerWatch::start(pid).map_err(|source| Error::Io {
        context: format!("reading the attacked server's /proc/{pid}"),
        source,
    })?;
    Ok((pid, watch))
}

/// Stops the attacked server; a note for the report if it did not end well.
pub fn stop(server: &mut Server) -> Option<String> {
    match server.stop() {
        Ok(Some(status)) if status.success() => None,
        Ok(Some(status)) => Some(format!(
            "the attacked server ended with {status} after SIGTERM"
        )),
        Ok(None) => Some("the attacked server ignored SIGTERM; killed".into()),
        Err(err) => Some(format!("stopping the attacked server: {err}")),
    }
}

/// The first reading of the server's memory after a burst's close; the
/// second is at `--settle`.
const FIRST_AFTER_CLOSE: Duration = Duration::from_secs(1);

/// What a burst of connections did to the server: its memory before, at
/// the peak (sampled every 100 ms until the close), 1 s and `settle` after
/// the close.
pub struct Burst<T> {
    /// Connections opened; the others' errors are in `connect_errors`.
    pub opened: usize,
    /// Failed connects by errno name.
    pub connect_errors: BTreeMap<String, u64>,
    /// VmRSS before the first connected, KiB.
    pub rss_before_kb: u64,
    /// VmRSS 1 s after the close, KiB.
    pub rss_1s_after_kb: u64,
    /// VmRSS `settle` after the close, KiB.
    pub rss_settled_kb: u64,
    /// The server still ran at the close.
    pub server_alive: bool,
    /// The server sampled until the close.
    pub server: ServerReport,
    /// What `before_close` found.
    pub found: T,
}

/// Opens `clients` connections with `open`, holds them `hold`, lets
/// `before_close` look at them, closes them all, and reads the server's
/// memory throughout (see [`Burst`]).
pub fn burst<T>(
    server: &mut Server,
    clients: usize,
    (hold, settle): (Duration, Duration),
    mut open: impl FnMut(usize) -> io::Result<TcpStream>,
    before_close: impl FnOnce(&mut [TcpStream]) -> T,
) -> Result<Burst<T>, Error> {
    let (pid, watch) = watch(server)?;
    let cpu_before = watch.cpu_ticks();
    let rss_before_kb = watch.rss_kb().unwrap_or(0);
    let mut streams = Vec::with_capacity(clients);
    let mut connect_errors = BTreeMap::new();
    for index in 0..clients {
        match open(index) {
            Ok(stream) => streams.push(stream),
            Err(err) => *connect_errors.entry(errno_name(&err)).or_default() += 1,
        }
    }
    std::thread::sleep(hold);
    let found = before_close(&mut streams);
    let server_alive = server.exited().is_none();
    let figures = server_report(pid, watch, cpu_before);
    let opened = streams.len();
    drop(streams);
    let closed = Instant::now();
    std::thread::sleep(FIRST_AFTER_CLOSE);
    let rss_1s_after_kb = rss_kb(pid).unwrap_or(0);
    std::thread::sleep((closed + settle).saturating_duration_since(Instant::now()));
    let rss_settled_kb = rss_kb(pid).unwrap_or(0);
    Ok(Burst {
        opened,
        connect_errors,
        rss_before_kb,
        rss_1s_after_kb,
        rss_settled_kb,
        server_alive,
        server: figures,
        found,
    })
}
