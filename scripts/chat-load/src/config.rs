//! Command line: `chat-load MODE [options]` parsed with getopts into a
//! [`Config`], plus the loopback-only rule for the target address.
//!
//! Parsing is a pure function of the argument list (no sockets, no files) so
//! it is unit-tested directly; `main` maps a [`UsageError`] to exit code 2.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use getopts::Options;
use serde::{Deserialize, Serialize};

/// The address the seed server listened on.
const DEFAULT_ADDR: &str = "127.0.0.1:5002";

/// Most clients one run may open; far above what one host's fd limit allows
/// and there only to catch typos such as an extra zero.
const MAX_CLIENTS: usize = 500_000;

/// Longest measured phase. A load run longer than an hour is a soak test and
/// wants a different tool. Also the default bound of a churn run given in
/// `--rounds`, so that the rounds, not `-d`, decide its length.
const MAX_DURATION_SECS: f64 = 3600.0;

/// Most churn rounds one run may ask for; an hour of rounds is far fewer.
const MAX_ROUNDS: u32 = 100_000;

/// Connections one 127.0.0.x source address can make to one server port:
/// the default ephemeral range (32768-60999) holds ~28k ports, so 25k leaves
/// room for TIME_WAIT leftovers and other programs.
pub const CONNECTIONS_PER_SOURCE_IP: usize = 25_000;

/// Largest payload: the server's default line limit is 4096 bytes, and the
/// name and `<SEP>` travel in the same line.
const MAX_PAYLOAD_BYTES: usize = 4000;

/// Smallest payload accepted. Shorter payloads than the marker (about 40
/// bytes) are sent as the bare marker, see [`crate::marker`].
const MIN_PAYLOAD_BYTES: usize = 16;

/// Most measured messages a restart run may send (senders x rate x
/// duration). Its truth is the log read back with one `/resume`, which
/// replays at most 1,000 messages; the rest is room for warm-up probes.
pub const MAX_RESTART_MESSAGES: f64 = 900.0;

/// Longest a restart run may keep the server down.
const MAX_RESTART_AFTER_SECS: f64 = 60.0;

/// Most rooms `--rooms` may spread clients over: the server keeps at most
/// 1,000 rooms, `#main` among them.
pub const MAX_ROOMS: usize = 999;

/// Flags of the modes that load a server someone else started; restart,
/// storm and the attacks start their own, so these mean nothing there.
const RUNNING_SERVER_ONLY: [&str; 14] = [
    "addr",
    "tls",
    "irc",
    "irc-share",
    "ws",
    "server-pid",
    "redis-pid",
    "slow",
    "slow-rcvbuf",
    "lifetime",
    "rounds",
    "connect-rate",
    "source-ips",
    "threads",
];

/// Flags of the modes that start their own server on a log the user
/// names and the run keeps.
const KEPT_LOG_ONLY: [&str; 1] = ["db"];

/// Flags of restart mode only.
const RESTART_ONLY: [&str; 2] = ["kill-at", "restart-after"];

/// Flags of the modes that start their own server.
const OWN_SERVER_ONLY: [&str; 1] = ["server-bin"];

/// Flags of the attacks only.
const ATTACK_ONLY: [&str; 2] = ["messages", "server-arg"];

/// Flags the attacks have no use for: their desks' pace and texts are the
/// attack's own.
const NOT_FOR_ATTACKS: [&str; 3] = ["senders", "rate", "drain"];

/// Most messages an attack may fill its log with: a million fills in
/// about a minute and is six times the issue's search storm.
const MAX_ATTACK_MESSAGES: usize = 1_000_000;

/// When resume-bomb reads the server's memory the second time after the
/// close, by default: issue 17 asks for it "ten seconds after any burst
/// ends", and the first reading is at one second.
const DEFAULT_SETTLE_SECS: f64 = 11.0;

/// Longest `--settle`.
const MAX_SETTLE_SECS: f64 = 600.0;

/// Most searching desks: each is a thread of chat-load's.
const MAX_SEARCHERS: usize = 1000;

/// The server flags `--server-arg` may not name: chat-load chooses where
/// the attacked server listens and keeps its log.
const SERVER_FLAGS_OF_OURS: [&str; 6] = ["--host", "-H", "--port", "-p", "--db", "--redis"];

/// What a run does; see the crate docs for each mode's phases. Its serde name is
/// [`Mode::name`] (chat-compare writes it into its records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// N idle connections for T seconds, then one broadcast proves each alive.
    Hold,
    /// S of N clients send R msgs/s each for T seconds.
    Fanout,
    /// Open N connections at a given rate; measure connect latency.
    Connect,
    /// Clients connect, chat, vanish and are replaced, for T seconds; or,
    /// with `--rounds`, in rounds: all connect, each speaks once, all vanish.
    Churn,
    /// K clients never read while the others chat as in fanout.
    Slow,
    /// Fanout against a server chat-load starts itself, kills with SIGKILL
    /// mid-run and starts again on the same port and log; clients resume.
    Restart,
    /// N TLS clients connecting at once to a server chat-load starts
    /// itself, three times: first, after a restart with their session
    /// tickets, after another without.
    Storm,
    /// Issue 17's first attack, on a server chat-load starts: S desks
    /// `/search` as fast as the rate limit lets them while two others talk.
    SearchStorm,
    /// Issue 17's second attack, on a server chat-load starts: N desks
    /// `/resume` the whole log and never read.
    ResumeBomb,
    /// Issue 17's stalled handshakes, on a `--tls` server chat-load starts:
    /// N connections send a ClientHello and nothing more.
    HandshakeStall,
}

