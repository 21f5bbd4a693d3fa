//! One chat session, start to end, and the supervisor that keeps it going:
//! connecting (to each server in turn), signing in with the account's
//! token, the name prompt and join handshake, turning typed lines into
//! messages, direct messages and searches, and, when the connection is
//! lost, reconnecting with backoff (to the next server, when there are
//! several), rejoining under the same name and colour and resuming where
//! the desk left off, until the user leaves or the server refuses the desk
//! for good. Owns the main thread's event loop, which alone prints; the
//! threads around it (input, each connection's I/O thread, each connect
//! attempt) only report to it.

use std::fmt;
use std::io;
use std::ops::ControlFlow;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use chat_shared::message::{check_name, Chat, Direct};
use chat_shared::{ClientLine, Color, ErrorCode, MessageId, ServerLine, DEFAULT_MAX_LINE_BYTES};

use crate::attempt::{ConnectError, Connected};
use crate::backoff::Backoff;
use crate::chat_text::names;
use crate::commands::{interpret, Action, Commands, Typed};
use crate::config::Config;
use crate::feed::{Feed, ReplayHeader, Resumed, Verdict};
use crate::input::{self, InputEvent, Keyboard, Prompt, Request, TerminalModes};
use crate::net::{self, Connection, Incoming, Received};
use crate::notify::{Arrival, NotifyLevel};
use crate::outbox::{Outbox, Outgoing, QueueFull, MAX_WAITING_LINES};
use crate::render::{self, ChatStyle, ColorMode};
use crate::screen::Screen;
use crate::sound::Notifier;
use crate::tls::TlsClient;
use crate::token::{ask_token, read_token};

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

/// After a loss, how long a name refused as taken is tried again before
/// the desk asks for another. Most likely it is held for the connection
/// that was lost: by a server that has not noticed yet, or, with servers
/// sharing one room through Redis, by a server that died, whose names
/// expire after 20 s. Someone else taking the name meanwhile costs the
/// desk this wait.
const NAME_HELD_GRACE: Duration = Duration::from_secs(30);

/// How often a held name is tried again.
const REJOIN_INTERVAL: Duration = Duration::from_secs(1);

