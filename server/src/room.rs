//! The chat room itself, without any I/O: who is here under which name and
//! colour, the recent history, and what each client line causes.
//!
//! Both server modes drive the same `Room`: the event loop owns one directly,
//! the thread-per-client baseline keeps it behind a lock. A line goes in,
//! [`Effect`]s come out, and the caller delivers them its own way, so the
//! protocol's rules live here once. A message the room accepts is not sent
//! from here: it becomes a [`Draft`] for the room's log, and only what the
//! log hands back ([`Room::record`]) is delivered: to everyone, or, for a
//! direct message, to the two desks it is between.
//!
//! When several servers share the room through the log ([`Room::share`]),
//! a name is claimed across them before its `WELCOME` ([`Effect::Claim`];
//! the connection's further lines wait meanwhile), JOIN and LEAVE come back
//! from the log like messages, and the room also knows the desks of the
//! other servers, for `/who`.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use chat_shared::message::{timestamp_now, Chat, Direct, Found, Presence, WhoEntry};
use chat_shared::name::name_key;
use chat_shared::sanitize::clean;
use chat_shared::seed;
use chat_shared::{ClientLine, Color, ErrorCode, MessageId, ServerLine, MAX_WHO_NAMES};

use crate::desk::{self, DeskId};
use crate::outbox::{encode, Frame};
use crate::store::{Asker, ClaimOutcome, DirectTo, Draft, Message, NameClaim, RemoteMember};

/// The `BYE` reason every client gets when the server stops, in either mode.
pub const SHUTDOWN_REASON: &str = "the server is going down";

/// Identifies a connection to the room; the caller chooses it (the event loop
/// uses its slab key).
pub type ConnId = usize;

/// What a line from a client makes the caller do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send this to the client that sent the line.
    Reply(Frame),
    /// Send this to every connection, named or not, the sender included.
    Broadcast(Frame),
    /// Hand this message to the room's log; broadcast it once stored.
    Publish(Draft),
    /// The client is resuming: replay what came after `after`, if `epoch` is
    /// the log's.
    Resume {
        /// The log the client knew.
        epoch: String,
        /// The last message it showed.
        after: MessageId,
        /// The desk it proved to be (its direct messages come too).
        desk: Option<DeskId>,
    },
    /// The client searches the log for `words`.
    Search {
        /// What to look for.
        words: String,
        /// The desk that asks (its direct messages are searched too).
        desk: Option<DeskId>,
    },
    /// The client asked to leave: close it once its replies are flushed.
    Quit,
    /// Claim this name across the servers sharing the room; the answer goes
    /// to [`Room::claim_answered`]. The client's further lines wait.
    Claim(NameClaim),
    /// Give this name back across the servers; its LEAVE comes back from the
    /// log.
    Release(NameClaim),
    /// Tell the other servers this name's desk changed (`/resume` with an
    /// earlier desk's secret), so their direct messages find it.
    Redesk(NameClaim),
}

/// A name being claimed across servers, and what to say once it is granted.
#[derive(Debug)]
struct PendingJoin {
    claim: NameClaim,
    /// The desk secret its `WELCOME` will give (the claim holds its hash).
    secret: String,
    /// The text of the `NAME<SEP>TEXT` line that asked for the name.
    then_say: Option<String>,
}

/// A desk on another server, as `/who` lists it.
#[derive(Debug)]
struct Remote {
    name: String,
    /// The server it is on: a LEAVE from another server's desk of the same
    /// name is not about it.
    server: String,
    /// When it last said anything (or joined), as seen here.
    last_said: Instant,
    /// Its desk, so direct messages can be written to it.
    desk: DeskId,
}

/// A named participant.
#[derive(Debug)]
struct Member {
    name: String,
    /// What makes two names the same name ([`name_key`]).
    key: String,
    color: Color,
    /// Its desk: given at join, or proved with `/resume`.
    desk: DeskId,
    /// When it last said anything (or joined), for `/who`.
    last_said: Instant,
}

/// Who gets a message the log stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Every connection.
    Everyone(Frame),
    /// The connections of these desks (a direct message's writer and
    /// reader; the same one twice when someone writes to themselves).
    Desks(Frame, [ConnId; 2]),
    /// Nobody here now (both desks have left).
    Nobody,
}

/// Names, colours and history for one chat room.
#[derive(Debug)]
pub struct Room {
    /// Connections that have a name, by connection.
    members: HashMap<ConnId, Member>,
    /// The same members by [`name_key`], so names are unique regardless of
    /// case and of lookalike letters ("Alice", "alice" and a Cyrillic "аlice"
    /// would confuse everyone).
    ids_by_name: HashMap<String, ConnId>,
    /// The same members by desk, to deliver direct messages.
    ids_by_desk: HashMap<DeskId, ConnId>,
    /// Connections that logged in (`--auth token`), with their account's
    /// name: the only name each may take.
    logged_in: HashMap<ConnId, String>,
    /// The last messages, oldest first, already encoded as `HIST` lines.
    history: VecDeque<Frame>,
    /// How many messages `history` keeps.
    history_limit: usize,
    /// The room's log's epoch, told to each desk as it joins.
    epoch: String,
    /// True when other servers share the room: names are claimed through
    /// the log.
    shared: bool,
    /// Names being claimed, by connection.
    pending: HashMap<ConnId, PendingJoin>,
    /// Desks on the other servers, by [`name_key`].
    remote: HashMap<String, Remote>,
}

