//! The steps of a comparison run as plain data: which workload, how many clients, at what rate,
//! for how long, against which server mode and room log. Nothing here spawns anything.
//!
//! Rates are TOTAL messages per second spread over the senders, so a bigger room means more
//! deliveries per message, not more messages; no sender goes above [`MAX_RATE_PER_SENDER`], so a
//! per-client rate limit in the server never shapes the result. Every workload runs against the
//! event server as shipped (its log in a SQLite file) and the threads baseline (room in memory);
//! the log's cost, TLS, Redis and the event-only scenarios add steps of their own ([`steps`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The two server designs under comparison: the mio event loop and the seed's thread per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerMode {
    Event,
    Threads,
}

impl ServerMode {
    /// Both modes, in the order they run and appear in tables.
    pub const BOTH: [ServerMode; 2] = [ServerMode::Event, ServerMode::Threads];
}

/// Displays unit variants by their serde name: the one in step ids, in the flags of chat-server
/// (`--mode`) and chat-load (its MODE), and in the CSV and JSON.
macro_rules! display_by_serde_name {
    ($($kind:ty),*) => {$(
        impl fmt::Display for $kind {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match serde_json::to_value(self) {
                    Ok(serde_json::Value::String(name)) => f.write_str(&name),
                    _ => Err(fmt::Error),
                }
            }
        }
    )*};
}

display_by_serde_name!(ServerMode, Ladder, Desks);

/// Where a step's server keeps the room's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomLog {
    /// A fresh SQLite file per step (`--db FILE`), deleted afterwards: the event server's default.
    File,
    /// In memory: the event server with `--db none`, and the threads server always.
    Memory,
    /// A Redis stream (`--redis URL --room NAME`) on the step's own `redis-server`, which one or
    /// more event servers share.
    Redis,
}

impl RoomLog {
    /// The log a mode runs the side-by-side comparison with: event as shipped, threads as it can.
    pub fn of(mode: ServerMode) -> RoomLog {
        match mode {
            ServerMode::Event => RoomLog::File,
            ServerMode::Threads => RoomLog::Memory,
        }
    }
}

/// Which part of the report a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ladder {
    /// Idle clients held open, one final broadcast: memory per connection.
    Idle,
    /// Fixed total message rate to a growing room: delivery, latency, throughput.
    Fanout,
    /// A rate the threads mode cannot shrug off: CPU per delivery.
    Saturate,
    /// The slow-reader pair: the fanout without, then with, a reader that never reads.
    SlowBaseline,
    SlowReader,
    /// Rounds of clients that connect, speak at once and vanish: memory left behind.
    Churn,
    /// The server SIGKILLed mid-run and restarted on its log: what the clients lost.
    Restart,
    /// The largest idle room, the target's fanout and the saturating step, every desk on TLS.
    TlsIdle,
    TlsFanout,
    TlsSaturate,
    /// TLS desks reconnecting at once, three times: first, resuming their sessions, without.
    TlsStorm,
    /// The fanout on a room whose log is Redis: one server, then two sharing it.
    Scale,
    /// The target's fanout spread over many small rooms (`chat-load --rooms`): what a room costs.
    Rooms,
    /// The fanout with IRC, browser and mixed desks next to ours ([`Desks`]).
    Dialects,
    /// Issue 17's search storm: desks searching as fast as they may while two others talk.
    SearchStorm,
    /// Issue 17's resume bomb: desks that resume the whole log and never read.
    ResumeBomb,
}

/// Which desks chat-load's clients are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Desks {
    #[default]
    Ours,
    /// IRC desks (`chat-load --irc`).
    Irc,
    /// Half IRC desks, half ours, interleaved in one room (`--irc-share 0.5`).
    Mixed,
    /// Browser desks: WebSocket frames (`--ws`).
    Ws,
}

impl Desks {
    fn is_ours(&self) -> bool {
        *self == Desks::Ours
    }

    /// chat-load's flags for these desks.
    pub fn load_flags(self) -> &'static [&'static str] {
        match self {
            Desks::Ours => &[],
            Desks::Irc => &["--irc"],
            Desks::Mixed => &["--irc-share", "0.5"],
            Desks::Ws => &["--ws"],
        }
    }

    /// What a desk of this kind may cost per delivery against ours (issues 19 and 20).
    pub fn cpu_target(self) -> Option<f64> {
        match self {
            Desks::Ours => None,
            Desks::Irc | Desks::Mixed => Some(1.2),
            Desks::Ws => Some(1.3),
        }
    }
}