impl Mode {
    /// The name used on the command line and in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Hold => "hold",
            Mode::Fanout => "fanout",
            Mode::Connect => "connect",
            Mode::Churn => "churn",
            Mode::Slow => "slow",
            Mode::Restart => "restart",
            Mode::Storm => "storm",
            Mode::SearchStorm => "search-storm",
            Mode::ResumeBomb => "resume-bomb",
            Mode::HandshakeStall => "handshake-stall",
        }
    }

    /// The attacks of issue 17: a server and a log of their own, desks of
    /// their own (see [`crate::attack`]).
    pub fn is_attack(self) -> bool {
        matches!(
            self,
            Mode::SearchStorm | Mode::ResumeBomb | Mode::HandshakeStall
        )
    }

    /// Starts the server it loads, on 127.0.0.1 and a free port.
    pub fn starts_own_server(self) -> bool {
        matches!(self, Mode::Restart | Mode::Storm) || self.is_attack()
    }

    fn from_name(name: &str) -> Option<Mode> {
        [
            Mode::Hold,
            Mode::Fanout,
            Mode::Connect,
            Mode::Churn,
            Mode::Slow,
            Mode::Restart,
            Mode::Storm,
            Mode::SearchStorm,
            Mode::ResumeBomb,
            Mode::HandshakeStall,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Which load to generate.
    pub mode: Mode,
    /// The server, always a loopback address; port 0 in restart mode, which
    /// starts its own server on a free port. The first of `addrs`.
    pub addr: SocketAddr,
    /// Every server `--addr` names (loopback, at least one); clients are
    /// spread over them round robin, client `i` to `addrs[i % len]`.
    pub addrs: Vec<SocketAddr>,
    /// Every client speaks TLS (`--tls`).
    pub tls: bool,
    /// The fraction of the clients that are IRC desks (`--irc`: 1,
    /// `--irc-share F`: F), interleaved with ours; 0 without.
    pub irc_share: f64,
    /// Every client is a browser desk (`--ws`).
    pub web: bool,
    /// What the user typed for `--addr`, for the report.
    pub addr_text: String,
    /// How many connections (concurrent ones, for churn).
    pub clients: usize,
    /// Length of the measured phase (hold: how long to stay idle).
    pub duration: Duration,
    /// How many clients send (fanout, slow, churn); 0 for hold and connect.
    pub senders: usize,
    /// Messages per second per sender.
    pub rate_per_sender: f64,
    /// Size in bytes of each message's TEXT.
    pub payload_bytes: usize,
    /// New connections per second; `None` opens them as fast as possible.
    pub connect_rate: Option<f64>,
    /// Clients that never read (slow mode only).
    pub slow_clients: usize,
    /// SO_RCVBUF for the slow clients, to make them fill up sooner.
    pub slow_rcvbuf: Option<usize>,
    /// Mean lifetime of one churn connection (churn without `--rounds`).
    pub churn_lifetime: Duration,
    /// Churn in this many rounds instead of by lifetime; `None` otherwise.
    pub rounds: Option<u32>,
    /// How many 127.0.0.x source addresses to spread connections over.
    pub source_ips: usize,
    /// The server process to watch in /proc, if given: the first of
    /// `server_pids`.
    pub server_pid: Option<u32>,
    /// Every server process to watch (`--server-pid A,B`), in order.
    pub server_pids: Vec<u32>,
    /// A Redis server to watch the same way (`--redis-pid`).
    pub redis_pid: Option<u32>,
    /// Longest wait for in-flight deliveries after sending stops.
    pub drain: Duration,
    /// Event-loop threads.
    pub threads: usize,
    /// `--rooms N`: every client takes its name and enters one of N rooms
    /// of this run (client `i` the room `i % N`), and messages go to rooms,
    /// not `#main`; `None`: everyone in `#main`, as the seed's desks.
    pub rooms: Option<usize>,
    /// `--named` (or `--rooms`): every client takes its name on connecting,
    /// as a desk does, instead of staying an anonymous reader.
    pub named: bool,
    /// `--newcomers` (with `--named`): the names are taken as a desk's
    /// first arrival, announced to `#main`, not as desks coming back.
    pub newcomers: bool,
    /// Print one JSON object on stdout instead of the human summary.
    pub json: bool,
    /// No progress lines on stderr.
    pub quiet: bool,
    /// Restart mode's server and its schedule.
    pub restart: Option<RestartPlan>,
    /// Storm mode's server.
    pub storm: Option<StormPlan>,
    /// An attack's server and log.
    pub attack: Option<AttackPlan>,
}

/// The server an attack starts and the log it fills first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackPlan {
    /// The chat-server binary; `None`: the one next to chat-load.
    pub server_bin: Option<PathBuf>,
    /// Messages in the log before the attack.
    pub messages: usize,
    /// More flags for the attacked server (`--server-arg`, one each).
    pub server_args: Vec<String>,
    /// Resume-bomb: after the close, when the server's memory is read the
    /// second time (`--settle`; the first reading is at 1 s).
    pub settle: Duration,
}

/// What restart mode starts, and when it kills and restarts it.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPlan {
    /// The chat-server binary; `None`: the one next to chat-load.
    pub server_bin: Option<PathBuf>,
    /// The room's log the server keeps (`--db`); the run writes it and
    /// leaves it.
    pub db: PathBuf,
    /// Into the measured phase, when the server gets SIGKILL.
    pub kill_at: Duration,
    /// How long it stays down before it is started again.
    pub restart_after: Duration,
}

/// What storm mode starts.
#[derive(Debug, Clone, PartialEq)]
pub struct StormPlan {
    /// The chat-server binary; `None`: the one next to chat-load.
    pub server_bin: Option<PathBuf>,
    /// The room's log the server keeps (`--db`); its certificate and ticket
    /// keys are kept beside it, so they survive the restarts.
    pub db: PathBuf,
}

