//! Command-line flags and the settings they become.
//!
//! Parsing is a pure function ([`parse_args`]) so it is tested without
//! starting a server; `main` only maps its result to an exit code.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use getopts::{Matches, Options};

use chat_shared::{DEFAULT_MAX_LINE_BYTES, DEFAULT_PORT};

use crate::log::{LogLevel, DEFAULT_LEVEL};

/// Which server design runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One thread, one mio event loop for every client: the product.
    Event,
    /// One OS thread per client, as the seed project did: a baseline for
    /// comparison, not for production.
    Threads,
}

/// Where the room's log lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Db {
    /// In memory only: a restart forgets the room (`--db none`).
    None,
    /// A SQLite file.
    Path(PathBuf),
    /// A Redis stream that several servers share (`--redis`, `--office`).
    Redis(RedisTarget),
}

impl Db {
    /// The default: `chat-server/room.db` under `$XDG_DATA_HOME` (or
    /// `~/.local/share`), where a per-user service keeps its data; the
    /// working directory when neither is set.
    pub fn default_path() -> Db {
        let data_home = std::env::var_os("XDG_DATA_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|home| !home.is_empty())
                    .map(|home| PathBuf::from(home).join(".local/share"))
            });
        Db::Path(match data_home {
            Some(dir) => dir.join("chat-server").join("room.db"),
            None => PathBuf::from("chat-room.db"),
        })
    }
}

/// What `--redis` and `--office` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// The office: every room, name and account under it is shared by the
    /// servers on it; its keys are `chat:{OFFICE}:...`.
    pub office: String,
}

/// Whether desks must log in (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may take any free name (the default; what `nc` and the load
    /// tools rely on).
    Open,
    /// Every connection must send `/auth NAME TOKEN` first, with a token
    /// from `chat-server user add NAME`; a name belongs to its account.
    Token,
}

/// TLS settings (`--tls` and the flags that go with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// `--tls-cert` and `--tls-key`; `None` makes a self-signed certificate.
    pub files: Option<(PathBuf, PathBuf)>,
    /// `--require-tls`: plain connections are refused.
    pub required: bool,
}

impl Tls {
    /// Where the certificate comes from, given where the log is: beside it,
    /// or (with `--db none`) made fresh each start.
    pub fn cert_source(&self, db: &Db) -> crate::tls::CertSource {
        use crate::tls::CertSource;
        match (&self.files, Tls::kept_in(db)) {
            (Some((cert, key)), _) => CertSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            (None, Some(folder)) => CertSource::KeptIn(folder),
            (None, None) => CertSource::Fresh,
        }
    }

    /// Where the session ticket keys are kept: beside the self-signed
    /// certificate, in the log's folder (with `--tls-cert` too, which may
    /// name a folder the server cannot write); `None` with `--db none`,
    /// where they live in memory only.
    pub fn ticket_key_file(db: &Db) -> Option<PathBuf> {
        Tls::kept_in(db).map(|folder| folder.join(crate::tls::tickets::FILE_NAME))
    }

    /// The folder TLS files are kept in, beside the room's log; `None` when
    /// nothing is kept (`--db none`).
    fn kept_in(db: &Db) -> Option<PathBuf> {
        match db {
            Db::Path(path) => Some(
                path.parent()
                    .filter(|folder| !folder.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), PathBuf::from),
            ),
            Db::None => None,
            // No file of its own: kept where the default log would be.
            Db::Redis(_) => Tls::kept_in(&Db::default_path()),
        }
    }
}

/// Default for `--login-timeout`.
pub const DEFAULT_LOGIN_TIMEOUT_SECS: u64 = 10;

/// Everything the server needs to know to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Event loop or thread per client.
    pub mode: Mode,
    /// Most clients at once; `None` derives it from the fd limit.
    pub max_clients: Option<usize>,
    /// Longest line a client may send, in bytes.
    pub max_line_bytes: usize,
    /// Most bytes queued for one client before it is dropped as too slow.
    pub max_queue_bytes: usize,
    /// Most bytes the server holds for every client together (the frames
    /// queued for them, each counted once, and the queues' slots) before it
    /// drops those holding the most that are not reading.
    pub queue_budget_bytes: usize,
    /// How many recent messages a newcomer is shown.
    pub history: usize,
    /// Close a client silent for this long; `None` never does.
    pub idle_timeout: Option<Duration>,
    /// Most lines per second one client may send; `None` is unlimited.
    pub rate_limit: Option<u32>,
    /// The log's verbosity; `None` leaves it to `RUST_LOG`, then the default.
    pub log_level: Option<LogLevel>,
    /// The room's log (`--db`); the threads mode always keeps it in memory.
    pub db: Db,
    /// TLS, if on.
    pub tls: Option<Tls>,
    /// Whether desks must log in.
    pub auth: Auth,
    /// How long a connection may take to finish its TLS handshake and log
    /// in.
    pub login_timeout: Duration,
    /// What IRC clients are told and given.
    pub irc: Irc,
    /// Flags given under an old name, to be warned about once the log is
    /// up.
    pub warnings: Vec<String>,
}

