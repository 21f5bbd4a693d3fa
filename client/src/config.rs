//! Command-line flags: what the user asked for, checked once. Owns the
//! getopts table, the usage text and [`parse_args`]; it does not open
//! sockets or devices (that is `net` and `sound`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chat_shared::message::check_name;
use chat_shared::{Color, Fingerprint, DEFAULT_PORT};
use getopts::{Matches, Options};

use crate::commands::command_help;
use crate::net::DEFAULT_KEEPALIVE;
use crate::notify::NotifyLevel;
use crate::server_addr::ServerAddr;
use crate::tls::Trust;

/// The program name used in messages and the usage line.
pub const PROGRAM: &str = env!("CARGO_PKG_NAME");

/// Where a desk connects when `--host` is not given: the seed's default.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// What the program should do, as decided by the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Connect and chat.
    Run(Config),
    /// Print this text (the full usage) to stdout and exit 0.
    Help(String),
    /// Print this text (`chat-client 0.1.0`) to stdout and exit 0.
    Version(String),
}

/// Everything a chat session needs to know from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The servers to try, in turn: the first that answers, and after a
    /// loss the next one (failover). Never empty.
    pub servers: Vec<ServerAddr>,
    /// TLS, and how to trust the server's certificate; `None` for plain TCP.
    pub tls: Option<Trust>,
    /// `--token-file`: where this desk's account token is kept.
    pub token_file: Option<PathBuf>,
    /// The name to join as; asked for at a prompt when `None`.
    pub name: Option<String>,
    /// The colour others see our name in; when `None`, the one the name
    /// gives ([`Color::for_name`]), the same on every run and every desk.
    pub color: Option<Color>,
    /// Which messages chime (or ring the bell): `--notify`, or `--mute`.
    pub notify: NotifyLevel,
    /// Never print colour escapes, even on a terminal.
    pub no_color: bool,
    /// How often to ping the server; a server silent for one and a half
    /// of these counts as lost.
    pub keepalive: Duration,
}

/// Longest `--keepalive`: the server's default idle timeout is 600 s, and
/// a desk pinging less often than that would be dropped as idle.
const MAX_KEEPALIVE_SECS: u64 = 300;

/// A bad flag or value. Printed as `chat-client: <message>` followed by the
/// short usage; the process exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// What was wrong, one line, lowercase.
    pub message: String,
    /// The one-line usage summary to print after it.
    pub short_usage: String,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// Parses the arguments after the program name.
///
/// Stage one lets getopts check the flags' shape; stage two turns the raw
/// strings into checked values ([`Config`]), so the rest of the program
/// never sees an unchecked name, colour or port.
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Command, UsageError> {
    let opts = options();
    let fail = |message: String| UsageError {
        message,
        short_usage: short_usage(&opts),
    };
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let matches = opts.parse(&args).map_err(|err| fail(err.to_string()))?;
    if matches.opt_present("help") {
        return Ok(Command::Help(full_usage(&opts)));
    }
    if matches.opt_present("version") {
        return Ok(Command::Version(format!(
            "{PROGRAM} {}",
            env!("CARGO_PKG_VERSION")
        )));
    }
    config_from(&matches).map(Command::Run).map_err(fail)
}

