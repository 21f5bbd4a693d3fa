//! The server's rules, without any I/O: who is here ([`Directory`]), the
//! rooms ([`Rooms`]), the logins ([`Gate`]), what every line a connection
//! sends causes ([`commands`]) and what every answer of the store causes
//! ([`answers`]). Input goes in, [`Effect`]s come out, and the caller (the
//! event loop, or the threads baseline) carries them out its own way, so
//! the protocol's rules live here once and are tested as strings.
//!
//! A message the rules accept is not sent from here: it becomes a
//! [`crate::store::Draft`] for the store ([`Effect::Publish`]), and only what
//! the store hands back is delivered: to a room, or, for a direct message,
//! to the two desks it is between.

mod answers;
mod commands;
mod modes;
mod rooms;

pub use rooms::truncated;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chat_shared::seed::SeedFrame;
use chat_shared::{ClientLine, ParseError};

use crate::auth::{self, Gate, Login};
use crate::close::{AfterLine, CloseReason};
use crate::directory::{Directory, Unrenamed};
use crate::effect::Effect;
use crate::frames::HistFrames;
use crate::ids::{Asker, ConnId};
use crate::room::{RoomId, Rooms, MAIN};
use crate::store::accounts::Accounts;
use crate::store::{Holder, Message, Request, RoomState};

/// The `BYE` reason every client gets when the server stops, in either mode.
pub const SHUTDOWN_REASON: &str = "the server is going down";

/// Most bytes of a reason for leaving (a room, or the server) that are
/// passed on.
pub const MAX_REASON_BYTES: usize = 300;

/// Where the rules read the user name an IRC client registered with (its
/// ban mask is `NICK!USER@irc`): IRC keeps it ([`crate::irc::people`]),
/// and one copy of it is enough (a second, here, cost ~70 B an idle desk).
pub trait IrcUsers: std::fmt::Debug + Send + Sync {
    /// The user name connection `id` gave with `USER`, if it is an IRC
    /// client that did.
    fn user_of(&self, id: ConnId) -> Option<String>;
}

/// One thing a connection sent, as its framing decoded it.
#[derive(Debug)]
pub enum Input<'a> {
    /// A line of our protocol, parsed (or why it could not be).
    Line(Result<ClientLine<'a>, ParseError>),
    /// A seed desk's message, parsed (or why it could not be).
    Seed(Result<SeedFrame<'a>, ParseError>),
    /// A line over the length limit, discarded.
    TooLong,
}

/// What one line from a peer goes to the rules with.
pub struct Context<'a> {
    /// The rules.
    pub chat: &'a mut Chat,
    /// Who sent it.
    pub from: Asker,
    /// Where from.
    pub peer: SocketAddr,
    /// When it was read.
    pub now: Instant,
    /// Where the rules put what it causes.
    pub effects: &'a mut Vec<Effect>,
}

impl Context<'_> {
    /// Hands `input` from this connection to the rules.
    pub fn handle(&mut self, input: Input<'_>) -> AfterLine {
        self.chat
            .handle(self.from, self.peer, self.now, input, self.effects)
    }
}

/// What the rules are told about the server they run in.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How many recent messages a room shows a newcomer (`--history`).
    pub history_limit: usize,
    /// Most bytes of history or replay queued for one connection at once:
    /// what is older is left out (and counted, for a replay).
    pub replay_budget_bytes: usize,
    /// The longest line a connection may send (`--max-line`), for the
    /// refusal that says so.
    pub max_line_bytes: usize,
    /// The store's epoch: IDs of another epoch cannot be resumed from.
    pub epoch: String,
    /// Whether the store answers searches.
    pub can_search: bool,
    /// This server's name among the servers sharing the store, if any.
    pub shared_as: Option<String>,
}

