//! `chat-load`: a load generator for `chat-server`, many sockets from one
//! process (a few mio event loops, no thread per socket).
//!
//! # What it measures
//!
//! True end-to-end delivery: every load message carries a marker (run id,
//! global sequence number, sender, send time) in its TEXT, and every
//! receiving client scans the `MSG` lines it reads for it. Reported: clients
//! connected and connect failures (by errno), messages sent, deliveries
//! expected (per message, the reading clients the server had registered when
//! it was sent; never-reading slow clients excluded) and received, the
//! delivered fraction, deliveries/s, latency p50/p90/p99/p99.9/max in
//! microseconds, and with `--server-pid` the server's RSS (peak, end),
//! thread count and CPU seconds, sampled from /proc every 100 ms, and in
//! `churn --rounds` its RSS after every round.
//!
//! `restart` counts by message ID instead: it starts chat-server itself,
//! kills it with SIGKILL mid-run and starts it again on the same log; every
//! client resumes, and what each counted is checked against the log read
//! back at the end: deliveries lost, duplicated and out of order, and how
//! long clients were away.
//!
//! `search-storm` and `resume-bomb` are issue 17's attacks, each against a
//! chat-server it starts itself on a log it fills first, in a temporary
//! folder ([`attack`]): desks that `/search` as fast as the rate limit lets
//! them while two others talk (their latency, and what the searches got),
//! and desks that `/resume` the whole log and never read (the server's RSS
//! before, at the peak and after they close, and the desks it dropped);
//! `handshake-stall` is the bomb's TLS twin: connections that send a
//! ClientHello to a `--tls` server and nothing more.
//!
//! # How to run it
//!
//! ```text
//! cargo run --release -p chat-server -- --port 0 --idle-timeout 0   # note the port
//! cargo run --release -p chat-load -- fanout --addr 127.0.0.1:PORT -n 1000 --senders 100 --rate 2 -d 5
//! cargo run --release -p chat-load -- hold --addr 127.0.0.1:PORT -n 10000 -d 10 --json
//! cargo run --release -p chat-load -- fanout --addr 127.0.0.1:PORT -n 1000 --rooms 20 --senders 40 --rate 2 -d 5
//! cargo run --release -p chat-load -- churn --addr 127.0.0.1:PORT -n 300 --rounds 60 --server-pid PID
//! cargo run --release -p chat-load -- hold --tls --addr 127.0.0.1:PORT -n 10000 -d 3 --server-pid PID
//! cargo run --release -p chat-load -- fanout --addr 127.0.0.1:P1,127.0.0.1:P2 -n 1000 --server-pid PID1,PID2 --redis-pid RPID
//! cargo build --release -p chat-server   # restart starts the one next to chat-load
//! cargo run --release -p chat-load -- restart --db /tmp/restart.db -n 500 --senders 20 --rate 4 -d 10 --kill-at 5
//! cargo run --release -p chat-load -- storm --db /tmp/storm/room.db -n 10000
//! cargo run --release -p chat-load -- search-storm -n 20 --messages 160000 -d 10
//! cargo run --release -p chat-load -- resume-bomb -n 1500 --messages 2100 --payload 400
//! cargo run --release -p chat-load -- resume-bomb --server-bin OLD/chat-server   # before a fix
//! ```
//!
//! Modes: `hold`, `fanout`, `connect`, `churn`, `slow`, `restart`, `storm`,
//! `search-storm`, `resume-bomb`, `handshake-stall` (see `--help`).
//!
//! `storm` is about TLS handshakes: it starts chat-server `--tls` itself,
//! and N clients connect at once three times: first, after a restart with
//! the session tickets they were given, after another without; each
//! storm's handshake p50/p99, resumed count, and the CPU of the server and
//! of chat-load (see [`storm`]).
//!
//! `--irc`: every client is an IRC desk (see [`irc`]); `--irc-share F`
//! makes a fraction F of them IRC desks and the rest ours, interleaved, in
//! one run, so that one server CPU figure covers both and every delivery
//! between the two kinds is counted. `--ws`: every client is a browser desk
//! (see [`web`]). `--named` (fanout and hold): our desks and browser desks
//! take their names on connecting, as desks coming back, as IRC desks must
//! register (for costs side by side). `--rooms` is for our desks only.
//!
//! `--tls`: every client speaks TLS (see [`tls`]). `--addr A,B,...`: the
//! clients are spread over several servers round robin. Every run but
//! restart checks the order: each measured message must reach every
//! receiver under the same ID, and each receiver's IDs must increase
//! (`order` in the report; `receivers_differing == 0` is the pass).
//! `--rooms N` (fanout and hold): the clients are spread over N rooms of
//! the run, each message is owed to its room's members only and ordered
//! per room, and a message of the run seen outside its room is a leak
//! (`rooms.foreign_deliveries == 0` is the pass).
//!
//! # Bounds
//!
//! Loopback targets only (127.0.0.0/8 and ::1; names are resolved and every
//! address checked), else exit 2; restart's own server listens on 127.0.0.1
//! only and dies with chat-load, and its log is the file `--db` names, never
//! the server's default; the attacks' servers likewise, on a log in a
//! temporary folder of their own, deleted at the end. At most 500 000
//! clients and one hour of measuring; the open-file limit is raised to N + 64 or the run refuses to
//! start. Every phase has its own time limit and the whole run a hard
//! deadline (connect budget + warm-up + duration + drain + margins).
//! Connections spread over 127.0.0.x source addresses (`--source-ips`) to get
//! past the ~28k ephemeral ports of one address.
//!
//! # What it prints
//!
//! A progress line on stderr about once a second, then a human summary on
//! stdout, or with `--json` exactly one JSON object on stdout (the schema is
//! [`report::Report`]). Exit 0 when the run completed, whatever the delivery;
//! 1 when the tool failed; 2 on a bad command line.
//!
//! # Layout
//!
//! - [`run`] (here): which of the drivers below a mode runs on.
//! - [`config`]: flags, defaults, the loopback check.
//! - [`modes`]: what each mode asks of each client index.
//! - [`conn`]: one client connection, plain or TLS, the engine both drivers
//!   use; [`tls`] is `--tls`'s configuration, [`irc`] and [`web`] the
//!   dialects of `--irc` and `--ws`.
//! - [`coordinator`] and [`worker`]: the load modes: the phases, the
//!   merging of results, and the mio event loops that own the clients.
//! - [`restart`]: the restart scenario, on its own loop; [`server`] starts,
//!   kills and restarts chat-server for it; [`ledger`] does its accounting.
//! - [`storm`]: the handshake storms, on loops of their own over [`conn`],
//!   against a server [`server`] starts and restarts.
//! - [`search_storm`], [`resume_bomb`] and [`handshake_stall`]: issue 17's
//!   attacks, on blocking sockets and threads; [`attack`] is what they
//!   share: the attacked server, its log filled first, the desks, the
//!   memory around a burst.
//! - [`common`]: what the drivers share: the run's id, the fd limit, the
//!   phases' time limits, the send schedule, progress on stderr.
//! - [`marker`]: message texts with markers; classifying received lines.
//! - [`stats`]: latency histograms and /proc sampling.
//! - [`report`]: the JSON report and the human summary.

