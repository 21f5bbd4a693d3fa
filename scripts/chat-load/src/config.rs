//! Command line: `chat-load MODE [options]` parsed with getopts into a
//! [`Config`], plus the loopback-only rule for the target address.
//!
//! Parsing is a pure function of the argument list (no sockets, no files) so
//! it is unit-tested directly; `main` maps a [`UsageError`] to exit code 2.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use getopts::Options;

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

/// What a run does; see the crate docs for each mode's phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        }
    }

    fn from_name(name: &str) -> Option<Mode> {
        [
            Mode::Hold,
            Mode::Fanout,
            Mode::Connect,
            Mode::Churn,
            Mode::Slow,
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
    /// The server, always a loopback address.
    pub addr: SocketAddr,
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
    /// The server process to watch in /proc, if given.
    pub server_pid: Option<u32>,
    /// Longest wait for in-flight deliveries after sending stops.
    pub drain: Duration,
    /// Event-loop threads.
    pub threads: usize,
    /// Print one JSON object on stdout instead of the human summary.
    pub json: bool,
    /// No progress lines on stderr.
    pub quiet: bool,
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
        "server address, loopback only (default 127.0.0.1:5002)",
        "HOST:PORT",
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
        "clients that send (fanout/slow default N/10, churn default N)",
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
        "bytes of TEXT per message, 16-4000 (default 64)",
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
        "sample this process's RSS, threads and CPU from /proc",
        "PID",
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
                "missing MODE (hold, fanout, connect, churn or slow)",
            ))
        }
        [word] => Mode::from_name(word).ok_or_else(|| invalid(format!("unknown mode '{word}'")))?,
        [_, extra, ..] => return Err(invalid(format!("unexpected argument '{extra}'"))),
    };

    let addr_text = matches
        .opt_str("addr")
        .unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let resolved: Vec<SocketAddr> = addr_text
        .to_socket_addrs()
        .map_err(|err| invalid(format!("cannot resolve --addr '{addr_text}': {err}")))?
        .collect();
    let addr = pick_loopback(&addr_text, &resolved)?;

    let clients: usize = number(&matches, "clients", 100)?;
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
        Mode::Hold | Mode::Connect => {
            if matches.opt_present("senders") || matches.opt_present("rate") {
                return Err(invalid(format!(
                    "--senders and --rate do not apply to {} mode",
                    mode.name()
                )));
            }
            0
        }
        Mode::Churn => number(&matches, "senders", clients)?,
        Mode::Fanout | Mode::Slow => number(&matches, "senders", (readers / 10).max(1))?,
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
    let payload_bytes: usize = number(&matches, "payload", 64)?;
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
    if source_ips > 1 && !addr.is_ipv4() {
        return Err(invalid(
            "--source-ips above 1 needs an IPv4 target (IPv6 loopback is the single ::1)",
        ));
    }
    let server_pid = optional_number(&matches, "server-pid")?;
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

    Ok(Config {
        mode,
        addr,
        addr_text,
        clients,
        duration: Duration::from_secs_f64(duration_secs),
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
        drain: Duration::from_secs_f64(drain_secs),
        threads,
        json: matches.opt_present("json"),
        quiet: matches.opt_present("quiet"),
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
    fn slow_needs_room_for_readers() {
        assert!(parse_args(&["slow", "-n", "2", "--slow", "2"]).is_err());
        let config = parse_args(&["slow", "-n", "10", "--slow", "2"]).unwrap();
        assert_eq!(config.slow_clients, 2);
        assert_eq!(config.senders, 1);
    }
}