/// The rules of a running server; see the module docs.
#[derive(Debug)]
pub struct Chat {
    settings: Settings,
    /// Names, desks, claims, and the other servers' desks.
    directory: Directory,
    /// The conversations, with their members and history.
    rooms: Rooms,
    /// Logins, when the server runs with `--auth token`.
    gate: Option<Gate>,
    /// False while the store cannot save (every desk was told).
    saving: bool,
    /// Connections with a search in flight: one each at a time.
    searching: HashSet<ConnId>,
    /// The replayed lines of recent messages, shared by every desk sent
    /// them.
    hist: HistFrames,
    /// When each desk (or account) made its last rooms, to slow down one
    /// that makes too many.
    creations: HashMap<Holder, VecDeque<Instant>>,
    /// Connections whose lines wait until the store has answered this many
    /// of their requests: a dialect that answers strictly in order (IRC)
    /// asks for it ([`Chat::hold_until_answered`]).
    waiting: HashMap<ConnId, usize>,
    /// Where the user names IRC clients registered with are read, for ban
    /// masks ([`Chat::read_irc_users`]).
    irc_users: Option<Arc<dyn IrcUsers>>,
    /// The connection that left last: while its departure is told, an IRC
    /// client's `QUIT` still shows its user name ([`Chat::departing`]).
    departing: Option<ConnId>,
}

impl Chat {
    /// The rules of a server that starts, with `gate` when desks must log
    /// in.
    pub fn new(settings: Settings, gate: Option<Gate>) -> Chat {
        let mut directory = Directory::new(&settings.epoch);
        if settings.shared_as.is_some() {
            directory.share();
        }
        Chat {
            rooms: Rooms::new(settings.history_limit),
            directory,
            gate,
            saving: true,
            searching: HashSet::new(),
            hist: HistFrames::default(),
            creations: HashMap::new(),
            waiting: HashMap::new(),
            irc_users: None,
            departing: None,
            settings,
        }
    }

    /// Takes what the store kept, read once at start: the rooms, and the
    /// newest messages of each, oldest first, as the history newcomers are
    /// shown.
    pub fn restore(&mut self, rooms: Vec<RoomState>, recent: &[Message]) {
        self.rooms.restore(rooms);
        for message in recent.iter().filter(|message| message.direct.is_none()) {
            let room = match &message.room {
                None => MAIN,
                Some(name) => match self.rooms.find(name) {
                    Some(room) => room,
                    None => continue,
                },
            };
            let history = self.hist.frame(message);
            self.rooms.get_mut(room).record(message, history);
        }
    }

    /// A connection is ready for the room (its TLS handshake, if any, has
    /// begun): it enters [`MAIN`] and gets its history, unless it must log
    /// in first.
    pub fn connected(&mut self, id: ConnId, effects: &mut Vec<Effect>) {
        if self.gate.is_none() {
            self.enter(id, effects);
        }
    }

    /// Connection `id` enters [`MAIN`]: its recent history goes first, so
    /// it sees it before anything live.
    fn enter(&mut self, id: ConnId, effects: &mut Vec<Effect>) {
        let main = self.rooms.get_mut(MAIN);
        main.enter(id);
        for frame in main.history_within(self.settings.replay_budget_bytes) {
            effects.push(Effect::Send(id, frame.clone()));
        }
    }

    /// Handles one thing connection `from` (at `peer`) sent; says whether
    /// its reader goes on.
    pub fn handle(
        &mut self,
        from: Asker,
        peer: SocketAddr,
        now: Instant,
        input: Input<'_>,
        effects: &mut Vec<Effect>,
    ) -> AfterLine {
        if self.awaits_login(from.conn) {
            let line = match &input {
                Input::Line(Ok(line)) => Some(line),
                _ => None,
            };
            let gate = self
                .gate
                .as_mut()
                .expect("a login is awaited only with a gate");
            return match gate.login(from.conn, peer, line, now, effects) {
                Login::Accepted { .. } => {
                    self.enter(from.conn, effects);
                    AfterLine::Continue
                }
                Login::NotALogin => AfterLine::Continue,
                Login::Refused => AfterLine::Stop(CloseReason::LoginRefused),
            };
        }
        let next = match input {
            Input::Line(line) => self.command(from, line, effects),
            Input::Seed(Ok(frame)) => {
                self.say_as(from, frame.name, frame.color, frame.text, None, effects);
                AfterLine::Continue
            }
            Input::Seed(Err(err)) => {
                self.refuse(from.conn, &err, effects);
                AfterLine::Continue
            }
            Input::TooLong => {
                effects.push(Effect::Send(from.conn, self.line_too_long()));
                AfterLine::Continue
            }
        };
        match next {
            AfterLine::Continue if self.holds_lines(from.conn) => AfterLine::Hold,
            next => next,
        }
    }