/// The `chat-load` MODE argument: chat-load's own type, its serde name the one on its command line.
pub use chat_load::Mode as LoadMode;

/// The highest per-sender rate used anywhere; ten messages a second is already a fast typist
/// times ten, and keeps us clear of any per-client rate limit.
pub const MAX_RATE_PER_SENDER: f64 = 10.0;
/// Total message rate of the fanout ladder and the slow-reader pair (the issue's target:
/// 1000 clients x 200 msg/s = 200k deliveries/s).
pub const FANOUT_TOTAL_RATE: f64 = 200.0;
/// The fanout room of the issue's latency target; the log's cost and the TLS pairs are
/// measured at it too.
pub const FANOUT_TARGET_CLIENTS: u32 = 1000;
/// At most this many senders; the rest of the room only listens, as in an office.
pub const MAX_SENDERS: u32 = 100;
/// Message body size: a typical one-line chat message.
pub const PAYLOAD_BYTES: u32 = 64;
/// Message body size of the slow-reader pair. The server drops a reader once 256 KiB (its
/// default `--max-queue`) wait for it, but on loopback the server's kernel send buffer
/// autotunes up to `tcp_wmem` max (4 MiB) first, so a drop needs roughly 3 MB of backlog:
/// about 30 s at 200 msg/s of 512 B, minutes at 64 B. Bigger messages to 1000 clients would
/// saturate two cores and measure that instead. 512 B keeps the load moderate and makes the
/// backlog grow 8× faster than chat-sized lines; the baseline uses the same size so the two
/// runs differ only by the slow reader.
pub const SLOW_PAIR_PAYLOAD_BYTES: u32 = 512;
/// SO_RCVBUF of the slow reader: a small kernel buffer so the server-side queue, not the
/// kernel, is what fills up (an autotuned loopback buffer would swallow megabytes first).
pub const SLOW_READER_RCVBUF_BYTES: u32 = 4096;
/// Message body size of the resume bomb's log: issue 17's messages of about 400 bytes.
pub const RESUME_BOMB_PAYLOAD_BYTES: u32 = 400;
/// How many times each log-cost pair runs in the full ladder, log and `--db none` alternating.
/// On a shared 2-core box one run's p99 swings by half or more, far past the 15% the target
/// allows, so the report compares medians; alternating keeps a slow stretch of the machine from
/// landing on one side. `--quick` runs each pair once: it only proves the steps work.
pub const LOG_COST_RUNS: u32 = 3;