/// What a join came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Joined {
    /// The connection has the name.
    Now,
    /// The name is being claimed across servers.
    Pending,
    /// Refused; the reply is queued.
    Refused,
}

impl Room {
    /// An empty room that replays up to `history_limit` messages to
    /// newcomers, whose log is named `epoch`.
    pub fn new(history_limit: usize, epoch: &str) -> Room {
        Room {
            members: HashMap::new(),
            ids_by_name: HashMap::new(),
            ids_by_desk: HashMap::new(),
            logged_in: HashMap::new(),
            history: VecDeque::with_capacity(history_limit),
            history_limit,
            epoch: epoch.to_string(),
            shared: false,
            pending: HashMap::new(),
            remote: HashMap::new(),
        }
    }

    /// From now on other servers share this room: names are claimed
    /// through the log, and JOIN and LEAVE come back from it.
    pub fn share(&mut self) {
        self.shared = true;
    }

    /// True while connection `id` waits for a name it claimed.
    pub fn is_claiming(&self, id: ConnId) -> bool {
        self.pending.contains_key(&id)
    }

    /// The log's answer to connection `id`'s claim: its `WELCOME` (and the
    /// message it asked to say), a refusal, or (the log unreachable) a `BYE`
    /// the caller closes the connection after. `false` when the connection
    /// no longer waits for it (it left), so a granted name must be given
    /// back.
    pub fn claim_answered(
        &mut self,
        from: Asker,
        outcome: &ClaimOutcome,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let Some(pending) = self.pending.remove(&from.conn) else {
            return false;
        };
        let claim = pending.claim;
        match outcome {
            ClaimOutcome::Granted => {
                let (name, key, color) = (claim.name, claim.key, claim.color);
                self.admit(from.conn, name, key, color, pending.secret, effects);
                if let Some(text) = pending.then_say {
                    self.say(from, &text, effects);
                }
            }
            ClaimOutcome::Taken => {
                self.ids_by_name.remove(&claim.key);
                let detail = format!("the name {} is taken; choose another", claim.name);
                effects.push(Effect::Reply(error_frame(ErrorCode::NameTaken, &detail)));
            }
            ClaimOutcome::Unavailable(why) => {
                // A goodbye, not an error: a desk reconnects after a BYE, by
                // itself, until the link is back.
                self.ids_by_name.remove(&claim.key);
                let reason = format!("your name could not be claimed ({why}); try again shortly");
                effects.push(Effect::Reply(encode(&ServerLine::Bye { reason: &reason })));
            }
        }
        true
    }

    /// Who is on the other servers, as read at start.
    pub fn set_remote(&mut self, members: Vec<RemoteMember>) {
        for member in members {
            self.remote_joined(member);
        }
    }

    /// A desk joined on another server.
    pub fn remote_joined(&mut self, member: RemoteMember) {
        self.remote.insert(
            name_key(&member.name),
            Remote {
                name: member.name,
                server: member.server,
                last_said: Instant::now(),
                desk: member.desk,
            },
        );
    }

    /// The desk of `name`, on server `server`, not this one, is now `desk`.
    pub fn remote_desk(&mut self, name: &str, server: &str, desk: DeskId) {
        if let Some(remote) = self.remote.get_mut(&name_key(name)) {
            if remote.server == server {
                remote.desk = desk;
            }
        }
    }

    /// A desk of server `server`, not this one, left.
    pub fn remote_left(&mut self, name: &str, server: &str) {
        let key = name_key(name);
        if self.remote.get(&key).is_some_and(|r| r.server == server) {
            self.remote.remove(&key);
        }
    }

    /// Everyone in the room, here and on the other servers.
    fn online(&self) -> usize {
        self.members.len() + self.remote.len()
    }

    /// Takes a message the log stored: a room message goes into the history
    /// and to everyone; a direct message to its two desks only.
    pub fn record(&mut self, message: &Message) -> Delivery {
        if let Some(direct) = &message.direct {
            let frame = encode(&ServerLine::Direct(direct_of(message, direct)));
            let from = self.ids_by_desk.get(&direct.from_desk).copied();
            let to = self.ids_by_desk.get(&direct.to_desk).copied();
            return match (from, to) {
                (Some(a), Some(b)) => Delivery::Desks(frame, [a, b]),
                (Some(one), None) | (None, Some(one)) => Delivery::Desks(frame, [one, one]),
                (None, None) => Delivery::Nobody,
            };
        }
        if let Some(remote) = self.remote.get_mut(&name_key(&message.name)) {
            remote.last_said = Instant::now();
        }
        let chat = chat_of(message);
        if self.history_limit > 0 {
            if self.history.len() == self.history_limit {
                self.history.pop_front();
            }
            self.history
                .push_back(encode(&ServerLine::History(chat.clone())));
        }
        Delivery::Everyone(encode(&ServerLine::Msg(chat)))
    }