/// A bad command line: printed as one line, then the usage, exit 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// `--help` was asked for; not an error, but it ends parsing the same way.
    Help,
    /// Anything else, as a sentence.
    Invalid(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Help => f.write_str("help requested"),
            UsageError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for UsageError {}

fn invalid(why: impl Into<String>) -> UsageError {
    UsageError::Invalid(why.into())
}

fn options() -> Options {
    let mut opts = Options::new();
    opts.optopt(
        "",
        "addr",
        "server address, loopback only (default 127.0.0.1:5002); several, comma-separated, spread the clients over them round robin",
        "HOST:PORT[,HOST:PORT...]",
    );
    opts.optopt(
        "n",
        "clients",
        "connections to open (churn: kept open at once) (default 100)",
        "N",
    );
    opts.optopt(
        "d",
        "duration",
        "seconds of the measured phase; hold: idle time; connect: upper bound (default 10)",
        "SECS",
    );
    opts.optopt(
        "",
        "senders",
        "clients that send (fanout/slow/restart default N/10, churn default N)",
        "S",
    );
    opts.optopt(
        "",
        "rate",
        "messages per second per sender (default 1; server limit is 20)",
        "R",
    );
    opts.optopt(
        "",
        "payload",
        "bytes of TEXT per message, 16-4000 (default 64; resume-bomb: of each message in its log, default 400)",
        "B",
    );
    opts.optopt(
        "",
        "connect-rate",
        "new connections per second (connect default 1000, others unpaced)",
        "C",
    );
    opts.optopt(
        "",
        "slow",
        "slow mode: clients that never read (default 1)",
        "K",
    );
    opts.optopt(
        "",
        "slow-rcvbuf",
        "slow mode: SO_RCVBUF of the slow clients",
        "BYTES",
    );
    opts.optopt(
        "",
        "lifetime",
        "churn: mean seconds one connection lives (default 2)",
        "SECS",
    );
    opts.optopt(
        "",
        "rounds",
        "churn in K rounds: each round the N clients connect, each sends one message, all close; -d still bounds the run (default then 3600)",
        "K",
    );
    opts.optopt(
        "",
        "source-ips",
        "spread over 127.0.0.1..K as source (default ceil(N/25000))",
        "K",
    );
    opts.optopt(
        "",
        "server-pid",
        "sample this process's RSS, threads and CPU from /proc; several, comma-separated, for several servers",
        "PID[,PID...]",
    );
    opts.optopt(
        "",
        "redis-pid",
        "sample this Redis server's RSS, threads and CPU the same way",
        "PID",
    );
    opts.optopt(
        "",
        "rooms",
        "fanout and hold: spread the clients over N rooms of this run (client i in room i mod N, so senders too); each takes its name and enters its room, messages go to rooms, and each receiver checks it got its room's messages only, in the room's order (at most 999)",
        "N",
    );
    opts.optflag(
        "",
        "named",
        "fanout and hold: every client takes its name on connecting, as with --rooms, and stays in #main alone (the baseline --rooms is compared with; IRC desks register anyway)",
    );
    opts.optflag(
        "",
        "newcomers",
        "with --named: each name is taken as a desk arriving for the first time (a plain /join, its JOIN told to everyone in #main, as an IRC registration is), not as a desk coming back with its secret (unannounced)",
    );
    opts.optopt(
        "",
        "drain",
        "max seconds to wait for deliveries after sending stops (default 3)",
        "SECS",
    );
    opts.optopt(
        "",
        "threads",
        "event-loop threads (default: cores, at most 4)",
        "T",
    );
    opts.optopt(
        "",
        "server-bin",
        "restart, storm, search-storm, resume-bomb, handshake-stall: the chat-server to start (default: the one next to chat-load)",
        "PATH",
    );
    opts.optopt(
        "",
        "messages",
        "search-storm, resume-bomb: messages in the log before the attack (default 160000; 2100)",
        "M",
    );
    opts.optopt(
        "",
        "settle",
        "resume-bomb, handshake-stall: seconds after the desks close of the second RSS reading (default 11; the first is at 1 s)",
        "SECS",
    );
    opts.optmulti(
        "",
        "server-arg",
        "search-storm, resume-bomb, handshake-stall: one more flag for the attacked server, e.g. --server-arg=--queue-budget=32M (repeatable)",
        "ARG",
    );
    opts.optopt(
        "",
        "db",
        "restart, storm: the room's log file the server keeps (its --db; required, never none; kept after the run)",
        "PATH",
    );
    opts.optopt(
        "",
        "kill-at",
        "restart: seconds into the measured phase when the server gets SIGKILL (default -d/2)",
        "SECS",
    );
    opts.optopt(
        "",
        "restart-after",
        "restart: seconds the server stays down before it starts again (default 1)",
        "SECS",
    );
    opts.optflag(
        "",
        "tls",
        "every client speaks TLS (any certificate accepted, signatures checked; no session resumption); not in slow mode",
    );
    opts.optflag(
        "",
        "irc",
        "every client is an IRC desk: CAP REQ message-tags echo-message, NICK, USER, then PRIVMSG #main; not in slow mode",
    );
    opts.optopt(
        "",
        "irc-share",
        "this fraction of the clients are IRC desks, interleaved with ours (0.5: every other one), in one run",
        "F",
    );
    opts.optflag(
        "",
        "ws",
        "every client is a browser desk: GET /ws upgraded to a WebSocket, then our lines in masked text frames; not in slow mode",
    );
    opts.optflag("", "json", "print one JSON object on stdout, nothing else");
    opts.optflag("q", "quiet", "no progress lines on stderr");
    opts.optflag("h", "help", "print this help");
    opts
}

/// The full `--help` text.
pub fn usage() -> String {
    let brief = "\
Usage: chat-load MODE [options]

Load generator for chat-server, loopback targets only. MODE is one of:
  hold     open N idle connections, wait -d seconds, then one broadcast;
           reports how many of N received it (hold.alive)
  fanout   S of N clients each send R msgs/s of B bytes for -d seconds;
           reports end-to-end deliveries and latency
  connect  open N connections at --connect-rate per second (stops at -d);
           reports connect latency, failures, then an alive broadcast
  churn    N slots; each connection chats at R msgs/s, leaves after about
           --lifetime seconds and is replaced, for -d seconds; or with
           --rounds K: K times, N clients connect, each sends one message at
           once, all close without /quit; with --server-pid, the server's
           RSS after every round (churn.rounds)
  slow     like fanout, but K clients never read; reports the others'
           deliveries and whether the server dropped the slow ones
  restart  fanout against a chat-server it starts itself (127.0.0.1, a free
           port, --db PATH, --idle-timeout 0); every client joins and keeps
           the ID of each message it counts; the server gets SIGKILL at
           --kill-at and starts again on the same port and log after
           --restart-after; clients reconnect and /resume. The truth is the
           log, read back at the end: reports messages lost, duplicated and
           out of order after resume, and how long clients were away
  storm    N TLS clients connect at once (each sends /ping) to a chat-server
           --tls it starts itself (127.0.0.1, a free port, --db PATH, the
           certificate and ticket keys kept beside it), three times: first;
           after a restart, offering their session tickets; after another,
           without them. Per storm: handshakes, how many resumed, handshake
           p50/p99, the server's CPU and chat-load's own
  search-storm  issue 17's search storm, on a chat-server it starts itself
           like restart (on a log in a temporary folder, deleted after):
           fills the log with --messages (160000) messages through a desk,
           then N (20) desks each send /search zebra quokka (two words that
           never meet) 20 times a second, the server's rate limit, for -d
           seconds while alice sends bob a line every 50 ms; reports
           alice->bob latency, how many of her lines arrived, and what the
           searchers got (answered, search-busy, search-too-broad)
  resume-bomb   issue 17's resume bomb, on its own chat-server likewise:
           fills the log with --messages (2100) messages of --payload (400)
           bytes, then N (1500) desks (SO_RCVBUF 4 KiB) join, send /resume
           EPOCH 0 and never read for -d seconds, then all close; reports
           the server's RSS before, at its peak, 1 s and --settle (11) s
           after the close, and how many desks the server dropped (by /who)
  handshake-stall  issue 17's stalled TLS handshakes, on its own chat-server
           started with --tls: N (2000) connections send a ClientHello and
           nothing more for -d seconds, then all close; reports the
           server's RSS as resume-bomb does, and how many connections the
           server had closed itself (its login timeout)

Exit status: 0 when the run completed (whatever the delivery), 1 when the
tool failed, 2 on a bad command line or a non-loopback address.";
    options().usage(brief)
}

/// Parses the arguments after the program name.
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Config, UsageError> {
    let args: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
    let matches = options()
        .parse(&args)
        .map_err(|err| invalid(err.to_string()))?;
    if matches.opt_present("help") {
        return Err(UsageError::Help);
    }
    let mode = match matches.free.as_slice() {
        [] => {
            return Err(invalid(
                "missing MODE (hold, fanout, connect, churn, slow, restart, storm, search-storm, resume-bomb or handshake-stall)",
            ))
        }
        [word] => Mode::from_name(word).ok_or_else(|| invalid(format!("unknown mode '{word}'")))?,
        [_, extra, ..] => return Err(invalid(format!("unexpected argument '{extra}'"))),
    };
    refuse_misplaced_flags(&matches, mode)?;

    let (addr_text, addrs) = if mode.starts_own_server() {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        (addr.to_string(), vec![addr])
    } else {
        let text = matches
            .opt_str("addr")
            .unwrap_or_else(|| DEFAULT_ADDR.to_string());
        let mut addrs = Vec::new();
        for one in text.split(',') {
            let one = one.trim();
            let resolved: Vec<SocketAddr> = one
                .to_socket_addrs()
                .map_err(|err| invalid(format!("cannot resolve --addr '{one}': {err}")))?
                .collect();
            addrs.push(pick_loopback(one, &resolved)?);
        }
        (text, addrs)
    };
    let addr = addrs[0];
    let tls = matches.opt_present("tls") || mode == Mode::Storm;
    if tls && mode == Mode::Slow {
        return Err(invalid(
            "--tls does not apply to slow mode: a client that never reads never finishes its handshake",
        ));
    }

    let irc_share = match optional_number::<f64>(&matches, "irc-share")? {
        Some(share) if !(share > 0.0 && share <= 1.0) => {
            return Err(invalid("--irc-share must be above 0 and at most 1"))
        }
        Some(share) => share,
        None if matches.opt_present("irc") => 1.0,
        None => 0.0,
    };
    let web = matches.opt_present("ws");
    if web && irc_share > 0.0 {
        return Err(invalid("--ws and --irc: one dialect a run"));
    }
    if (web || irc_share > 0.0) && mode == Mode::Slow {
        return Err(invalid(
            "--irc and --ws do not apply to slow mode: a client that never reads never registers or upgrades",
        ));
    }

    let default_clients = match mode {
        Mode::SearchStorm => 20,
        Mode::ResumeBomb => 1500,
        Mode::HandshakeStall => 2000,
        _ => 100,
    };
    let clients: usize = number(&matches, "clients", default_clients)?;
    if clients == 0 || clients > MAX_CLIENTS {
        return Err(invalid(format!("--clients must be 1..={MAX_CLIENTS}")));
    }
    let rounds = rounds(&matches, mode)?;
    let default_duration = if rounds.is_some() {
        MAX_DURATION_SECS
    } else {
        10.0
    };
    let duration_secs: f64 = number(&matches, "duration", default_duration)?;
    if !(duration_secs > 0.0 && duration_secs <= MAX_DURATION_SECS) {
        return Err(invalid(format!(
            "--duration must be above 0 and at most {MAX_DURATION_SECS} seconds"
        )));
    }

    let slow_clients = if mode == Mode::Slow {
        number(&matches, "slow", 1)?
    } else if matches.opt_present("slow") {
        return Err(invalid("--slow only applies to slow mode"));
    } else {
        0
    };
    if mode == Mode::Slow && (slow_clients == 0 || slow_clients >= clients) {
        return Err(invalid("--slow must be at least 1 and below --clients"));
    }
    let slow_rcvbuf = optional_number(&matches, "slow-rcvbuf")?;

    let readers = clients - slow_clients;
    let senders = match mode {
        Mode::Hold
        | Mode::Connect
        | Mode::Storm
        | Mode::SearchStorm
        | Mode::ResumeBomb
        | Mode::HandshakeStall => {
            if matches.opt_present("senders") || matches.opt_present("rate") {
                return Err(invalid(format!(
                    "--senders and --rate do not apply to {} mode",
                    mode.name()
                )));
            }
            0
        }
        Mode::Churn => number(&matches, "senders", clients)?,
        Mode::Fanout | Mode::Slow | Mode::Restart => {
            number(&matches, "senders", (readers / 10).max(1))?
        }
    };
    if senders > readers {
        return Err(invalid(format!(
            "--senders ({senders}) is more than the reading clients ({readers})"
        )));
    }
    let rate_per_sender: f64 = number(&matches, "rate", 1.0)?;
    if !(rate_per_sender > 0.0 && rate_per_sender <= 1000.0) {
        return Err(invalid("--rate must be above 0 and at most 1000"));
    }
    let default_payload = if mode == Mode::ResumeBomb { 400 } else { 64 };
    let payload_bytes: usize = number(&matches, "payload", default_payload)?;
    if !(MIN_PAYLOAD_BYTES..=MAX_PAYLOAD_BYTES).contains(&payload_bytes) {
        return Err(invalid(format!(
            "--payload must be {MIN_PAYLOAD_BYTES}..={MAX_PAYLOAD_BYTES} bytes"
        )));
    }
    let connect_rate = match optional_number::<f64>(&matches, "connect-rate")? {
        Some(rate) if !(rate > 0.0 && rate <= 1_000_000.0) => {
            return Err(invalid(
                "--connect-rate must be above 0 and at most 1000000",
            ))
        }
        Some(rate) => Some(rate),
        None if mode == Mode::Connect => Some(1000.0),
        None => None,
    };
    let lifetime_secs: f64 = number(&matches, "lifetime", 2.0)?;
    if !(0.05..=MAX_DURATION_SECS).contains(&lifetime_secs) {
        return Err(invalid("--lifetime must be 0.05..=3600 seconds"));
    }
    let auto_ips = clients.div_ceil(CONNECTIONS_PER_SOURCE_IP);
    let source_ips: usize = number(&matches, "source-ips", auto_ips)?;
    if !(1..=254).contains(&source_ips) {
        return Err(invalid("--source-ips must be 1..=254"));
    }
    if source_ips > 1 && addrs.iter().any(|a| !a.is_ipv4()) {
        return Err(invalid(
            "--source-ips above 1 needs an IPv4 target (IPv6 loopback is the single ::1)",
        ));
    }
    let server_pids: Vec<u32> = match matches.opt_str("server-pid") {
        None => Vec::new(),
        Some(text) => text
            .split(',')
            .map(|pid| {
                pid.trim()
                    .parse()
                    .map_err(|_| invalid(format!("--server-pid: '{pid}' is not a valid pid")))
            })
            .collect::<Result<_, _>>()?,
    };
    let server_pid = server_pids.first().copied();
    let redis_pid = optional_number(&matches, "redis-pid")?;
    let drain_secs: f64 = number(&matches, "drain", 3.0)?;
    if !(0.0..=60.0).contains(&drain_secs) {
        return Err(invalid("--drain must be 0..=60 seconds"));
    }
    let default_threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4);
    let threads: usize = number(&matches, "threads", default_threads)?;
    if !(1..=64).contains(&threads) {
        return Err(invalid("--threads must be 1..=64"));
    }
    let rooms = rooms(&matches, mode, clients)?;
    if rooms.is_some() && (web || irc_share > 0.0) {
        return Err(invalid(
            "--rooms is for our desks only: an IRC or browser desk stays in #main (no --irc, --irc-share or --ws)",
        ));
    }
    let named = matches.opt_present("named");
    if named && !matches!(mode, Mode::Fanout | Mode::Hold) {
        return Err(invalid("--named only applies to fanout and hold"));
    }
    let newcomers = matches.opt_present("newcomers");
    if newcomers && !named {
        return Err(invalid("--newcomers goes with --named"));
    }
    let duration = Duration::from_secs_f64(duration_secs);
    let restart = if mode == Mode::Restart {
        let messages = senders as f64 * rate_per_sender * duration_secs;
        if messages > MAX_RESTART_MESSAGES {
            return Err(invalid(format!(
                "restart reads the whole log back with one /resume, so at most {MAX_RESTART_MESSAGES} messages: \
                 --senders x --rate x -d is {messages:.0}"
            )));
        }
        if clients > CONNECTIONS_PER_SOURCE_IP {
            return Err(invalid(format!(
                "restart connects from one source address: --clients at most {CONNECTIONS_PER_SOURCE_IP}"
            )));
        }
        Some(restart_plan(&matches, duration)?)
    } else {
        None
    };
    let storm = if mode == Mode::Storm {
        if clients > CONNECTIONS_PER_SOURCE_IP {
            return Err(invalid(format!(
                "storm connects from one source address: --clients at most {CONNECTIONS_PER_SOURCE_IP}"
            )));
        }
        let (server_bin, db) = own_server(&matches, "storm")?;
        Some(StormPlan { server_bin, db })
    } else {
        None
    };
    let attack = if mode.is_attack() {
        Some(attack_plan(&matches, mode, clients)?)
    } else {
        None
    };

    Ok(Config {
        mode,
        addr,
        addrs,
        tls,
        irc_share,
        web,
        addr_text,
        clients,
        duration,
        senders,
        // Rounds: each sender sends once per round, at no rate.
        rate_per_sender: if senders == 0 || rounds.is_some() {
            0.0
        } else {
            rate_per_sender
        },
        payload_bytes,
        connect_rate,
        slow_clients,
        slow_rcvbuf,
        churn_lifetime: Duration::from_secs_f64(lifetime_secs),
        rounds,
        source_ips,
        server_pid,
        server_pids,
        redis_pid,
        drain: Duration::from_secs_f64(drain_secs),
        threads,
        rooms,
        named: named || rooms.is_some(),
        newcomers,
        json: matches.opt_present("json"),
        quiet: matches.opt_present("quiet"),
        restart,
        storm,
        attack,
    })
}