/// The sizes of a run, [`FULL`] or [`QUICK`]: rooms in clients, lengths in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// The idle rooms, held this long before the broadcast.
    pub idle: (&'static [u32], f64),
    /// The fanout rooms at [`FANOUT_TOTAL_RATE`], and how long every broadcast step sends.
    pub fanout: (&'static [u32], f64),
    /// The saturating step: clients and total msg/s.
    pub saturate: (u32, f64),
    /// The slow-reader pair: clients and seconds.
    pub slow: (u32, f64),
    /// The many-rooms step: clients and rooms.
    pub rooms: (u32, u32),
    /// The churn soak: clients a round, rounds, and the seconds after which it stops anyway.
    pub churn: (u32, u32, f64),
    /// The search storm: searchers, messages in the log, seconds.
    pub search_storm: (u32, u32, f64),
    /// The resume bomb: desks, messages in the log, seconds unread, and when after the close
    /// the server's RSS is read again.
    pub resume_bomb: (u32, u32, f64, f64),
    /// The restart scenario: clients, senders, total msg/s, seconds, and the kill and the time
    /// down (`--kill-at`, `--restart-after`).
    pub restart: (u32, u32, f64, f64, (f64, f64)),
    /// The idle room that also runs on TLS, and the handshake storm's desks.
    pub tls_idle: u32,
    /// The fanout room that also runs on Redis.
    pub scale: u32,
    /// The dialect rows' room (the mixed room holds twice as many) and seconds.
    pub dialects: (u32, f64),
    /// Runs of each log-cost pair.
    pub log_cost_runs: u32,
}

/// The full ladder: about 7.5 minutes on 2 cores (436 s on 2026-12-07: the TLS and Redis steps
/// about 70 s, the attacks 35 s, the IRC and browser desks 35 s).
pub const FULL: Sizes = Sizes {
    idle: (&[100, 1000, 5000, 10_000], 3.0),
    fanout: (&[100, FANOUT_TARGET_CLIENTS, 5000], 6.0),
    saturate: (500, 2000.0),
    slow: (FANOUT_TARGET_CLIENTS, 8.0),
    // Ten desks a room, one sender each.
    rooms: (FANOUT_TARGET_CLIENTS, 100),
    // The issue's soak ("rounds of hundreds of clients that connect, speak at once and vanish
    // leave the server's RSS 4 to 8 MB higher after 20 rounds and near 38 MB after 60"). The
    // event server does the 60 rounds in about 30 s; a round's 90,000 deliveries take the
    // threads mode about 3.6 s, so it stops after about 11 rounds instead of adding 3.5 minutes
    // to the run (the round under way is finished).
    churn: (300, 60, 40.0),
    // Issue 17's volumes; the RSS is read again 11 s after the close ("ten seconds after any
    // burst ends").
    search_storm: (20, 160_000, 10.0),
    resume_bomb: (1500, 2100, 10.0, 11.0),
    // As many desks as an office, all resuming at once; 800 messages, within what one
    // `/resume` reads back ([`chat_load::config::MAX_RESTART_MESSAGES`]). The kill halfway,
    // then a second down: long enough that every desk finds the port closed and backs off.
    restart: (500, 20, 80.0, 10.0, (5.0, 1.0)),
    tls_idle: 10_000,
    scale: FANOUT_TARGET_CLIENTS,
    dialects: (FANOUT_TARGET_CLIENTS, 6.0),
    log_cost_runs: LOG_COST_RUNS,
};

/// `--quick`: about 90 s on 2 cores (the attacks about 9 s of it); it only proves the steps work.
pub const QUICK: Sizes = Sizes {
    idle: (&[100, 1000], 1.0),
    fanout: (&[100, 500], 2.0),
    saturate: (200, 1000.0),
    // 5 s, not less: the reader must be sent more than its server queue
    // (256 KiB) and the kernel's buffers (~140 KB) hold, ~1,000 lines of 512 B,
    // or whether it is dropped depends on how much the kernel took.
    slow: (200, 5.0),
    rooms: (100, 10),
    churn: (100, 10, 20.0),
    search_storm: (5, 20_000, 2.0),
    resume_bomb: (200, 500, 1.0, 2.0),
    restart: (100, 10, 50.0, 3.0, (1.5, 0.5)),
    tls_idle: 1000,
    scale: 100,
    dialects: (100, 2.0),
    log_cost_runs: 1,
};

impl Sizes {
    /// [`QUICK`] or [`FULL`].
    pub fn of(quick: bool) -> Sizes {
        if quick {
            QUICK
        } else {
            FULL
        }
    }
}

/// One workload. Its fields are those of a step in `results.json`; the optional ones belong to
/// one scenario each and are left out of the file when unset, so older records read back as
/// they were written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    pub ladder: Ladder,
    pub load_mode: LoadMode,
    pub clients: u32,
    /// How many of the clients send (0 for the silent ones).
    pub senders: u32,
    pub rate_per_sender: f64,
    pub payload_bytes: u32,
    /// Readers that never read (slow mode only), each with [`SLOW_READER_RCVBUF_BYTES`].
    pub slow_clients: u32,
    /// Churn rounds of connect, speak once, vanish.
    pub rounds: Option<u32>,
    /// The restart's `--kill-at` (seconds into the measured phase) and `--restart-after`.
    pub kill_at_secs: Option<f64>,
    pub restart_after_secs: Option<f64>,
    /// The measured phase, `chat-load -d` (churn: its upper bound).
    pub duration_secs: f64,
    /// Rooms the clients are spread over (`chat-load --rooms`); `None`: all in `#main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<u32>,
    #[serde(default, skip_serializing_if = "Desks::is_ours")]
    pub desks: Desks,
    /// The attacks' log, filled before the attack (`--messages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_messages: Option<u32>,
    /// The resume bomb's second reading of the server's RSS, seconds after the desks close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_secs: Option<f64>,
}

