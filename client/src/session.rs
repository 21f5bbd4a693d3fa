//! One chat session, start to end: opening sound, connecting, the name
//! prompt and join handshake, then turning typed lines into messages until
//! the user leaves or the server goes away. Owns the main thread's event
//! loop and the stdin thread; printing server lines is the reader's job
//! (`net`), and how anything looks is `render`'s.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, BufRead, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use chat_shared::message::{check_name, max_text_bytes};
use chat_shared::{ClientLine, Color, ErrorCode, DEFAULT_MAX_LINE_BYTES};

use crate::config::Config;
use crate::net::{self, print_line, ServerEvent, Writer};
use crate::render::{self, ColorMode};
use crate::sound;

/// After `/quit`, how long to wait for the server's `BYE` (or its close)
/// before leaving anyway: long enough for a loaded server to answer, short
/// enough that quitting never feels stuck.
pub const QUIT_WAIT: Duration = Duration::from_secs(2);

/// How long the first name prompt waits for the server's history replay,
/// so the replay is printed before the prompt rather than across it. The
/// server sends it at once on connect, so on a LAN it takes milliseconds;
/// with no history nothing comes and the wait is this long, too short for a
/// person to notice.
const HISTORY_GRACE: Duration = Duration::from_millis(250);

/// How a session ended, which decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The user typed `q` or `/quit`, or closed stdin: exit 0.
    UserLeft,
    /// The server closed the connection (the reason was printed): exit 1.
    Disconnected,
}

/// Why a session could not run at all.
#[derive(Debug)]
pub enum RunError {
    /// Resolving or connecting failed.
    Connect {
        /// `HOST:PORT` as the user gave it.
        target: String,
        /// What the OS said.
        source: io::Error,
    },
    /// Setting up the connection or a thread failed after connecting.
    Setup(io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Connect { target, source } => {
                write!(f, "cannot connect to {target}: {source}")
            }
            RunError::Setup(err) => write!(f, "cannot set up the connection: {err}"),
        }
    }
}

impl std::error::Error for RunError {}

/// Everything the main thread waits for, from either helper thread.
#[derive(Debug)]
enum Event {
    /// A line typed (or piped) on stdin, without its line ending.
    Input(String),
    /// Stdin reached its end (or failed).
    InputClosed,
    /// News from the reader thread.
    Server(ServerEvent),
}

/// What the user's next input turned out to be.
enum UserInput {
    Line(String),
    Closed,
    /// The server went away while we waited; the notice is printed.
    Disconnected,
}

/// The server's answer to `/join`.
enum JoinAnswer {
    /// `WELCOME`, with the name as the server stored it.
    Accepted(String),
    /// `ERR` with this code and detail.
    Refused(ErrorCode, String),
}