/// Default for `--irc-server-name`: it has a dot, as IRC clients expect of
/// a server's name.
pub const DEFAULT_IRC_SERVER_NAME: &str = "office.chat";

/// IRC settings (`--irc-server-name`, `--irc-no-main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Irc {
    /// The name the server gives itself to IRC clients.
    pub server_name: String,
    /// Whether an IRC client is joined to `#main` at registration, as our
    /// desks are.
    pub join_main: bool,
    /// A port for IRC alone, besides the main one (`--irc-port`).
    pub port: Option<u16>,
    /// Who may become an IRC operator (`--irc-oper NAME:PASSWORD`).
    pub opers: Vec<crate::secret::Oper>,
}

/// Default for `--max-queue`. Large enough for a full history replay of
/// maximum-length lines (20 x 4 KiB) on top of live traffic, small enough that
/// a thousand stuck desks cost at most 256 MiB.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 256 * 1024;

/// The fraction of the machine's memory (or of the cgroup's limit) that
/// `--queue-budget` defaults to: a 1 GB box gives 64 MiB.
const QUEUE_BUDGET_SHARE: u64 = 16;

/// The bounds of `--queue-budget`'s default: enough for ten thousand desks'
/// bursts on a small box, no more than a big one needs.
const QUEUE_BUDGET_DEFAULT_RANGE: (u64, u64) = (32 << 20, 256 << 20);

/// Default for `--queue-budget`: a sixteenth of the memory this process may
/// use (the machine's, or its cgroup's limit if lower), within
/// [`QUEUE_BUDGET_DEFAULT_RANGE`].
pub fn default_queue_budget() -> usize {
    let (least, most) = QUEUE_BUDGET_DEFAULT_RANGE;
    let memory = usable_memory().unwrap_or(1 << 30);
    (memory / QUEUE_BUDGET_SHARE).clamp(least, most) as usize
}

/// The memory this process may use: the machine's, or its cgroup's limit
/// (cgroup v1 or v2) when that is lower.
fn usable_memory() -> Option<u64> {
    // SAFETY: sysconf only reads the system's configuration.
    let (pages, page_size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let physical = u64::try_from(pages).ok()? * u64::try_from(page_size).ok()?;
    Some(cgroup_memory_limit().map_or(physical, |limit| limit.min(physical)))
}

/// This process's cgroup memory limit, if it has one: v1's
/// `memory.limit_in_bytes` or v2's `memory.max`.
fn cgroup_memory_limit() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    own.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let file = if controllers.split(',').any(|c| c == "memory") {
            format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
        } else if controllers.is_empty() {
            format!("/sys/fs/cgroup{path}/memory.max")
        } else {
            return None;
        };
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    })
}

/// Default for `--office`: the namespace the first servers on Redis used
/// (then called `--room`), so their keys stay where they are.
pub const DEFAULT_OFFICE: &str = "main";

/// Longest `--office` name.
const MAX_OFFICE_CHARS: usize = 64;

/// What `--room` says now: it named the shared namespace before rooms
/// (`#dev`) existed, and is still taken for it.
const ROOM_FLAG_RENAMED: &str =
    "--room is the old name of --office (it names the office on Redis, not a room); use --office";

/// Default for `--history`, as many lines as ssh-chat replays.
pub const DEFAULT_HISTORY: usize = 20;

/// Default for `--idle-timeout`. Our client pings every minute, so only a
/// dead or abandoned connection stays silent this long.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 600;

/// Default for `--rate-limit`: far above typing speed, and a pasted burst of
/// twice this many lines goes straight through.
pub const DEFAULT_RATE_LIMIT: u32 = 20;