impl Workload {
    /// `clients` that send nothing (the idle rooms, the storm, the attacks, whose desks keep
    /// their own pace) for `duration_secs`.
    fn new(ladder: Ladder, load_mode: LoadMode, clients: u32, duration_secs: f64) -> Workload {
        Workload {
            ladder,
            load_mode,
            clients,
            senders: 0,
            rate_per_sender: 0.0,
            payload_bytes: PAYLOAD_BYTES,
            slow_clients: 0,
            rounds: None,
            kill_at_secs: None,
            restart_after_secs: None,
            duration_secs,
            rooms: None,
            desks: Desks::Ours,
            log_messages: None,
            settle_secs: None,
        }
    }

    /// The same with `senders` of the clients sending `total_rate` msg/s between them.
    fn sending(mut self, senders: u32, total_rate: f64) -> Workload {
        (self.senders, self.rate_per_sender) = (senders, total_rate / f64::from(senders));
        self
    }

    /// A broadcast workload at `total_rate` msg/s, spread over as few senders as keep each one
    /// at or under `MAX_RATE_PER_SENDER`, but at least `min(clients, MAX_SENDERS)` of them.
    fn broadcast(ladder: Ladder, clients: u32, total_rate: f64, duration_secs: f64) -> Workload {
        let needed_for_rate = (total_rate / MAX_RATE_PER_SENDER).ceil() as u32;
        let senders = clients.min(MAX_SENDERS.max(needed_for_rate)).max(1);
        Workload::new(ladder, LoadMode::Fanout, clients, duration_secs).sending(senders, total_rate)
    }

    /// Messages per second offered by all senders together.
    pub fn total_rate(&self) -> f64 {
        f64::from(self.senders) * self.rate_per_sender
    }

    /// Deliveries per second if every message reached every client (its sender's echo included).
    pub fn offered_deliveries_per_sec(&self) -> f64 {
        self.total_rate() * f64::from(self.clients)
    }
}

/// One server start (or several sharing a Redis room): a workload against one mode and room
/// log. Its fields are those of a step in `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Position in the run, from 1, for progress lines and log names.
    pub number: usize,
    pub server_mode: ServerMode,
    pub room_log: RoomLog,
    /// Every desk speaks TLS to a server started with `--tls`.
    pub tls: bool,
    /// Servers sharing the room (more than one only on Redis); clients spread round robin.
    pub server_count: u32,
    /// Which run of this workload against this server and log, from 1 (the log-cost pairs).
    pub run: u32,
    #[serde(flatten)]
    pub workload: Workload,
}

impl Step {
    /// Stable id used in logs, CSV and JSON, e.g. `fanout-1000-event`, or
    /// `fanout-1000-event-db-none-2` for the second log-cost run without the log.
    pub fn id(&self) -> String {
        let w = &self.workload;
        let mut id = format!("{}-{}-{}", w.ladder, w.clients, self.server_mode);
        id += match self.room_log {
            RoomLog::Memory if self.server_mode == ServerMode::Event => "-db-none",
            RoomLog::Redis => "-redis",
            _ => "",
        };
        if self.server_count > 1 {
            id += &format!("-x{}", self.server_count);
        }
        if w.desks != Desks::Ours {
            id += &format!("-{}", w.desks);
        }
        if self.run > 1 {
            id += &format!("-{}", self.run);
        }
        id
    }

    /// Whether this is the step the side-by-side tables show: its mode with the log of
    /// [`RoomLog::of`], first run, one plain server.
    pub fn is_side_by_side(&self) -> bool {
        self.room_log == RoomLog::of(self.server_mode)
            && self.run == 1
            && !self.tls
            && self.server_count == 1
    }

    /// The server as the report names it, e.g. `event --db none (run 2)` or `2 × event --redis`.
    pub fn server_label(&self) -> String {
        let mut label = self.server_mode.to_string();
        if self.server_count > 1 {
            label = format!("{} × {label}", self.server_count);
        }
        label += match self.room_log {
            RoomLog::Memory if self.server_mode == ServerMode::Event => " --db none",
            RoomLog::Redis => " --redis",
            _ => "",
        };
        if self.tls {
            label += " --tls";
        }
        if self.run > 1 {
            label += &format!(" (run {})", self.run);
        }
        label
    }
}

