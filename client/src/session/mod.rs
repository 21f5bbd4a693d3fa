//! One chat session, start to end: setting it up, the first connection,
//! and the main thread's event loop, which alone acts and prints. The
//! desk's parts each own their state: the link to the servers (`link`),
//! who the desk is and its way into the room (`identity`), what is shown
//! (`view`), what typed lines become (`commands`), the user's lines on
//! their way (`outbox`), the rooms the desk is in (`rooms`) and the
//! keyboard (`input`). This module turns each event (a typed line, a
//! connect attempt's end, a server's lines, a deadline) into calls on
//! them, until the user leaves or the server refuses the desk for good;
//! `sending` does so for the user's lines and their answers, `in_rooms`
//! for the room commands and the rooms' lines.

mod in_rooms;
mod sending;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::ops::ControlFlow;
use std::sync::mpsc::{self, Receiver, RecvError, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_shared::message::{Chat, Direct, Found};
use chat_shared::name::name_key;
use chat_shared::{ClientLine, Color, ErrorCode, MessageId, ServerLine};

use crate::attempt::{ConnectError, Connected};
use crate::commands::{Action, Commands};
use crate::config::Config;
use crate::event::Event;
use crate::identity::{self, Identity, JoinAs, NameTyped, Refusal};
use crate::input::{self, Input, InputEvent, Prompt, TerminalModes};
use crate::link::Link;
use crate::net::{self, Incoming, Received};
use crate::outbox::Outbox;
use crate::render::{self, ColorMode};
use crate::rooms::Rooms;
use crate::screen::Screen;
use crate::sound::Notifier;
use crate::tls::TlsClient;
use crate::token::{ask_token, read_token};
use crate::view::View;

/// After `/quit`, how long to wait for the server's `BYE` (or its close)
/// before leaving anyway: long enough for a loaded server to answer, short
/// enough that quitting never feels stuck.
const QUIT_WAIT: Duration = Duration::from_secs(2);

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
    let mode = color_mode(config);
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
    let (server, connected) = connect_first(config, tls.as_deref(), &screen)?;
    screen.print("[+] Connected.");
    if let Some(reason) = &no_audio_device {
        screen.print(&render::no_audio_device(reason));
    }

    let (events, inbox) = mpsc::channel();
    let input_events = events.clone();
    let mut session = Session {
        inbox,
        link: Link::new(config, server, tls, events),
        identity: Identity::new(config.name.clone(), config.color, token),
        view: View::new(Arc::clone(&screen), mode, notifier),
        commands: Commands::default(),
        outbox: Outbox::default(),
        rooms: Rooms::default(),
        input: Input::new(keyboard, screen, move |input| {
            input_events.send(Event::Input(input)).is_ok()
        }),
        held: VecDeque::new(),
        leave_once_sent: false,
    };
    session.connected(connected).map_err(RunError::Setup)?;
    if config.name.is_none() {
        session.identity.await_history(Instant::now());
    }
    match session.run() {
        Ended::Left => Ok(()),
        Ended::Refused(why) => {
            if session.input.is_reading() {
                terminal_modes.restore();
            }
            Err(RunError::Refused(why))
        }
    }
}

/// Colour or not, asked once: `colored` decides from NO_COLOR,
/// CLICOLOR(_FORCE) and whether stdout is a terminal, and `--no-color`
/// overrides it; the answer is passed down from here.
fn color_mode(config: &Config) -> ColorMode {
    if config.no_color {
        colored::control::set_override(false);
    }
    if colored::control::SHOULD_COLORIZE.should_colorize() {
        ColorMode::On
    } else {
        ColorMode::Off
    }
}

