//! `chat-load restart`: does a desk that resumes after the server died lose
//! or repeat anything?
//!
//! chat-load starts chat-server itself ([`crate::server`]) and runs a fanout
//! in which every client joins (learning the log's epoch from `WELCOME`) and
//! keeps the ID of each message it counts ([`crate::ledger`]). At
//! `--kill-at` the server gets SIGKILL; `--restart-after` later it starts
//! again on the same port and log. Every client comes back the way a desk
//! does: reconnect with a short jittered backoff, `/resume EPOCH LASTID`,
//! ignore `MSG` and `HIST` until the `RESUME` reply (the server promises
//! that all of those are in the replay that follows it), then count every
//! `MSG` and `HIST`, in ID order. Senders whose connection is down skip
//! their turn: those messages never reached the log. When sending stops, one
//! more connection reads the whole log back with `/resume EPOCH 0`: that is
//! the truth the ledgers are checked against.
//!
//! One thread and one mio poll over the same connections as the load modes
//! ([`crate::conn`]): a few hundred clients at tens of messages a second
//! need no more, and the kill and the restart happen between two turns of
//! the loop that counts. It is a loop of its own, not the load modes'
//! worker, because everything but the sockets differs: desks that join,
//! come back and `/resume`; counting by message ID against the log instead
//! of delivery windows; a server whose life the loop itself schedules.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use chat_shared::{ClientLine, Line, LineReader, MessageId};
use hdrhistogram::Histogram;
use mio::{Events, Poll, Token};

use crate::common::{self, take_turn, Progress, Rng, MAX_POLL_WAIT, PROBE_INTERVAL, WARMUP_BASE};
use crate::config::{Config, RestartPlan};
use crate::conn::{self, Conn, ConnectProgress, CONNECT_TIMEOUT, MAX_LINE_BYTES, READ_CHUNK_BYTES};
use crate::ledger::{self, Arrival, Ledger};
use crate::marker::{self, Delivery, Kind, Marker, Seen};
use crate::modes::Plan;
use crate::report::{Report, RestartReport};
use crate::server::{self, Server};
use crate::stats::{self, new_histogram};
use crate::Error;

/// First wait after a failed reconnect attempt; doubled after each one.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);

/// Longest wait between attempts: a client is back at most this long after
/// the server is. Each wait is jittered down to half, so a room does not
/// knock in lock-step.
const BACKOFF_MAX: Duration = Duration::from_millis(400);

/// How long after the restart every client gets to come back before the
/// log is read.
const RETURN_LIMIT: Duration = Duration::from_secs(10);

/// Longest the read-back of the log may take.
const CHECK_LIMIT: Duration = Duration::from_secs(10);

/// Runs the restart scenario `plan` describes.
pub fn run(config: &Config, plan: &RestartPlan) -> Result<Report, Error> {
    let started = Instant::now();
    common::raise_fd_limit(config.clients)?;
    let bin = server::binary(plan.server_bin.as_deref())?;
    let server = Server::start(&bin, &plan.db, &[]).map_err(|source| Error::Io {
        context: format!("starting {} on --db {}", bin.display(), plan.db.display()),
        source,
    })?;
    let mut scenario = Scenario::new(config, plan, server)?;
    scenario.connect()?;
    scenario.warm_up()?;
    scenario.measure()?;
    scenario.come_back()?;
    let log = scenario.read_log()?;
    scenario.drain(&log)?;
    Ok(scenario.finish(&log, started))
}

/// What the loop is doing, which decides what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Doing {
    /// Opening the clients' first connections.
    Connecting,
    /// A probe every [`PROBE_INTERVAL`] until every client has seen a message.
    WarmingUp,
    /// Senders send; the server is killed and restarted.
    Measuring,
    /// Nothing is sent; clients come back and take what is in flight.
    Finishing,
}

/// The server's life in the run: one kill, one restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// The first server.
    Up,
    /// Killed then; restarted `--restart-after` later.
    Killed(Instant),
    /// The second server, killed at the instant given.
    Restarted(Instant),
}