/// The workloads of a run, in order.
pub fn workloads(quick: bool) -> Vec<Workload> {
    use Ladder::*;
    let s = Sizes::of(quick);
    let fanout =
        |ladder, clients, secs| Workload::broadcast(ladder, clients, FANOUT_TOTAL_RATE, secs);
    let ((idle, hold_secs), (rooms, secs)) = (s.idle, s.fanout);
    let hold = |&clients: &u32| Workload::new(Idle, LoadMode::Hold, clients, hold_secs);
    let mut list: Vec<Workload> = idle.iter().map(hold).collect();
    list.extend(rooms.iter().map(|&clients| fanout(Fanout, clients, secs)));
    let (clients, rate) = s.saturate;
    list.push(Workload::broadcast(Saturate, clients, rate, secs));

    let mut baseline = fanout(SlowBaseline, s.slow.0, s.slow.1);
    baseline.payload_bytes = SLOW_PAIR_PAYLOAD_BYTES;
    let mut slow = baseline.clone();
    (slow.ladder, slow.load_mode, slow.slow_clients) = (SlowReader, LoadMode::Slow, 1);
    let mut rooms = fanout(Rooms, s.rooms.0, secs);
    rooms.rooms = Some(s.rooms.1);

    let (clients, rounds, bound_secs) = s.churn;
    let mut churn =
        Workload::new(Churn, LoadMode::Churn, clients, bound_secs).sending(clients, 0.0);
    churn.rounds = Some(rounds);

    let (searchers, messages, storm_secs) = s.search_storm;
    let mut search = Workload::new(SearchStorm, LoadMode::SearchStorm, searchers, storm_secs);
    search.log_messages = Some(messages);

    let (desks, messages, unread_secs, settle_secs) = s.resume_bomb;
    let mut bomb = Workload::new(ResumeBomb, LoadMode::ResumeBomb, desks, unread_secs);
    bomb.payload_bytes = RESUME_BOMB_PAYLOAD_BYTES;
    (bomb.log_messages, bomb.settle_secs) = (Some(messages), Some(settle_secs));

    let (clients, senders, rate, restart_secs, (kill_at, down)) = s.restart;
    let mut restart = Workload::new(Restart, LoadMode::Restart, clients, restart_secs);
    restart = restart.sending(senders, rate);
    (restart.kill_at_secs, restart.restart_after_secs) = (Some(kill_at), Some(down));

    // The storms, not a duration, decide the storm's length.
    let storm = Workload::new(TlsStorm, LoadMode::Storm, s.tls_idle, 0.0);
    list.extend([baseline, slow, rooms, churn, search, bomb, restart, storm]);

    // Ours, IRC and browser desks, and a room of twice the size with IRC desks and ours half
    // and half, next to ours in a room of that size.
    let (clients, secs) = s.dialects;
    let dialects = [(1, Desks::Ours), (1, Desks::Irc), (1, Desks::Ws)];
    let dialects = dialects
        .into_iter()
        .chain([(2, Desks::Ours), (2, Desks::Mixed)]);
    list.extend(dialects.map(|(times, desks)| Workload {
        desks,
        ..fanout(Dialects, times * clients, secs)
    }));
    list
}

