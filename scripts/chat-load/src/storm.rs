//! `chat-load storm`: what N desks reconnecting at once cost a TLS server,
//! with session resumption and without.
//!
//! chat-load starts chat-server itself ([`crate::server`]) with `--tls` and
//! `--db PATH` (its certificate and session ticket keys are kept beside the
//! log, so they survive its restarts), and runs three storms in which every
//! client connects at once (at most 512 TCP connects in flight per thread,
//! as in the other modes), makes its TLS handshake and sends `/ping`:
//!
//! 1. `first`: each client's first handshake, on the fresh server;
//! 2. the server stops (SIGTERM, with every client still connected) and
//!    starts again on the same port and log; `resumed`: every client comes
//!    back offering the session ticket the server gave it;
//! 3. once more; `full`: every client comes back having forgotten its
//!    tickets, so every handshake is a full one again.
//!
//! A client is done when the answer to its `/ping` arrives: the tickets
//! come before it. Reported for each storm: handshakes done, how many
//! resumed, failures by cause, connect() to the end of the handshake
//! (p50/p90/p99/max), the CPU seconds of the server and of chat-load
//! itself over the storm, and the server's RSS after it.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_shared::{ClientLine, Line};
use hdrhistogram::Histogram;
use mio::{Events, Poll, Token};
use rustls::{ClientConfig, HandshakeKind};

use crate::common::{self, Progress, MAX_POLL_WAIT};
use crate::config::{Config, StormPlan};
use crate::conn::{Conn, ConnectProgress, READ_CHUNK_BYTES};
use crate::report::{Report, StormReport, StormRound};
use crate::server::{self, Server};
use crate::stats::{self, clock_ticks_per_sec, new_histogram, ServerWatch};
use crate::tls;
use crate::worker::MAX_PENDING_CONNECTS;
use crate::Error;

/// Longest one storm may take before the clients still on their way count
/// as failed.
const STORM_LIMIT: Duration = Duration::from_secs(60);

/// Runs the storm scenario.
pub fn run(config: &Config, plan: &StormPlan) -> Result<Report, Error> {
    let started = Instant::now();
    common::raise_fd_limit(config.clients)?;
    let bin = server::binary(plan.server_bin.as_deref())?;
    let io_error = |context: String| move |source| Error::Io { context, source };
    let mut server = Server::start(&bin, &plan.db, &["--tls"]).map_err(io_error(format!(
        "starting {} --tls on --db {}",
        bin.display(),
        plan.db.display()
    )))?;
    let mut progress = Progress::new(config);
    let base = tls::client_config();
    let workers = config.threads.min(config.clients);
    let mut desks: Vec<Vec<Desk>> = (0..workers)
        .map(|worker| {
            (worker..config.clients)
                .step_by(workers)
                .map(|_| Desk::new(&base))
                .collect()
        })
        .collect();
    let mut rounds = Vec::new();
    let mut errors = Vec::new();
    for (index, name) in ["first", "resumed", "full"].into_iter().enumerate() {
        if index > 0 {
            progress.say(&format!("restarting the server before the {name} storm"));
            match server.stop() {
                Ok(Some(status)) if status.success() => {}
                Ok(other) => errors.push(format!(
                    "the server did not stop cleanly before {name}: {other:?}"
                )),
                Err(err) => errors.push(format!("stopping the server before {name}: {err}")),
            }
            server
                .start_again()
                .map_err(io_error(format!("starting the server again before {name}")))?;
        }
        if name == "full" {
            for desk in desks.iter_mut().flatten() {
                desk.forget_tickets(&base);
            }
        }
        progress.say(&format!("{name} storm: {} clients at once", config.clients));
        let pid = server
            .pid()
            .ok_or_else(|| Error::Worker("the server is not running".into()))?;
        rounds.push(storm(name, &mut desks, server.addr(), pid, config.clients)?);
    }
    match server.stop() {
        Ok(Some(status)) if status.success() => {}
        Ok(other) => errors.push(format!(
            "the server did not stop cleanly at the end: {other:?}"
        )),
        Err(err) => errors.push(format!("stopping the server at the end: {err}")),
    }
    progress.finish();
    let last = rounds.last();
    let connect_errors = last.map(|round| round.failures.clone()).unwrap_or_default();
    Ok(Report {
        tls: true,
        tls_handshake_us: last.and_then(|round| round.handshake_us),
        connected: last.map_or(0, |round| round.handshakes as usize),
        connect_failures: connect_errors.values().sum::<u64>() as usize,
        connect_errors,
        payload_bytes: 0,
        duration_secs: 0.0,
        storm: Some(StormReport { rounds }),
        wall_secs: started.elapsed().as_secs_f64(),
        errors,
        ..Report::of_run(config, server.addr().to_string())
    })
}