impl Default for Config {
    fn default() -> Config {
        Config {
            host: "0.0.0.0".to_string(),
            port: DEFAULT_PORT,
            mode: Mode::Event,
            max_clients: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            queue_budget_bytes: default_queue_budget(),
            history: DEFAULT_HISTORY,
            idle_timeout: Some(Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS)),
            rate_limit: Some(DEFAULT_RATE_LIMIT),
            log_level: None,
            db: Db::default_path(),
            tls: None,
            auth: Auth::Open,
            login_timeout: Duration::from_secs(DEFAULT_LOGIN_TIMEOUT_SECS),
            irc: Irc {
                server_name: DEFAULT_IRC_SERVER_NAME.to_string(),
                join_main: true,
                port: None,
                opers: Vec::new(),
            },
            warnings: Vec::new(),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the server (boxed: it is much larger than the other commands).
    Run(Box<Config>),
    /// Print this help text and exit 0.
    Help(String),
    /// Print the version and exit 0.
    Version,
    /// Manage accounts (`chat-server user ...`).
    User {
        /// What to do.
        action: UserAction,
        /// Where the accounts are: the room's log file, or the office on
        /// Redis ([`Db::Path`] or [`Db::Redis`]).
        db: Db,
        /// Flags given under an old name.
        warnings: Vec<String>,
    },
}

/// What `chat-server user` does.
#[derive(Debug, PartialEq, Eq)]
pub enum UserAction {
    /// `user add NAME`: makes an account and prints its token once.
    Add(String),
    /// `user remove NAME`: removes it; its desks are closed.
    Remove(String),
    /// `user list`.
    List,
}

/// A bad command line: the message, and the usage to print after it.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError {
    /// One line saying what is wrong.
    pub message: String,
    /// The short usage line.
    pub usage: String,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

const PROGRAM: &str = "chat-server";

fn options() -> Options {
    let mut opts = Options::new();
    listen_flags(&mut opts);
    limit_flags(&mut opts);
    log_and_store_flags(&mut opts);
    trust_flags(&mut opts);
    irc_flags(&mut opts);
    opts.optflag("h", "help", "print this help and exit");
    opts.optflag("V", "version", "print the version and exit");
    opts
}

/// Where to listen, and which design runs.
fn listen_flags(opts: &mut Options) {
    opts.optopt(
        "H",
        "host",
        "address to listen on (default 0.0.0.0, every IPv4 address)",
        "HOST",
    );
    opts.optopt(
        "p",
        "port",
        &format!("port to listen on, 0 for any (default {DEFAULT_PORT})"),
        "PORT",
    );
    opts.optopt(
        "",
        "mode",
        "event: one thread, one event loop (default); threads: one thread per client, \
         the seed's design, a baseline for comparison, not for production",
        "MODE",
    );
    opts.optopt(
        "",
        "max-clients",
        "most clients at once; newcomers past it are refused (default: the fd limit less 64)",
        "N",
    );
}

/// What one client may do, and what it is given.
fn limit_flags(opts: &mut Options) {
    opts.optopt(
        "",
        "max-line",
        &format!("longest line a client may send; longer ones get an error and are discarded (default {DEFAULT_MAX_LINE_BYTES})"),
        "BYTES",
    );
    opts.optopt(
        "",
        "max-queue",
        &format!("bytes queued for one client before it is dropped as too slow (default {DEFAULT_MAX_QUEUE_BYTES})"),
        "BYTES",
    );
    opts.optopt(
        "",
        "queue-budget",
        "bytes the server holds for every client together (each queued line counted once, \
         however many queues share it); past it, the clients holding the most that are not \
         reading are dropped. A number with K, M or G (default: a sixteenth of the memory, \
         32M to 256M; the start-up line says which)",
        "BYTES",
    );
    opts.optopt(
        "",
        "history",
        &format!("recent messages shown to a newcomer (default {DEFAULT_HISTORY})"),
        "N",
    );
    opts.optopt(
        "",
        "idle-timeout",
        &format!(
            "close a client silent this long, 0 for never (default {DEFAULT_IDLE_TIMEOUT_SECS})"
        ),
        "SECS",
    );
    opts.optopt(
        "",
        "rate-limit",
        &format!(
            "lines per second one client may send, bursts of twice that; \
         more are read later, not lost; 0 for no limit (default {DEFAULT_RATE_LIMIT})"
        ),
        "N",
    );
}

/// The server's log, and where messages are kept.
fn log_and_store_flags(opts: &mut Options) {
    opts.optopt(
        "",
        "log-level",
        &format!(
            "log verbosity: error, warn, info, debug, trace or off, or RUST_LOG-style \
             directives; wins over RUST_LOG (default {DEFAULT_LEVEL}). The log goes to stderr \
             and never holds message text"
        ),
        "LEVEL",
    );
    opts.optopt(
        "",
        "db",
        "the room's log, a SQLite file created if missing (default: \
         $XDG_DATA_HOME/chat-server/room.db, else ~/.local/share/chat-server/room.db); \
         none: memory only, forgotten on restart. Event mode only",
        "PATH|none",
    );
    redis_flags(opts);
}

/// Where the office lives on Redis; the server's flags and the `user`
/// commands' alike.
fn redis_flags(opts: &mut Options) {
    opts.optopt(
        "",
        "redis",
        "the rooms' log is a Redis stream that several servers share, in place of --db: \
         every server on the same Redis and office is one office, with the same rooms, \
         names and accounts. Event mode only",
        "redis://HOST:PORT[/DB]",
    );
    opts.optopt(
        "",
        "office",
        &format!(
            "with --redis, which office of that Redis (letters, digits, '-', '_', '.'; \
             default {DEFAULT_OFFICE}); its keys are chat:{{NAME}}:..."
        ),
        "NAME",
    );
    opts.optopt(
        "",
        "room",
        "deprecated: the old name of --office, still taken, with a warning",
        "NAME",
    );
}

/// TLS and accounts.
fn trust_flags(opts: &mut Options) {
    opts.optflag(
        "",
        "tls",
        "take TLS connections too, on the same port (a TLS desk is told apart by its first \
         byte); without --tls-cert/--tls-key, a self-signed certificate is made once and kept \
         beside the room's log (fresh each start with --db none); its fingerprint is printed at start",
    );
    opts.optopt(
        "",
        "tls-cert",
        "the certificate chain, PEM (implies --tls)",
        "FILE",
    );
    opts.optopt(
        "",
        "tls-key",
        "its private key, PEM (implies --tls)",
        "FILE",
    );
    opts.optflag(
        "",
        "require-tls",
        "refuse plain connections with a one-line reason (implies --tls)",
    );
    opts.optopt(
        "",
        "auth",
        "open: anyone takes any free name (default); token: every desk logs in with \
         /auth NAME TOKEN, a token from 'chat-server user add NAME', and is that name only. \
         The accounts live in the room's log (--db) or the office on Redis (--redis)",
        "open|token",
    );
    opts.optopt(
        "",
        "login-timeout",
        &format!(
            "close a connection that has not finished its TLS handshake and login this long \
             after connecting (default {DEFAULT_LOGIN_TIMEOUT_SECS})"
        ),
        "SECS",
    );
}

/// IRC clients (told apart from our desks on their first line).
fn irc_flags(opts: &mut Options) {
    opts.optopt(
        "",
        "irc-server-name",
        &format!(
            "the name the server gives itself to IRC clients; it needs a dot \
             (default {DEFAULT_IRC_SERVER_NAME})"
        ),
        "NAME",
    );
    opts.optopt(
        "",
        "irc-port",
        "also listen on this port for IRC clients alone (6667 is the habit; 6697 with --tls); \
         the main port takes them too, told apart by their first line",
        "PORT",
    );
    opts.optmulti(
        "",
        "irc-oper",
        "an IRC operator's name and password, for OPER (KILL, WALLOPS); repeat for more. \
         Given on the command line, the password is visible to this machine's users (ps): \
         use it on a machine you alone log in to. Without it nobody is an operator",
        "NAME:PASSWORD",
    );
    opts.optflag(
        "",
        "irc-no-main",
        "do not join IRC clients to #main when they register (they may JOIN it); \
         our desks are always in it",
    );
}

fn short_usage() -> String {
    format!("Usage: {PROGRAM} [options] | {PROGRAM} user add|remove NAME | {PROGRAM} user list; try '{PROGRAM} --help'")
}

/// The help for `chat-server user`.
const USER_HELP: &str = "\
Usage: chat-server user add NAME [--db PATH | --redis URL [--office NAME]]
       chat-server user remove NAME [--db PATH | --redis URL [--office NAME]]
       chat-server user list [--db PATH | --redis URL [--office NAME]]

Accounts for a server run with --auth token. They are kept where the server
keeps its rooms: in the room's log (--db, the same default as the server's),
or, for servers sharing an office on Redis, in that office (--redis and
--office, as the servers were given). They may be changed while the servers
run: each notices within a second.

  add NAME     makes an account and prints its token, once; only the token's
               SHA-256 is kept. Give the token to NAME (chat-client --token-file).
  remove NAME  removes the account; NAME's open desks are closed.
  list         lists the accounts.