/// The steps of one workload, in order (not numbered yet): event with its log, then threads.
/// The log's cost (the fanout target's room and the saturating step) alternates event on its
/// log, with `--db none` and on TLS, `log_cost_runs` times, before threads. The largest idle
/// room also runs on TLS; the Redis size's fanout also on one and on two servers sharing a
/// Redis stream. The threads server is the seed's, which has one room, and speaks neither IRC
/// nor WebSocket, and the attacks and the restart measure this tree's server: those run against
/// event only. TLS runs and Redis rooms go to ladders of their own, so the side-by-side tables
/// and the log's cost never mix them in.
fn steps_of(workload: &Workload, sizes: &Sizes) -> Vec<Step> {
    use Ladder::*;
    let (ladder, clients) = (workload.ladder, workload.clients);
    let step = |server_mode, room_log, tls, server_count, run| {
        let mut workload = workload.clone();
        workload.ladder = match (room_log, tls, ladder) {
            (RoomLog::Redis, _, _) => Scale,
            (_, true, Idle) => TlsIdle,
            (_, true, Fanout) => TlsFanout,
            (_, true, Saturate) => TlsSaturate,
            _ => ladder,
        };
        let number = 0;
        Step {
            number,
            server_mode,
            room_log,
            tls,
            server_count,
            run,
            workload,
        }
    };
    let event = |log, run| step(ServerMode::Event, log, false, 1, run);
    let event_tls = |run| step(ServerMode::Event, RoomLog::File, true, 1, run);
    let threads = step(ServerMode::Threads, RoomLog::Memory, false, 1, 1);
    let log_cost = ladder == Saturate || (ladder == Fanout && clients == FANOUT_TARGET_CLIENTS);
    let mut steps = match ladder {
        Restart | Rooms | Dialects | SearchStorm | ResumeBomb => vec![event(RoomLog::File, 1)],
        TlsStorm => vec![event_tls(1)],
        _ if log_cost => (1..=sizes.log_cost_runs)
            .flat_map(|run| {
                [
                    event(RoomLog::File, run),
                    event(RoomLog::Memory, run),
                    event_tls(run),
                ]
            })
            .chain([threads])
            .collect(),
        Idle if clients == sizes.tls_idle => vec![event(RoomLog::File, 1), threads, event_tls(1)],
        _ => vec![event(RoomLog::File, 1), threads],
    };
    if ladder == Fanout && clients == sizes.scale {
        steps.extend([1, 2].map(|count| step(ServerMode::Event, RoomLog::Redis, false, count, 1)));
    }
    steps
}