    /// True while connection `id` must log in before anything else.
    fn awaits_login(&self, id: ConnId) -> bool {
        self.gate
            .as_ref()
            .is_some_and(|gate| gate.account_of(id).is_none())
    }

    /// Connection `id` speaks another protocol than our desks: it leaves
    /// the rooms it was put in on arrival, and is back in `#main` once it
    /// takes a name. A connection that already has one (its dialect stepped
    /// out at its first line and registered in the same read) stays.
    pub fn step_out(&mut self, id: ConnId) {
        if self.directory.member(id).is_none() {
            self.rooms.leave_all(id);
        }
    }

    /// Forgets connection `id`: it leaves every room, and if it had a name,
    /// everyone hears it left.
    pub fn leave(&mut self, id: ConnId, effects: &mut Vec<Effect>) {
        // Who shared a room with it: one who does not hear `#main` (an IRC
        // client out of it) is told too.
        let mut room_peers: Vec<ConnId> = self
            .rooms
            .others()
            .filter(|(_, room)| room.contains(id))
            .flat_map(|(_, room)| room.members())
            .filter(|&peer| peer != id)
            .collect();
        room_peers.sort_unstable();
        room_peers.dedup();
        self.departing = Some(id);
        self.rooms.leave_all(id);
        self.searching.remove(&id);
        self.waiting.remove(&id);
        if let Some(leave) = self.directory.leave(id, effects) {
            effects.extend(
                room_peers
                    .into_iter()
                    .map(|peer| Effect::Departure(peer, leave.clone())),
            );
        }
        if let Some(gate) = &mut self.gate {
            gate.forget(id);
        }
    }

    /// Takes a new list of accounts: the desks of accounts that were
    /// removed, or given a new token, are told and closed.
    pub fn accounts_changed(&mut self, accounts: Accounts, effects: &mut Vec<Effect>) {
        let Some(gate) = &mut self.gate else {
            return;
        };
        tracing::info!(accounts = accounts.len(), "[*] Accounts changed");
        for id in gate.replace_accounts(accounts) {
            effects.push(Effect::Send(
                id,
                auth::refusal(chat_shared::ErrorCode::Revoked),
            ));
            effects.push(Effect::Close(id, CloseReason::Revoked));
        }
    }

    /// True while connection `id`'s further lines wait: for a name it
    /// claimed, or for the store's answers to what it asked
    /// ([`Chat::hold_until_answered`]).
    pub fn holds_lines(&self, id: ConnId) -> bool {
        self.directory.is_claiming(id) || self.waiting.contains_key(&id)
    }

    /// Connection `id` just made `requests` requests of the store (messages
    /// published, rooms changed, a replay): its further lines wait until
    /// the store has answered them all, so that what it sends next (an IRC
    /// `PING`, a `NAMES`) is answered after them, in order.
    pub fn hold_until_answered(&mut self, id: ConnId, requests: usize) {
        if requests > 0 {
            *self.waiting.entry(id).or_default() += requests;
        }
    }

    /// The store answered one request of connection `id` (if it is here):
    /// once it has answered them all, the connection reads on.
    fn answered(&mut self, id: Option<ConnId>, effects: &mut Vec<Effect>) {
        let Some(id) = id else {
            return;
        };
        let Some(left) = self.waiting.get_mut(&id) else {
            return;
        };
        *left -= 1;
        if *left == 0 {
            self.waiting.remove(&id);
            effects.push(Effect::ReadOn(id));
        }
    }

    /// Connection `id`'s name, once it has one.
    pub fn name_of(&self, id: ConnId) -> Option<&str> {
        self.directory.name_of(id)
    }

    /// Connection `id` is called `name` from now on (an IRC `NICK`); its
    /// old name is answered. A logged-in connection keeps its account's
    /// name. Nobody is told here: our desks have no line for it (they see
    /// the new name on what it says next, and in `/who`); the dialect that
    /// asked tells its own.
    pub fn rename(&mut self, id: ConnId, name: &str) -> Result<String, Unrenamed> {
        if self.account_of(id).is_some() {
            return Err(Unrenamed::Account);
        }
        self.directory.rename(id, name)
    }