use std::fmt;

pub mod attack;
pub mod common;
pub mod config;
pub mod conn;
pub mod coordinator;
pub mod handshake_stall;
pub mod irc;
pub mod ledger;
pub mod marker;
pub mod modes;
pub mod report;
pub mod restart;
pub mod resume_bomb;
pub mod search_storm;
pub mod server;
pub mod stats;
pub mod storm;
pub mod tls;
pub mod web;
pub mod worker;

pub use config::{parse_args, usage, Config, Mode, UsageError};
pub use report::Report;

/// Runs one load test as `config` describes: the restart scenario, the
/// handshake storms, an attack, or one of the modes that load a server
/// someone else started.
pub fn run(config: &Config) -> Result<Report, Error> {
    if let Some(plan) = &config.restart {
        return restart::run(config, plan);
    }
    if let Some(plan) = &config.storm {
        return storm::run(config, plan);
    }
    if let Some(plan) = &config.attack {
        return match config.mode {
            Mode::SearchStorm => search_storm::run(config, plan),
            Mode::HandshakeStall => handshake_stall::run(config, plan),
            _ => resume_bomb::run(config, plan),
        };
    }
    coordinator::run(config)
}

/// Why a run could not be carried out (as opposed to a poor result, which is
/// a [`Report`]).
#[derive(Debug)]
pub enum Error {
    /// The open-file limit cannot be raised far enough.
    FdLimit {
        /// Descriptors the run needs.
        needed: u64,
        /// The limit that could be reached.
        limit: u64,
    },
    /// A system call the tool itself depends on failed.
    Io {
        /// What the tool was doing.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A worker thread failed.
    Worker(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::FdLimit { needed, limit } => write!(
                f,
                "need {needed} file descriptors but the limit is {limit}; lower --clients or raise the hard limit (ulimit -Hn)"
            ),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Worker(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