/// Every workload against its servers, numbered from 1.
pub fn steps(quick: bool) -> Vec<Step> {
    workloads(quick)
        .iter()
        .flat_map(|workload| steps_of(workload, &Sizes::of(quick)))
        .zip(1..)
        .map(|(step, number)| Step { number, ..step })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fanout_1000_is_the_issue_target() {
        let load = Workload::broadcast(Ladder::Fanout, 1000, FANOUT_TOTAL_RATE, 6.0);
        assert_eq!(load.senders, 100);
        assert!((load.rate_per_sender - 2.0).abs() < 1e-9);
        assert!((load.offered_deliveries_per_sec() - 200_000.0).abs() < 1e-6);
    }

    #[test]
    fn small_room_has_every_client_send() {
        let load = Workload::broadcast(Ladder::Fanout, 50, FANOUT_TOTAL_RATE, 6.0);
        assert_eq!(load.senders, 50);
        assert!((load.total_rate() - 200.0).abs() < 1e-9);
    }

    #[test]
    fn saturating_rate_keeps_senders_under_cap() {
        let load = Workload::broadcast(Ladder::Saturate, 500, 2000.0, 6.0);
        assert!(load.rate_per_sender <= MAX_RATE_PER_SENDER);
        assert!((load.total_rate() - 2000.0).abs() < 1e-9);
    }

    #[test]
    fn slow_pair_differs_only_by_the_slow_reader() {
        let list = workloads(false);
        let base = list
            .iter()
            .find(|w| w.ladder == Ladder::SlowBaseline)
            .unwrap();
        let slow = list
            .iter()
            .find(|w| w.ladder == Ladder::SlowReader)
            .unwrap();
        assert_eq!(base.clients, slow.clients);
        assert_eq!(base.total_rate(), slow.total_rate());
        assert_eq!(base.payload_bytes, slow.payload_bytes);
        assert_eq!(base.duration_secs, slow.duration_secs);
        assert_eq!(slow.slow_clients, 1);
        assert_eq!(base.slow_clients, 0);
    }

    #[test]
    fn churn_soak_is_the_issue_s_rounds() {
        let list = workloads(false);
        let churn = list.iter().find(|w| w.ladder == Ladder::Churn).unwrap();
        assert_eq!(churn.ladder, Ladder::Churn);
        assert_eq!((churn.clients, churn.rounds), (300, Some(60)));
        assert_eq!(churn.senders, churn.clients);
        let quick = workloads(true);
        let quick_churn = quick.iter().find(|w| w.ladder == Ladder::Churn).unwrap();
        assert_eq!(quick_churn.rounds, Some(10));
    }

    #[test]
    fn every_workload_runs_in_both_modes_event_with_its_log() {
        let steps = steps(true);
        assert_eq!(
            (steps[0].server_mode, steps[0].room_log),
            (ServerMode::Event, RoomLog::File)
        );
        assert_eq!(
            (steps[1].server_mode, steps[1].room_log),
            (ServerMode::Threads, RoomLog::Memory)
        );
        assert_eq!(steps[1].number, 2);
        for workload in workloads(false) {
            let steps = steps_of(&workload, &FULL);
            let server = |s: &Step| (s.server_mode, s.room_log, s.tls, s.run);
            let event = (ServerMode::Event, RoomLog::File, false, 1);
            if workload.ladder == Ladder::TlsStorm {
                assert_eq!(
                    server(&steps[0]),
                    (ServerMode::Event, RoomLog::File, true, 1)
                );
                continue;
            }
            assert_eq!(server(&steps[0]), event);
            let event_only = [
                Ladder::Restart,
                Ladder::Rooms,
                Ladder::Dialects,
                Ladder::SearchStorm,
                Ladder::ResumeBomb,
            ];
            if !event_only.contains(&workload.ladder) {
                let threads = (ServerMode::Threads, RoomLog::Memory, false, 1);
                assert!(steps.iter().any(|s| server(s) == threads));
            }
        }
    }

    #[test]
    fn the_log_cost_alternates_log_and_none_for_fanout_1000_and_saturation() {
        let ids = |quick| -> Vec<String> {
            steps(quick)
                .iter()
                .filter(|s| !s.is_side_by_side() && !s.tls && s.room_log != RoomLog::Redis)
                .map(Step::id)
                .collect()
        };
        assert_eq!(
            ids(false),
            [
                "fanout-1000-event-db-none",
                "fanout-1000-event-2",
                "fanout-1000-event-db-none-2",
                "fanout-1000-event-3",
                "fanout-1000-event-db-none-3",
                "saturate-500-event-db-none",
                "saturate-500-event-2",
                "saturate-500-event-db-none-2",
                "saturate-500-event-3",
                "saturate-500-event-db-none-3",
            ]
        );
        assert_eq!(ids(true), ["saturate-200-event-db-none"]);
        let second = steps(false)
            .into_iter()
            .find(|s| s.id() == "fanout-1000-event-db-none-2")
            .unwrap();
        assert_eq!(second.server_label(), "event --db none (run 2)");
    }

    #[test]
    fn the_many_rooms_step_spreads_the_fanout_over_rooms_once_against_event() {
        for (quick, clients, rooms) in [
            (false, FANOUT_TARGET_CLIENTS, 100),
            (true, QUICK.rooms.0, QUICK.rooms.1),
        ] {
            let steps: Vec<Step> = steps(quick)
                .into_iter()
                .filter(|s| s.workload.ladder == Ladder::Rooms)
                .collect();
            assert_eq!(steps.len(), 1);
            let step = &steps[0];
            assert_eq!(step.id(), format!("rooms-{clients}-event"));
            assert_eq!(
                (step.workload.clients, step.workload.rooms),
                (clients, Some(rooms))
            );
            assert_eq!(step.workload.total_rate(), FANOUT_TOTAL_RATE);
            // Every room has a sender.
            assert!(step.workload.senders >= rooms);
        }
        let plain = workloads(false);
        assert!(plain
            .iter()
            .filter(|w| w.ladder != Ladder::Rooms)
            .all(|w| w.rooms.is_none()));
    }

    #[test]
    fn restart_runs_once_against_event_within_one_replay() {
        for quick in [false, true] {
            let restarts: Vec<Step> = steps(quick)
                .into_iter()
                .filter(|s| s.workload.ladder == Ladder::Restart)
                .collect();
            assert_eq!(restarts.len(), 1);
            let step = &restarts[0];
            assert_eq!(
                (step.server_mode, step.room_log),
                (ServerMode::Event, RoomLog::File)
            );
            let load = &step.workload;
            assert!(load.kill_at_secs.unwrap() < load.duration_secs);
            assert!(
                load.total_rate() * load.duration_secs <= chat_load::config::MAX_RESTART_MESSAGES
            );
            assert!(load.rate_per_sender <= MAX_RATE_PER_SENDER);
        }
    }

    #[test]
    fn tls_runs_alternate_with_plain_ones_in_their_own_ladders() {
        let ids = |quick| -> Vec<String> {
            steps(quick)
                .iter()
                .filter(|s| s.tls)
                .map(Step::id)
                .collect()
        };
        assert_eq!(
            ids(false),
            [
                "tls-idle-10000-event",
                "tls-fanout-1000-event",
                "tls-fanout-1000-event-2",
                "tls-fanout-1000-event-3",
                "tls-saturate-500-event",
                "tls-saturate-500-event-2",
                "tls-saturate-500-event-3",
                "tls-storm-10000-event",
            ]
        );
        assert_eq!(
            ids(true),
            [
                "tls-idle-1000-event",
                "tls-saturate-200-event",
                "tls-storm-1000-event"
            ]
        );
        let all = steps(false);
        let at = |id: &str| all.iter().position(|s| s.id() == id).unwrap();
        assert!(at("saturate-500-event-db-none-2") < at("tls-saturate-500-event-2"));
        assert!(at("tls-saturate-500-event-2") < at("saturate-500-event-3"));
        let tls = &all[at("tls-saturate-500-event")];
        assert_eq!(tls.server_label(), "event --tls");
        assert!(!tls.is_side_by_side());
    }

    #[test]
    fn redis_rows_run_one_and_two_servers_at_the_scale_size() {
        for (quick, size) in [(false, FANOUT_TARGET_CLIENTS), (true, QUICK.scale)] {
            let redis: Vec<Step> = steps(quick)
                .into_iter()
                .filter(|s| s.room_log == RoomLog::Redis)
                .collect();
            let ids: Vec<String> = redis.iter().map(Step::id).collect();
            assert_eq!(
                ids,
                [
                    format!("scale-{size}-event-redis"),
                    format!("scale-{size}-event-redis-x2")
                ]
            );
            assert_eq!(redis[1].server_label(), "2 × event --redis");
            assert!(redis.iter().all(|s| s.workload.ladder == Ladder::Scale));
        }
    }

    #[test]
    fn dialect_rows_run_once_against_event_beside_ours() {
        for (quick, size) in [(false, FANOUT_TARGET_CLIENTS), (true, QUICK.dialects.0)] {
            let rows: Vec<Step> = steps(quick)
                .into_iter()
                .filter(|s| s.workload.ladder == Ladder::Dialects)
                .collect();
            let ids: Vec<String> = rows.iter().map(Step::id).collect();
            let double = 2 * size;
            assert_eq!(
                ids,
                [
                    format!("dialects-{size}-event"),
                    format!("dialects-{size}-event-irc"),
                    format!("dialects-{size}-event-ws"),
                    format!("dialects-{double}-event"),
                    format!("dialects-{double}-event-mixed"),
                ]
            );
            assert!(rows.iter().all(|s| s.room_log == RoomLog::File));
            let rates: Vec<f64> = rows.iter().map(|s| s.workload.total_rate()).collect();
            assert!(rates.iter().all(|r| (r - FANOUT_TOTAL_RATE).abs() < 1e-9));
        }
        assert_eq!(Desks::Mixed.load_flags(), ["--irc-share", "0.5"]);
        assert_eq!(Desks::Ws.to_string(), "ws");
    }

    #[test]
    fn serde_names_are_the_names_in_ids_and_flags() {
        assert_eq!(Ladder::SlowBaseline.to_string(), "slow-baseline");
        assert_eq!(Ladder::TlsSaturate.to_string(), "tls-saturate");
        assert_eq!(serde_json::json!(LoadMode::SearchStorm), "search-storm");
        assert_eq!(ServerMode::Threads.to_string(), "threads");
        assert_eq!(serde_json::json!(RoomLog::Memory), "memory");
    }

    #[test]
    fn step_id_names_ladder_size_and_mode() {
        let step = &steps(false)[1];
        assert_eq!(step.id(), "idle-100-threads");
        assert_eq!(step.server_label(), "threads");
    }
}