/// One storm with every desk, each worker thread driving its share.
fn storm(
    name: &str,
    desks: &mut [Vec<Desk>],
    addr: SocketAddr,
    server_pid: u32,
    clients: usize,
) -> Result<StormRound, Error> {
    let watch = |pid: u32, what: &str| {
        ServerWatch::start(pid).map_err(|source| Error::Io {
            context: format!("reading /proc/{pid} ({what})"),
            source,
        })
    };
    let server = watch(server_pid, "the server")?;
    let load = watch(std::process::id(), "chat-load")?;
    let (server_before, load_before) = (server.cpu_ticks(), load.cpu_ticks());
    let started = Instant::now();
    let tallies = std::thread::scope(|scope| {
        let handles: Vec<_> = desks
            .iter_mut()
            .map(|share| scope.spawn(move || Storm::new(share, addr)?.run()))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a storm thread panicked")))
            })
            .collect::<io::Result<Vec<Tally>>>()
    })
    .map_err(|source| Error::Io {
        context: format!("the {name} storm"),
        source,
    })?;
    let wall_secs = started.elapsed().as_secs_f64();
    let seconds = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(before), Some(after)) => after.saturating_sub(before) as f64 / clock_ticks_per_sec(),
        _ => 0.0,
    };
    let server_cpu_secs = seconds(server_before, server.cpu_ticks());
    let load_cpu_secs = seconds(load_before, load.cpu_ticks());
    let server_rss_kb = server.rss_kb();
    let server_rss_peak_kb = server.finish().rss_peak_kb;
    load.finish();
    let mut total = Tally::default();
    for tally in tallies {
        total.merge(tally);
    }
    Ok(StormRound {
        name: name.to_string(),
        clients,
        handshakes: total.handshakes,
        resumed: total.resumed,
        answered: total.answered,
        failures: total.failures,
        handshake_us: stats::summarize(&total.handshake),
        server_cpu_secs,
        load_cpu_secs,
        wall_secs,
        server_rss_kb,
        server_rss_peak_kb,
    })
}

/// One client across the storms: its TLS configuration, and with it the
/// session tickets the server gave it.
struct Desk {
    config: Arc<ClientConfig>,
}

impl Desk {
    fn new(base: &Arc<ClientConfig>) -> Desk {
        Desk {
            config: tls::resuming_config(base),
        }
    }

    fn forget_tickets(&mut self, base: &Arc<ClientConfig>) {
        self.config = tls::resuming_config(base);
    }
}

/// What one thread's storm came to.
struct Tally {
    handshake: Histogram<u64>,
    handshakes: u64,
    resumed: u64,
    answered: u64,
    failures: BTreeMap<String, u64>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            handshake: new_histogram(),
            handshakes: 0,
            resumed: 0,
            answered: 0,
            failures: BTreeMap::new(),
        }
    }
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        let _ = self.handshake.add(&other.handshake);
        self.handshakes += other.handshakes;
        self.resumed += other.resumed;
        self.answered += other.answered;
        for (cause, count) in other.failures {
            *self.failures.entry(cause).or_insert(0) += count;
        }
    }
}

/// Where one client's connection is in a storm.
enum Stage {
    /// TCP connect in flight.
    Connecting,
    /// TLS handshake in flight.
    Handshaking,
    /// `/ping` sent, waiting for `PONG`.
    Pinging,
    /// Answered, or failed: nothing more to do.
    Over,
}

/// One client's connection in a storm.
struct Connection {
    conn: Conn,
    stage: Stage,
}

/// One thread's share of a storm, on its own poll.
struct Storm<'a> {
    desks: &'a [Desk],
    addr: SocketAddr,
    poll: Poll,
    connections: Vec<Option<Connection>>,
    tally: Tally,
    /// Desks not yet started, from this index on.
    next: usize,
    connecting: usize,
    over: usize,
}