    /// Connection `id` is leaving for `reason` (an IRC `QUIT`'s words, or
    /// a `KILL`'s): its `LEAVE` says it.
    pub fn leaving_because(&mut self, id: ConnId, reason: &str) {
        let reason = truncated(reason, MAX_REASON_BYTES);
        self.directory.leaving_because(id, reason);
    }

    /// The connections in room `room`.
    pub fn members(&self, room: RoomId) -> impl Iterator<Item = ConnId> + '_ {
        self.rooms.get(room).members()
    }

    /// What the rules say when the store is too far behind to take a
    /// request at all.
    pub fn unavailable(&mut self, request: Request, effects: &mut Vec<Effect>) {
        match request {
            Request::Append(drafts) => {
                self.not_saved(drafts, crate::store::link::STORE_BEHIND, effects)
            }
            Request::Replay { asker, .. } => self.replay_unavailable(asker, effects),
            Request::Search { asker, .. } => self.search_unavailable(asker, effects),
            Request::ChangeRoom { asker, .. } => {
                let detail = "the server is too busy to change rooms now; try again in a moment";
                effects.push(Effect::Answer(
                    asker,
                    crate::frames::error(chat_shared::ErrorCode::NotSaved, detail),
                ));
                self.answered(Some(asker.conn), effects);
            }
        }
    }

    /// True once connection `id` is in the server's rooms (it gets
    /// broadcasts and notices).
    pub fn is_in(&self, id: ConnId) -> bool {
        self.rooms.get(MAIN).contains(id)
    }

    // What another dialect (IRC) reads to answer what our protocol has no
    // line for (NAMES, WHO, WHOIS, TOPIC): read-only views of the rules.

    /// The store's epoch: message IDs are unique within it.
    pub fn epoch(&self) -> &str {
        &self.settings.epoch
    }

    /// Whether connections log in (`--auth token`).
    pub fn takes_logins(&self) -> bool {
        self.gate.is_some()
    }

    /// The account connection `id` logged in to, if any.
    pub fn account_of(&self, id: ConnId) -> Option<&str> {
        self.gate.as_ref().and_then(|gate| gate.account_of(id))
    }

    /// Connection `id`'s name, colour, desk and idle time, once it has a
    /// name.
    pub fn member(&self, id: ConnId) -> Option<&crate::directory::Member> {
        self.directory.member(id)
    }

    /// Everyone named on this server, with their connection.
    pub fn members_here(&self) -> impl Iterator<Item = (ConnId, &crate::directory::Member)> {
        self.directory.members()
    }

    /// The connection here holding the name `name` (any spelling of it).
    pub fn conn_named(&self, name: &str) -> Option<ConnId> {
        self.directory
            .conn_of_name(&chat_shared::name::name_key(name))
    }

    /// The connection that left last, its name forgotten: the one whose
    /// departure is being told, until the next one leaves (its slab key
    /// may be another connection's by then, so a caller checks the name).
    pub fn departing(&self) -> Option<ConnId> {
        self.departing
    }

    /// Everyone online, here and on the other servers.
    pub fn online(&self) -> usize {
        self.directory.online()
    }

    /// The room named `name` (any spelling of it), if there is one.
    pub fn room_named(&self, name: &str) -> Option<RoomId> {
        self.rooms.find(name)
    }

    /// The room `id`.
    pub fn room(&self, id: RoomId) -> &crate::room::Room {
        self.rooms.get(id)
    }

    /// The rooms but [`MAIN`] that connection `id` is in now.
    pub fn rooms_of(&self, id: ConnId) -> impl Iterator<Item = &crate::room::Room> {
        self.rooms
            .others()
            .filter(move |(_, room)| room.contains(id))
            .map(|(_, room)| room)
    }

    /// Most bytes of history replayed to one connection at once.
    pub fn replay_budget(&self) -> usize {
        self.settings.replay_budget_bytes
    }

    /// The recent history a newcomer to `room` is shown, oldest first.
    pub fn recent_history(&self, room: RoomId) -> impl Iterator<Item = &crate::frames::Frame> {
        self.rooms
            .get(room)
            .history_within(self.settings.replay_budget_bytes)
    }
}

#[cfg(test)]
mod tests;