";

/// Parses `chat-server user ...` (the words after `user`).
fn parse_user_args(args: &[&str]) -> Result<Command, UsageError> {
    let usage_error = |message: String| UsageError {
        message,
        usage: "Usage: chat-server user add|remove NAME | user list \
                [--db PATH | --redis URL [--office NAME]]"
            .to_string(),
    };
    let mut opts = Options::new();
    opts.optopt("", "db", "the room's log that holds the accounts", "PATH");
    redis_flags(&mut opts);
    opts.optflag("h", "help", "print this help and exit");
    let matches = opts.parse(args).map_err(|e| usage_error(e.to_string()))?;
    if matches.opt_present("help") {
        return Ok(Command::Help(USER_HELP.to_string()));
    }
    check_store_flags(&matches).map_err(usage_error)?;
    let db = match db_from(&matches).map_err(usage_error)? {
        None => Db::default_path(),
        Some(Db::None) => {
            return Err(usage_error(
                "accounts live in the room's log or on Redis; --db wants the log's path"
                    .to_string(),
            ))
        }
        Some(db) => db,
    };
    let words: Vec<&str> = matches.free.iter().map(String::as_str).collect();
    let action = match words.as_slice() {
        ["add", name] => UserAction::Add(name.to_string()),
        ["remove", name] => UserAction::Remove(name.to_string()),
        ["list"] => UserAction::List,
        ["add" | "remove"] => return Err(usage_error(format!("user {} wants a NAME", words[0]))),
        [] => return Err(usage_error("user wants add, remove or list".to_string())),
        _ => {
            return Err(usage_error(format!(
                "user: unexpected '{}'",
                words.join(" ")
            )))
        }
    };
    Ok(Command::User {
        action,
        db,
        warnings: warnings_from(&matches),
    })
}