/// Where one client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Its first connection: counts `MSG` (the `HIST` lines on connect are
    /// history from before it was there).
    First,
    /// Lost its connection at `since`; tries again at `retry_at`, and after
    /// a failure waits about `backoff`.
    Away {
        since: Instant,
        retry_at: Instant,
        backoff: Duration,
    },
    /// Connected again and asked `/resume`: what arrives before the reply is
    /// also in the replay after it, so it is not counted.
    Resuming { since: Instant },
    /// Resumed: counts `MSG` and `HIST`.
    Back,
    /// Out of the run: its first connect failed, or it lost its connection
    /// before it knew the log's epoch, so it cannot resume.
    Out,
}

/// One client: a desk that joins, listens, maybe talks, and comes back.
#[derive(Debug)]
struct Desk {
    /// Its name, `load-<run>-<index>`.
    name: String,
    /// Sends at the configured rate while measuring.
    sender: bool,
    /// Where it is.
    stage: Stage,
    /// Its socket, while it has one.
    conn: Option<Conn>,
    /// Counts its connections; tokens carry it, so an event for a socket
    /// already gone is not taken for its successor's.
    generation: u32,
    /// The log's epoch, from `WELCOME`.
    epoch: Option<String>,
    /// The highest ID it counted, anyone's message: what `/resume` asks after.
    last_id: Option<MessageId>,
    /// What it counted.
    ledger: Ledger,
    /// When it next sends.
    next_send: Instant,
}

impl Desk {
    fn may_send(&self) -> bool {
        self.conn.as_ref().is_some_and(Conn::is_open)
            && matches!(
                self.stage,
                Stage::First | Stage::Resuming { .. } | Stage::Back
            )
    }

    /// Knows enough to resume: the log's epoch and a message to resume after.
    fn can_resume(&self) -> bool {
        self.epoch.is_some() && self.last_id.is_some()
    }
}

/// The mio token of a desk's connection.
fn token(index: usize, generation: u32) -> Token {
    Token(index | (generation as usize) << 32)
}

/// The desk and generation a token names.
fn desk_of(token: Token) -> (usize, u32) {
    (token.0 & 0xffff_ffff, (token.0 >> 32) as u32)
}

/// The run's messages in the log, read back at the end.
#[derive(Debug)]
struct LogSnapshot {
    /// Their IDs.
    ids: BTreeSet<MessageId>,
    /// The highest: every client that is back should get this far.
    highest: Option<MessageId>,
}

/// Everything the run holds.
struct Scenario<'a> {
    config: &'a Config,
    plan: &'a RestartPlan,
    server: Server,
    life: Life,
    doing: Doing,
    poll: Poll,
    events: Events,
    /// Read buffer shared by every socket.
    buf: Vec<u8>,
    desks: Vec<Desk>,
    /// Time zero for markers and latency.
    zero: Instant,
    /// Nothing runs past this.
    deadline: Instant,
    run_id: u32,
    rng: Rng,
    /// When the measured phase began.
    measure_start: Option<Instant>,
    next_probe: Instant,
    /// First connections that succeeded.
    connected: usize,
    /// First connections that failed, by errno name.
    connect_errors: BTreeMap<String, u64>,
    /// Measured messages written.
    sent: u64,
    sends_skipped: u64,
    /// Deliveries counted (first arrivals).
    counted: u64,
    /// Of those, how many came in a resume's replay (`HIST`).
    replayed: u64,
    last_delivery: Option<Instant>,
    /// End-to-end latency of counted deliveries, microseconds.
    latency: Histogram<u64>,
    /// From a lost connection to the `RESUME` reply, microseconds.
    away: Histogram<u64>,
    resumed: u64,
    reconnect_attempts: u64,
    replay_skipped: u64,
    /// Things worth reporting, with counts.
    notes: BTreeMap<String, u64>,
    progress: Progress,
}