/// Stage two: checked values from getopts' raw strings.
fn config_from(matches: &Matches) -> Result<Config, String> {
    if let Some(extra) = matches.free.first() {
        return Err(format!("unexpected argument '{extra}'"));
    }
    let port = match matches.opt_str("port") {
        None => DEFAULT_PORT,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(format!("invalid port '{text}'; expected 1 to 65535")),
        },
    };
    let mut hosts = matches.opt_strs("host");
    if hosts.is_empty() {
        hosts.push(DEFAULT_HOST.to_string());
    }
    let servers = hosts
        .iter()
        .flat_map(|list| list.split(','))
        .map(|entry| ServerAddr::parse(entry, port))
        .collect::<Result<Vec<_>, _>>()?;
    let ca = matches.opt_str("ca").map(PathBuf::from);
    let pinned = match matches.opt_str("fingerprint") {
        None => None,
        Some(text) => Some(Fingerprint::parse(&text).ok_or_else(|| {
            format!("invalid fingerprint '{text}'; expected SHA256: and 32 hex pairs, as the server prints it")
        })?),
    };
    // --ca and --fingerprint only make sense over TLS, so they ask for it.
    let tls = match (ca, pinned) {
        (Some(_), Some(_)) => {
            return Err(
                "--ca and --fingerprint are two ways to trust a server; give one".to_string(),
            )
        }
        (Some(ca), None) => Some(Trust::Ca(ca)),
        (None, Some(pin)) => Some(Trust::Pinned(pin)),
        (None, None) if matches.opt_present("tls") => Some(Trust::FirstUse),
        (None, None) => None,
    };
    let name = match matches.opt_str("name") {
        None => None,
        Some(name) => {
            check_name(&name).map_err(|err| format!("invalid name '{name}': {err}"))?;
            Some(name)
        }
    };
    let color = match matches.opt_str("color") {
        None => None,
        Some(word) => Some(word.parse::<Color>().map_err(|err| err.to_string())?),
    };
    // `--mute` is `--notify off`; asking for a sound and for none at once is
    // a mistake worth pointing out rather than guessing which was meant.
    let mute = matches.opt_present("mute");
    let notify = match matches.opt_str("notify") {
        None if mute => NotifyLevel::Off,
        None => NotifyLevel::All,
        Some(word) => match word.parse::<NotifyLevel>().map_err(|err| err.to_string())? {
            level if mute && level != NotifyLevel::Off => {
                return Err(format!("--mute contradicts --notify {level}"))
            }
            level => level,
        },
    };
    let keepalive = match matches.opt_str("keepalive") {
        None => DEFAULT_KEEPALIVE,
        Some(text) => match text.parse::<u64>() {
            Ok(secs) if (1..=MAX_KEEPALIVE_SECS).contains(&secs) => Duration::from_secs(secs),
            _ => {
                return Err(format!(
                    "invalid keepalive '{text}'; expected 1 to {MAX_KEEPALIVE_SECS} seconds"
                ))
            }
        },
    };
    Ok(Config {
        servers,
        tls,
        token_file: matches.opt_str("token-file").map(PathBuf::from),
        name,
        color,
        notify,
        no_color: matches.opt_present("no-color"),
        keepalive,
    })
}

fn options() -> Options {
    let mut opts = Options::new();
    opts.optmulti(
        "H",
        "host",
        &format!(
            "server to connect to (default {DEFAULT_HOST}): HOST or HOST:PORT; several, \
             comma-separated or with --host again, are tried in turn, and after a lost \
             connection the desk moves on to the next one and resumes there"
        ),
        "HOST",
    );
    opts.optopt(
        "p",
        "port",
        &format!("port for hosts given without one (default {DEFAULT_PORT})"),
        "PORT",
    );
    opts.optflag(
        "",
        "tls",
        "connect over TLS; without --ca or --fingerprint, trust the certificate each \
         server shows the first time (recorded in $XDG_CONFIG_HOME/chat-client/known_hosts, \
         ~/.config by default) and refuse to connect if it ever changes",
    );
    opts.optopt(
        "",
        "ca",
        "TLS, trusting certificates signed by the PEM certificates in FILE (the server's \
         own certificate file will do) for the host's name",
        "FILE",
    );
    opts.optopt(
        "",
        "fingerprint",
        "TLS, trusting only the certificate with this SHA-256 fingerprint, as the \
         server prints it at start (SHA256:AB:CD:...)",
        "FP",
    );
    opts.optopt(
        "",
        "token-file",
        "the file holding your account's token (from chat-server user add), for a \
         server run with --auth token; without it the token is asked for (without echo, on a terminal) \
         when the server wants one",
        "PATH",
    );
    opts.optopt(
        "n",
        "name",
        "join as NAME instead of being asked; if it is taken you are asked again",
        "NAME",
    );
    let colors: Vec<&str> = Color::ALL.iter().map(|c| c.name()).collect();
    opts.optopt(
        "c",
        "color",
        &format!(
            "the colour others see your name in (default: the one your name gives, \
             the same on every desk and every run); one of {}",
            colors.join(", ")
        ),
        "COLOR",
    );
    opts.optopt(
        "",
        "notify",
        "which messages from others chime (or ring the terminal bell): all \
         (default), mentions (only those naming you, and direct messages) or off; \
         /notify changes it",
        "LEVEL",
    );
    opts.optflag("", "mute", "no sound and no bell: the same as --notify off");
    opts.optflag(
        "",
        "no-color",
        "never print colours (also off when stdout is not a terminal or NO_COLOR is set)",
    );
    opts.optopt(
        "",
        "keepalive",
        &format!(
            "ping the server every SECS seconds (default {}); a server silent for \
             one and a half times that counts as lost, and the client reconnects",
            DEFAULT_KEEPALIVE.as_secs()
        ),
        "SECS",
    );
    opts.optflag("h", "help", "print this help and exit");
    opts.optflag("V", "version", "print the version and exit");
    opts
}