/// Parses the arguments after the program name, in two steps: each flag
/// on its own ([`config_from`]), then the rules between flags
/// ([`check_combinations`]), each stated once.
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Command, UsageError> {
    let opts = options();
    let usage_error = |message: String| UsageError {
        message,
        usage: short_usage(),
    };
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    if args.first() == Some(&"user") {
        return parse_user_args(&args[1..]);
    }
    let matches = opts.parse(&args).map_err(|e| usage_error(e.to_string()))?;
    if matches.opt_present("help") {
        let brief = format!(
            "Usage: {PROGRAM} [options]\n\n\
             The office chat server. Desks connect with chat-client; anything that\n\
             speaks the line protocol (even nc) can join. Stops on Ctrl-C or SIGTERM,\n\
             telling every client first.\n\n\
             Accounts (for --auth token): '{PROGRAM} user --help'."
        );
        return Ok(Command::Help(opts.usage(&brief)));
    }
    if matches.opt_present("version") {
        return Ok(Command::Version);
    }
    if let Some(extra) = matches.free.first() {
        return Err(usage_error(format!("unexpected argument '{extra}'")));
    }
    let mut config = config_from(&matches).map_err(usage_error)?;
    check_combinations(&config, &matches).map_err(usage_error)?;
    config.warnings = warnings_from(&matches);
    Ok(Command::Run(Box::new(config)))
}

/// Reads every flag into a [`Config`], each checked on its own.
fn config_from(matches: &Matches) -> Result<Config, String> {
    let mut config = Config::default();
    if let Some(host) = matches.opt_str("host") {
        config.host = host;
    }
    if let Some(port) = number(matches, "port")? {
        config.port =
            u16::try_from(port).map_err(|_| format!("--port must be at most 65535, not {port}"))?;
    }
    if let Some(mode) = matches.opt_str("mode") {
        config.mode = match mode.as_str() {
            "event" => Mode::Event,
            "threads" => Mode::Threads,
            _ => return Err(format!("--mode is event or threads, not '{mode}'")),
        };
    }
    if let Some(n) = at_least(matches, "max-clients", 1, "")? {
        config.max_clients = Some(n as usize);
    }
    if let Some(n) = at_least(matches, "max-line", 64, " bytes")? {
        config.max_line_bytes = n as usize;
    }
    if let Some(n) = at_least(matches, "max-queue", 1024, " bytes")? {
        config.max_queue_bytes = n as usize;
    }
    if let Some(budget) = matches.opt_str("queue-budget") {
        config.queue_budget_bytes = byte_size(&budget)
            .filter(|bytes| *bytes >= 1 << 20)
            .ok_or_else(|| {
                format!("--queue-budget wants a size of at least 1M (like 64M), not '{budget}'")
            })?;
    }
    if let Some(n) = number(matches, "history")? {
        config.history = n as usize;
    }
    if let Some(secs) = number(matches, "idle-timeout")? {
        config.idle_timeout = (secs > 0).then(|| Duration::from_secs(secs));
    }
    if let Some(n) = number(matches, "rate-limit")? {
        let n = u32::try_from(n).map_err(|_| format!("--rate-limit is too large: {n}"))?;
        config.rate_limit = (n > 0).then_some(n);
    }
    if let Some(db) = db_from(matches)? {
        config.db = db;
    }
    config.tls = tls_from(matches)?;
    if let Some(auth) = matches.opt_str("auth") {
        config.auth = match auth.as_str() {
            "open" => Auth::Open,
            "token" => Auth::Token,
            _ => return Err(format!("--auth is open or token, not '{auth}'")),
        };
    }
    if let Some(secs) = at_least(matches, "login-timeout", 1, " second")? {
        config.login_timeout = Duration::from_secs(secs);
    }
    if let Some(name) = matches.opt_str("irc-server-name") {
        let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.');
        if !name.contains('.') || !name.chars().all(fits) || name.len() > 63 {
            return Err(format!(
                "--irc-server-name is a host-like name with a dot (letters, digits, '-', '.'), \
                 not '{name}'"
            ));
        }
        config.irc.server_name = name;
    }
    config.irc.join_main = !matches.opt_present("irc-no-main");
    config.irc.opers = matches
        .opt_strs("irc-oper")
        .iter()
        .map(|oper| crate::secret::Oper::parse(oper))
        .collect::<Result<_, _>>()?;
    if let Some(port) = number(matches, "irc-port")? {
        config.irc.port = Some(
            u16::try_from(port)
                .map_err(|_| format!("--irc-port must be at most 65535, not {port}"))?,
        );
    }
    if let Some(level) = matches.opt_str("log-level") {
        config.log_level =
            Some(level.parse().map_err(|e| {
                format!("--log-level: '{level}' is not a level or directive ({e})")
            })?);
    }
    Ok(config)
}

/// The value of `--NAME`, a whole number, if given.
fn number(matches: &Matches, name: &str) -> Result<Option<u64>, String> {
    matches
        .opt_str(name)
        .map(|value| {
            value
                .parse::<u64>()
                .map_err(|_| format!("--{name} wants a whole number, not '{value}'"))
        })
        .transpose()
}