/// Refuses a flag the mode has no use for, saying where it belongs.
fn refuse_misplaced_flags(matches: &getopts::Matches, mode: Mode) -> Result<(), UsageError> {
    let groups: [(&[&str], &str, bool); 5] = [
        (
            &RUNNING_SERVER_ONLY,
            "modes that load a running server",
            !mode.starts_own_server(),
        ),
        (
            &KEPT_LOG_ONLY,
            "restart and storm modes",
            matches!(mode, Mode::Restart | Mode::Storm),
        ),
        (&RESTART_ONLY, "restart mode", mode == Mode::Restart),
        (
            &OWN_SERVER_ONLY,
            "restart, storm, search-storm, resume-bomb and handshake-stall",
            mode.starts_own_server(),
        ),
        (
            &ATTACK_ONLY,
            "search-storm, resume-bomb and handshake-stall",
            mode.is_attack(),
        ),
    ];
    for (flags, applies_to, applies) in groups {
        if let Some(flag) = flags.iter().find(|flag| matches.opt_present(flag)) {
            if !applies {
                return Err(invalid(format!("--{flag} only applies to {applies_to}")));
            }
        }
    }
    let pointless: &[&str] = match mode {
        // It speaks TLS, sends nothing but a `/ping`, and the storms decide its length.
        Mode::Storm => &["senders", "rate", "drain", "payload", "duration", "settle"],
        // Its texts are the attack's own words.
        Mode::SearchStorm => &["senders", "rate", "drain", "payload", "settle"],
        Mode::ResumeBomb => &NOT_FOR_ATTACKS,
        // No log to fill: the handshakes never get that far.
        Mode::HandshakeStall => &["senders", "rate", "drain", "payload", "messages"],
        _ => &["settle"],
    };
    if let Some(flag) = pointless.iter().find(|flag| matches.opt_present(flag)) {
        return Err(invalid(format!(
            "--{flag} does not apply to {} mode",
            mode.name()
        )));
    }
    Ok(())
}