impl<'a> Scenario<'a> {
    fn new(config: &'a Config, plan: &'a RestartPlan, server: Server) -> Result<Self, Error> {
        let now = Instant::now();
        let budget = common::connect_budget(config, &Plan::new(config))
            + WARMUP_BASE
            + Duration::from_millis(config.clients as u64 / 2)
            + config.duration
            + plan.restart_after
            + RETURN_LIMIT
            + CHECK_LIMIT
            + config.drain
            + Duration::from_secs(10);
        let run_id = common::run_id();
        let desks = (0..config.clients)
            .map(|index| Desk {
                name: format!("load-{run_id:08x}-{index}"),
                sender: index < config.senders,
                stage: Stage::First,
                conn: None,
                generation: 0,
                epoch: None,
                last_id: None,
                ledger: Ledger::default(),
                next_send: now,
            })
            .collect();
        Ok(Scenario {
            config,
            plan,
            server,
            life: Life::Up,
            doing: Doing::Connecting,
            poll: Poll::new().map_err(|source| Error::Io {
                context: "creating an event loop".into(),
                source,
            })?,
            events: Events::with_capacity(4096),
            buf: vec![0; READ_CHUNK_BYTES],
            desks,
            zero: now,
            deadline: now + budget,
            run_id,
            rng: Rng::new(u64::from(run_id)),
            measure_start: None,
            next_probe: now,
            connected: 0,
            connect_errors: BTreeMap::new(),
            sent: 0,
            sends_skipped: 0,
            counted: 0,
            replayed: 0,
            last_delivery: None,
            latency: new_histogram(),
            away: new_histogram(),
            resumed: 0,
            reconnect_attempts: 0,
            replay_skipped: 0,
            notes: BTreeMap::new(),
            progress: Progress::new(config),
        })
    }

    // ------------------------------------------------------------ phases

    /// Opens every client's first connection; each joins as it opens.
    fn connect(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        for index in 0..self.desks.len() {
            self.open(index, now);
        }
        let until = now + common::connect_budget(self.config, &Plan::new(self.config));
        self.run_until("connect", until, |s| {
            s.desks
                .iter()
                .all(|d| d.stage == Stage::Out || d.conn.as_ref().is_some_and(Conn::is_open))
        })
    }

    /// Probes until every client knows the epoch and has seen a message,
    /// so the server has registered it.
    fn warm_up(&mut self) -> Result<(), Error> {
        self.doing = Doing::WarmingUp;
        let limit = WARMUP_BASE + Duration::from_millis(self.config.clients as u64 / 2);
        self.run_until("warm-up", Instant::now() + limit, |s| {
            s.desks
                .iter()
                .all(|d| d.stage == Stage::Out || (d.can_resume() && d.ledger.is_open()))
        })?;
        let unready = self
            .desks
            .iter()
            .filter(|d| d.stage != Stage::Out && !(d.can_resume() && d.ledger.is_open()))
            .count();
        if unready > 0 {
            self.note(format!(
                "{unready} clients had no WELCOME or no message by the end of the warm-up"
            ));
        }
        Ok(())
    }

    /// Sends for `-d` seconds; the kill and the restart fall inside (or the
    /// restart just after).
    fn measure(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        self.doing = Doing::Measuring;
        self.measure_start = Some(now);
        let interval = self.send_interval();
        for index in 0..self.desks.len() {
            let jitter = self.rng.fraction();
            // Spread first sends over one interval, not in lock-step.
            self.desks[index].next_send = now + interval.mul_f64(jitter);
        }
        self.run_until("measure", now + self.config.duration, |_| false)
    }

    /// Stops sending; waits until the server is back and every client has
    /// resumed.
    fn come_back(&mut self) -> Result<(), Error> {
        self.doing = Doing::Finishing;
        let restart_at = match self.life {
            Life::Up => self.kill_time() + self.plan.restart_after,
            Life::Killed(at) => at + self.plan.restart_after,
            Life::Restarted(_) => Instant::now(),
        };
        let until = restart_at.max(Instant::now()) + RETURN_LIMIT;
        self.run_until("return", until, |s| {
            matches!(s.life, Life::Restarted(_))
                && s.desks
                    .iter()
                    .all(|d| matches!(d.stage, Stage::Back | Stage::Out))
        })
    }