/// What a typed line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Typed<'a> {
    /// Blank: nothing to send.
    Nothing,
    /// `q` (as in the seed) or `/quit`.
    Quit,
    /// `/who`.
    Who,
    /// Some other `/word`: not sent, so a typo does not become a message.
    UnknownCommand(&'a str),
    /// A message for everyone.
    Say(&'a str),
}

/// Runs a session with the given settings until it ends.
pub fn run(config: &Config) -> Result<SessionEnd, RunError> {
    if config.no_color {
        colored::control::set_override(false);
    }
    // `colored` decides from NO_COLOR, CLICOLOR(_FORCE) and whether stdout
    // is a terminal; we ask once and pass the answer down.
    let mode = if colored::control::SHOULD_COLORIZE.should_colorize() {
        ColorMode::On
    } else {
        ColorMode::Off
    };
    // Opened here, on the main thread, and kept in `_device` until the
    // session ends: dropping it would silence every later chime.
    let sound = sound::open(config.mute);
    let _device = sound.device;

    let target = format!("{}:{}", config.host, config.port);
    print_line(&format!("[*] Connecting to {target}..."));
    let stream = net::connect(&config.host, config.port)
        .map_err(|source| RunError::Connect { target, source })?;
    print_line("[+] Connected.");
    if let Some(reason) = &sound.fallback_reason {
        print_line(&render::no_audio_device(reason));
    }

    let (events, inbox) = mpsc::channel();
    let writer = Writer::new(stream.try_clone().map_err(RunError::Setup)?);
    let server_events = events.clone();
    net::spawn_reader(stream, sound.notifier, mode, move |event| {
        server_events.send(Event::Server(event)).is_ok()
    })
    .map_err(RunError::Setup)?;
    spawn_stdin_reader(events).map_err(RunError::Setup)?;

    let mut session = Session {
        inbox,
        writer,
        deferred: VecDeque::new(),
        first_burst_shown: false,
    };
    let color = config.color.unwrap_or_else(random_color);
    let name = match session.join(config.name.clone(), color) {
        Ok(name) => name,
        Err(end) => return Ok(end),
    };
    net::spawn_pinger(session.writer.clone()).map_err(RunError::Setup)?;
    Ok(session.chat(&name))
}

/// A colour for this run, as the seed did (`random.choice(colors)`).
/// `RandomState` is seeded from the OS per process, which is all the
/// randomness this needs.
fn random_color() -> Color {
    Color::from_seed(RandomState::new().hash_one(std::process::id()))
}

/// The main thread's side of a session.
struct Session {
    /// Events from the stdin and reader threads.
    inbox: Receiver<Event>,
    /// Shared with the ping thread.
    writer: Writer,
    /// Input that arrived while waiting for the server's answer to `/join`
    /// (piped stdin is read ahead); handled in order afterwards.
    deferred: VecDeque<Event>,
    /// Whether the history replay has been printed (or waited for long
    /// enough); see [`HISTORY_GRACE`].
    first_burst_shown: bool,
}

impl Session {
    /// Asks for a name (unless given) and joins, asking again while the
    /// server refuses it. Returns the name the server accepted.
    fn join(&mut self, mut name: Option<String>, color: Color) -> Result<String, SessionEnd> {
        let mut color = Some(color);
        loop {
            let candidate = match name.take() {
                Some(given) => given,
                None => self.ask_name()?,
            };
            self.send(&ClientLine::Join {
                name: &candidate,
                color,
            })?;
            match self.await_join_answer()? {
                JoinAnswer::Accepted(accepted) => return Ok(accepted),
                JoinAnswer::Refused(ErrorCode::NameTaken, _) => {
                    print_line(&render::name_taken(&candidate))
                }
                JoinAnswer::Refused(ErrorCode::BadColor, _) if color.is_some() => {
                    // Our palette and the server's disagree; let it pick.
                    color = None;
                    name = Some(candidate);
                }
                JoinAnswer::Refused(_, detail) => {
                    print_line(&render::name_refused(&candidate, &detail))
                }
            }
        }
    }

    /// Prompts until a line passes the name rules.
    fn ask_name(&mut self) -> Result<String, SessionEnd> {
        self.await_first_burst()?;
        loop {
            prompt("Enter your name: ");
            let typed = match self.next_input() {
                UserInput::Line(line) => line,
                UserInput::Closed => return Err(self.quit()),
                UserInput::Disconnected => return Err(SessionEnd::Disconnected),
            };
            let typed = typed.trim();
            if typed.is_empty() {
                continue;
            }
            match check_name(typed) {
                Ok(()) => return Ok(typed.to_string()),
                Err(why) => print_line(&render::name_refused(typed, &why.to_string())),
            }
        }
    }

    /// Waits (briefly, and once) until the server's first lines are shown.
    fn await_first_burst(&mut self) -> Result<(), SessionEnd> {
        let deadline = Instant::now() + HISTORY_GRACE;
        while !self.first_burst_shown {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(left) {
                Ok(Event::Server(ServerEvent::FirstBurstShown)) => self.first_burst_shown = true,
                Ok(Event::Server(ServerEvent::Closed { reason })) => {
                    return Err(self.disconnected(&reason))
                }
                Ok(other) => self.deferred.push_back(other),
                Err(RecvTimeoutError::Timeout) => self.first_burst_shown = true,
                Err(RecvTimeoutError::Disconnected) => return Err(self.disconnected("")),
            }
        }
        Ok(())
    }

    /// Waits for `WELCOME` or a refusal, keeping typed lines for later.
    fn await_join_answer(&mut self) -> Result<JoinAnswer, SessionEnd> {
        loop {
            match self.inbox.recv() {
                Ok(Event::Server(ServerEvent::Welcome { name })) => {
                    return Ok(JoinAnswer::Accepted(name))
                }
                Ok(Event::Server(ServerEvent::JoinRefused { code, detail })) => {
                    return Ok(JoinAnswer::Refused(code, detail))
                }
                Ok(Event::Server(ServerEvent::Closed { reason })) => {
                    return Err(self.disconnected(&reason))
                }
                Ok(Event::Server(ServerEvent::FirstBurstShown)) => self.first_burst_shown = true,
                Ok(input) => self.deferred.push_back(input),
                Err(_) => return Err(self.disconnected("")),
            }
        }
    }

    /// Sends each typed line until the user leaves or the server does.
    fn chat(&mut self, name: &str) -> SessionEnd {
        loop {
            let line = match self.next_input() {
                UserInput::Line(line) => line,
                UserInput::Closed => return self.quit(),
                UserInput::Disconnected => return SessionEnd::Disconnected,
            };
            let sent = match interpret(&line) {
                Typed::Nothing => Ok(()),
                Typed::Quit => return self.quit(),
                Typed::Who => self.send(&ClientLine::Who),
                Typed::UnknownCommand(word) => {
                    print_line(&format!(
                        "[!] Unknown command {}; type /who to see who is online, q or /quit to leave.",
                        chat_shared::sanitize::clean(word)
                    ));
                    Ok(())
                }
                Typed::Say(text) => {
                    let limit = max_text_bytes(name, DEFAULT_MAX_LINE_BYTES);
                    if text.len() > limit {
                        print_line(&format!(
                            "[!] That message is {} bytes; the limit is {limit}. Not sent.",
                            text.len()
                        ));
                        Ok(())
                    } else {
                        self.send(&ClientLine::Say { name, text })
                    }
                }
            };
            if let Err(end) = sent {
                return end;
            }
        }
    }

    /// The next typed line, handling whatever server news comes first.
    fn next_input(&mut self) -> UserInput {
        loop {
            let event = match self.deferred.pop_front() {
                Some(event) => event,
                None => match self.inbox.recv() {
                    Ok(event) => event,
                    Err(_) => return UserInput::Closed,
                },
            };
            match event {
                Event::Input(line) => return UserInput::Line(line),
                Event::InputClosed => return UserInput::Closed,
                Event::Server(ServerEvent::Closed { reason }) => {
                    self.disconnected(&reason);
                    return UserInput::Disconnected;
                }
                Event::Server(ServerEvent::FirstBurstShown) => self.first_burst_shown = true,
                // Only expected during the handshake, which handles them.
                Event::Server(ServerEvent::Welcome { .. } | ServerEvent::JoinRefused { .. }) => {}
            }
        }
    }

    /// Sends a line; if the connection is gone, reports it as a disconnect.
    fn send(&mut self, line: &ClientLine<'_>) -> Result<(), SessionEnd> {
        match self.writer.send(line) {
            Ok(()) => Ok(()),
            Err(err) => {
                // The reader usually knows better why (a BYE, say); give it
                // a moment to tell us.
                let reason = self
                    .wait_for_close(QUIT_WAIT)
                    .unwrap_or_else(|| err.to_string());
                Err(self.disconnected(&reason))
            }
        }
    }

    /// Leaves politely: `/quit`, then a short wait for the server's `BYE`
    /// so our leaving is processed before the socket closes.
    fn quit(&mut self) -> SessionEnd {
        if self.writer.send(&ClientLine::Quit).is_ok() {
            let _ = self.wait_for_close(QUIT_WAIT);
        }
        self.writer.shutdown();
        SessionEnd::UserLeft
    }

    /// Waits up to `limit` for the reader to report the end of the
    /// connection; returns its reason. Other events are dropped: we are
    /// leaving.
    fn wait_for_close(&mut self, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(left) {
                Ok(Event::Server(ServerEvent::Closed { reason })) => return Some(reason),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn disconnected(&mut self, reason: &str) -> SessionEnd {
        print_line(&render::disconnected(reason));
        self.writer.shutdown();
        SessionEnd::Disconnected
    }
}

/// Reads stdin on its own thread so the main thread can wait for typed
/// lines and server news at once.
fn spawn_stdin_reader(events: Sender<Event>) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("stdin-reader".into())
        .spawn(move || {
            let stdin = io::stdin();
            let mut input = stdin.lock();
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let event = match input.read_until(b'\n', &mut buf) {
                    Ok(0) => Event::InputClosed,
                    Ok(_) => Event::Input(strip_line_ending(&buf)),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => Event::InputClosed,
                };
                let last = matches!(event, Event::InputClosed);
                if events.send(event).is_err() || last {
                    break;
                }
            }
        })
}

fn strip_line_ending(raw: &[u8]) -> String {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

fn interpret(line: &str) -> Typed<'_> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Typed::Nothing;
    }
    if trimmed.eq_ignore_ascii_case("q") || trimmed == "/quit" {
        return Typed::Quit;
    }
    if trimmed == "/who" {
        return Typed::Who;
    }
    if let Some(word) = trimmed.split_whitespace().next() {
        if word.starts_with('/') && word.len() > 1 {
            return Typed::UnknownCommand(word);
        }
    }
    Typed::Say(line)
}