/// The servers in turn, on this thread, until one answers: which one, and
/// its connection. The next one after it is where a lost connection goes.
/// A certificate refused is refused loudly, not skipped.
fn connect_first(
    config: &Config,
    tls: Option<&TlsClient>,
    screen: &Screen,
) -> Result<(usize, Connected), RunError> {
    let mut failures = Vec::new();
    for (index, server) in config.servers.iter().enumerate() {
        screen.print(&format!("[*] Connecting to {server}..."));
        match net::connect(server, tls) {
            Ok(connected) => return Ok((index, connected)),
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
    Err(RunError::Connect { failures })
}

/// Whether what a connection reported says goodbye: its end, or `BYE`.
fn says_goodbye(received: &Received) -> bool {
    match received {
        Received::Closed(_) => true,
        Received::Lines(lines) => lines.iter().any(|line| {
            matches!(line, Incoming::Line(text)
                if matches!(ServerLine::parse(text), Ok(ServerLine::Bye { .. })))
        }),
    }
}

/// The main thread's side of a session.
struct Session {
    /// What the threads around the main one report, in the order they
    /// report it.
    inbox: Receiver<Event>,
    /// The servers, the connection, and getting it back.
    link: Link,
    /// Who the desk is in the room, and getting in.
    identity: Identity,
    /// What is shown, and the chime.
    view: View,
    /// What typed lines become, and who `/r` answers.
    commands: Commands,
    /// The user's lines until the room has them.
    outbox: Outbox,
    /// The rooms the desk is in, and which one typed lines go to.
    rooms: Rooms,
    /// The keyboard, asked for each line.
    input: Input,
    /// Lines typed while a `/join` or `/part` waits for its answer, which
    /// may change the room they go to (a paste, or input on a pipe, which
    /// is read ahead): handled once it comes.
    held: VecDeque<String>,
    /// Input ended with lines still waiting for the connection: leave as
    /// soon as they are sent.
    leave_once_sent: bool,
}

impl Session {
    /// The event loop: returns when the user leaves, or the desk is
    /// refused for good.
    fn run(&mut self) -> Ended {
        loop {
            let flow = match self.next_event() {
                Ok(Some(event)) => self.handle(event),
                Ok(None) => self.deadline_passed(),
                // Unreachable: the link keeps a sender.
                Err(RecvError) => return Ended::Left,
            };
            if let ControlFlow::Break(ended) = flow {
                self.link.close();
                return ended;
            }
        }
    }

    /// The next event, or `None` when the next deadline comes first.
    fn next_event(&self) -> Result<Option<Event>, RecvError> {
        let retry = self
            .link
            .joined()
            .then(|| self.outbox.next_retry())
            .flatten();
        let deadline = [self.link.retry_at(), self.identity.next_deadline(), retry]
            .into_iter()
            .flatten()
            .min();
        let Some(deadline) = deadline else {
            return self.inbox.recv().map(Some);
        };
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.inbox.recv_timeout(wait) {
            Ok(event) => Ok(Some(event)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(RecvError),
        }
    }

    fn handle(&mut self, event: Event) -> Flow {
        match event {
            Event::Input(input) => self.typed(input),
            Event::Connected { link_id, result } if self.link.is_current(link_id) => {
                self.attempt_ended(result)
            }
            Event::Server { link_id, received } if self.link.is_current(link_id) => {
                match received {
                    Received::Lines(lines) => self.received(lines),
                    Received::Closed(reason) => self.lost(&reason),
                }
            }
            // From a connection or attempt given up on.
            Event::Connected { .. } | Event::Server { .. } => ControlFlow::Continue(()),
        }
    }

    fn deadline_passed(&mut self) -> Flow {
        let now = Instant::now();
        if self.identity.history_wait_over(now) {
            self.ask_name();
        }
        let waiting = self.link.is_up() && !self.link.joined();
        if let Some(joining) = self.identity.rejoin_due(now, waiting) {
            self.send_join(joining);
        }
        self.link.reconnect_if_due(now);
        // A pending line may be due to go out again.
        self.flush()
    }

    // ---- the connection's life ----

    /// A reconnect attempt ended: the desk is back, tries again later, or,
    /// if the server's certificate is not trusted, gives up loudly.
    fn attempt_ended(&mut self, result: Result<Connected, ConnectError>) -> Flow {
        match result {
            Ok(connected) => {
                if self.connected(connected).is_err() {
                    self.link.retry_later();
                }
            }
            Err(ConnectError::Untrusted(why)) => return ControlFlow::Break(Ended::Refused(why)),
            Err(ConnectError::Unreachable(_)) => self.link.retry_later(),
        }
        ControlFlow::Continue(())
    }

    /// A connection is open: start its I/O thread, sign in and join (or
    /// ask a name).
    fn connected(&mut self, connected: Connected) -> io::Result<()> {
        if let Some(notice) = self.link.first_trusted(&connected) {
            self.view.print(&notice);
        }
        self.link.open(connected.stream)?;
        let resume_from = self.view.connection_opened();
        if resume_from.is_some() {
            self.rooms.reconnecting();
        }
        let joining = self.identity.connection_opened(resume_from);
        if joining.is_none() && self.identity.token().is_none() {
            // A first line says this is a desk of ours, so the server sends
            // the history at once rather than after a short silence (it
            // tells protocols apart on the first line). With an account the
            // first line is `/auth`, once the name is known.
            let _ = self.send(&ClientLine::Ping);
        }
        match joining {
            Some(joining) => self.send_join(joining),
            // The first time, the prompt waits for the history.
            None if !self.identity.awaiting_history() && self.link.was_lost() => self.ask_name(),
            None => {}
        }
        Ok(())
    }

    /// The connection is gone: say so (once per outage) and try again later.
    fn lost(&mut self, reason: &str) -> Flow {
        let outage_starts = self.link.lost();
        self.identity.connection_lost();
        self.outbox.connection_lost();
        self.view.end_replay();
        if outage_starts {
            self.view.print(&render::connection_lost(reason));
        }
        // A `/join` or `/part` will not be answered: the prompt waited for it.
        if self.rooms.awaiting_answer() {
            self.rooms.answered();
            return self.room_answered();
        }
        ControlFlow::Continue(())
    }

    /// Sends a line; a failure means the connection is lost.
    fn send(&mut self, line: &ClientLine<'_>) -> Result<(), ()> {
        let sent = match self.link.connection() {
            Some(connection) => connection.send(line),
            None => return Err(()),
        };
        sent.map_err(|err| {
            let _ = self.lost(&err.to_string());
        })
    }

    // ---- joining ----

    /// Joins, signing in first when the desk has a token and has not
    /// signed in on this connection. A desk coming back under its name
    /// names its secret, so that it stays the same desk (and takes its name
    /// back from a server that died holding it).
    fn send_join(&mut self, (name, color): JoinAs) {
        let desk = self.identity.secret_for(&name).map(str::to_string);
        let join = ClientLine::Join {
            name: &name,
            color,
            desk: desk.as_deref(),
        };
        if self.sign_in(&name).is_ok() && self.send(&join).is_ok() {
            self.identity.join_sent((name, color));
        } else {
            self.identity.join_not_sent(name);
        }
    }

    /// Sends `/auth NAME TOKEN`, once per connection, if there is a token.
    fn sign_in(&mut self, name: &str) -> Result<(), ()> {
        if !self.link.is_up() || self.link.signed_in() {
            return Ok(());
        }
        let Some(token) = self.identity.token().map(str::to_string) else {
            return Ok(());
        };
        self.send(&ClientLine::Auth {
            name,
            token: &token,
        })?;
        self.link.set_signed_in();
        Ok(())
    }

    /// `ERR auth-required`: the server runs with accounts. Without a token
    /// yet, ask for it (once; it is kept for every reconnect), then sign in
    /// and join again.
    fn auth_required(&mut self) -> Flow {
        // Answers to lines sent before the `/auth` went out say nothing new;
        // and with no name yet the name prompt comes first.
        if self.link.signed_in() {
            return ControlFlow::Continue(());
        }
        let Some(joining) = self.identity.take_joining() else {
            return ControlFlow::Continue(());
        };
        if self.identity.token().is_none() {
            match ask_token(&joining.0, self.view.screen()) {
                Ok(token) => self.identity.set_token(token),
                Err(why) => return ControlFlow::Break(Ended::Refused(why)),
            }
        }
        self.send_join(joining);
        ControlFlow::Continue(())
    }

    fn ask_name(&mut self) {
        self.identity.ask_name();
        self.input.read_line(Prompt::Name);
    }

    /// A line typed at the name prompt.
    fn name_typed(&mut self, line: &str) -> Flow {
        match identity::read_name(line) {
            NameTyped::Quit => return self.leave(),
            NameTyped::Blank => self.input.read_line(Prompt::Name),
            NameTyped::Refused(why) => {
                self.view.print(&why);
                self.input.read_line(Prompt::Name);
            }
            NameTyped::Name(name) => match self.identity.name_chosen(name, self.link.is_up()) {
                Some(joining) => self.send_join(joining),
                // Joined once connected; meanwhile lines typed are kept.
                None => self.read_chat(),
            },
        }
        ControlFlow::Continue(())
    }

    /// The server refused the name or colour we asked to join with.
    fn join_refused(&mut self, code: ErrorCode, detail: &str) -> Flow {
        let signed_in = self.link.signed_in();
        match self
            .identity
            .refused(code, detail, signed_in, Instant::now())
        {
            None | Some(Refusal::NameHeld(None)) => {}
            Some(Refusal::JoinAgain(joining)) => self.send_join(joining),
            Some(Refusal::NameHeld(Some(notice))) => self.view.print(&notice),
            Some(Refusal::AskAnother(why)) => {
                self.view.print(&why);
                self.ask_name();
            }
            Some(Refusal::Final(why)) => return ControlFlow::Break(Ended::Refused(why)),
        }
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
        self.identity.welcomed(name, color, desk);
        let away = self.link.welcomed();
        self.view.welcomed(epoch);
        match away {
            Some(away) => self.view.print(&render::reconnected(
                name,
                away,
                online,
                self.link.failover_name().as_deref(),
            )),
            None => self.view.show(&ServerLine::Welcome {
                name,
                color,
                online,
                epoch,
                desk,
            }),
        }
        match self.identity.take_resume() {
            Some((epoch, after)) => {
                let desk = self.identity.desk_secret().map(str::to_string);
                let resume = ClientLine::Resume {
                    epoch: &epoch,
                    after,
                    desk: desk.as_deref(),
                };
                if self.send(&resume).is_err() {
                    return ControlFlow::Continue(());
                }
            }
            // No replay comes: nothing sent before a loss can show up.
            None => self.replay_ended(),
        }
        self.flush()?;
        self.read_chat();
        ControlFlow::Continue(())
    }

    // ---- input ----

    fn typed(&mut self, input: InputEvent) -> Flow {
        self.input.answered();
        match input {
            InputEvent::Interrupted => self.leave(),
            InputEvent::Closed
                if (self.outbox.has_unsent() || !self.held.is_empty())
                    && !self.identity.asking_name() =>
            {
                self.leave_once_sent = true;
                ControlFlow::Continue(())
            }
            InputEvent::Closed => self.leave(),
            InputEvent::Line(text) => {
                // A paste of several lines is several lines of input.
                for line in text.split('\n') {
                    let flow = if self.identity.asking_name() {
                        self.name_typed(line)
                    } else if self.rooms.awaiting_answer() {
                        self.held.push_back(line.to_string());
                        ControlFlow::Continue(())
                    } else {
                        self.chat_typed(line)
                    };
                    flow?;
                }
                self.read_chat();
                ControlFlow::Continue(())
            }
        }
    }

    /// Asks for the next line at the chat prompt, which names the current
    /// room; not while the name is asked for or being joined, nor while a
    /// `/join` or `/part` waits for the answer that may change the room.
    fn read_chat(&mut self) {
        if self.identity.asking_name() || self.identity.joining() || self.rooms.awaiting_answer() {
            return;
        }
        let room = self.rooms.current_room().map(str::to_string);
        self.input.read_line(Prompt::Chat(room));
    }

    /// A line typed at the chat prompt.
    fn chat_typed(&mut self, line: &str) -> Flow {
        let current = self.rooms.current_room().map(str::to_string);
        match self
            .commands
            .action(line, self.link.joined(), current.as_deref())
        {
            Action::Nothing => {}
            Action::Leave => return self.leave(),
            Action::Ask(request) => {
                let _ = self.send(&request);
            }
            Action::Send(line) => return self.send_or_keep(line),
            Action::Notify(level) => self.view.set_notify_level(level),
            Action::NotifyRoom { room, on } => self.view.set_room_notify(room, on),
            Action::Enter { room, private, key } => self.enter(room, private, key),
            Action::Part(room) => self.part(room),
            Action::Go(room) => self.go(room),
            Action::Invite { room, name } => self.invite(room, name),
            Action::Answer(answer) => self.view.print(&render::answer(&answer)),
        }
        ControlFlow::Continue(())
    }

    /// The user leaves: `/quit`, then a short wait for the server's `BYE`
    /// so our leaving is processed before the socket closes.
    fn leave(&mut self) -> Flow {
        let (unsent, pending) = self.outbox.discard();
        if unsent > 0 {
            self.view.print(&render::waiting_dropped(unsent));
        }
        if pending > 0 {
            self.view.print(&render::unconfirmed_dropped(pending));
        }
        if self.send(&ClientLine::Quit).is_ok() {
            self.await_goodbye();
        }
        self.link.close();
        ControlFlow::Break(Ended::Left)
    }

    /// Waits up to [`QUIT_WAIT`] for `BYE` or the end of the connection;
    /// anything else is dropped: we are leaving.
    fn await_goodbye(&mut self) {
        let deadline = Instant::now() + QUIT_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(left) {
                Ok(Event::Server { link_id, received })
                    if self.link.is_current(link_id) && says_goodbye(&received) =>
                {
                    return
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    // ---- what the server says ----

    fn received(&mut self, lines: Vec<Incoming>) -> Flow {
        let link_id = self.link.id();
        for line in lines {
            // A line can end the connection (BYE); the rest is stale then.
            if !self.link.is_current(link_id) {
                break;
            }
            match line {
                Incoming::TooLong => self.view.print(&render::overlong_line()),
                Incoming::Line(text) => match ServerLine::parse(&text) {
                    Ok(parsed) => self.server_line(parsed)?,
                    Err(_) => self.view.print(&render::unreadable_line()),
                },
            }
        }
        // The first burst is in: the first name prompt may come now.
        if self.identity.history_arrived() {
            self.ask_name();
        }
        ControlFlow::Continue(())
    }

    fn server_line(&mut self, line: ServerLine<'_>) -> Flow {
        match line {
            ServerLine::Msg(chat) => self.chat(None, &chat, false),
            ServerLine::History(chat) => {
                self.chat(None, &chat, true);
                // Counted once shown: the last one may be our own line.
                self.count_replayed();
            }
            ServerLine::RoomMsg(said) => self.chat(Some(said.room), &said.chat, false),
            ServerLine::RoomHistory(said) => {
                self.chat(Some(said.room), &said.chat, true);
                self.count_replayed();
            }
            ServerLine::Direct(direct) => self.direct(&direct, false),
            ServerLine::DirectHistory(direct) => {
                self.direct(&direct, true);
                self.count_replayed();
            }
            ServerLine::Found(found) => self.view.found(&found, None, self.identity.name()),
            ServerLine::RoomFound(said) => {
                let found = Found {
                    chat: said.chat,
                    to: None,
                };
                self.view
                    .found(&found, Some(said.room), self.identity.name());
            }
            ServerLine::Sent { tx, id } => {
                self.outbox.sent(tx, id);
                return self.flush();
            }
            ServerLine::Unsure { tx, detail } => {
                let settled = self.outbox.unsure(tx, Instant::now());
                self.settled(settled, detail);
                return self.flush();
            }
            ServerLine::Unsent { tx, detail } => {
                let settled = self.outbox.unsent(tx, Instant::now());
                self.settled(settled, detail);
                return self.flush();
            }
            ServerLine::InRoom(info) => return self.entered(&info),
            ServerLine::Parted { room } => return self.parted(room),
            ServerLine::Kicked {
                room,
                name,
                by,
                reason,
            } if self
                .identity
                .name()
                .is_some_and(|me| name_key(me) == name_key(name)) =>
            {
                self.kicked(room, by, reason)
            }
            ServerLine::Rooms { count } => self.rooms_listed(|rooms| rooms.listing_starts(count)),
            ServerLine::RoomListed(info) => self.rooms_listed(|rooms| rooms.listed(&info)),
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
                self.view.resumed(epoch, skipped, replayed);
                self.rooms_returned();
                if replayed == 0 {
                    self.replay_ended();
                }
            }
            ServerLine::Error { code, detail } => return self.error(code, detail),
            ServerLine::Bye { reason } => return self.lost(reason),
            other => self.view.show(&other),
        }
        ControlFlow::Continue(())
    }

    /// `ERR`: an answer to the handshake or to one of the user's lines, or
    /// a refusal to show.
    fn error(&mut self, code: ErrorCode, detail: &str) -> Flow {
        match code {
            ErrorCode::NameTaken | ErrorCode::BadName | ErrorCode::BadColor
                if self.identity.joining() =>
            {
                return self.join_refused(code, detail);
            }
            ErrorCode::NotSaved => {
                match self.outbox.not_saved(Instant::now()) {
                    Some(settled) => self.settled(Some(settled), detail),
                    None => self.view.print(&render::not_sent(detail, None, false)),
                }
                return self.flush();
            }
            ErrorCode::BadCommand if self.outbox.tx_refused() => return self.flush(),
            ErrorCode::Unsure => {
                self.outbox.unsure_untagged();
                self.view.show(&ServerLine::Error { code, detail });
            }
            ErrorCode::NotInRoom | ErrorCode::NoSuchRoom | ErrorCode::CannotSend => {
                match self.outbox.not_in_room(detail) {
                    Some(line) => self.give_back(&render::in_desk_words(detail), &line),
                    None => return self.room_refused(code, detail),
                }
            }
            ErrorCode::BadRoom
            | ErrorCode::RoomNotSaved
            | ErrorCode::NotInvited
            | ErrorCode::TooManyRooms
            | ErrorCode::RoomsTooFast => return self.room_refused(code, detail),
            ErrorCode::NoSuchName => {
                let typed = self.outbox.no_such_name(detail).map(|line| line.typed());
                let recallable = typed
                    .as_deref()
                    .is_some_and(|typed| self.input.recall(typed));
                self.view.print(&render::direct_refused(
                    detail,
                    typed.as_deref(),
                    recallable,
                ));
            }
            ErrorCode::AuthRequired => return self.auth_required(),
            ErrorCode::AuthFailed | ErrorCode::Revoked | ErrorCode::TlsRequired => {
                let why = render::refused(
                    code,
                    detail,
                    self.identity.name_or_joining(),
                    &self.link.server_name(),
                );
                return ControlFlow::Break(Ended::Refused(why));
            }
            // Any other refusal, of a room command too (a server without
            // rooms does not know them).
            _ => {
                self.view.show(&ServerLine::Error { code, detail });
                self.rooms.answered();
                return self.room_answered();
            }
        }
        ControlFlow::Continue(())
    }

    /// Whether a message of `room` (`None`: `#main`, or a direct
    /// message), live or replayed, is new here.
    fn admit(&mut self, room: Option<&str>, id: MessageId, replayed: bool) -> bool {
        if !replayed && self.view.replaying() {
            // Live traffic: whatever was replayed is over (it comes first).
            self.replay_ended();
        }
        self.view.admit(room, id, replayed)
    }

    /// A chat message in `room` (`None`: `#main`), live or replayed. One
    /// from someone else in a room other than the current one is unread
    /// there, unless it is a room's history shown on entering it (a replay
    /// after a reconnect is what arrived meanwhile, so it counts).
    fn chat(&mut self, room: Option<&str>, chat: &Chat<'_>, replayed: bool) {
        if !self.admit(room, chat.id, replayed) {
            return;
        }
        let elsewhere = !self.rooms.is_current(room);
        self.view
            .chat(chat, room, elsewhere, replayed, self.identity.name());
        self.outbox.copy_shown(chat.name, chat.id);
        let own = self.identity.name() == Some(chat.name);
        if !own && (!replayed || self.view.replaying()) {
            self.rooms.arrived(room);
        }
    }

    /// A direct message, live or replayed: ours coming back, or one for us.
    fn direct(&mut self, direct: &Direct<'_>, replayed: bool) {
        if !self.admit(None, direct.id, replayed) {
            return;
        }
        if self.identity.name() != Some(direct.from) {
            self.commands.direct_from(direct.from);
        }
        self.view.direct(direct, replayed, self.identity.name());
        self.outbox.copy_shown(direct.from, direct.id);
    }

    /// Counts one replayed line; the last one ends the replay.
    fn count_replayed(&mut self) {
        if self.view.count_replayed() {
            self.replay_ended();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Received {
        Received::Lines(text.iter().map(|t| Incoming::Line(t.to_string())).collect())
    }

    #[test]
    fn a_closed_connection_says_goodbye() {
        assert!(says_goodbye(&Received::Closed("gone".to_string())));
    }

    #[test]
    fn bye_among_other_lines_says_goodbye() {
        assert!(says_goodbye(&lines(&["PONG", "BYE<SEP>see you"])));
    }

    #[test]
    fn other_lines_do_not_say_goodbye() {
        assert!(!says_goodbye(&lines(&["PONG", "NOTE<SEP>hi"])));
    }

    #[test]
    fn a_failed_start_names_every_server_tried() {
        let failures = ["a:1", "b:2"]
            .map(|server| {
                let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
                (server.to_string(), ConnectError::Unreachable(refused))
            })
            .into();
        let text = RunError::Connect { failures }.to_string();
        assert!(text.starts_with("cannot connect to a:1: "), "{text}");
        assert!(text.contains("; nor to b:2: "), "{text}");
    }
}