    /// Reads the whole log back on a connection of its own: `/resume EPOCH
    /// 0`, the `RESUME` reply, then `HIST` lines until the `PONG` that
    /// answers a `/ping` sent after the reply. The loop waits meanwhile; the
    /// sockets hold what arrives.
    fn read_log(&mut self) -> Result<LogSnapshot, Error> {
        let epoch = self
            .desks
            .iter()
            .find_map(|d| d.epoch.clone())
            .ok_or_else(|| Error::Worker("no client learned the log's epoch".into()))?;
        let io_error = |source| Error::Io {
            context: "reading the log back".into(),
            source,
        };
        let mut stream =
            TcpStream::connect_timeout(&self.server.addr(), CONNECT_TIMEOUT).map_err(io_error)?;
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(io_error)?;
        let ask = ClientLine::Resume {
            epoch: &epoch,
            after: MessageId::ZERO,
            desk: None,
        };
        stream
            .write_all(ask.encode().as_bytes())
            .map_err(io_error)?;
        let deadline = Instant::now() + CHECK_LIMIT;
        let mut lines = LineReader::new(MAX_LINE_BYTES);
        let mut replying = false;
        let mut ids = BTreeSet::new();
        let mut all = 0usize;
        let mut skipped = 0;
        let mut done = false;
        while !done {
            if Instant::now() >= deadline {
                return Err(Error::Worker(format!(
                    "reading the log back: no end of the replay within {} s",
                    CHECK_LIMIT.as_secs()
                )));
            }
            let n = match stream.read(&mut self.buf) {
                Ok(0) => {
                    return Err(Error::Worker(
                        "reading the log back: the server closed the connection".into(),
                    ))
                }
                Ok(n) => n,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(err) => return Err(io_error(err)),
            };
            let mut seen = Vec::new();
            let _ = lines.feed(&self.buf[..n], |line| {
                if let Line::Complete(bytes) = line {
                    seen.push(marker::classify(bytes, self.run_id));
                }
                ControlFlow::Continue(())
            });
            for line in seen {
                match line {
                    // History on connect comes before the reply; the replay after it.
                    Seen::Resumed {
                        epoch: answered,
                        skipped: more,
                    } if !replying => {
                        if answered != epoch {
                            return Err(Error::Worker(format!(
                                "reading the log back: the server's log is {answered}, not {epoch}: the restart did not keep it"
                            )));
                        }
                        replying = true;
                        skipped = more;
                        stream
                            .write_all(ClientLine::Ping.encode().as_bytes())
                            .map_err(io_error)?;
                    }
                    Seen::Hist(Delivery { id, marker }) if replying => {
                        all += 1;
                        if marker.is_some_and(|m| m.kind == Kind::Measured) {
                            ids.insert(id);
                        }
                    }
                    Seen::Pong if replying => done = true,
                    _ => {}
                }
            }
        }
        if skipped > 0 {
            self.note(format!(
                "the log held {skipped} messages more than one replay: only the newest {all} were checked"
            ));
        }
        Ok(LogSnapshot {
            highest: ids.last().copied(),
            ids,
        })
    }

    /// Until every client that is back has what the log holds, or `--drain`
    /// runs out.
    fn drain(&mut self, log: &LogSnapshot) -> Result<(), Error> {
        let Some(highest) = log.highest else {
            return Ok(());
        };
        let until = Instant::now() + self.config.drain;
        self.run_until("drain", until, |s| {
            s.desks
                .iter()
                .filter(|d| d.stage == Stage::Back)
                .all(|d| d.last_id.is_some_and(|last| last >= highest))
        })
    }