fn prompt(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_send_nothing() {
        assert_eq!(interpret(""), Typed::Nothing);
        assert_eq!(interpret("   "), Typed::Nothing);
    }

    #[test]
    fn q_and_quit_leave() {
        assert_eq!(interpret("q"), Typed::Quit);
        assert_eq!(interpret("Q"), Typed::Quit);
        assert_eq!(interpret(" q "), Typed::Quit);
        assert_eq!(interpret("/quit"), Typed::Quit);
    }

    #[test]
    fn who() {
        assert_eq!(interpret("/who"), Typed::Who);
    }

    #[test]
    fn unknown_command_is_not_sent() {
        assert_eq!(interpret("/dance now"), Typed::UnknownCommand("/dance"));
    }

    #[test]
    fn text_is_sent_as_typed() {
        assert_eq!(interpret("hello there"), Typed::Say("hello there"));
        assert_eq!(interpret(" q is a letter"), Typed::Say(" q is a letter"));
        assert_eq!(interpret("a/b"), Typed::Say("a/b"));
        assert_eq!(interpret("/"), Typed::Say("/"));
        assert_eq!(interpret("bell\x07"), Typed::Say("bell\x07"));
    }

    #[test]
    fn line_endings_are_stripped() {
        assert_eq!(strip_line_ending(b"hi\r\n"), "hi");
        assert_eq!(strip_line_ending(b"hi\n"), "hi");
        assert_eq!(strip_line_ending(b"hi"), "hi");
        assert_eq!(strip_line_ending(b"\xffhi\n"), "\u{FFFD}hi");
    }

    #[test]
    fn random_colour_is_in_the_palette() {
        assert!(Color::ALL.contains(&random_color()));
    }
}