    /// The `HIST` lines a new connection gets before anything live.
    pub fn history(&self) -> std::collections::vec_deque::Iter<'_, Frame> {
        self.history.iter()
    }

    /// How many connections have a name.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Connection `id`'s name, once it has one.
    pub fn name_of(&self, id: ConnId) -> Option<&str> {
        self.members.get(&id).map(|member| member.name.as_str())
    }

    /// The answer to a `/resume`: `RESUME`, then `messages` as `HIST` lines,
    /// oldest first; only the newest that fit in `budget_bytes` are kept, the
    /// others are counted with `skipped`.
    pub fn replay(&self, messages: &[Message], skipped: u64, budget_bytes: usize) -> Vec<Frame> {
        let mut total = 0;
        let mut frames: Vec<Frame> = messages
            .iter()
            .rev()
            .map(|message| match &message.direct {
                Some(direct) => encode(&ServerLine::DirectHistory(direct_of(message, direct))),
                None => encode(&ServerLine::History(chat_of(message))),
            })
            .take_while(|frame| {
                total += frame.len();
                total <= budget_bytes
            })
            .collect();
        let skipped = skipped + (messages.len() - frames.len()) as u64;
        frames.push(encode(&ServerLine::Resumed {
            epoch: &self.epoch,
            skipped,
            replayed: frames.len() as u64,
        }));
        frames.reverse();
        frames
    }

    /// The answer to a `/resume` about another log (or one that cannot be
    /// read): `RESUME` with this log's epoch, then the recent history.
    pub fn replay_history(&self) -> Vec<Frame> {
        let mut frames = vec![encode(&ServerLine::Resumed {
            epoch: &self.epoch,
            skipped: 0,
            replayed: self.history.len() as u64,
        })];
        frames.extend(self.history.iter().cloned());
        frames
    }

    /// The answer to a `/search`: `SEARCH`, then a `FOUND` line for each
    /// message, oldest first.
    pub fn search_results(messages: &[Message]) -> Vec<Frame> {
        let mut frames = vec![encode(&ServerLine::Searched {
            count: messages.len(),
        })];
        frames.extend(messages.iter().map(|message| {
            encode(&ServerLine::Found(Found {
                chat: chat_of(message),
                to: message.direct.as_ref().map(|direct| direct.to.as_str()),
            }))
        }));
        frames
    }

    /// The log's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Handles one line from `from`, pushing what must happen onto
    /// `effects`.
    pub fn handle_line(&mut self, from: Asker, raw: &[u8], effects: &mut Vec<Effect>) {
        let id = from.conn;
        let decoded = String::from_utf8_lossy(raw);
        let line = match ClientLine::parse(&decoded) {
            Ok(line) => line,
            Err(err) => {
                effects.push(Effect::Reply(error_frame(err.code(), &err.to_string())));
                return;
            }
        };
        match line {
            ClientLine::Say { name, text } => self.join_then_say(from, name, None, text, effects),
            ClientLine::Join { name, color, desk } => {
                self.join(id, name, color, desk, effects);
            }
            ClientLine::Who => effects.push(Effect::Reply(self.who())),
            ClientLine::Ping => effects.push(Effect::Reply(encode(&ServerLine::Pong))),
            ClientLine::Quit => {
                effects.push(Effect::Reply(encode(&ServerLine::Bye {
                    reason: "goodbye",
                })));
                effects.push(Effect::Quit);
            }
            ClientLine::Resume { epoch, after, desk } => {
                let desk = desk.map(|secret| self.prove_desk(id, secret, effects));
                effects.push(Effect::Resume {
                    epoch: epoch.to_string(),
                    after,
                    desk: desk.or_else(|| self.members.get(&id).map(|m| m.desk)),
                });
            }
            ClientLine::Direct { to, text } => self.direct(from, to, text, effects),
            ClientLine::Search { words } => effects.push(Effect::Search {
                words: words.to_string(),
                desk: self.members.get(&id).map(|m| m.desk),
            }),
            // Accounts are checked before a line reaches the room
            // (`crate::auth`); here it is either a server without accounts
            // or a second `/auth`.
            ClientLine::Auth { .. } => effects.push(Effect::Reply(error_frame(
                ErrorCode::BadCommand,
                "/auth is taken only as the first line, on a server run with --auth token",
            ))),
            ClientLine::Blank => {}
        }
    }

    /// Handles one message from a seed desk ([`chat_shared::seed`]): its
    /// name is taken (with the colour it asked for) by its first message, as
    /// `NAME<SEP>TEXT` does, under the same rules.
    pub fn handle_seed_frame(&mut self, from: Asker, raw: &[u8], effects: &mut Vec<Effect>) {
        let decoded = String::from_utf8_lossy(raw);
        match seed::parse_frame(&decoded) {
            Ok(frame) => self.join_then_say(from, frame.name, frame.color, frame.text, effects),
            Err(err) => effects.push(Effect::Reply(error_frame(err.code(), &err.to_string()))),
        }
    }

    /// The reply to a line that went over the length limit.
    pub fn line_too_long(limit: usize) -> Frame {
        error_frame(
            ErrorCode::LineTooLong,
            &format!("lines are at most {limit} bytes; that one was discarded"),
        )
    }

    /// Binds connection `id` to an account: from now on it may take `name`
    /// and no other.
    pub fn log_in(&mut self, id: ConnId, name: &str) {
        self.logged_in.insert(id, name.to_string());
    }

    /// Forgets connection `id`; if it had a name, everyone hears it left.
    pub fn leave(&mut self, id: ConnId, effects: &mut Vec<Effect>) {
        self.logged_in.remove(&id);
        if let Some(pending) = self.pending.remove(&id) {
            self.ids_by_name.remove(&pending.claim.key);
        }
        if let Some(member) = self.members.remove(&id) {
            self.ids_by_name.remove(&member.key);
            self.ids_by_desk.remove(&member.desk);
            if self.shared {
                effects.push(Effect::Release(NameClaim {
                    name: member.name,
                    key: member.key,
                    color: member.color,
                    desk: member.desk,
                }));
                return;
            }
            let presence = Presence {
                time: &timestamp_now(),
                name: &member.name,
                color: member.color,
            };
            effects.push(Effect::Broadcast(encode(&ServerLine::Leave(presence))));
        }
    }

    /// Joins as `name` if needed, then says `text`: at once, or once the
    /// name is granted across servers.
    fn join_then_say(
        &mut self,
        from: Asker,
        name: &str,
        color: Option<Color>,
        text: &str,
        effects: &mut Vec<Effect>,
    ) {
        match self.join(from.conn, name, color, None, effects) {
            Joined::Now => self.say(from, text, effects),
            Joined::Pending => {
                if let Some(pending) = self.pending.get_mut(&from.conn) {
                    pending.then_say = Some(text.to_string());
                }
            }
            Joined::Refused => {}
        }
    }

    /// Makes `name` this connection's name, or checks that it already is.
    /// On refusal, the reply is already in `effects`.
    /// Gives connection `id` the name, or refuses it. A desk coming back
    /// names its secret (`desk`) and stays the same desk: its direct
    /// messages find it, and in a shared room its claim may take the name
    /// back from the server that lost it.
    fn join(
        &mut self,
        id: ConnId,
        name: &str,
        color: Option<Color>,
        desk: Option<&str>,
        effects: &mut Vec<Effect>,
    ) -> Joined {
        if let Some(member) = self.members.get(&id) {
            // Every message of a named connection comes this way: the exact
            // name needs no key.
            if member.name == name || member.key == name_key(name) {
                return Joined::Now;
            }
            let detail = format!("this connection is already {}", member.name);
            effects.push(Effect::Reply(error_frame(ErrorCode::WrongName, &detail)));
            return Joined::Refused;
        }
        let key = name_key(name);
        let account = self.logged_in.get(&id).cloned();
        if let Some(account) = &account {
            if name_key(account) != key {
                let detail = format!("this connection logged in as {account}");
                effects.push(Effect::Reply(error_frame(ErrorCode::WrongName, &detail)));
                return Joined::Refused;
            }
        }
        // An account's name is spelt as it was added.
        let name = account.as_deref().unwrap_or(name);
        if self.ids_by_name.contains_key(&key) {
            let detail = format!("the name {name} is taken; choose another");
            effects.push(Effect::Reply(error_frame(ErrorCode::NameTaken, &detail)));
            return Joined::Refused;
        }
        let color = color.unwrap_or_else(|| Color::for_name(name));
        let secret = desk.map_or_else(desk::new_secret, str::to_string);
        if self.shared {
            // Held for this connection while the other servers are asked.
            self.ids_by_name.insert(key.clone(), id);
            let claim = NameClaim {
                name: name.to_string(),
                key,
                color,
                desk: DeskId::of(&secret),
            };
            effects.push(Effect::Claim(claim.clone()));
            self.pending.insert(
                id,
                PendingJoin {
                    claim,
                    secret,
                    then_say: None,
                },
            );
            return Joined::Pending;
        }
        self.admit(id, name.to_string(), key, color, secret, effects);
        Joined::Now
    }

    /// Gives connection `id` the name: its desk secret in a `WELCOME`, and
    /// a JOIN for everyone (from the log, when the room is shared).
    fn admit(
        &mut self,
        id: ConnId,
        name: String,
        key: String,
        color: Color,
        secret: String,
        effects: &mut Vec<Effect>,
    ) {
        let desk = DeskId::of(&secret);
        self.ids_by_name.insert(key.clone(), id);
        self.ids_by_desk.insert(desk, id);
        let welcome = ServerLine::Welcome {
            name: &name,
            color,
            online: self.online() + 1,
            epoch: &self.epoch,
            desk: &secret,
        };
        effects.push(Effect::Reply(encode(&welcome)));
        if !self.shared {
            let presence = Presence {
                time: &timestamp_now(),
                name: &name,
                color,
            };
            effects.push(Effect::Broadcast(encode(&ServerLine::Join(presence))));
        }
        self.members.insert(
            id,
            Member {
                name,
                key,
                color,
                desk,
                last_said: Instant::now(),
            },
        );
    }

    /// Drafts `text` from `from` for the log; nothing is sent until the log
    /// has it.
    fn say(&mut self, from: Asker, text: &str, effects: &mut Vec<Effect>) {
        effects.push(Effect::Publish(self.draft(from, text, None)));
    }

    /// A direct message from `from` to the online desk named `to`.
    fn direct(&mut self, from: Asker, to: &str, text: &str, effects: &mut Vec<Effect>) {
        let Some(writer) = self.members.get(&from.conn) else {
            let detail = "take a name first (/join NAME)";
            effects.push(Effect::Reply(error_frame(ErrorCode::WrongName, detail)));
            return;
        };
        let from_desk = writer.desk;
        let key = name_key(to);
        let here = self
            .ids_by_name
            .get(&key)
            .and_then(|id| self.members.get(id))
            .map(|m| (&m.name, m.desk));
        // On another server of a shared room: each server delivers it to
        // the one of its two desks it holds.
        let elsewhere = || self.remote.get(&key).map(|r| (&r.name, r.desk));
        let Some((name, to_desk)) = here.or_else(elsewhere) else {
            let detail = format!("nobody called {to} is online");
            effects.push(Effect::Reply(error_frame(ErrorCode::NoSuchName, &detail)));
            return;
        };
        let direct = DirectTo {
            to: name.clone(),
            from_desk,
            to_desk,
        };
        effects.push(Effect::Publish(self.draft(from, text, Some(direct))));
    }

    fn draft(&mut self, from: Asker, text: &str, direct: Option<DirectTo>) -> Draft {
        let member = self
            .members
            .get_mut(&from.conn)
            .expect("only members speak");
        member.last_said = Instant::now();
        Draft {
            from,
            time: timestamp_now(),
            name: member.name.clone(),
            color: member.color,
            text: clean(text).into_owned(),
            direct,
        }
    }

    /// Connection `id` proves it is the desk holding `secret` (after a
    /// reconnect): from now on it is that desk, and gets its direct
    /// messages. Unnamed connections cannot be a desk yet.
    fn prove_desk(&mut self, id: ConnId, secret: &str, effects: &mut Vec<Effect>) -> DeskId {
        let desk = DeskId::of(secret);
        if let Some(member) = self.members.get_mut(&id) {
            self.ids_by_desk.remove(&member.desk);
            member.desk = desk;
            self.ids_by_desk.insert(desk, id);
            if self.shared {
                effects.push(Effect::Redesk(NameClaim {
                    name: member.name.clone(),
                    key: member.key.clone(),
                    color: member.color,
                    desk,
                }));
            }
        }
        desk
    }

    fn who(&self) -> Frame {
        let now = Instant::now();
        let mut people: Vec<WhoEntry<'_>> = self
            .members
            .values()
            .map(|m| (&m.name, m.last_said))
            .chain(self.remote.values().map(|r| (&r.name, r.last_said)))
            .map(|(name, last_said)| WhoEntry {
                name,
                idle_secs: now.duration_since(last_said).as_secs(),
            })
            .collect();
        people.sort_unstable_by_key(|person| person.name.to_lowercase());
        people.truncate(MAX_WHO_NAMES);
        encode(&ServerLine::Who {
            count: self.online(),
            people,
        })
    }
}