/// An attack's flags: the log's size, the server and its extra flags,
/// which may not move it off loopback or onto another log.
fn attack_plan(
    matches: &getopts::Matches,
    mode: Mode,
    clients: usize,
) -> Result<AttackPlan, UsageError> {
    let (default_messages, most_clients) = match mode {
        Mode::SearchStorm => (160_000, MAX_SEARCHERS),
        Mode::HandshakeStall => (0, CONNECTIONS_PER_SOURCE_IP),
        _ => (2_100, CONNECTIONS_PER_SOURCE_IP),
    };
    if clients > most_clients {
        return Err(invalid(format!(
            "{} takes at most {most_clients} desks (--clients)",
            mode.name()
        )));
    }
    let messages: usize = number(matches, "messages", default_messages)?;
    if mode != Mode::HandshakeStall && !(1..=MAX_ATTACK_MESSAGES).contains(&messages) {
        return Err(invalid(format!(
            "--messages must be 1..={MAX_ATTACK_MESSAGES}"
        )));
    }
    let server_args = matches.opt_strs("server-arg");
    if let Some(ours) = server_args.iter().find(|arg| names_flag_of_ours(arg)) {
        return Err(invalid(format!(
            "--server-arg {ours}: chat-load chooses the attacked server's address and log"
        )));
    }
    let server_bin = server_bin(matches)?;
    let settle_secs: f64 = number(matches, "settle", DEFAULT_SETTLE_SECS)?;
    if !(settle_secs > 1.0 && settle_secs <= MAX_SETTLE_SECS) {
        return Err(invalid(format!(
            "--settle must be above 1 and at most {MAX_SETTLE_SECS} seconds"
        )));
    }
    Ok(AttackPlan {
        server_bin,
        messages,
        server_args,
        settle: Duration::from_secs_f64(settle_secs),
    })
}

/// Restart mode's flags: `--db` is a file the run may write (never the
/// server's default under the user's home, never `none`, which would forget
/// the room at the kill), and the kill falls inside the measured phase.
fn restart_plan(matches: &getopts::Matches, duration: Duration) -> Result<RestartPlan, UsageError> {
    let (server_bin, db) = own_server(matches, "restart")?;
    let kill_at_secs: f64 = number(matches, "kill-at", duration.as_secs_f64() / 2.0)?;
    if !(kill_at_secs > 0.0 && kill_at_secs < duration.as_secs_f64()) {
        return Err(invalid(
            "--kill-at must be above 0 and below -d: the kill falls inside the measured phase",
        ));
    }
    let restart_after_secs: f64 = number(matches, "restart-after", 1.0)?;
    if !(0.0..=MAX_RESTART_AFTER_SECS).contains(&restart_after_secs) {
        return Err(invalid(format!(
            "--restart-after must be 0..={MAX_RESTART_AFTER_SECS} seconds"
        )));
    }
    Ok(RestartPlan {
        server_bin,
        db,
        kill_at: Duration::from_secs_f64(kill_at_secs),
        restart_after: Duration::from_secs_f64(restart_after_secs),
    })
}

/// `--server-bin` and `--db` of a mode that starts its own server: the log
/// is a file the run may write (never the server's default under the
/// user's home, never `none`, which would forget the room, and the TLS
/// files with it, at a restart).
fn own_server(
    matches: &getopts::Matches,
    mode: &str,
) -> Result<(Option<PathBuf>, PathBuf), UsageError> {
    let db = match matches.opt_str("db").as_deref() {
        None => {
            return Err(invalid(format!(
                "{mode} needs --db PATH: a file for the room's log, which the run writes and keeps"
            )))
        }
        Some("") | Some("none") => {
            return Err(invalid(format!(
                "{mode} needs a durable log: --db must be a file path, not none"
            )))
        }
        Some(path) => PathBuf::from(path),
    };
    Ok((server_bin(matches)?, db))
}

/// `--server-bin`, if given.
fn server_bin(matches: &getopts::Matches) -> Result<Option<PathBuf>, UsageError> {
    match matches.opt_str("server-bin") {
        Some(path) if path.is_empty() => Err(invalid("--server-bin wants a path")),
        other => Ok(other.map(PathBuf::from)),
    }
}

/// Whether a `--server-arg` is one of [`SERVER_FLAGS_OF_OURS`], alone, with
/// `=VALUE`, or (a short one) with its value attached.
fn names_flag_of_ours(arg: &str) -> bool {
    SERVER_FLAGS_OF_OURS.iter().any(|flag| {
        let short = !flag.starts_with("--");
        arg == *flag || arg.starts_with(&format!("{flag}=")) || (short && arg.starts_with(flag))
    })
}

/// `--rounds`: churn mode only, and not with the flags of lifetime churn,
/// which it replaces (each client sends once, at once, and all leave together).
fn rounds(matches: &getopts::Matches, mode: Mode) -> Result<Option<u32>, UsageError> {
    let Some(rounds) = optional_number::<u32>(matches, "rounds")? else {
        return Ok(None);
    };
    if mode != Mode::Churn {
        return Err(invalid("--rounds only applies to churn mode"));
    }
    if !(1..=MAX_ROUNDS).contains(&rounds) {
        return Err(invalid(format!("--rounds must be 1..={MAX_ROUNDS}")));
    }
    if let Some(flag) = ["rate", "lifetime", "connect-rate"]
        .into_iter()
        .find(|flag| matches.opt_present(flag))
    {
        return Err(invalid(format!(
            "--{flag} does not apply to churn with --rounds"
        )));
    }
    Ok(Some(rounds))
}