    /// Closes the clients, stops the server and sums up.
    fn finish(mut self, log: &LogSnapshot, started: Instant) -> Report {
        self.progress.finish();
        let not_back = self
            .desks
            .iter()
            .filter(|d| !matches!(d.stage, Stage::Back | Stage::Out))
            .count();
        let tally = ledger::tally(&log.ids, self.desks.iter().map(|d| &d.ledger));
        for desk in &mut self.desks {
            desk.conn = None;
        }
        let mut errors: Vec<String> = Vec::new();
        match self.server.stop() {
            Ok(Some(status)) if status.success() => {}
            Ok(Some(status)) => errors.push(format!(
                "the restarted server ended with {status} after SIGTERM"
            )),
            Ok(None) => errors.push("the restarted server ignored SIGTERM; killed".into()),
            Err(err) => errors.push(format!("stopping the server: {err}")),
        }
        errors.extend(common::rate_limit_note(self.config));
        errors.extend(
            self.notes
                .iter()
                .map(|(what, count)| format!("{what} (x{count})")),
        );
        let measure_start = self.measure_start.unwrap_or(self.zero);
        let delivery_secs = self
            .last_delivery
            .map_or(0.0, |last| (last - measure_start).as_secs_f64());
        let mut connect_errors = self.connect_errors;
        connect_errors.entry("ECONNREFUSED".into()).or_insert(0);
        Report {
            connected: self.connected,
            connect_failures: connect_errors.values().sum::<u64>() as usize,
            connect_errors,
            senders: Some(self.config.senders),
            rate_per_sender: Some(self.config.rate_per_sender),
            messages_sent: self.sent,
            deliveries_expected: tally.expected,
            deliveries_received: tally.received,
            delivered_fraction: (tally.expected > 0)
                .then(|| tally.received as f64 / tally.expected as f64),
            deliveries_per_sec: if delivery_secs > 0.0 {
                self.counted as f64 / delivery_secs
            } else {
                0.0
            },
            latency_us: stats::summarize(&self.latency),
            restart: Some(RestartReport {
                kill_at_secs: self.plan.kill_at.as_secs_f64(),
                restart_after_secs: self.plan.restart_after.as_secs_f64(),
                log_messages: log.ids.len() as u64,
                lost: tally.lost,
                duplicated: tally.duplicated,
                out_of_order: tally.out_of_order,
                unlogged: tally.unlogged,
                resumed: self.resumed,
                replayed: self.replayed,
                not_back: not_back as u64,
                reconnect_attempts: self.reconnect_attempts,
                replay_skipped: self.replay_skipped,
                sends_skipped: self.sends_skipped,
                reconnect_us: stats::summarize(&self.away),
            }),
            disconnected_early: not_back as u64,
            wall_secs: started.elapsed().as_secs_f64(),
            errors,
            ..Report::of_run(self.config, self.server.addr().to_string())
        }
    }

    // ------------------------------------------------------------ the loop

    /// Turns the loop until `done`, `until` or the run's deadline.
    fn run_until(
        &mut self,
        stage: &str,
        until: Instant,
        done: impl Fn(&Self) -> bool,
    ) -> Result<(), Error> {
        let until = until.min(self.deadline);
        while !done(self) && Instant::now() < until {
            self.turn(stage)?;
        }
        if Instant::now() >= self.deadline {
            self.note("the run's time bound ran out".into());
        }
        Ok(())
    }