fn short_usage(opts: &Options) -> String {
    format!(
        "{}\nTry '{PROGRAM} --help' for more information.",
        opts.short_usage(PROGRAM)
    )
}

fn full_usage(opts: &Options) -> String {
    let brief = format!(
        "Usage: {PROGRAM} [options]\n\n\
         Joins the office chat at HOST:PORT. Every line you type is sent to\n\
         everyone; a chime (or the terminal bell) marks messages from others.\n\
         A message that names you (alice, @alice) is highlighted, and marked\n\
         >> without colour. A direct message (/msg) reads \"alice \u{2192} you\"\n\
         or \"you \u{2192} bob\", in italics. If the connection is lost, the client\n\
         says so, keeps what you type, reconnects by itself (the first try within\n\
         a second, then less and less often, at least every 30 s) and shows what\n\
         you missed; with several servers (--host a,b) each try goes to the next.\n\
         It exits with status 1 when no server answers at start, or when a server\n\
         refuses the desk for good (a changed certificate, a refused token, a\n\
         removed account, a server that takes TLS only), and says why."
    );
    format!(
        "{}\nWhile chatting, type:\n{}",
        opts.usage(&brief),
        command_help()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Config {
        match parse_args(args) {
            Ok(Command::Run(config)) => config,
            other => panic!("expected Run, got {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        match parse_args(args) {
            Err(err) => err.message,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        assert_eq!(
            run(&[]),
            Config {
                servers: vec![server("127.0.0.1", 5002)],
                tls: None,
                token_file: None,
                name: None,
                color: None,
                notify: NotifyLevel::All,
                no_color: false,
                keepalive: Duration::from_secs(60),
            }
        );
    }

    #[test]
    fn every_flag_long() {
        let config = run(&[
            "--host",
            "192.168.1.2",
            "--port",
            "6000",
            "--name",
            "alice",
            "--color",
            "bright-red",
            "--notify",
            "mentions",
            "--no-color",
            "--keepalive",
            "5",
            "--tls",
            "--token-file",
            "/tmp/token",
        ]);
        assert_eq!(
            config,
            Config {
                servers: vec![server("192.168.1.2", 6000)],
                tls: Some(Trust::FirstUse),
                token_file: Some(PathBuf::from("/tmp/token")),
                name: Some("alice".into()),
                color: Some(Color::BrightRed),
                notify: NotifyLevel::Mentions,
                no_color: true,
                keepalive: Duration::from_secs(5),
            }
        );
    }

    #[test]
    fn short_flags() {
        let config = run(&["-H", "chat.local", "-p", "7", "-n", "bob", "-c", "cyan"]);
        assert_eq!(config.servers, vec![server("chat.local", 7)]);
        assert_eq!(config.name.as_deref(), Some("bob"));
        assert_eq!(config.color, Some(Color::Cyan));
    }

    #[test]
    fn help_and_version() {
        match parse_args(&["--help"]) {
            Ok(Command::Help(text)) => {
                for command in [
                    "--tls",
                    "--ca",
                    "--fingerprint",
                    "--token-file",
                    "known_hosts",
                    "--notify",
                    "--mute",
                    "/who",
                    "q or /quit",
                    "/me",
                    "//",
                    "/help",
                ] {
                    assert!(text.contains(command), "{command}: {text}");
                }
            }
            other => panic!("expected Help, got {other:?}"),
        }
        assert_eq!(
            parse_args(&["--version"]),
            Ok(Command::Version(format!(
                "chat-client {}",
                env!("CARGO_PKG_VERSION")
            )))
        );
    }

    fn server(host: &str, port: u16) -> ServerAddr {
        ServerAddr {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn several_hosts_in_one_flag_or_repeated_each_with_its_port_or_the_default() {
        let config = run(&[
            "--host",
            "a,b:6001",
            "-H",
            "[::1]:6002",
            "--host",
            "::1",
            "--port",
            "7000",
        ]);
        assert_eq!(
            config.servers,
            vec![
                server("a", 7000),
                server("b", 6001),
                server("::1", 6002),
                server("::1", 7000),
            ]
        );
        assert_eq!(config.servers[2].to_string(), "[::1]:6002");
        assert_eq!(config.servers[1].to_string(), "b:6001");
    }

    #[test]
    fn bad_host_entries() {
        assert!(error(&["--host", "a,,b"]).contains("the host is empty"));
        assert!(error(&["--host", "a:0"]).contains("invalid port '0' in 'a:0'"));
        assert!(error(&["--host", "a:x"]).contains("invalid port"));
        assert!(error(&["--host", "[::1"]).contains("no closing"));
    }

    #[test]
    fn trust_flags_ask_for_tls() {
        assert_eq!(run(&["--tls"]).tls, Some(Trust::FirstUse));
        assert_eq!(
            run(&["--ca", "server.pem"]).tls,
            Some(Trust::Ca(PathBuf::from("server.pem")))
        );
        let pin = format!("SHA256:{}", ["AB"; 32].join(":"));
        assert_eq!(
            run(&["--tls", "--fingerprint", &pin]).tls,
            Some(Trust::Pinned(Fingerprint::parse(&pin).unwrap()))
        );
        assert!(error(&["--fingerprint", "SHA256:AB"]).contains("invalid fingerprint"));
        assert!(error(&["--ca", "x.pem", "--fingerprint", &pin]).contains("give one"));
    }

    #[test]
    fn unknown_flag() {
        assert!(error(&["--loud"]).contains("loud"));
    }

    #[test]
    fn missing_value() {
        assert!(error(&["--port"]).contains("port"));
    }

    #[test]
    fn bad_port() {
        assert!(error(&["--port", "seventy"]).contains("invalid port"));
        assert!(error(&["--port", "0"]).contains("invalid port"));
        assert!(error(&["--port", "65536"]).contains("invalid port"));
    }

    #[test]
    fn bad_keepalive() {
        assert!(error(&["--keepalive", "0"]).contains("invalid keepalive"));
        assert!(error(&["--keepalive", "301"]).contains("invalid keepalive"));
        assert!(error(&["--keepalive", "soon"]).contains("invalid keepalive"));
    }

    #[test]
    fn bad_name() {
        assert!(error(&["--name", "has space"]).contains("invalid name"));
        assert!(error(&["--name", "/root"]).contains("invalid name"));
        assert!(error(&["--name", &"x".repeat(33)]).contains("invalid name"));
    }

    #[test]
    fn bad_colour_lists_the_choices() {
        let message = error(&["--color", "mauve"]);
        assert!(message.contains("mauve"), "{message}");
        assert!(message.contains("bright-yellow"), "{message}");
    }

    #[test]
    fn mute_is_notify_off() {
        assert_eq!(run(&["--mute"]).notify, NotifyLevel::Off);
        assert_eq!(run(&["--mute", "--notify", "off"]).notify, NotifyLevel::Off);
        let message = error(&["--mute", "--notify", "mentions"]);
        assert!(
            message.contains("--mute contradicts --notify mentions"),
            "{message}"
        );
    }

    #[test]
    fn bad_notify_level_lists_the_choices() {
        let message = error(&["--notify", "loud"]);
        assert!(message.contains("'loud'"), "{message}");
        assert!(message.contains("all, mentions or off"), "{message}");
    }

    #[test]
    fn colours_that_vanish_on_a_background_are_refused() {
        for gone in ["white", "bright-white", "bright-black"] {
            assert!(
                error(&["--color", gone]).contains("unknown colour"),
                "{gone}"
            );
        }
    }

    #[test]
    fn stray_argument() {
        assert!(error(&["somehost"]).contains("unexpected argument"));
    }

    #[test]
    fn usage_error_carries_short_usage() {
        let err = parse_args(&["--loud"]).unwrap_err();
        assert!(
            err.short_usage.contains("chat-client"),
            "{}",
            err.short_usage
        );
        assert!(err.short_usage.contains("--help"), "{}", err.short_usage);
    }
}