/// The value of `--NAME`, a whole number of at least `least` (`unit`s), if
/// given.
fn at_least(matches: &Matches, name: &str, least: u64, unit: &str) -> Result<Option<u64>, String> {
    match number(matches, name)? {
        Some(n) if n < least => Err(format!("--{name} must be at least {least}{unit}")),
        n => Ok(n),
    }
}

/// A size in bytes: a whole number, with an optional K, M or G (powers of
/// 1024).
fn byte_size(text: &str) -> Option<usize> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 10),
        b'M' | b'm' => (&text[..text.len() - 1], 20),
        b'G' | b'g' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

/// The store `--db` or `--redis` and `--office` name, if either is given.
fn db_from(matches: &Matches) -> Result<Option<Db>, String> {
    if let Some(url) = matches.opt_str("redis") {
        if !url.starts_with("redis://") {
            return Err(format!(
                "--redis wants a URL like redis://HOST:PORT/DB, not '{url}'"
            ));
        }
        let (flag, office) = match (matches.opt_str("office"), matches.opt_str("room")) {
            (Some(office), _) => ("--office", office),
            (None, Some(office)) => ("--room", office),
            (None, None) => ("--office", DEFAULT_OFFICE.to_string()),
        };
        let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if office.is_empty()
            || office.chars().count() > MAX_OFFICE_CHARS
            || !office.chars().all(fits)
        {
            return Err(format!(
                "{flag} is 1 to {MAX_OFFICE_CHARS} letters, digits, '-', '_' or '.', not '{office}'"
            ));
        }
        return Ok(Some(Db::Redis(RedisTarget { url, office })));
    }
    match matches.opt_str("db").as_deref() {
        None => Ok(None),
        Some("") => Err("--db wants a path, or none".to_string()),
        Some("none") => Ok(Some(Db::None)),
        Some(path) => Ok(Some(Db::Path(PathBuf::from(path)))),
    }
}

/// TLS, if `--tls`, `--tls-cert`/`--tls-key` or `--require-tls` ask for it.
fn tls_from(matches: &Matches) -> Result<Option<Tls>, String> {
    let files = match (matches.opt_str("tls-cert"), matches.opt_str("tls-key")) {
        (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".to_string()),
    };
    let required = matches.opt_present("require-tls");
    Ok((matches.opt_present("tls") || files.is_some() || required)
        .then_some(Tls { files, required }))
}

/// The rules between flags, each stated once.
fn check_combinations(config: &Config, matches: &Matches) -> Result<(), String> {
    if config.mode == Mode::Threads {
        let event_only = [
            ("--db", matches.opt_present("db")),
            ("--redis", matches.opt_present("redis")),
            ("--tls", config.tls.is_some()),
            ("--auth token", config.auth == Auth::Token),
            ("--irc-port", config.irc.port.is_some()),
        ];
        if let Some((flag, _)) = event_only.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{flag} is for the event loop; --mode threads is the frozen baseline of the \
                 comparison and keeps its room in memory, without TLS or accounts"
            ));
        }
    }
    check_store_flags(matches)?;
    if config.auth == Auth::Token && config.db == Db::None {
        return Err(
            "--auth token keeps its accounts in the room's log or on Redis; it cannot \
             run with --db none"
                .to_string(),
        );
    }
    Ok(())
}

/// The rules between `--db`, `--redis`, `--office` and `--room`: the
/// server's and the `user` commands'.
fn check_store_flags(matches: &Matches) -> Result<(), String> {
    if matches.opt_present("redis") && matches.opt_present("db") {
        return Err("--redis and --db name two different logs for the room; give one".to_string());
    }
    if matches.opt_present("office") && matches.opt_present("room") {
        return Err("--room is the old name of --office; give one".to_string());
    }
    for flag in ["office", "room"] {
        if matches.opt_present(flag) && !matches.opt_present("redis") {
            return Err(format!(
                "--{flag} names an office shared through --redis; give --redis too"
            ));
        }
    }
    Ok(())
}