    /// One pass: the server's schedule, retries, sends, then one poll.
    fn turn(&mut self, stage: &str) -> Result<(), Error> {
        let now = Instant::now();
        self.keep_schedule(now)?;
        self.housekeeping(now);
        let mut wait = MAX_POLL_WAIT;
        match self.doing {
            Doing::WarmingUp => self.send_probe(now),
            Doing::Measuring => {
                if let Some(next) = self.send_due(now) {
                    wait = wait.min(next.saturating_duration_since(now));
                }
            }
            Doing::Connecting | Doing::Finishing => {}
        }
        match self.poll.poll(&mut self.events, Some(wait)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(source) => {
                return Err(Error::Io {
                    context: "polling sockets".into(),
                    source,
                })
            }
        }
        let ready: Vec<(Token, bool)> = self
            .events
            .iter()
            .map(|event| (event.token(), event.is_writable()))
            .collect();
        let now = Instant::now();
        for (token, writable) in ready {
            self.on_event(token, writable, now);
        }
        let desks = &self.desks;
        let (sent, counted) = (self.sent, self.counted);
        self.progress.tick_with(stage, || {
            let open = desks
                .iter()
                .filter(|d| d.conn.as_ref().is_some_and(Conn::is_open))
                .count();
            let away = desks
                .iter()
                .filter(|d| matches!(d.stage, Stage::Away { .. } | Stage::Resuming { .. }))
                .count();
            format!(
                "open {open}/{} away {away} sent {sent} counted {counted}",
                desks.len()
            )
        });
        Ok(())
    }

    /// When the kill is due while measuring.
    fn kill_time(&self) -> Instant {
        self.measure_start.unwrap_or(self.deadline) + self.plan.kill_at
    }

    /// Kills the server when it is time, starts it again when it is time,
    /// and stops the run if a server ends on its own.
    fn keep_schedule(&mut self, now: Instant) -> Result<(), Error> {
        match self.life {
            Life::Up if self.doing >= Doing::Measuring && now >= self.kill_time() => {
                self.server.kill().map_err(|source| Error::Io {
                    context: "killing the server".into(),
                    source,
                })?;
                self.life = Life::Killed(now);
                self.progress.say("server killed (SIGKILL)");
                return Ok(());
            }
            Life::Killed(at) if now >= at + self.plan.restart_after => {
                self.server.restart().map_err(|source| Error::Io {
                    context: "starting the server again".into(),
                    source,
                })?;
                self.life = Life::Restarted(at);
                self.progress.say("server started again");
            }
            _ => {}
        }
        if let Some(status) = self.server.exited() {
            return Err(Error::Worker(format!(
                "the server ended on its own ({status}); its stderr says why"
            )));
        }
        Ok(())
    }

    /// Connects that take too long, and reconnects that are due.
    fn housekeeping(&mut self, now: Instant) {
        for index in 0..self.desks.len() {
            let desk = &self.desks[index];
            match (&desk.conn, desk.stage) {
                (Some(conn), _) if !conn.is_open() && now - conn.started() >= CONNECT_TIMEOUT => {
                    self.connect_failed(index, "ETIMEDOUT".into(), now);
                }
                (None, Stage::Away { retry_at, .. }) if now >= retry_at => {
                    self.reconnect_attempts += 1;
                    self.open(index, now);
                }
                _ => {}
            }
        }
    }

    /// Starts a new connection for desk `index`.
    fn open(&mut self, index: usize, now: Instant) {
        let desk = &mut self.desks[index];
        desk.generation += 1;
        let token = token(index, desk.generation);
        let registry = self.poll.registry();
        match Conn::open(self.server.addr(), None, None, None, registry, token, now) {
            Ok(conn) => desk.conn = Some(conn),
            Err(err) => self.connect_failed(index, conn::errno_name(&err), now),
        }
    }

    fn on_event(&mut self, token: Token, writable: bool, now: Instant) {
        let (index, generation) = desk_of(token);
        let Some(desk) = self.desks.get_mut(index) else {
            return;
        };
        if desk.generation != generation {
            return;
        }
        let Some(conn) = desk.conn.as_mut() else {
            return;
        };
        if !conn.is_open() {
            match conn.finish_connect() {
                ConnectProgress::Pending => return,
                ConnectProgress::Failed(name) => return self.connect_failed(index, name, now),
                ConnectProgress::Established => self.connected_again(index),
            }
        } else if writable {
            conn.set_writable();
        }
        self.read(index, now);
        self.flush(index, now);
    }