/// `--rooms`: fanout and hold only (the modes whose clients stay put and
/// whose deliveries are counted per window), at least one client a room.
fn rooms(
    matches: &getopts::Matches,
    mode: Mode,
    clients: usize,
) -> Result<Option<usize>, UsageError> {
    let Some(rooms) = optional_number::<usize>(matches, "rooms")? else {
        return Ok(None);
    };
    if !matches!(mode, Mode::Fanout | Mode::Hold) {
        return Err(invalid("--rooms only applies to fanout and hold"));
    }
    if !(1..=MAX_ROOMS).contains(&rooms) {
        return Err(invalid(format!("--rooms must be 1..={MAX_ROOMS}")));
    }
    if rooms > clients {
        return Err(invalid(format!(
            "--rooms ({rooms}) is more than --clients ({clients}): every room needs a client"
        )));
    }
    Ok(Some(rooms))
}

fn number<T: std::str::FromStr>(
    matches: &getopts::Matches,
    name: &str,
    default: T,
) -> Result<T, UsageError> {
    Ok(optional_number(matches, name)?.unwrap_or(default))
}

fn optional_number<T: std::str::FromStr>(
    matches: &getopts::Matches,
    name: &str,
) -> Result<Option<T>, UsageError> {
    match matches.opt_str(name) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| invalid(format!("--{name}: '{text}' is not a valid number"))),
    }
}