impl<'a> Storm<'a> {
    fn new(desks: &'a [Desk], addr: SocketAddr) -> io::Result<Storm<'a>> {
        Ok(Storm {
            desks,
            addr,
            poll: Poll::new()?,
            connections: desks.iter().map(|_| None).collect(),
            tally: Tally::default(),
            next: 0,
            connecting: 0,
            over: 0,
        })
    }

    fn run(mut self) -> io::Result<Tally> {
        let deadline = Instant::now() + STORM_LIMIT;
        let mut events = Events::with_capacity(1024);
        let mut buffer = vec![0u8; READ_CHUNK_BYTES];
        while self.over < self.desks.len() {
            self.start_connects()?;
            if Instant::now() >= deadline {
                self.give_up();
                break;
            }
            self.poll.poll(&mut events, Some(MAX_POLL_WAIT))?;
            for event in events.iter() {
                self.on_event(event.token().0, event.is_writable(), &mut buffer);
            }
        }
        // Every connection stays open until here, as desks stay in the room.
        Ok(self.tally)
    }

    fn start_connects(&mut self) -> io::Result<()> {
        while self.connecting < MAX_PENDING_CONNECTS && self.next < self.desks.len() {
            let index = self.next;
            self.next += 1;
            let config = &self.desks[index].config;
            let registry = self.poll.registry();
            let opened = Conn::open(
                self.addr,
                None,
                None,
                Some(config),
                registry,
                Token(index),
                Instant::now(),
            );
            match opened {
                Ok(conn) => {
                    self.connecting += 1;
                    self.connections[index] = Some(Connection {
                        conn,
                        stage: Stage::Connecting,
                    });
                }
                Err(err) => self.fail(index, crate::conn::errno_name(&err)),
            }
        }
        Ok(())
    }

    fn on_event(&mut self, index: usize, writable: bool, buffer: &mut [u8]) {
        let Some(connection) = self.connections[index].as_mut() else {
            return;
        };
        if matches!(connection.stage, Stage::Connecting) {
            match connection.conn.finish_connect() {
                ConnectProgress::Pending => return,
                ConnectProgress::Failed(cause) => {
                    self.connecting -= 1;
                    return self.fail(index, cause);
                }
                ConnectProgress::Established => {
                    self.connecting -= 1;
                    connection.stage = Stage::Handshaking;
                }
            }
        } else if writable {
            connection.conn.set_writable();
        }
        match step(connection, buffer) {
            Ok(Step::Waiting) => {}
            Ok(Step::HandshakeDone) => {
                let micros = connection.conn.started().elapsed().as_micros() as u64;
                self.tally.handshake.saturating_record(micros.max(1));
                self.tally.handshakes += 1;
                if connection.conn.handshake_kind() == Some(HandshakeKind::Resumed) {
                    self.tally.resumed += 1;
                }
            }
            Ok(Step::Answered) => {
                self.tally.answered += 1;
                self.over += 1;
            }
            Err(cause) => self.fail(index, cause),
        }
    }

    fn fail(&mut self, index: usize, cause: String) {
        if let Some(connection) = self.connections[index].as_mut() {
            if matches!(connection.stage, Stage::Over) {
                return;
            }
            connection.stage = Stage::Over;
        }
        *self.tally.failures.entry(cause).or_insert(0) += 1;
        self.over += 1;
    }

    fn give_up(&mut self) {
        for index in 0..self.desks.len() {
            let open = match &self.connections[index] {
                Some(connection) => !matches!(connection.stage, Stage::Over),
                None => index >= self.next,
            };
            if open {
                self.fail(index, "no answer within the storm's limit".into());
            }
        }
    }
}

/// What moving a connection along came to.
enum Step {
    /// Nothing new: wait for the next event.
    Waiting,
    /// The handshake just ended (and `/ping` is on its way).
    HandshakeDone,
    /// `PONG` arrived.
    Answered,
}

/// Writes what waits, reads what came, and moves the connection along.
fn step(connection: &mut Connection, buffer: &mut [u8]) -> Result<Step, String> {
    let Connection { conn, stage } = connection;
    conn.flush()?;
    let mut answered = false;
    conn.read_lines(buffer, |line| {
        answered |= matches!(line, Line::Complete(b"PONG"));
    })
    .map_err(|cause| match cause.as_str() {
        "eof" => "closed by the server".to_string(),
        _ => cause,
    })?;
    if answered && matches!(stage, Stage::Pinging) {
        *stage = Stage::Over;
        return Ok(Step::Answered);
    }
    let mut outcome = Step::Waiting;
    if matches!(stage, Stage::Handshaking) && !conn.is_handshaking() {
        *stage = Stage::Pinging;
        conn.queue_line(&ClientLine::Ping);
        outcome = Step::HandshakeDone;
    }
    conn.flush()?;
    Ok(outcome)
}