/// Why a session could not start, or ended without the user leaving.
#[derive(Debug)]
pub enum RunError {
    /// Resolving or connecting the first time failed, on every server:
    /// most likely a wrong host or port, which retrying would not fix.
    Connect {
        /// Each server tried (`HOST:PORT`) and what went wrong there (a
        /// certificate refused ends the session as [`RunError::Refused`]
        /// instead).
        failures: Vec<(String, ConnectError)>,
    },
    /// Setting up the connection or a thread failed after connecting.
    Setup(io::Error),
    /// What the desk needs before connecting is missing or unusable: the
    /// `--ca` file, the token file. A sentence for the user.
    Prepare(String),
    /// The server or its certificate said no, and trying again would get
    /// the same answer: a changed certificate, a refused or revoked
    /// account, a server that takes TLS only. A sentence (or a few lines)
    /// for the user.
    Refused(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Connect { failures } => {
                f.write_str("cannot connect to ")?;
                for (i, (target, err)) in failures.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; nor to ")?;
                    }
                    write!(f, "{target}: {err}")?;
                }
                Ok(())
            }
            RunError::Setup(err) => write!(f, "cannot set up the connection: {err}"),
            RunError::Prepare(why) | RunError::Refused(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for RunError {}

/// Everything the main thread waits for.
#[derive(Debug)]
enum Event {
    /// From the input thread.
    Input(InputEvent),
    /// A connect attempt ended.
    Connected {
        /// Which attempt ([`Session::link_id`] when it started).
        link_id: u64,
        result: Result<Connected, ConnectError>,
    },
    /// From a connection's I/O thread.
    Server {
        /// Which connection ([`Session::link_id`] when it opened).
        link_id: u64,
        received: Received,
    },
}

/// The state of the connection.
enum Link {
    /// Lost; the next try is due at `retry_at`.
    Down { retry_at: Instant },
    /// A connect attempt is under way on its own thread.
    Connecting,
    /// Connected.
    Up {
        /// The open connection.
        connection: Connection,
        /// Whether `/auth` went out on it.
        signed_in: bool,
        /// Whether the server welcomed us on it.
        joined: bool,
    },
}

/// How the session ends: the user left, or the server (or its
/// certificate) refused the desk for good, for this reason.
#[derive(Debug)]
enum Ended {
    Left,
    Refused(String),
}

/// Whether the session goes on after an event.
type Flow = ControlFlow<Ended>;

/// Runs a session with the given settings until the user leaves.
pub fn run(config: &Config) -> Result<(), RunError> {
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
    let tls = match &config.tls {
        Some(trust) => Some(Arc::new(TlsClient::new(trust).map_err(RunError::Prepare)?)),
        None => None,
    };
    let (token, token_warning) = match &config.token_file {
        Some(path) => {
            let (token, warning) = read_token(path).map_err(RunError::Prepare)?;
            (Some(token), warning)
        }
        None => (None, None),
    };
    // Opened here, on the main thread, which keeps the notifier (and its
    // audio device) until the session ends.
    let (notifier, no_audio_device) = Notifier::new(config.notify);
    let terminal_modes = TerminalModes::save();
    let (keyboard, screen) = input::open();
    if let Some(warning) = &token_warning {
        screen.print(warning);
    }

    // The servers in turn, the first that answers; the next one after it
    // is where a lost connection goes.
    let mut failures = Vec::new();
    let mut opened = None;
    for (index, server) in config.servers.iter().enumerate() {
        screen.print(&format!("[*] Connecting to {server}..."));
        match net::connect(server, tls.as_deref()) {
            Ok(connected) => {
                opened = Some((index, connected));
                break;
            }
            // A certificate refused is refused loudly, not skipped.
            Err(err @ ConnectError::Untrusted(_)) => {
                return Err(RunError::Refused(err.to_string()));
            }
            Err(err) => {
                if config.servers.len() > 1 {
                    screen.print(&render::server_unreachable(&server.to_string(), &err));
                }
                failures.push((server.to_string(), err));
            }
        }
    }
    let Some((server, connected)) = opened else {
        return Err(RunError::Connect { failures });
    };
    screen.print("[+] Connected.");
    if let Some(reason) = &no_audio_device {
        screen.print(&render::no_audio_device(reason));
    }

    let (events, inbox) = mpsc::channel();
    let (requests, request_inbox) = mpsc::channel();
    let mut session = Session {
        config: config.clone(),
        mode,
        screen,
        notifier,
        events,
        inbox,
        keyboard: Some((keyboard, request_inbox)),
        requests,
        reading: None,
        tls,
        token,
        server,
        link: Link::Connecting,
        link_id: 0,
        name: None,
        color: config.color,
        candidate: config.name.clone(),
        asking_name: false,
        joining_as: None,
        feed: Feed::default(),
        outbox: Outbox::default(),
        resume_from: None,
        desk_secret: None,
        commands: Commands::default(),
        replay_left: None,
        lost_at: None,
        backoff: Backoff::new(),
        grace_until: None,
        rejoin_at: None,
        name_held_since: None,
        leave_once_sent: false,
    };
    session.connected(connected).map_err(RunError::Setup)?;
    if config.name.is_none() {
        session.grace_until = Some(Instant::now() + HISTORY_GRACE);
    }
    match session.run() {
        Ended::Left => Ok(()),
        Ended::Refused(why) => {
            if session.reading.is_some() {
                terminal_modes.restore();
            }
            Err(RunError::Refused(why))
        }
    }
}

/// The main thread's side of a session.
struct Session {
    /// The flags: where to connect, the name and colour asked for, the ping.
    config: Config,
    /// Colour or not, decided at startup.
    mode: ColorMode,
    /// Where every line goes; shared with the input thread.
    screen: Arc<Screen>,
    /// Chimes (or rings the bell) for live lines, as the level says.
    notifier: Notifier,
    /// Handed to every helper thread.
    events: Sender<Event>,
    /// What the helper threads report, in the order they report it.
    inbox: Receiver<Event>,
    /// Until the first line is needed: the keyboard and the receiving end
    /// of `requests`. Started late so that nothing reads the terminal
    /// before there is a question to answer.
    keyboard: Option<(Keyboard, Receiver<Request>)>,
    /// To the input thread.
    requests: Sender<Request>,
    /// The prompt of the line the editor is reading, if it is.
    reading: Option<Prompt>,
    /// With `--tls`: how to connect and whom to trust.
    tls: Option<Arc<TlsClient>>,
    /// The account's token, from `--token-file` or asked for once the
    /// server wanted one; sent (`/auth`) on every connection from then on.
    token: Option<String>,
    /// Which of `config.servers` the desk is on (or last was).
    server: usize,
    /// Down, connecting, or up.
    link: Link,
    /// Counts connections and attempts; events from older ones are stale.
    link_id: u64,
    /// Our name, as the server stored it; `None` until welcomed, and again
    /// if someone took it while we were away.
    name: Option<String>,
    /// The colour to ask for: `--color`, then the one the server gave us,
    /// once it did, so everyone keeps seeing us in it; `None` lets the
    /// server give the one our name gives.
    color: Option<Color>,
    /// The name to join with next, once connected (`--name`, or typed
    /// while the connection was down).
    candidate: Option<String>,
    /// The next line typed answers "Enter your name".
    asking_name: bool,
    /// Sent `/join` with this name and colour; no answer yet.
    joining_as: Option<(String, Option<Color>)>,
    /// Which messages were shown, so each is shown once.
    feed: Feed,
    /// The user's lines until the room has them.
    outbox: Outbox,
    /// What to ask `/resume` for once welcomed on this connection.
    resume_from: Option<(String, MessageId)>,
    /// This desk's secret, from its first `WELCOME` of this run: presented
    /// with every `/resume`, it gets the desk its own direct messages back.
    desk_secret: Option<String>,
    /// What typed lines become, and who `/r` answers.
    commands: Commands,
    /// After the `RESUME` answer, the replayed lines still to come: the
    /// replay may still show lines sent before the loss.
    replay_left: Option<u64>,
    /// When the connection was lost, until the desk is back in the room.
    lost_at: Option<Instant>,
    /// The wait before each reconnect attempt.
    backoff: Backoff,
    /// The first name prompt waits for the history replay until then.
    grace_until: Option<Instant>,
    /// Our name was refused as taken on a rejoin: try it again then.
    rejoin_at: Option<Instant>,
    /// Since when our name has been refused as taken on rejoining, for
    /// [`NAME_HELD_GRACE`]; `None` once welcomed.
    name_held_since: Option<Instant>,
    /// Input ended with lines still waiting for the connection: leave as
    /// soon as they are sent.
    leave_once_sent: bool,
}

impl Session {
    /// The event loop: returns when the user leaves, or the desk is
    /// refused for good.
    fn run(&mut self) -> Ended {
        loop {
            let event = match self.next_deadline() {
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    match self.inbox.recv_timeout(wait) {
                        Ok(event) => Some(event),
                        Err(RecvTimeoutError::Timeout) => None,
                        // Unreachable: `self.events` keeps a sender alive.
                        Err(RecvTimeoutError::Disconnected) => return Ended::Left,
                    }
                }
                None => match self.inbox.recv() {
                    Ok(event) => Some(event),
                    Err(_) => return Ended::Left,
                },
            };
            let flow = match event {
                None => self.deadline_passed(),
                Some(Event::Input(input)) => self.typed(input),
                Some(Event::Connected { link_id, result }) if link_id == self.link_id => {
                    self.attempt_ended(result)
                }
                Some(Event::Server { link_id, received }) if link_id == self.link_id => {
                    match received {
                        Received::Lines(lines) => self.received(lines),
                        Received::Closed(reason) => self.lost(&reason),
                    }
                }
                // From a connection or attempt given up on.
                Some(Event::Connected { .. } | Event::Server { .. }) => ControlFlow::Continue(()),
            };
            if let ControlFlow::Break(ended) = flow {
                if let Some(connection) = self.connection() {
                    connection.close();
                }
                return ended;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let retry_at = match self.link {
            Link::Down { retry_at } => Some(retry_at),
            _ => None,
        };
        [retry_at, self.grace_until, self.rejoin_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn deadline_passed(&mut self) -> Flow {
        let now = Instant::now();
        if self.grace_until.is_some_and(|until| until <= now) {
            self.grace_until = None;
            self.ask_name();
        }
        if self.rejoin_at.is_some_and(|at| at <= now) {
            self.rejoin_at = None;
            let waiting =
                matches!(self.link, Link::Up { joined: false, .. }) && self.joining_as.is_none();
            if let (Some(name), true) = (self.name.clone(), waiting) {
                let color = self.color;
                self.send_join(name, color);
            }
        }
        if matches!(self.link, Link::Down { retry_at } if retry_at <= now) {
            self.start_connecting();
        }
        ControlFlow::Continue(())
    }

    // ---- the connection's life ----

    /// Tries to connect on a helper thread, so that the user can still
    /// leave while a connect hangs. Each try goes to the next server: after
    /// a loss the desk moves on, and a dead server costs one try per round.
    fn start_connecting(&mut self) {
        self.link_id += 1;
        self.link = Link::Connecting;
        if self.config.servers.len() > 1 {
            self.server = (self.server + 1) % self.config.servers.len();
        }
        let (link_id, events) = (self.link_id, self.events.clone());
        let server = self.config.servers[self.server].clone();
        let tls = self.tls.clone();
        let spawned = thread::Builder::new()
            .name("connect".into())
            .spawn(move || {
                let result = net::connect(&server, tls.as_deref());
                let _ = events.send(Event::Connected { link_id, result });
            });
        if spawned.is_err() {
            self.retry_later();
        }
    }

    /// A reconnect attempt ended: the desk is back, tries again later, or,
    /// if the server's certificate is not trusted, gives up loudly.
    fn attempt_ended(&mut self, result: Result<Connected, ConnectError>) -> Flow {
        match result {
            Ok(connected) => {
                if self.connected(connected).is_err() {
                    self.retry_later();
                }
            }
            Err(ConnectError::Untrusted(why)) => return ControlFlow::Break(Ended::Refused(why)),
            Err(ConnectError::Unreachable(_)) => self.retry_later(),
        }
        ControlFlow::Continue(())
    }

    /// A connection is open: start its I/O thread, sign in and join (or
    /// ask a name).
    fn connected(&mut self, connected: Connected) -> io::Result<()> {
        if let (Some(fingerprint), Some(file)) = (
            connected.first_trusted,
            self.tls.as_ref().and_then(|tls| tls.known_hosts()),
        ) {
            let server = self.config.servers[self.server].to_string();
            self.screen
                .print(&render::trusted_first_time(&server, fingerprint, file));
        }
        self.link_id += 1;
        let (link_id, events) = (self.link_id, self.events.clone());
        let connection =
            Connection::start(connected.stream, self.config.keepalive, move |received| {
                events.send(Event::Server { link_id, received }).is_ok()
            })?;
        self.link = Link::Up {
            connection,
            signed_in: false,
            joined: false,
        };
        self.resume_from = self.feed.connection_opened();
        let name = self.name.clone().or_else(|| self.candidate.take());
        match name {
            Some(name) => {
                let color = self.color;
                self.send_join(name, color);
            }
            // The first time, the prompt waits for the history.
            None if self.grace_until.is_none() && self.lost_at.is_some() => self.ask_name(),
            None => {}
        }
        Ok(())
    }

    /// The connection is gone: say so (once per outage) and try again later.
    fn lost(&mut self, reason: &str) -> Flow {
        if let Link::Up { connection, .. } = &self.link {
            connection.close();
        }
        // Whatever the old connection still reports is stale from now on.
        self.link_id += 1;
        // A name asked for and not yet answered is asked for again; a name
        // we had is rejoined with anyway.
        if let Some((name, _)) = self.joining_as.take() {
            if self.name.is_none() {
                self.candidate = Some(name);
            }
        }
        self.outbox.connection_lost();
        self.replay_left = None;
        // The reconnect rejoins anyway.
        self.rejoin_at = None;
        if self.lost_at.is_none() {
            self.lost_at = Some(Instant::now());
            self.screen.print(&render::connection_lost(reason));
        }
        self.retry_later();
        ControlFlow::Continue(())
    }

    fn retry_later(&mut self) {
        self.link = Link::Down {
            retry_at: Instant::now() + self.backoff.next_delay(),
        };
    }

    fn connection(&self) -> Option<&Connection> {
        match &self.link {
            Link::Up { connection, .. } => Some(connection),
            _ => None,
        }
    }

    fn joined(&self) -> bool {
        matches!(self.link, Link::Up { joined: true, .. })
    }

    /// Sends a line; a failure means the connection is lost.
    fn send(&mut self, line: &ClientLine<'_>) -> Result<(), ()> {
        let sent = match self.connection() {
            Some(connection) => connection.send(line),
            None => return Err(()),
        };
        sent.map_err(|err| {
            let _ = self.lost(&err.to_string());
        })
    }

    // ---- joining ----

    /// Joins as `name`, signing in as `name` first when the desk has a
    /// token and has not signed in on this connection.
    /// A desk coming back names its secret, so that it stays the same desk
    /// (and takes its name back from a server that died holding it).
    fn send_join(&mut self, name: String, color: Option<Color>) {
        let desk = self.desk_secret.clone();
        let join = ClientLine::Join {
            name: &name,
            color,
            desk: desk.as_deref(),
        };
        if self.sign_in(&name).is_ok() && self.send(&join).is_ok() {
            self.joining_as = Some((name, color));
        } else {
            self.candidate = Some(name);
        }
    }

    /// Sends `/auth NAME TOKEN`, once per connection, if there is a token.
    fn sign_in(&mut self, name: &str) -> Result<(), ()> {
        let (
            Some(token),
            Link::Up {
                signed_in: false, ..
            },
        ) = (self.token.clone(), &self.link)
        else {
            return Ok(());
        };
        self.send(&ClientLine::Auth {
            name,
            token: &token,
        })?;
        if let Link::Up { signed_in, .. } = &mut self.link {
            *signed_in = true;
        }
        Ok(())
    }

    /// `ERR auth-required`: the server runs with accounts. Without a token
    /// yet, ask for it (once; it is kept for every reconnect), then sign in
    /// and join again.
    fn auth_required(&mut self) -> Flow {
        // Answers to lines sent before the `/auth` went out say nothing new;
        // and with no name yet the name prompt comes first.
        if matches!(
            self.link,
            Link::Up {
                signed_in: true,
                ..
            }
        ) {
            return ControlFlow::Continue(());
        }
        let Some((name, color)) = self.joining_as.take() else {
            return ControlFlow::Continue(());
        };
        if self.token.is_none() {
            match ask_token(&name, &self.screen) {
                Ok(token) => self.token = Some(token),
                Err(why) => return ControlFlow::Break(Ended::Refused(why)),
            }
        }
        self.send_join(name, color);
        ControlFlow::Continue(())
    }

    fn ask_name(&mut self) {
        self.asking_name = true;
        self.read_line(Prompt::Name);
    }

    /// A line typed at the name prompt.
    fn name_typed(&mut self, typed: &str) -> Flow {
        if interpret(typed) == Typed::Quit {
            return self.leave();
        }
        let typed = typed.trim();
        if typed.is_empty() {
            self.read_line(Prompt::Name);
            return ControlFlow::Continue(());
        }
        if let Err(why) = check_name(typed) {
            self.screen
                .print(&render::name_refused(typed, &why.to_string()));
            self.read_line(Prompt::Name);
            return ControlFlow::Continue(());
        }
        self.asking_name = false;
        if matches!(self.link, Link::Up { .. }) {
            let color = self.color;
            self.send_join(typed.to_string(), color);
        } else {
            // Joined once connected; meanwhile lines typed are kept.
            self.candidate = Some(typed.to_string());
            self.read_line(Prompt::Chat);
        }
        ControlFlow::Continue(())
    }

    fn join_refused(&mut self, code: ErrorCode, detail: &str) -> Flow {
        let Some((name, color)) = self.joining_as.take() else {
            return ControlFlow::Continue(());
        };
        if code == ErrorCode::BadColor && color.is_some() {
            // Our palette and the server's disagree; let it pick.
            self.color = None;
            self.send_join(name, None);
            return ControlFlow::Continue(());
        }
        let signed_in = matches!(
            self.link,
            Link::Up {
                signed_in: true,
                ..
            }
        );
        if code == ErrorCode::NameTaken && self.name.is_some() {
            let since = match self.name_held_since {
                Some(since) => since,
                None => {
                    self.screen.print(&render::name_held(&name));
                    *self.name_held_since.insert(Instant::now())
                }
            };
            // Signed in, the name is the account's: nobody else can hold it.
            if signed_in || since.elapsed() < NAME_HELD_GRACE {
                self.rejoin_at = Some(Instant::now() + REJOIN_INTERVAL);
                return ControlFlow::Continue(());
            }
            self.name_held_since = None;
        }
        // Signed in, the desk is its account's name and no other, so asking
        // for another name would be useless.
        if code == ErrorCode::NameTaken && signed_in {
            return ControlFlow::Break(Ended::Refused(render::account_in_use(&name)));
        }
        // A name we had is ours no more: the next one is asked for, and
        // unless a colour was chosen, it brings its own.
        let rejoining = self.name.take().is_some();
        if rejoining {
            self.color = self.config.color;
        }
        let why = match code {
            ErrorCode::NameTaken if rejoining => render::name_taken_while_away(&name),
            ErrorCode::NameTaken => render::name_taken(&name),
            _ => render::name_refused(&name, detail),
        };
        self.screen.print(&why);
        self.ask_name();
        ControlFlow::Continue(())
    }

    fn welcomed(
        &mut self,
        name: &str,
        color: Color,
        online: usize,
        epoch: &str,
        desk: &str,
    ) -> Flow {
        // The first secret is the desk's for this whole run; a rejoin gets a
        // new one, which the `/resume` below replaces with the first.
        self.desk_secret.get_or_insert_with(|| desk.to_string());
        self.joining_as = None;
        self.asking_name = false;
        self.name_held_since = None;
        self.name = Some(name.to_string());
        self.color = Some(color);
        if let Link::Up { joined, .. } = &mut self.link {
            *joined = true;
        }
        self.backoff.reset();
        self.feed.welcomed(epoch);
        match self.lost_at.take() {
            Some(at) => self.screen.print(&render::reconnected(
                name,
                at.elapsed(),
                online,
                (self.config.servers.len() > 1)
                    .then(|| self.config.servers[self.server].to_string())
                    .as_deref(),
            )),
            None => {
                let welcome = ServerLine::Welcome {
                    name,
                    color,
                    online,
                    epoch,
                    desk,
                };
                if let Some(text) = render::render_line(&welcome, self.mode, &chrono::Local) {
                    self.screen.print(&text);
                }
            }
        }
        let desk_secret = self.desk_secret.clone();
        match self.resume_from.take() {
            Some((epoch, after)) => {
                if self
                    .send(&ClientLine::Resume {
                        epoch: &epoch,
                        after,
                        desk: desk_secret.as_deref(),
                    })
                    .is_err()
                {
                    return ControlFlow::Continue(());
                }
            }
            // No replay comes: nothing sent before a loss can show up.
            None => self.replay_ended(),
        }
        for line in self.outbox.take_waiting() {
            if self.joined() {
                self.send_outgoing(line);
            } else {
                // Lost again while sending: keep the rest for next time.
                let _ = self.outbox.queue(line);
            }
        }
        if self.leave_once_sent && !self.outbox.has_waiting() {
            return self.leave();
        }
        self.read_line(Prompt::Chat);
        ControlFlow::Continue(())
    }

    // ---- input ----

    /// Asks for the next line under `prompt`: the editor reads one; plain
    /// input reads ahead anyway, so only the name prompt is printed. Does
    /// nothing while the editor is already reading one (it answers
    /// whatever is being asked when it comes).
    fn read_line(&mut self, prompt: Prompt) {
        if let Some((keyboard, requests)) = self.keyboard.take() {
            let events = self.events.clone();
            let started = keyboard.start(Arc::clone(&self.screen), requests, move |input| {
                events.send(Event::Input(input)).is_ok()
            });
            if let Err(err) = started {
                self.screen
                    .print(&format!("[!] Cannot read the keyboard: {err}"));
            }
        }
        if !self.screen.has_editor() {
            if prompt == Prompt::Name {
                self.screen.prompt(prompt.text());
            }
            return;
        }
        if self.reading.is_none() && self.requests.send(Request::Read(prompt)).is_ok() {
            self.reading = Some(prompt);
        }
    }

    fn typed(&mut self, input: InputEvent) -> Flow {
        self.reading = None;
        match input {
            InputEvent::Interrupted => self.leave(),
            InputEvent::Closed if self.outbox.has_waiting() && !self.asking_name => {
                self.leave_once_sent = true;
                ControlFlow::Continue(())
            }
            InputEvent::Closed => self.leave(),
            InputEvent::Line(text) => {
                // A paste of several lines is several lines of input.
                for line in text.split('\n') {
                    let flow = if self.asking_name {
                        self.name_typed(line)
                    } else {
                        self.chat_typed(line)
                    };
                    flow?;
                }
                if !self.asking_name && self.joining_as.is_none() {
                    self.read_line(Prompt::Chat);
                }
                ControlFlow::Continue(())
            }
        }
    }

    /// A line typed at the chat prompt.
    fn chat_typed(&mut self, line: &str) -> Flow {
        match self.commands.action(line, self.joined()) {
            Action::Nothing => {}
            Action::Leave => return self.leave(),
            Action::Ask(request) => {
                let _ = self.send(&request);
            }
            Action::Send(line) => self.send_or_keep(line),
            Action::Notify(level) => self.set_notify_level(level),
            Action::Answer(answer) => self.screen.print(&render::answer(&answer)),
        }
        ControlFlow::Continue(())
    }

    /// `/notify`: changes the level (`None` keeps it) and says which is on.
    fn set_notify_level(&mut self, level: Option<NotifyLevel>) {
        if let Some(level) = level {
            if let Some(reason) = self.notifier.set_level(level) {
                self.screen.print(&render::no_audio_device(&reason));
            }
        }
        self.screen
            .print(&render::notify_level(self.notifier.level()));
    }

    /// Sends a line now, or keeps it until the desk is back in the room.
    fn send_or_keep(&mut self, line: Outgoing) {
        if self.joined() {
            self.send_outgoing(line);
        } else {
            self.keep_for_later(line);
        }
    }

    /// Sends a message or direct message as our name; joined only.
    fn send_outgoing(&mut self, line: Outgoing) {
        let Some(name) = self.name.clone() else {
            return;
        };
        let (wire, text) = match &line {
            Outgoing::Room(text) => (ClientLine::Say { name: &name, text }, text),
            Outgoing::Direct { to, text } => (ClientLine::Direct { to, text }, text),
        };
        // The server refuses a longer line; say so in terms of the text.
        let line_bytes = wire.encode().len() - 1;
        if line_bytes > DEFAULT_MAX_LINE_BYTES {
            let limit = DEFAULT_MAX_LINE_BYTES - (line_bytes - text.len());
            self.screen.print(&format!(
                "[!] That message is {} bytes; the limit is {limit}. Not sent.",
                text.len()
            ));
            return;
        }
        match self.send(&wire) {
            Ok(()) => self.outbox.sent(&name, line),
            Err(()) => self.keep_for_later(line),
        }
    }

    /// A line typed with no room to send it to: kept until the rejoin.
    fn keep_for_later(&mut self, line: Outgoing) {
        let typed = line.typed();
        match self.outbox.queue(line) {
            // During a join handshake the wait is a round trip: no news.
            Ok(_) if matches!(self.link, Link::Up { .. }) => {}
            Ok(waiting) => self.screen.print(&render::queued(&typed, waiting)),
            Err(QueueFull) => self.screen.print(&render::queue_full(MAX_WAITING_LINES)),
        }
    }

    /// The user leaves: `/quit`, then a short wait for the server's `BYE`
    /// so our leaving is processed before the socket closes.
    fn leave(&mut self) -> Flow {
        let dropped = self.outbox.discard_waiting();
        if dropped > 0 {
            self.screen.print(&render::waiting_dropped(dropped));
        }
        if self.send(&ClientLine::Quit).is_ok() {
            self.await_goodbye();
        }
        if let Some(connection) = self.connection() {
            connection.close();
        }
        ControlFlow::Break(Ended::Left)
    }

    /// Waits up to [`QUIT_WAIT`] for `BYE` or the end of the connection;
    /// anything else is dropped: we are leaving.
    fn await_goodbye(&mut self) {
        let deadline = Instant::now() + QUIT_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(left) {
                Ok(Event::Server { link_id, received }) if link_id == self.link_id => {
                    let goodbye = match received {
                        Received::Closed(_) => true,
                        Received::Lines(lines) => lines.iter().any(|line| {
                            matches!(line, Incoming::Line(text)
                                if matches!(ServerLine::parse(text), Ok(ServerLine::Bye { .. })))
                        }),
                    };
                    if goodbye {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    // ---- what the server says ----

    fn received(&mut self, lines: Vec<Incoming>) -> Flow {
        let link_id = self.link_id;
        for line in lines {
            // A line can end the connection (BYE); the rest is stale then.
            if self.link_id != link_id {
                break;
            }
            match line {
                Incoming::TooLong => self.screen.print(&render::overlong_line()),
                Incoming::Line(text) => match ServerLine::parse(&text) {
                    Ok(parsed) => self.server_line(parsed)?,
                    Err(_) => self.screen.print(&render::unreadable_line()),
                },
            }
        }
        // The first burst is in: the first name prompt may come now.
        if self.grace_until.take().is_some() {
            self.ask_name();
        }
        ControlFlow::Continue(())
    }

    fn server_line(&mut self, line: ServerLine<'_>) -> Flow {
        match line {
            ServerLine::Msg(chat) => self.chat(&chat, false),
            ServerLine::History(chat) => {
                self.chat(&chat, true);
                // Counted once shown: the last one may be our own line.
                self.count_replayed();
            }
            ServerLine::Direct(direct) => self.direct(&direct, false),
            ServerLine::DirectHistory(direct) => {
                self.direct(&direct, true);
                self.count_replayed();
            }
            // Old messages found again: not news, so the feed and the chime
            // never hear of them.
            ServerLine::Found(found) => self.screen.print(&render::found_line(
                &found,
                self.name.as_deref(),
                self.mode,
                &chrono::Local,
            )),
            ServerLine::Welcome {
                name,
                color,
                online,
                epoch,
                desk,
            } => return self.welcomed(name, color, online, epoch, desk),
            ServerLine::Resumed {
                epoch,
                skipped,
                replayed,
            } => {
                match self.feed.resumed(epoch, skipped) {
                    Resumed::Missed { skipped: 0 } => {}
                    Resumed::Missed { skipped } => {
                        self.screen.print(&render::missed_not_shown(skipped))
                    }
                    Resumed::OtherLog => self.screen.print(&render::other_log()),
                }
                self.replay_left = Some(replayed);
                if replayed == 0 {
                    self.replay_ended();
                }
            }
            ServerLine::Error { code, detail }
                if self.joining_as.is_some()
                    && matches!(
                        code,
                        ErrorCode::NameTaken | ErrorCode::BadName | ErrorCode::BadColor
                    ) =>
            {
                return self.join_refused(code, detail);
            }
            ServerLine::Error {
                code: ErrorCode::NotSaved,
                detail,
            } => match self.outbox.not_saved() {
                Some(line) => self.give_back(detail, &line),
                None => self.screen.print(&render::not_sent(detail, None, false)),
            },
            ServerLine::Error {
                code: ErrorCode::NoSuchName,
                detail,
            } => {
                let typed = self.outbox.no_such_name(detail).map(|line| line.typed());
                let recallable = typed.as_deref().is_some_and(|typed| self.recall(typed));
                self.screen.print(&render::direct_refused(
                    detail,
                    typed.as_deref(),
                    recallable,
                ));
            }
            ServerLine::Error {
                code: ErrorCode::AuthRequired,
                ..
            } => return self.auth_required(),
            ServerLine::Error {
                code: code @ (ErrorCode::AuthFailed | ErrorCode::Revoked | ErrorCode::TlsRequired),
                detail,
            } => {
                let name = self
                    .name
                    .clone()
                    .or_else(|| self.joining_as.as_ref().map(|(name, _)| name.clone()));
                let server = self.config.servers[self.server].to_string();
                return ControlFlow::Break(Ended::Refused(render::refused(
                    code,
                    detail,
                    name.as_deref(),
                    &server,
                )));
            }
            ServerLine::Bye { reason } => return self.lost(reason),
            other => {
                if let Some(text) = render::render_line(&other, self.mode, &chrono::Local) {
                    self.screen.print(&text);
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// Whether a message, live or replayed, is new here; prints the replay
    /// header above it if it starts a replay.
    fn admit(&mut self, id: MessageId, replayed: bool) -> bool {
        if !replayed && self.replay_left.is_some() {
            // Live traffic: whatever was replayed is over (it comes first).
            self.replay_ended();
        }
        let Verdict::Show(header) = self.feed.admit(id, replayed) else {
            return false;
        };
        match header {
            Some(ReplayHeader::Recent) => self.screen.print(&render::history_header()),
            Some(ReplayHeader::Missed) => self.screen.print(&render::missed_header()),
            None => {}
        }
        true
    }

    /// A chat message, live or replayed.
    fn chat(&mut self, chat: &Chat<'_>, replayed: bool) {
        if !self.admit(chat.id, replayed) {
            return;
        }
        let own = self.name.as_deref() == Some(chat.name);
        let mention = !own
            && self
                .name
                .as_deref()
                .is_some_and(|name| names(chat.text, name));
        let style = ChatStyle { replayed, mention };
        self.screen
            .print(&render::chat_line(chat, style, self.mode, &chrono::Local));
        self.outbox.copy_shown(chat.name);
        // Replayed history is old news: only live lines may sound.
        if !replayed {
            self.notifier.arrived(match (own, mention) {
                (true, _) => Arrival::Own,
                (false, true) => Arrival::Mention,
                (false, false) => Arrival::Ordinary,
            });
        }
    }

    /// A direct message, live or replayed: ours coming back, or one for us
    /// (the server sends no others).
    fn direct(&mut self, direct: &Direct<'_>, replayed: bool) {
        if !self.admit(direct.id, replayed) {
            return;
        }
        let own = self.name.as_deref() == Some(direct.from);
        if !own {
            self.commands.direct_from(direct.from);
        }
        self.screen.print(&render::direct_line(
            direct,
            self.name.as_deref(),
            replayed,
            self.mode,
            &chrono::Local,
        ));
        self.outbox.copy_shown(direct.from);
        if !replayed {
            self.notifier
                .arrived(if own { Arrival::Own } else { Arrival::Direct });
        }
    }

    /// Counts one replayed line; the last one ends the replay.
    fn count_replayed(&mut self) {
        if let Some(left) = self.replay_left.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.replay_ended();
            }
        }
    }

    /// The lines sent before a loss that the replay did not show never
    /// reached the room: give them back.
    fn replay_ended(&mut self) {
        self.replay_left = None;
        for line in self.outbox.replay_over() {
            self.give_back("the connection was lost before the server had it", &line);
        }
    }

    /// Tells the user a line was not sent and puts it back in reach.
    fn give_back(&mut self, why: &str, line: &Outgoing) {
        let typed = line.typed();
        let recallable = self.recall(&typed);
        self.screen
            .print(&render::not_sent(why, Some(&typed), recallable));
    }

    /// Puts `typed` in the editor's history, where Up-arrow finds it;
    /// false without an editor.
    fn recall(&mut self, typed: &str) -> bool {
        self.screen.has_editor()
            && self
                .requests
                .send(Request::Recall(typed.to_string()))
                .is_ok()
    }
}