/// True for 127.0.0.0/8, ::1 and IPv4-mapped 127.x addresses.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Chooses the address to load from what `--addr` resolved to. Every
/// resolved address must be loopback: this tool floods whatever it targets,
/// so a name that also points off the host is refused rather than guessed
/// around. IPv4 is preferred because only it can spread over source addresses.
pub fn pick_loopback(text: &str, resolved: &[SocketAddr]) -> Result<SocketAddr, UsageError> {
    if let Some(outside) = resolved.iter().find(|a| !is_loopback(a.ip())) {
        return Err(invalid(format!(
            "refusing --addr '{text}': {} is not a loopback address (only 127.0.0.0/8 and ::1)",
            outside.ip()
        )));
    }
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| resolved.first())
        .copied()
        .ok_or_else(|| invalid(format!("--addr '{text}' resolved to no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback_ok(text: &str) -> bool {
        let addr: SocketAddr = text.parse().expect("test address parses");
        pick_loopback(text, &[addr]).is_ok()
    }

    #[test]
    fn loopback_addresses_are_accepted() {
        assert!(loopback_ok("127.0.0.1:5002"));
        assert!(loopback_ok("127.5.6.7:80"));
        assert!(loopback_ok("[::1]:5002"));
        assert!(loopback_ok("[::ffff:127.0.0.1]:5002"));
    }

    #[test]
    fn other_addresses_are_refused() {
        assert!(!loopback_ok("10.0.0.1:5002"));
        assert!(!loopback_ok("192.168.1.2:5002"));
        assert!(!loopback_ok("8.8.8.8:53"));
        assert!(!loopback_ok("[2001:db8::1]:5002"));
    }

    #[test]
    fn mixed_resolution_is_refused() {
        let both = ["127.0.0.1:1".parse().unwrap(), "8.8.8.8:1".parse().unwrap()];
        assert!(pick_loopback("name", &both).is_err());
    }

    #[test]
    fn ipv4_preferred_when_both_resolve() {
        let both: [SocketAddr; 2] = ["[::1]:1".parse().unwrap(), "127.0.0.1:1".parse().unwrap()];
        assert_eq!(pick_loopback("localhost", &both).unwrap(), both[1]);
    }

    #[test]
    fn non_loopback_flag_is_a_usage_error() {
        let err = parse_args(&["fanout", "--addr", "10.0.0.1:5002"]).unwrap_err();
        assert!(err.to_string().contains("not a loopback"), "{err}");
    }

    #[test]
    fn defaults_for_fanout() {
        let config = parse_args(&["fanout", "-n", "1000"]).unwrap();
        assert_eq!(config.mode, Mode::Fanout);
        assert_eq!(config.addr, "127.0.0.1:5002".parse().unwrap());
        assert_eq!(config.senders, 100);
        assert_eq!(config.source_ips, 1);
        assert_eq!(config.connect_rate, None);
    }

    #[test]
    fn source_ips_auto_scale_with_clients() {
        let config = parse_args(&["hold", "-n", "60000"]).unwrap();
        assert_eq!(config.source_ips, 3);
    }

    #[test]
    fn missing_and_unknown_mode() {
        assert!(parse_args::<&str>(&[]).is_err());
        assert!(parse_args(&["dance"]).is_err());
    }

    #[test]
    fn bad_flag_and_bad_number() {
        assert!(parse_args(&["fanout", "--bogus"]).is_err());
        assert!(parse_args(&["fanout", "-n", "many"]).is_err());
        assert!(parse_args(&["fanout", "--payload", "5"]).is_err());
    }

    #[test]
    fn help_is_reported() {
        assert_eq!(parse_args(&["--help"]).unwrap_err(), UsageError::Help);
    }

    #[test]
    fn senders_refused_in_hold() {
        assert!(parse_args(&["hold", "--senders", "3"]).is_err());
    }

    #[test]
    fn rounds_bound_churn_and_lift_the_default_duration() {
        let config = parse_args(&["churn", "-n", "300", "--rounds", "60"]).unwrap();
        assert_eq!(config.rounds, Some(60));
        assert_eq!(config.senders, 300);
        assert_eq!(config.rate_per_sender, 0.0);
        assert_eq!(config.duration, Duration::from_secs(3600));
        let bounded = parse_args(&["churn", "--rounds", "60", "-d", "90"]).unwrap();
        assert_eq!(bounded.duration, Duration::from_secs(90));
        let plain = parse_args(&["churn"]).unwrap();
        assert_eq!(plain.rounds, None);
        assert_eq!(plain.duration, Duration::from_secs(10));
    }

    #[test]
    fn rounds_are_refused_outside_churn_and_with_lifetime_flags() {
        for args in [
            &["fanout", "--rounds", "3"][..],
            &["churn", "--rounds", "0"],
            &["churn", "--rounds", "many"],
            &["churn", "--rounds", "3", "--rate", "2"],
            &["churn", "--rounds", "3", "--lifetime", "1"],
            &["churn", "--rounds", "3", "--connect-rate", "100"],
        ] {
            assert!(parse_args(args).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn restart_takes_its_own_server_and_schedule() {
        let config = parse_args(&[
            "restart",
            "--db",
            "/tmp/room.db",
            "-n",
            "50",
            "--senders",
            "5",
            "--rate",
            "4",
            "-d",
            "6",
            "--kill-at",
            "2.5",
            "--restart-after",
            "0.5",
            "--server-bin",
            "/opt/chat-server",
        ])
        .unwrap();
        assert_eq!(config.mode, Mode::Restart);
        assert_eq!(config.addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(config.addr.port(), 0);
        assert_eq!(
            config.restart,
            Some(RestartPlan {
                server_bin: Some(PathBuf::from("/opt/chat-server")),
                db: PathBuf::from("/tmp/room.db"),
                kill_at: Duration::from_millis(2500),
                restart_after: Duration::from_millis(500),
            })
        );
        let defaults = parse_args(&["restart", "--db", "room.db", "-d", "8"]).unwrap();
        let plan = defaults.restart.unwrap();
        assert_eq!(plan.kill_at, Duration::from_secs(4));
        assert_eq!(plan.restart_after, Duration::from_secs(1));
        assert_eq!(plan.server_bin, None);
        assert_eq!(defaults.senders, 10);
    }

    #[test]
    fn restart_refuses_the_default_log_and_no_log() {
        for args in [
            &["restart"][..],
            &["restart", "--db", "none"],
            &["restart", "--db", ""],
        ] {
            let err = parse_args(args).unwrap_err();
            assert!(err.to_string().contains("--db"), "{args:?}: {err}");
        }
    }

    #[test]
    fn restart_kills_inside_the_run_and_reads_one_replay() {
        for args in [
            &["restart", "--db", "x", "-d", "4", "--kill-at", "4"][..],
            &["restart", "--db", "x", "--kill-at", "0"],
            &["restart", "--db", "x", "--restart-after", "61"],
            &[
                "restart",
                "--db",
                "x",
                "-n",
                "1000",
                "--senders",
                "100",
                "--rate",
                "2",
            ],
        ] {
            assert!(parse_args(args).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn restart_flags_stay_in_their_mode() {
        let err = parse_args(&["restart", "--db", "x", "--addr", "127.0.0.1:5002"]).unwrap_err();
        assert!(err.to_string().contains("--addr only applies"), "{err}");
        assert!(parse_args(&["restart", "--db", "x", "--server-pid", "1"]).is_err());
        let err = parse_args(&["fanout", "--db", "x"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("--db only applies to restart and storm modes"),
            "{err}"
        );
        assert!(parse_args(&["hold", "--kill-at", "1"]).is_err());
    }

    #[test]
    fn storm_starts_its_own_tls_server_on_a_kept_log() {
        let config = parse_args(&["storm", "-n", "500", "--db", "/tmp/s.db"]).unwrap();
        assert_eq!(config.mode, Mode::Storm);
        assert!(config.tls, "a storm is TLS by nature");
        let plan = config.storm.unwrap();
        assert_eq!(plan.db, PathBuf::from("/tmp/s.db"));
        assert_eq!(plan.server_bin, None);
        let err = parse_args(&["storm"]).unwrap_err();
        assert!(err.to_string().contains("storm needs --db"), "{err}");
        assert!(parse_args(&["storm", "--db", "none"]).is_err());
        // Each refusal names the flag and why: the storm starts its own server, or has no
        // use for a pace, or the flag belongs to another mode.
        for (flag, refusal) in [
            (
                &["--tls"][..],
                "--tls only applies to modes that load a running server",
            ),
            (
                &["--addr", "127.0.0.1:1"],
                "--addr only applies to modes that load a running server",
            ),
            (&["--rate", "2"], "--rate does not apply to storm mode"),
            (&["-d", "5"], "--duration does not apply to storm mode"),
            (
                &["--kill-at", "1"],
                "--kill-at only applies to restart mode",
            ),
        ] {
            let mut args = vec!["storm", "--db", "x"];
            args.extend(flag);
            let err = parse_args(&args).unwrap_err();
            assert!(err.to_string().contains(refusal), "{args:?}: {err}");
        }
        assert!(parse_args(&["storm", "--db", "x", "-n", "30000"]).is_err());
    }

    #[test]
    fn a_mode_s_serde_name_is_its_command_line_name() {
        let names = [
            "hold", "fanout", "connect", "churn", "slow", "restart", "storm",
        ];
        let attacks = ["search-storm", "resume-bomb", "handshake-stall"];
        for name in names.into_iter().chain(attacks) {
            let mode = Mode::from_name(name).unwrap();
            assert_eq!(mode.name(), name);
            assert_eq!(serde_json::to_value(mode).unwrap(), name);
            assert_eq!(serde_json::from_value::<Mode>(name.into()).unwrap(), mode);
        }
    }

    #[test]
    fn attacks_start_their_own_server_with_the_issues_volumes() {
        let storm = parse_args(&["search-storm"]).unwrap();
        assert_eq!(storm.mode, Mode::SearchStorm);
        assert_eq!(storm.addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!((storm.clients, storm.duration.as_secs()), (20, 10));
        assert_eq!(
            storm.attack,
            Some(AttackPlan {
                server_bin: None,
                messages: 160_000,
                server_args: Vec::new(),
                settle: Duration::from_secs(11),
            })
        );
        assert_eq!(storm.restart, None);
        let bomb = parse_args(&[
            "resume-bomb",
            "--server-bin",
            "/old/chat-server",
            "--server-arg=--queue-budget=32M",
            "--server-arg",
            "--history=5",
        ])
        .unwrap();
        assert_eq!((bomb.clients, bomb.payload_bytes), (1500, 400));
        assert_eq!(
            bomb.attack,
            Some(AttackPlan {
                server_bin: Some(PathBuf::from("/old/chat-server")),
                messages: 2100,
                server_args: vec!["--queue-budget=32M".into(), "--history=5".into()],
                settle: Duration::from_secs(11),
            })
        );
        let small = parse_args(&[
            "resume-bomb",
            "-n",
            "30",
            "--messages",
            "50",
            "-d",
            "1",
            "--settle",
            "3",
        ])
        .unwrap();
        let plan = small.attack.unwrap();
        assert_eq!((plan.messages, plan.settle), (50, Duration::from_secs(3)));
        assert_eq!(small.clients, 30);
    }

    #[test]
    fn stalled_handshakes_fill_no_log() {
        let config = parse_args(&["handshake-stall", "--settle", "5"]).unwrap();
        assert_eq!((config.mode, config.clients), (Mode::HandshakeStall, 2000));
        let plan = config.attack.unwrap();
        assert_eq!((plan.messages, plan.settle), (0, Duration::from_secs(5)));
    }

    #[test]
    fn attacks_refuse_what_is_not_theirs() {
        for (args, says) in [
            (
                &["search-storm", "--addr", "127.0.0.1:5002"][..],
                "--addr only applies",
            ),
            (&["resume-bomb", "--tls"], "--tls only applies"),
            (
                &["search-storm", "--db", "x"],
                "--db only applies to restart",
            ),
            (
                &["search-storm", "--senders", "3"],
                "--senders does not apply",
            ),
            (
                &["search-storm", "--payload", "100"],
                "--payload does not apply",
            ),
            (
                &["search-storm", "--settle", "3"],
                "--settle does not apply",
            ),
            (&["resume-bomb", "--settle", "1"], "--settle must be"),
            (
                &["handshake-stall", "--messages", "10"],
                "--messages does not apply",
            ),
            (&["handshake-stall", "--tls"], "--tls only applies"),
            (&["resume-bomb", "--rate", "3"], "--rate does not apply"),
            (&["fanout", "--messages", "10"], "--messages only applies"),
            (
                &["restart", "--db", "x", "--server-arg=--history=1"],
                "--server-arg only applies",
            ),
            (&["hold", "--server-bin", "x"], "--server-bin only applies"),
            (&["search-storm", "--messages", "0"], "--messages must be"),
            (
                &["search-storm", "--messages", "1000001"],
                "--messages must be",
            ),
            (&["search-storm", "-n", "1001"], "at most 1000 desks"),
            (&["search-storm", "--rooms", "2"], "--rooms only applies"),
            (&["search-storm", "--named"], "--named only applies"),
            (&["resume-bomb", "--irc"], "--irc only applies"),
            (
                &["resume-bomb", "--irc-share", "0.5"],
                "--irc-share only applies",
            ),
            (&["handshake-stall", "--ws"], "--ws only applies"),
            (
                &["storm", "--db", "x", "--messages", "10"],
                "--messages only applies",
            ),
            (
                &["storm", "--db", "x", "--server-arg=--history=1"],
                "--server-arg only applies",
            ),
            (
                &["storm", "--db", "x", "--settle", "3"],
                "--settle does not apply to storm",
            ),
            (
                &["search-storm", "--kill-at", "1"],
                "--kill-at only applies",
            ),
            (&["resume-bomb", "-n", "25001"], "at most 25000 desks"),
        ] {
            let err = parse_args(args).unwrap_err().to_string();
            assert!(err.contains(says), "{args:?}: {err}");
        }
    }

    #[test]
    fn the_attacked_server_stays_on_loopback_and_its_own_log() {
        for arg in [
            "--host",
            "--host=0.0.0.0",
            "-H0.0.0.0",
            "--port=80",
            "-p80",
            "--db=/home/x/room.db",
            "--redis=redis://10.0.0.1",
        ] {
            let flag = format!("--server-arg={arg}");
            let err = parse_args(&["resume-bomb", &flag]).unwrap_err().to_string();
            assert!(
                err.contains("chooses the attacked server's address"),
                "{arg}: {err}"
            );
        }
        assert!(parse_args(&["resume-bomb", "--server-arg=--history=3"]).is_ok());
    }

    #[test]
    fn several_addresses_are_all_kept_and_all_checked() {
        let config = parse_args(&["fanout", "--addr", "127.0.0.1:7001,127.0.0.2:7002"]).unwrap();
        assert_eq!(config.addr, "127.0.0.1:7001".parse().unwrap());
        assert_eq!(
            config.addrs,
            [
                "127.0.0.1:7001".parse().unwrap(),
                "127.0.0.2:7002".parse().unwrap()
            ]
        );
        let err = parse_args(&["fanout", "--addr", "127.0.0.1:7001,10.0.0.1:7002"]).unwrap_err();
        assert!(err.to_string().contains("not a loopback"), "{err}");
        assert!(parse_args(&["fanout", "--addr", "127.0.0.1:7001,"]).is_err());
    }

    #[test]
    fn several_server_pids_and_a_redis_pid() {
        let config = parse_args(&["fanout", "--server-pid", "10,11", "--redis-pid", "12"]).unwrap();
        assert_eq!(config.server_pid, Some(10));
        assert_eq!(config.server_pids, [10, 11]);
        assert_eq!(config.redis_pid, Some(12));
        assert!(parse_args(&["fanout", "--server-pid", "10,x"]).is_err());
        assert!(parse_args(&["restart", "--db", "x", "--redis-pid", "1"]).is_err());
    }

    #[test]
    fn dialects_are_one_a_run_and_not_for_slow_or_restart() {
        let irc = parse_args(&["fanout", "--irc"]).unwrap();
        assert_eq!((irc.irc_share, irc.web), (1.0, false));
        let mixed = parse_args(&["fanout", "--irc-share", "0.5"]).unwrap();
        assert_eq!(mixed.irc_share, 0.5);
        let web = parse_args(&["hold", "--ws", "--named"]).unwrap();
        assert!(web.web && web.named && web.irc_share == 0.0);
        assert!(parse_args(&["fanout", "--irc-share", "0"]).is_err());
        assert!(parse_args(&["fanout", "--irc-share", "1.5"]).is_err());
        assert!(parse_args(&["fanout", "--irc", "--ws"]).is_err());
        assert!(parse_args(&["slow", "-n", "10", "--irc"]).is_err());
        assert!(parse_args(&["slow", "-n", "10", "--ws"]).is_err());
        assert!(parse_args(&["restart", "--db", "x", "--irc"]).is_err());
        assert!(parse_args(&["restart", "--db", "x", "--ws"]).is_err());
        assert!(parse_args(&["storm", "--db", "x", "--irc"]).is_err());
        assert!(parse_args(&["fanout", "-n", "4", "--rooms", "2", "--irc"]).is_err());
        assert!(parse_args(&["fanout", "-n", "4", "--rooms", "2", "--irc-share", "0.5"]).is_err());
        assert!(parse_args(&["hold", "-n", "4", "--rooms", "2", "--ws"]).is_err());
    }

    #[test]
    fn tls_is_for_clients_that_read() {
        assert!(parse_args(&["hold", "--tls"]).unwrap().tls);
        assert!(!parse_args(&["hold"]).unwrap().tls);
        assert!(parse_args(&["slow", "-n", "10", "--tls"]).is_err());
        assert!(parse_args(&["restart", "--db", "x", "--tls"]).is_err());
    }

    #[test]
    fn rooms_spread_fanout_and_hold() {
        let config = parse_args(&["fanout", "-n", "20", "--rooms", "4"]).unwrap();
        assert_eq!(config.rooms, Some(4));
        assert_eq!(
            parse_args(&["hold", "-n", "5", "--rooms", "5"])
                .unwrap()
                .rooms,
            Some(5)
        );
        assert_eq!(parse_args(&["fanout"]).unwrap().rooms, None);
    }

    #[test]
    fn rooms_imply_names_and_named_stays_in_main() {
        assert!(parse_args(&["hold", "--rooms", "2"]).unwrap().named);
        let named = parse_args(&["hold", "--named"]).unwrap();
        assert!(named.named);
        assert_eq!(named.rooms, None);
        assert!(!parse_args(&["hold"]).unwrap().named);
        assert!(parse_args(&["churn", "--named"]).is_err());
    }

    #[test]
    fn newcomers_go_with_named() {
        let newcomers = parse_args(&["hold", "--named", "--newcomers"]).unwrap();
        assert!(newcomers.named && newcomers.newcomers);
        assert!(!parse_args(&["hold", "--named"]).unwrap().newcomers);
        let alone = parse_args(&["hold", "--newcomers"]).unwrap_err();
        assert!(
            alone.to_string().contains("--newcomers goes with --named"),
            "{alone}"
        );
    }

    #[test]
    fn rooms_are_refused_elsewhere_and_out_of_range() {
        for args in [
            &["churn", "--rooms", "2"][..],
            &["connect", "--rooms", "2"],
            &["slow", "-n", "10", "--rooms", "2"],
            &["restart", "--db", "x", "--rooms", "2"],
            &["fanout", "--rooms", "0"],
            &["fanout", "-n", "5000", "--rooms", "1000"],
            &["fanout", "-n", "3", "--rooms", "4"],
            &["hold", "--rooms", "many"],
        ] {
            assert!(parse_args(args).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn slow_needs_room_for_readers() {
        assert!(parse_args(&["slow", "-n", "2", "--slow", "2"]).is_err());
        let config = parse_args(&["slow", "-n", "10", "--slow", "2"]).unwrap();
        assert_eq!(config.slow_clients, 2);
        assert_eq!(config.senders, 1);
    }
}