fn error_frame(code: ErrorCode, detail: &str) -> Frame {
    encode(&ServerLine::Error { code, detail })
}

fn chat_of(message: &Message) -> Chat<'_> {
    Chat {
        id: message.id,
        time: &message.time,
        name: &message.name,
        color: message.color,
        text: &message.text,
    }
}

fn direct_of<'a>(message: &'a Message, direct: &'a DirectTo) -> Direct<'a> {
    Direct {
        id: message.id,
        time: &message.time,
        from: &message.name,
        color: message.color,
        to: &direct.to,
        text: &message.text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(frame: &Frame) -> String {
        String::from_utf8(frame.to_vec()).unwrap()
    }

    fn asker(id: ConnId) -> Asker {
        Asker {
            conn: id,
            serial: id as u64,
        }
    }

    /// Runs a line; what it publishes is stored as a log would (numbered in
    /// order) and shown as the broadcast that follows.
    fn run(room: &mut Room, id: ConnId, line: &str) -> Vec<String> {
        let mut effects = Vec::new();
        room.handle_line(asker(id), line.as_bytes(), &mut effects);
        effects
            .into_iter()
            .map(|e| match e {
                Effect::Reply(f) => format!("reply {}", text(&f)),
                Effect::Broadcast(f) => format!("all {}", text(&f)),
                Effect::Publish(draft) => {
                    let id = MessageId::from_sequence(room.history().len() as u64 + 1);
                    match room.record(&Message::from_draft(draft, id)) {
                        Delivery::Everyone(f) => format!("all {}", text(&f)),
                        Delivery::Desks(f, [a, b]) => format!("to {a} {b} {}", text(&f)),
                        Delivery::Nobody => "nobody".to_string(),
                    }
                }
                Effect::Resume {
                    epoch, after, desk, ..
                } => format!("resume {epoch} {after} {}", desk.is_some()),
                Effect::Search { words, desk } => format!("search {words} {}", desk.is_some()),
                Effect::Quit => "quit".to_string(),
                Effect::Claim(claim) => format!("claim {}", claim.name),
                Effect::Release(claim) => format!("release {}", claim.name),
                Effect::Redesk(claim) => format!("redesk {}", claim.name),
            })
            .collect()
    }

    #[test]
    fn first_say_joins_then_broadcasts() {
        let mut room = Room::new(20, "e1");
        let out = run(&mut room, 1, "alice<SEP>hello");
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out[0].starts_with("reply WELCOME<SEP>alice<SEP>"));
        assert!(out[1].starts_with("all JOIN<SEP>"));
        assert!(out[2].starts_with("all MSG<SEP>"), "{out:?}");
        assert!(out[2].contains("<SEP>alice<SEP>"), "{out:?}");
        assert!(out[2].ends_with("<SEP>hello\n"), "{out:?}");
    }

    #[test]
    fn second_say_only_broadcasts() {
        let mut room = Room::new(20, "e1");
        run(&mut room, 1, "alice<SEP>one");
        let out = run(&mut room, 1, "alice<SEP>two");
        assert_eq!(out.len(), 1);
        assert!(out[0].ends_with("<SEP>two\n"));
    }

    #[test]
    fn taken_name_is_refused_case_blind() {
        let mut room = Room::new(20, "e1");
        run(&mut room, 1, "/join alice");
        let out = run(&mut room, 2, "Alice<SEP>hi");
        assert_eq!(
            out,
            vec!["reply ERR<SEP>name-taken<SEP>the name Alice is taken; choose another\n"]
        );
    }

    #[test]
    fn lookalike_name_is_taken() {
        let mut room = Room::new(20, "e1");
        run(&mut room, 1, "/join alice");
        let out = run(&mut room, 2, "\u{430}lice<SEP>hi");
        assert!(out[0].starts_with("reply ERR<SEP>name-taken"), "{out:?}");
        let own = run(&mut room, 1, "ALICE<SEP>still me");
        assert!(own[0].contains("<SEP>alice<SEP>"), "{own:?}");
    }

    #[test]
    fn name_is_free_again_after_leave() {
        let mut room = Room::new(20, "e1");
        run(&mut room, 1, "/join alice");
        let mut effects = Vec::new();
        room.leave(1, &mut effects);
        assert!(matches!(&effects[0], Effect::Broadcast(f) if text(f).starts_with("LEAVE<SEP>")));
        assert!(run(&mut room, 2, "/join alice")[0].starts_with("reply WELCOME"));
    }

    #[test]
    fn leaving_without_a_name_is_silent() {
        let mut room = Room::new(20, "e1");
        let mut effects = Vec::new();
        room.leave(7, &mut effects);
        assert!(effects.is_empty());
    }

    #[test]
    fn other_name_on_a_named_connection_is_refused() {
        let mut room = Room::new(20, "e1");
        run(&mut room, 1, "/join alice");
        let out = run(&mut room, 1, "bob<SEP>hi");
        assert!(out[0].starts_with("reply ERR<SEP>wrong-name"), "{out:?}");
    }

    #[test]
    fn a_logged_in_connection_takes_its_account_name_only() {
        let mut room = Room::new(20, "e1");
        room.log_in(1, "alice");
        let out = run(&mut room, 1, "mallory<SEP>hi");
        assert!(
            out[0].starts_with("reply ERR<SEP>wrong-name<SEP>"),
            "{out:?}"
        );
        let out = run(&mut room, 1, "/join Alice");
        assert!(
            out[0].starts_with("reply WELCOME<SEP>alice<SEP>"),
            "{out:?}"
        );
    }

    #[test]
    fn a_desk_coming_back_keeps_its_secret() {
        let mut room = Room::new(20, "e1");
        let secret = "00112233445566778899aabbccddeeff";
        let out = run(&mut room, 1, &format!("/join alice cyan {secret}"));
        assert!(
            out[0].starts_with("reply WELCOME<SEP>alice<SEP>cyan<SEP>1<SEP>e1<SEP>")
                && out[0].contains(secret),
            "{out:?}"
        );
    }

    #[test]
    fn join_keeps_the_chosen_colour() {
        let mut room = Room::new(20, "e1");
        let out = run(&mut room, 1, "/join alice bright-cyan");
        assert!(out[0].starts_with("reply WELCOME<SEP>alice<SEP>bright-cyan<SEP>1"));
    }

    #[test]
    fn controls_in_text_are_made_visible() {
        let mut room = Room::new(20, "e1");
        let out = run(&mut room, 1, "alice<SEP>\x1b[2Jboom\x07");
        assert!(out[2].ends_with("<SEP>^[[2Jboom^G\n"), "{out:?}");
    }

    #[test]
    fn welcome_names_the_log() {
        let mut room = Room::new(0, "e1");
        let out = run(&mut room, 1, "/join alice");
        assert!(out[0].contains("<SEP>1<SEP>e1<SEP>"), "{out:?}");
    }

    #[test]
    fn resume_is_handed_to_the_caller() {
        let mut room = Room::new(0, "e1");
        assert_eq!(
            run(&mut room, 1, "/resume e1 41"),
            vec!["resume e1 41 false"]
        );
    }

    /// The desk secret `id`'s `WELCOME` gave it.
    fn secret_of(welcome: &str) -> String {
        match ServerLine::parse(welcome.strip_prefix("reply ").unwrap().trim_end()) {
            Ok(ServerLine::Welcome { desk, .. }) => desk.to_string(),
            other => panic!("expected a WELCOME, got {other:?}"),
        }
    }

    #[test]
    fn a_direct_message_goes_to_its_two_desks_only() {
        let mut room = Room::new(20, "e1");
        run(&mut room, 1, "/join alice");
        run(&mut room, 2, "/join bob");
        run(&mut room, 3, "/join carol");
        let out = run(&mut room, 1, "/msg BOB see you at 3");
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].starts_with("to 1 2 DM<SEP>1<SEP>")
                && out[0].ends_with("<SEP>alice<SEP>bright-yellow<SEP>bob<SEP>see you at 3\n"),
            "{out:?}"
        );
        assert_eq!(
            room.history().count(),
            0,
            "direct messages stay out of the history"
        );
    }

    #[test]
    fn a_direct_message_to_nobody_online_is_refused() {
        let mut room = Room::new(20, "e1");
        run(&mut room, 1, "/join alice");
        assert_eq!(
            run(&mut room, 1, "/msg bob hi"),
            vec!["reply ERR<SEP>no-such-name<SEP>nobody called bob is online\n"]
        );
        assert!(run(&mut room, 2, "/msg alice hi")[0].starts_with("reply ERR<SEP>wrong-name<SEP>"));
    }

    #[test]
    fn welcome_gives_each_desk_its_own_secret() {
        let mut room = Room::new(20, "e1");
        let a = secret_of(&run(&mut room, 1, "/join alice")[0]);
        let b = secret_of(&run(&mut room, 2, "/join bob")[0]);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn a_resumed_desk_gets_its_direct_messages_and_the_next_bob_does_not() {
        let mut room = Room::new(20, "e1");
        run(&mut room, 1, "/join alice");
        let bobs_secret = secret_of(&run(&mut room, 2, "/join bob")[0]);
        let mut effects = Vec::new();
        room.leave(2, &mut effects);
        // Someone else takes the name; then bob comes back as "bobby" and
        // proves his desk.
        run(&mut room, 3, "/join bob");
        run(&mut room, 4, "/join bobby");
        assert_eq!(
            run(&mut room, 4, &format!("/resume e1 0 {bobs_secret}")),
            vec!["resume e1 0 true"]
        );
        let out = run(&mut room, 1, "/msg bobby welcome back");
        assert!(out[0].starts_with("to 1 4 "), "{out:?}");
        let Effect::Resume {
            desk: Some(bob), ..
        } = ({
            let mut effects = Vec::new();
            room.handle_line(
                asker(4),
                format!("/resume e1 0 {bobs_secret}").as_bytes(),
                &mut effects,
            );
            effects.remove(0)
        })
        else {
            panic!("expected a resume");
        };
        assert_eq!(bob, DeskId::of(&bobs_secret));
        assert_ne!(
            room.members[&3].desk, bob,
            "the new bob is not the old desk"
        );
    }

    #[test]
    fn who_shows_how_long_each_has_been_idle() {
        let mut room = Room::new(0, "e1");
        run(&mut room, 1, "/join bob");
        assert_eq!(
            run(&mut room, 2, "/who"),
            vec!["reply WHO<SEP>1<SEP>bob 0\n"]
        );
    }

    #[test]
    fn history_keeps_the_last_messages() {
        let mut room = Room::new(2, "e1");
        for word in ["one", "two", "three"] {
            run(&mut room, 1, &format!("alice<SEP>{word}"));
        }
        let replay: Vec<String> = room.history().map(text).collect();
        assert_eq!(replay.len(), 2);
        assert!(replay[0].starts_with("HIST<SEP>") && replay[0].ends_with("<SEP>two\n"));
        assert!(replay[1].ends_with("<SEP>three\n"));
    }

    #[test]
    fn no_history_when_limit_is_zero() {
        let mut room = Room::new(0, "e1");
        run(&mut room, 1, "alice<SEP>one");
        assert_eq!(room.history().count(), 0);
    }

    #[test]
    fn who_lists_names_sorted_with_count() {
        let mut room = Room::new(0, "e1");
        run(&mut room, 1, "/join bob");
        run(&mut room, 2, "/join alice");
        assert_eq!(
            run(&mut room, 3, "/who"),
            vec!["reply WHO<SEP>2<SEP>alice 0<SEP>bob 0\n"]
        );
    }

    #[test]
    fn quit_says_bye_then_quits() {
        let mut room = Room::new(0, "e1");
        assert_eq!(
            run(&mut room, 1, "/quit"),
            vec!["reply BYE<SEP>goodbye\n", "quit"]
        );
    }

    #[test]
    fn bad_lines_get_errors() {
        let mut room = Room::new(0, "e1");
        assert!(run(&mut room, 1, "hello")[0].starts_with("reply ERR<SEP>bad-line"));
        assert!(run(&mut room, 1, "/dance")[0].starts_with("reply ERR<SEP>bad-command"));
        assert!(run(&mut room, 1, "a b<SEP>x")[0].starts_with("reply ERR<SEP>bad-name"));
        assert!(run(&mut room, 1, "")[..].is_empty());
    }

    /// The effects of the log's answer to connection `id`'s claim, as
    /// [`run`] shows them.
    fn answer(room: &mut Room, id: ConnId, outcome: ClaimOutcome) -> Vec<String> {
        let mut effects = Vec::new();
        assert!(room.claim_answered(asker(id), &outcome, &mut effects));
        effects
            .into_iter()
            .map(|e| match e {
                Effect::Reply(f) => format!("reply {}", text(&f)),
                Effect::Publish(draft) => format!("publish {}", draft.text),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_shared_room_claims_the_name_before_the_welcome() {
        let mut room = Room::new(20, "e1");
        room.share();
        assert_eq!(run(&mut room, 1, "alice<SEP>hi"), vec!["claim alice"]);
        assert!(room.is_claiming(1));
        let out = answer(&mut room, 1, ClaimOutcome::Granted);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(
            out[0].starts_with("reply WELCOME<SEP>alice<SEP>"),
            "{out:?}"
        );
        assert_eq!(out[1], "publish hi", "no JOIN here: it comes from the log");
        assert!(!room.is_claiming(1));
    }

    #[test]
    fn a_name_taken_elsewhere_is_refused_and_free_here_again() {
        let mut room = Room::new(20, "e1");
        room.share();
        run(&mut room, 1, "/join alice");
        assert_eq!(
            run(&mut room, 2, "/join alice"),
            vec!["reply ERR<SEP>name-taken<SEP>the name alice is taken; choose another\n"],
            "held here while claimed"
        );
        let out = answer(&mut room, 1, ClaimOutcome::Taken);
        assert!(
            out[0].starts_with("reply ERR<SEP>name-taken<SEP>"),
            "{out:?}"
        );
        assert_eq!(run(&mut room, 2, "/join alice"), vec!["claim alice"]);
    }

    #[test]
    fn a_claim_the_log_cannot_answer_says_goodbye() {
        let mut room = Room::new(20, "e1");
        room.share();
        run(&mut room, 1, "/join alice");
        let out = answer(&mut room, 1, ClaimOutcome::Unavailable("down".into()));
        assert!(out[0].starts_with("reply BYE<SEP>"), "{out:?}");
        assert_eq!(run(&mut room, 2, "/join alice"), vec!["claim alice"]);
    }

    #[test]
    fn leaving_a_shared_room_gives_the_name_back() {
        let mut room = Room::new(20, "e1");
        room.share();
        run(&mut room, 1, "/join alice");
        answer(&mut room, 1, ClaimOutcome::Granted);
        let mut effects = Vec::new();
        room.leave(1, &mut effects);
        assert!(
            matches!(&effects[..], [Effect::Release(claim)] if claim.name == "alice"),
            "{effects:?}"
        );
    }

    #[test]
    fn a_claim_answered_after_its_desk_left_is_not_welcomed() {
        let mut room = Room::new(20, "e1");
        room.share();
        run(&mut room, 1, "/join alice");
        room.leave(1, &mut Vec::new());
        let mut effects = Vec::new();
        assert!(!room.claim_answered(asker(1), &ClaimOutcome::Granted, &mut effects));
        assert!(effects.is_empty());
    }

    #[test]
    fn who_and_welcome_count_the_other_servers_desks() {
        let mut room = Room::new(0, "e1");
        room.share();
        room.set_remote(vec![RemoteMember {
            name: "zed".to_string(),
            color: Color::for_name("zed"),
            server: "s2".to_string(),
            desk: DeskId::of("z"),
        }]);
        run(&mut room, 1, "/join bob");
        let out = answer(&mut room, 1, ClaimOutcome::Granted);
        assert!(
            out[0].starts_with("reply WELCOME<SEP>bob<SEP>blue<SEP>2<SEP>"),
            "{out:?}"
        );
        assert_eq!(
            run(&mut room, 2, "/who"),
            vec!["reply WHO<SEP>2<SEP>bob 0<SEP>zed 0\n"]
        );
        room.remote_left("zed", "another server");
        assert!(run(&mut room, 2, "/who")[0].starts_with("reply WHO<SEP>2<SEP>"));
        room.remote_left("zed", "s2");
        assert_eq!(
            run(&mut room, 2, "/who"),
            vec!["reply WHO<SEP>1<SEP>bob 0\n"]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut room = Room::new(0, "e1");
        let mut effects = Vec::new();
        room.handle_line(asker(1), b"alice<SEP>caf\xe9", &mut effects);
        assert!(
            matches!(effects.last(), Some(Effect::Publish(draft)) if draft.text == "caf\u{FFFD}")
        );
    }
}