    /// A connection of desk `index` is open: it joins, or it resumes.
    fn connected_again(&mut self, index: usize) {
        let desk = &mut self.desks[index];
        let Some(conn) = desk.conn.as_mut() else {
            return;
        };
        match desk.stage {
            Stage::First => {
                self.connected += 1;
                conn.queue_line(&ClientLine::Join {
                    name: &desk.name,
                    color: None,
                    desk: None,
                });
            }
            Stage::Away { since, .. } => {
                let (Some(epoch), Some(after)) = (&desk.epoch, desk.last_id) else {
                    return;
                };
                conn.queue_line(&ClientLine::Resume {
                    epoch,
                    after,
                    desk: None,
                });
                desk.stage = Stage::Resuming { since };
            }
            Stage::Resuming { .. } | Stage::Back | Stage::Out => {}
        }
    }

    /// A connect of desk `index` failed: a first one takes the desk out of
    /// the run, a reconnect is tried again after a backoff.
    fn connect_failed(&mut self, index: usize, errno: String, now: Instant) {
        self.drop_conn(index);
        let jitter = 0.5 + self.rng.fraction() / 2.0;
        let desk = &mut self.desks[index];
        match desk.stage {
            Stage::First => {
                desk.stage = Stage::Out;
                *self.connect_errors.entry(errno).or_insert(0) += 1;
            }
            Stage::Away { since, backoff, .. } => {
                desk.stage = Stage::Away {
                    since,
                    retry_at: now + backoff.mul_f64(jitter),
                    backoff: (backoff * 2).min(BACKOFF_MAX),
                };
            }
            Stage::Resuming { .. } | Stage::Back | Stage::Out => {}
        }
    }

    /// Desk `index` lost an open connection: it goes away to come back, if
    /// it can resume.
    fn lose(&mut self, index: usize, why: String, now: Instant) {
        let started = self.desks[index].conn.as_ref().map(Conn::started);
        self.drop_conn(index);
        let killed = match self.life {
            Life::Up => None,
            Life::Killed(at) | Life::Restarted(at) => Some(at),
        };
        if started.is_some_and(|started| killed.is_none_or(|killed| started > killed)) {
            self.note(format!("connection lost while the server was up: {why}"));
        }
        let desk = &mut self.desks[index];
        let since = match desk.stage {
            Stage::Resuming { since } => since,
            _ => now,
        };
        if desk.stage == Stage::Out {
            return;
        }
        if desk.can_resume() {
            desk.stage = Stage::Away {
                since,
                retry_at: now,
                backoff: BACKOFF_FIRST,
            };
        } else {
            desk.stage = Stage::Out;
            self.note("a client lost its connection before it knew what to resume".into());
        }
    }

    fn drop_conn(&mut self, index: usize) {
        if let Some(mut conn) = self.desks[index].conn.take() {
            conn.deregister(self.poll.registry());
        }
    }

    /// Reads desk `index`'s socket until `WouldBlock` and acts on each line,
    /// then on the end of the connection if it ended.
    fn read(&mut self, index: usize, now: Instant) {
        let Some(conn) = self.desks[index].conn.as_mut() else {
            return;
        };
        let run_id = self.run_id;
        let mut seen = Vec::new();
        let read = conn.read_lines(&mut self.buf, |line| {
            if let Line::Complete(bytes) = line {
                seen.push(marker::classify(bytes, run_id));
            }
        });
        for line in seen {
            self.on_line(index, line, now);
        }
        if let Err(why) = read {
            self.lose(index, why, now);
        }
    }

    fn on_line(&mut self, index: usize, line: Seen, now: Instant) {
        let desk = &mut self.desks[index];
        match line {
            Seen::Welcome { epoch } => {
                desk.epoch.get_or_insert(epoch);
            }
            Seen::Resumed { epoch, skipped } => {
                let Stage::Resuming { since } = desk.stage else {
                    return;
                };
                desk.stage = Stage::Back;
                let other_log = desk.epoch.as_deref() != Some(epoch.as_str());
                self.resumed += 1;
                self.replay_skipped += skipped;
                self.away
                    .saturating_record((now - since).as_micros().max(1) as u64);
                if other_log {
                    self.note(
                        "RESUME named another log than WELCOME: what was missed is not replayed"
                            .into(),
                    );
                }
            }
            Seen::Msg(delivery) if matches!(desk.stage, Stage::First | Stage::Back) => {
                self.count(index, delivery, false, now)
            }
            Seen::Hist(delivery) if desk.stage == Stage::Back => {
                self.count(index, delivery, true, now)
            }
            Seen::Refused(code) => self.note(format!("server ERR {}", code.as_str())),
            Seen::Bye(reason) => self.note(format!("server BYE: {reason}")),
            _ => {}
        }
    }