/// What to warn about: flags given under an old name.
fn warnings_from(matches: &Matches) -> Vec<String> {
    matches
        .opt_present("room")
        .then(|| ROOM_FLAG_RENAMED.to_string())
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_config(args: &[&str]) -> Config {
        match parse_args(args) {
            Ok(Command::Run(config)) => *config,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    #[test]
    fn queue_budget_takes_a_size() {
        assert_eq!(
            run_config(&["--queue-budget", "64M"]).queue_budget_bytes,
            64 << 20
        );
        assert_eq!(
            run_config(&["--queue-budget", "2097152"]).queue_budget_bytes,
            2 << 20
        );
        assert_eq!(
            run_config(&["--queue-budget", "1g"]).queue_budget_bytes,
            1 << 30
        );
        for bad in ["", "lots", "12X", "512K", "-1M"] {
            assert!(parse_args(&["--queue-budget", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_queue_budget_fits_the_box() {
        let budget = default_queue_budget() as u64;
        let (least, most) = QUEUE_BUDGET_DEFAULT_RANGE;
        assert!((least..=most).contains(&budget), "{budget}");
    }

    #[test]
    fn defaults_match_the_seed() {
        let config = run_config(&[]);
        assert_eq!(config.host, "0.0.0.0");
        assert_eq!(config.port, 5002);
        assert_eq!(config.mode, Mode::Event);
    }

    #[test]
    fn every_flag_is_read() {
        let config = run_config(&[
            "-H",
            "127.0.0.1",
            "-p",
            "6000",
            "--mode",
            "threads",
            "--max-clients",
            "300",
            "--max-line",
            "512",
            "--max-queue",
            "65536",
            "--history",
            "5",
            "--idle-timeout",
            "0",
            "--rate-limit",
            "0",
            "--log-level",
            "debug",
        ]);
        assert_eq!(
            config,
            Config {
                host: "127.0.0.1".into(),
                port: 6000,
                mode: Mode::Threads,
                max_clients: Some(300),
                max_line_bytes: 512,
                max_queue_bytes: 65536,
                history: 5,
                idle_timeout: None,
                rate_limit: None,
                log_level: Some("debug".parse().unwrap()),
                db: Db::default_path(),
                ..Config::default()
            }
        );
    }

    #[test]
    fn tls_and_accounts_flags() {
        let config = run_config(&[
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--require-tls",
            "--auth",
            "token",
            "--login-timeout",
            "3",
        ]);
        assert_eq!(
            config.tls,
            Some(Tls {
                files: Some(("c.pem".into(), "k.pem".into())),
                required: true
            })
        );
        assert_eq!(config.auth, Auth::Token);
        assert_eq!(config.login_timeout, Duration::from_secs(3));
        assert_eq!(run_config(&["--tls"]).tls.unwrap().files, None);
        assert!(parse_args(&["--tls-cert", "c.pem"]).is_err());
        assert!(parse_args(&["--auth", "token", "--db", "none"]).is_err());
        assert!(parse_args(&["--mode", "threads", "--tls"]).is_err());
        assert!(parse_args(&["--auth", "maybe"]).is_err());
    }

    #[test]
    fn irc_flags() {
        let config = run_config(&[
            "--irc-server-name",
            "My.Little.Server",
            "--irc-no-main",
            "--irc-port",
            "6667",
        ]);
        assert_eq!(config.irc.server_name, "My.Little.Server");
        assert!(!config.irc.join_main);
        assert_eq!(config.irc.port, Some(6667));
        assert!(parse_args(&["--mode", "threads", "--irc-port", "6667"]).is_err());
        assert!(run_config(&[]).irc.join_main);
        assert!(parse_args(&["--irc-server-name", "nodot"]).is_err());
        assert!(parse_args(&["--irc-server-name", "a b.c"]).is_err());
        let opers = run_config(&["--irc-oper", "root:pw:1", "--irc-oper", "ops:x"])
            .irc
            .opers;
        let names: Vec<&str> = opers.iter().map(|oper| oper.name.as_str()).collect();
        assert_eq!(names, ["root", "ops"]);
        assert!(run_config(&[]).irc.opers.is_empty());
        assert!(parse_args(&["--irc-oper", "nopassword"]).is_err());
        assert!(parse_args(&["--irc-oper", ":pw"]).is_err());
        assert!(parse_args(&["--irc-oper", "root:"]).is_err());
    }

    #[test]
    fn user_commands() {
        assert_eq!(
            parse_args(&["user", "add", "alice", "--db", "r.db"]),
            Ok(Command::User {
                action: UserAction::Add("alice".into()),
                db: Db::Path("r.db".into()),
                warnings: Vec::new(),
            })
        );
        assert!(matches!(
            parse_args(&["user", "list"]),
            Ok(Command::User {
                action: UserAction::List,
                ..
            })
        ));
        assert!(parse_args(&["user", "add"]).is_err());
        assert!(parse_args(&["user", "remove", "a", "--db", "none"]).is_err());
        assert!(matches!(
            parse_args(&["user", "--help"]),
            Ok(Command::Help(_))
        ));
    }

    #[test]
    fn user_commands_reach_an_office_on_redis() {
        let office = |name: &str| {
            Db::Redis(RedisTarget {
                url: "redis://h:1".into(),
                office: name.into(),
            })
        };
        assert_eq!(
            parse_args(&[
                "user",
                "remove",
                "bob",
                "--redis",
                "redis://h:1",
                "--office",
                "ops"
            ]),
            Ok(Command::User {
                action: UserAction::Remove("bob".into()),
                db: office("ops"),
                warnings: Vec::new(),
            })
        );
        assert_eq!(
            parse_args(&["user", "list", "--redis", "redis://h:1", "--room", "ops"]),
            Ok(Command::User {
                action: UserAction::List,
                db: office("ops"),
                warnings: vec![ROOM_FLAG_RENAMED.to_string()],
            })
        );
        let message = |args: &[&str]| parse_args(args).unwrap_err().message;
        assert!(
            message(&["user", "list", "--redis", "redis://h:1", "--db", "x"]).contains("give one")
        );
        assert!(message(&["user", "list", "--office", "ops"]).contains("give --redis too"));
    }

    #[test]
    fn bad_number_is_a_usage_error() {
        let err = parse_args(&["--port", "lots"]).unwrap_err();
        assert_eq!(err.message, "--port wants a whole number, not 'lots'");
        assert!(err.usage.contains("--help"));
    }

    #[test]
    fn port_out_of_range() {
        assert!(parse_args(&["--port", "70000"]).is_err());
    }

    #[test]
    fn unknown_flag_and_stray_argument() {
        assert!(parse_args(&["--colour"]).is_err());
        assert!(parse_args(&["extra"]).is_err());
    }

    #[test]
    fn unknown_mode() {
        assert!(parse_args(&["--mode", "async"])
            .unwrap_err()
            .message
            .contains("event or threads"));
    }

    #[test]
    fn help_lists_every_flag() {
        let Ok(Command::Help(text)) = parse_args(&["--help"]) else {
            panic!("expected help");
        };
        for flag in [
            "--host",
            "--port",
            "--mode",
            "--max-clients",
            "--max-line",
            "--max-queue",
            "--history",
            "--idle-timeout",
            "--rate-limit",
            "--log-level",
            "--db",
            "--redis",
            "--office",
            "--room",
            "--help",
            "--version",
        ] {
            assert!(text.contains(flag), "help lacks {flag}");
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        assert!(words
            .join(" ")
            .contains("baseline for comparison, not for production"));
    }

    #[test]
    fn bad_log_level_is_a_usage_error() {
        let err = parse_args(&["--log-level", "loud=very=much"]).unwrap_err();
        assert!(
            err.message.starts_with("--log-level: 'loud=very=much'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn db_takes_a_path_or_none() {
        assert_eq!(run_config(&["--db", "none"]).db, Db::None);
        assert_eq!(
            run_config(&["--db", "/tmp/x.db"]).db,
            Db::Path(PathBuf::from("/tmp/x.db"))
        );
    }

    #[test]
    fn threads_mode_refuses_the_event_loops_capabilities() {
        let err = parse_args(&["--mode", "threads", "--db", "x.db"]).unwrap_err();
        assert!(err.message.contains("frozen baseline"), "{}", err.message);
    }

    #[test]
    fn redis_takes_a_url_and_an_office() {
        let config = run_config(&["--redis", "redis://10.0.0.5:6379/2", "--office", "ops"]);
        assert_eq!(
            config.db,
            Db::Redis(RedisTarget {
                url: "redis://10.0.0.5:6379/2".to_string(),
                office: "ops".to_string(),
            })
        );
        assert!(config.warnings.is_empty());
        assert_eq!(
            run_config(&["--redis", "redis://h:1"]).db,
            Db::Redis(RedisTarget {
                url: "redis://h:1".to_string(),
                office: DEFAULT_OFFICE.to_string(),
            })
        );
    }

    #[test]
    fn room_is_still_taken_for_the_office_with_a_warning() {
        let config = run_config(&["--redis", "redis://h:1", "--room", "ops"]);
        assert_eq!(
            config.db,
            Db::Redis(RedisTarget {
                url: "redis://h:1".to_string(),
                office: "ops".to_string(),
            })
        );
        assert_eq!(config.warnings, [ROOM_FLAG_RENAMED]);
        let message = |args: &[&str]| parse_args(args).unwrap_err().message;
        assert!(
            message(&["--redis", "redis://h:1", "--room", "a", "--office", "b"])
                .contains("give one")
        );
        assert!(message(&["--redis", "redis://h:1", "--room", "a b"]).starts_with("--room "));
    }

    #[test]
    fn redis_refuses_db_threads_bad_urls_and_offices() {
        let message = |args: &[&str]| parse_args(args).unwrap_err().message;
        assert!(message(&["--redis", "redis://h:1", "--db", "x.db"]).contains("give one"));
        assert!(message(&["--mode", "threads", "--redis", "redis://h:1"]).contains("frozen"));
        assert!(message(&["--redis", "h:1"]).contains("redis://HOST:PORT"));
        assert!(message(&["--redis", "redis://h:1", "--office", "a b"]).starts_with("--office "));
        assert!(message(&["--office", "ops"]).contains("give --redis too"));
        assert!(message(&["--room", "ops"]).contains("give --redis too"));
    }

    #[test]
    fn accounts_run_with_redis() {
        let config = run_config(&["--redis", "redis://h:1", "--auth", "token"]);
        assert_eq!(config.auth, Auth::Token);
    }

    #[test]
    fn version() {
        assert_eq!(parse_args(&["--version"]), Ok(Command::Version));
    }
}