    /// Counts a message that reached desk `index`, live or `replayed`.
    fn count(&mut self, index: usize, delivery: Delivery, replayed: bool, now: Instant) {
        let desk = &mut self.desks[index];
        desk.last_id = Some(
            desk.last_id
                .map_or(delivery.id, |last| last.max(delivery.id)),
        );
        let Some(marker) = delivery.marker.filter(|m| m.kind == Kind::Measured) else {
            desk.ledger.saw(delivery.id);
            return;
        };
        match desk.ledger.record(delivery.id) {
            Arrival::New | Arrival::Late => {
                self.counted += 1;
                self.replayed += u64::from(replayed);
                self.last_delivery = Some(now);
                let now_us = (now - self.zero).as_micros() as u64;
                self.latency
                    .saturating_record(now_us.saturating_sub(marker.sent_us).max(1));
            }
            Arrival::Duplicate => {}
        }
    }

    fn flush(&mut self, index: usize, now: Instant) {
        let Some(conn) = self.desks[index].conn.as_mut() else {
            return;
        };
        if let Err(why) = conn.flush() {
            self.lose(index, why, now);
        }
    }

    // ------------------------------------------------------------ sending

    fn send_interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.config.rate_per_sender)
    }

    /// Sends for every sender that is due, or skips its turn while it has no
    /// connection; returns the earliest next send.
    fn send_due(&mut self, now: Instant) -> Option<Instant> {
        let interval = self.send_interval();
        let mut earliest: Option<Instant> = None;
        for index in 0..self.desks.len() {
            let desk = &mut self.desks[index];
            if !desk.sender || desk.stage == Stage::Out {
                continue;
            }
            if take_turn(&mut desk.next_send, interval, now) {
                if desk.may_send() {
                    self.send(index, Kind::Measured, now);
                } else {
                    self.sends_skipped += 1;
                }
            }
            let next = self.desks[index].next_send;
            earliest = Some(earliest.map_or(next, |e| e.min(next)));
        }
        earliest
    }

    /// While warming up, the first open desk repeats a probe, so each desk
    /// sees a message once the server has registered it.
    fn send_probe(&mut self, now: Instant) {
        if now < self.next_probe {
            return;
        }
        self.next_probe = now + PROBE_INTERVAL;
        if let Some(index) = self.desks.iter().position(Desk::may_send) {
            self.send(index, Kind::Probe, now);
        }
    }

    /// Queues one marked message from desk `index` and tries to write it.
    fn send(&mut self, index: usize, kind: Kind, now: Instant) {
        let seq = match kind {
            Kind::Measured => {
                self.sent += 1;
                self.sent - 1
            }
            Kind::Probe => 0,
        };
        let marker = Marker {
            kind,
            run: self.run_id,
            seq,
            sender: index as u32,
            sent_us: (now - self.zero).as_micros() as u64,
        };
        let desk = &mut self.desks[index];
        if let Some(conn) = &mut desk.conn {
            conn.queue_say(&desk.name, &marker, self.config.payload_bytes);
        }
        self.flush(index, now);
    }

    fn note(&mut self, what: String) {
        *self.notes.entry(what).or_insert(0) += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_the_desk_and_its_connection() {
        for (index, generation) in [(0, 1), (4999, 2), (24_999, u32::MAX)] {
            assert_eq!(desk_of(token(index, generation)), (index, generation));
        }
        assert_ne!(token(3, 1), token(3, 2));
    }
}
