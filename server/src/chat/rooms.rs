//! What the room commands do (`/room join`, `part`, `list`, `topic`,
//! `invite`, `who`, and `/to`), and what a change to the rooms does once
//! the store keeps it: entering and leaving, topics and invitations reach
//! the desks they are about, on every server sharing the store.
//!
//! A place in a room belongs to a [`Holder`]: the account, or else the
//! desk. A desk that comes back (its secret, or its account) is back in its
//! rooms at once, without anyone being told it entered again.

use std::time::{Duration, Instant};

use chat_shared::message::{timestamp_now, Presence, WhoEntry};
use chat_shared::name::name_key;
use chat_shared::room::MAIN_ROOM;
use chat_shared::{ErrorCode, RoomCommand, ServerLine, MAX_WHO_NAMES};

use super::Chat;
use crate::effect::Effect;
use crate::frames::{self, encode};
use crate::ids::{Asker, ConnId};
use crate::room::{Refusal, RoomId, MAIN};
use crate::store::{Holder, Request, RoomChange, Scope, Topic};

/// Most rooms a desk (or account) holds a place in, `#main` aside.
pub const MAX_ROOMS_PER_DESK: usize = 50;

/// Most rooms a server keeps, `#main` included.
pub const MAX_ROOMS: usize = 1000;

/// Most rooms a desk may make in [`CREATION_WINDOW`].
pub const MAX_CREATIONS: usize = 5;

/// The window [`MAX_CREATIONS`] counts in.
const CREATION_WINDOW: Duration = Duration::from_secs(60);

/// Longest topic, in bytes: what an IRC `332` line carries.
pub const MAX_TOPIC_BYTES: usize = 390;

impl Chat {
    /// Who connection `id` is to the rooms: its account, or else its desk;
    /// `None` before it has a name.
    pub(super) fn holder_of(&self, id: ConnId) -> Option<Holder> {
        if let Some(account) = self.gate.as_ref().and_then(|gate| gate.account_of(id)) {
            return Some(Holder::Account(name_key(account)));
        }
        self.directory.member(id).map(|m| Holder::Desk(m.desk))
    }

    /// The connection here that is `holder`, if one is.
    pub(super) fn conn_of_holder(&self, holder: &Holder) -> Option<ConnId> {
        match holder {
            Holder::Desk(desk) => self.directory.conn_of_desk(*desk),
            Holder::Account(key) => self.directory.conn_of_name(key),
        }
    }

    /// The rooms a desk sees: `#main` and those it holds a place in.
    pub(super) fn scope_of(&self, id: ConnId) -> Scope {
        let rooms = match self.holder_of(id) {
            Some(holder) => self
                .rooms
                .held_by(&holder)
                .map(|room| self.rooms.get(room).name().to_string())
                .collect(),
            None => Vec::new(),
        };
        Scope { main: true, rooms }
    }

    /// Connection `id` has its name (or proved its desk): it is back in
    /// the rooms its holder holds a place in, each with its recent history,
    /// without anyone being told.
    pub(super) fn enter_held_rooms(&mut self, id: ConnId, effects: &mut Vec<Effect>) {
        // A connection that stepped out on arrival (it speaks IRC) is in
        // `#main` once it has a name, as every desk is.
        if !self.rooms.get(MAIN).contains(id) {
            self.enter(id, effects);
        }
        let Some(holder) = self.holder_of(id) else {
            return;
        };
        let held: Vec<RoomId> = self.rooms.held_by(&holder).collect();
        for room in held {
            if !self.rooms.get(room).contains(id) {
                self.put_in(room, id, effects);
            }
        }
    }

    /// Puts connection `id` in `room`: `INROOM`, then the room's recent
    /// history.
    fn put_in(&mut self, room: RoomId, id: ConnId, effects: &mut Vec<Effect>) {
        let budget = self.settings.replay_budget_bytes;
        let entered = self.rooms.get_mut(room);
        entered.enter(id);
        let info = entered.info(entered.holder_count());
        effects.push(Effect::Send(id, encode(&ServerLine::InRoom(info))));
        for frame in entered.history_within(budget) {
            effects.push(Effect::Send(id, frame.clone()));
        }
    }

    /// Carries out one `/room` command from `from`.
    pub(super) fn room_command(
        &mut self,
        from: Asker,
        command: RoomCommand<'_>,
        effects: &mut Vec<Effect>,
    ) {
        let id = from.conn;
        if matches!(command, RoomCommand::List) {
            return self.list_rooms(id, effects);
        }
        let Some(holder) = self.holder_of(id) else {
            let detail = "take a name first (/join NAME)";
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::WrongName, detail),
            ));
            return;
        };
        match command {
            RoomCommand::Join { room, private, key } => {
                self.join_room(from, holder, room, private, key, effects)
            }
            RoomCommand::Part { room, reason } => {
                self.part_room(from, holder, room, reason, effects)
            }
            RoomCommand::Topic { room, text } => self.topic(from, &holder, room, text, effects),
            RoomCommand::Invite { room, name } => self.invite(from, &holder, room, name, effects),
            RoomCommand::Who { room } => self.room_who(id, &holder, room, effects),
            RoomCommand::Mode { room, changes } => {
                self.room_mode(from, &holder, room, changes, effects)
            }
            RoomCommand::Kick { room, name, reason } => {
                self.kick(from, &holder, room, name, reason, effects)
            }
            RoomCommand::List => {}
        }
    }

    /// The room named `name` as `holder` may see it; a refusal otherwise
    /// (a private room it may not see does not exist, to it).
    pub(super) fn visible_room(
        &self,
        id: ConnId,
        holder: Option<&Holder>,
        name: &str,
        effects: &mut Vec<Effect>,
    ) -> Option<RoomId> {
        match self.rooms.find(name) {
            Some(room) if self.rooms.get(room).is_open_to(holder) => Some(room),
            _ => {
                let detail = format!("there is no room {name}; /room join {name} makes it");
                effects.push(Effect::Send(
                    id,
                    frames::error(ErrorCode::NoSuchRoom, &detail),
                ));
                None
            }
        }
    }

    /// The room named `name` if `holder` holds a place in it; a refusal
    /// otherwise.
    pub(super) fn held_room(
        &self,
        id: ConnId,
        holder: &Holder,
        name: &str,
        effects: &mut Vec<Effect>,
    ) -> Option<RoomId> {
        let room = self.visible_room(id, Some(holder), name, effects)?;
        if room == MAIN || self.rooms.get(room).holds(holder) {
            return Some(room);
        }
        let detail = format!("you are not in {name}; /room join {name} first");
        effects.push(Effect::Send(
            id,
            frames::error(ErrorCode::NotInRoom, &detail),
        ));
        None
    }

    fn join_room(
        &mut self,
        from: Asker,
        holder: Holder,
        name: &str,
        private: bool,
        key: Option<&str>,
        effects: &mut Vec<Effect>,
    ) {
        let id = from.conn;
        let refuse = |code, detail: &str, effects: &mut Vec<Effect>| {
            effects.push(Effect::Send(id, frames::error(code, detail)));
        };
        let (name, private) = match self.rooms.find(name) {
            Some(MAIN) => {
                let main = self.rooms.get(MAIN);
                let info = main.info(self.directory.online());
                effects.push(Effect::Send(id, encode(&ServerLine::InRoom(info))));
                return;
            }
            Some(room) if self.rooms.get(room).contains(id) => {
                // In it already: it hears so again, nothing changes.
                let room = self.rooms.get(room);
                let info = room.info(room.holder_count());
                effects.push(Effect::Send(id, encode(&ServerLine::InRoom(info))));
                return;
            }
            Some(room) => {
                let room = self.rooms.get(room);
                if !room.is_open_to(Some(&holder)) {
                    let detail =
                        format!("{} is private; a member must /room invite you", room.name());
                    return refuse(ErrorCode::NotInvited, &detail, effects);
                }
                if let Some(refusal) = room.refusal(&holder, key, &self.address_of(id)) {
                    let name = room.name();
                    let (code, detail) = match refusal {
                        Refusal::Banned => {
                            (ErrorCode::Banned, format!("you are banned from {name}"))
                        }
                        Refusal::InviteOnly => (
                            ErrorCode::InviteOnly,
                            format!("{name} is invite only (+i); a member must /room invite you"),
                        ),
                        Refusal::BadKey => (
                            ErrorCode::BadKey,
                            format!("{name} has a key (+k): /room join {name} key KEY"),
                        ),
                        Refusal::Full => (ErrorCode::RoomFull, format!("{name} is full (+l)")),
                    };
                    return refuse(code, &detail, effects);
                }
                (room.name().to_string(), room.is_private())
            }
            None => {
                if self.rooms.count() >= MAX_ROOMS {
                    let detail = format!("the server keeps at most {MAX_ROOMS} rooms");
                    return refuse(ErrorCode::TooManyRooms, &detail, effects);
                }
                if !self.may_create(&holder, Instant::now()) {
                    let detail =
                        format!("at most {MAX_CREATIONS} new rooms a minute; try again shortly");
                    return refuse(ErrorCode::RoomsTooFast, &detail, effects);
                }
                (name.to_string(), private)
            }
        };
        if self.rooms.held_by(&holder).count() >= MAX_ROOMS_PER_DESK
            && self
                .rooms
                .find(&name)
                .is_none_or(|room| !self.rooms.get(room).holds(&holder))
        {
            let detail =
                format!("a desk is in at most {MAX_ROOMS_PER_DESK} rooms; /room part one first");
            return refuse(ErrorCode::TooManyRooms, &detail, effects);
        }
        let key = chat_shared::room::room_key(&name);
        effects.push(Effect::Ask(Request::ChangeRoom {
            asker: from,
            change: RoomChange::Enter {
                key,
                name,
                private,
                holder,
            },
        }));
    }

    /// Counts a room made by `holder` now, if its window allows one more.
    fn may_create(&mut self, holder: &Holder, now: Instant) -> bool {
        // Windows that ended are forgotten, so the map holds only desks
        // that made a room in the last minute.
        self.creations.retain(|_, made| {
            while made
                .front()
                .is_some_and(|at| now.duration_since(*at) >= CREATION_WINDOW)
            {
                made.pop_front();
            }
            !made.is_empty()
        });
        let made = self.creations.entry(holder.clone()).or_default();
        if made.len() >= MAX_CREATIONS {
            return false;
        }
        made.push_back(now);
        true
    }

    fn part_room(
        &mut self,
        from: Asker,
        holder: Holder,
        name: &str,
        reason: &str,
        effects: &mut Vec<Effect>,
    ) {
        let Some(room) = self.held_room(from.conn, &holder, name, effects) else {
            return;
        };
        if room == MAIN {
            let detail = format!("everyone stays in {MAIN_ROOM}");
            effects.push(Effect::Send(
                from.conn,
                frames::error(ErrorCode::BadRoom, &detail),
            ));
            return;
        }
        let key = chat_shared::room::room_key(self.rooms.get(room).name());
        effects.push(Effect::Ask(Request::ChangeRoom {
            asker: from,
            change: RoomChange::Part {
                key,
                holder,
                reason: truncated(reason, super::MAX_REASON_BYTES).to_string(),
            },
        }));
    }

    fn topic(
        &mut self,
        from: Asker,
        holder: &Holder,
        name: &str,
        text: Option<&str>,
        effects: &mut Vec<Effect>,
    ) {
        let id = from.conn;
        let Some(text) = text else {
            if let Some(room) = self.visible_room(id, Some(holder), name, effects) {
                let room = self.rooms.get(room);
                effects.push(Effect::Send(id, topic_line(room.name(), room.topic())));
            }
            return;
        };
        let Some(room) = self.held_room(id, holder, name, effects) else {
            return;
        };
        if room == MAIN {
            let detail = format!("{MAIN_ROOM} has no topic; every room you make may have one");
            effects.push(Effect::Send(id, frames::error(ErrorCode::BadRoom, &detail)));
            return;
        }
        if self.rooms.get(room).modes.topic_locked
            && !self.operator_or_refusal(id, room, holder, "set its topic (+t)", effects)
        {
            return;
        }
        let by = self.directory.name_of(id).unwrap_or_default().to_string();
        let text = truncated(&chat_shared::sanitize::clean(text), MAX_TOPIC_BYTES).to_string();
        let key = chat_shared::room::room_key(self.rooms.get(room).name());
        effects.push(Effect::Ask(Request::ChangeRoom {
            asker: from,
            change: RoomChange::Topic {
                key,
                topic: Topic {
                    text,
                    by,
                    time: timestamp_now(),
                },
            },
        }));
    }

    fn invite(
        &mut self,
        from: Asker,
        holder: &Holder,
        name: &str,
        invitee: &str,
        effects: &mut Vec<Effect>,
    ) {
        let id = from.conn;
        let Some(room) = self.held_room(id, holder, name, effects) else {
            return;
        };
        if self.rooms.get(room).modes.invite_only
            && !self.operator_or_refusal(id, room, holder, "invite to it (+i)", effects)
        {
            return;
        }
        let the_room = self.rooms.get(room);
        let Some((invitee, invited)) = self.holder_named(invitee) else {
            let detail = format!("nobody called {invitee} is online");
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::NoSuchName, &detail),
            ));
            return;
        };
        if room != MAIN && the_room.holds(&invited) {
            let detail = format!("{invitee} is in {} already", the_room.name());
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::AlreadyThere, &detail),
            ));
            return;
        }
        let by = self.directory.name_of(id).unwrap_or_default().to_string();
        let key = chat_shared::room::room_key(self.rooms.get(room).name());
        effects.push(Effect::Ask(Request::ChangeRoom {
            asker: from,
            change: RoomChange::Invite {
                key,
                holder: invited,
                by,
            },
        }));
    }

    /// `ROOMS`, then a `ROOM` line for `#main` and each room connection
    /// `id` may see.
    fn list_rooms(&self, id: ConnId, effects: &mut Vec<Effect>) {
        let holder = self.holder_of(id);
        let main = self.rooms.get(MAIN);
        let mut lines = vec![encode(&ServerLine::RoomListed(
            main.info(self.directory.online()),
        ))];
        lines.extend(
            self.rooms
                .others()
                .filter(|(_, room)| room.is_listed_to(holder.as_ref()))
                .map(|(_, room)| encode(&ServerLine::RoomListed(room.info(room.holder_count())))),
        );
        effects.push(Effect::Send(
            id,
            encode(&ServerLine::Rooms { count: lines.len() }),
        ));
        effects.extend(lines.into_iter().map(|line| Effect::Send(id, line)));
    }

    /// `WHO` for one room: the desks in it, on this server and on the
    /// others sharing the office (their place is held by their desk, or
    /// their account with `--auth token`).
    fn room_who(&self, id: ConnId, holder: &Holder, name: &str, effects: &mut Vec<Effect>) {
        let Some(room) = self.visible_room(id, Some(holder), name, effects) else {
            return;
        };
        if room == MAIN {
            effects.push(Effect::Send(id, self.directory.who()));
            return;
        }
        let now = Instant::now();
        let the_room = self.rooms.get(room);
        if !the_room.is_listed_to(Some(holder)) {
            // A secret room's members are its own business.
            let count = 0;
            let people = Vec::new();
            effects.push(Effect::Send(id, encode(&ServerLine::Who { count, people })));
            return;
        }
        let here = the_room
            .members()
            .filter_map(|member| self.directory.member(member))
            .map(|member| (member.name.as_str(), member.last_said));
        let elsewhere = self
            .directory
            .remote_people()
            .filter(|(name, desk, _)| {
                the_room.holds(&Holder::Desk(*desk))
                    || the_room.holds(&Holder::Account(name_key(name)))
            })
            .map(|(name, _, last_said)| (name, last_said));
        let mut people: Vec<WhoEntry<'_>> = here
            .chain(elsewhere)
            .map(|(name, last_said)| WhoEntry {
                name,
                idle_secs: now.duration_since(last_said).as_secs(),
            })
            .collect();
        people.sort_unstable_by_key(|person| person.name.to_lowercase());
        let count = people.len();
        people.truncate(MAX_WHO_NAMES);
        effects.push(Effect::Send(id, encode(&ServerLine::Who { count, people })));
    }

    /// `/to ROOM TEXT`: a message for a room `from` is in (`#main`'s is
    /// `NAME<SEP>TEXT`'s).
    pub(super) fn say_in(
        &mut self,
        from: Asker,
        name: &str,
        text: &str,
        tx: Option<&str>,
        effects: &mut Vec<Effect>,
    ) {
        let id = from.conn;
        let Some(holder) = self.holder_of(id) else {
            let detail = "take a name first (/join NAME)";
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::WrongName, detail),
            ));
            return;
        };
        let Some(room) = self.visible_room(id, Some(&holder), name, effects) else {
            return;
        };
        let the_room = self.rooms.get(room);
        let inside = room == MAIN || the_room.holds(&holder);
        if !inside && the_room.modes.no_outside {
            // +n: the refusal a desk outside the room always had.
            let _ = self.held_room(id, &holder, name, effects);
            return;
        }
        let name = the_room.name();
        let silenced = if !the_room.may_speak(&holder) {
            Some(format!(
                "{name} is moderated (+m): only its operators and voiced desks speak"
            ))
        } else if !the_room.is_ranked(&holder) && the_room.modes.is_banned(&self.address_of(id)) {
            Some(format!("you are banned from {name} (+b)"))
        } else {
            None
        };
        if let Some(detail) = silenced {
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::CannotSend, &detail),
            ));
            return;
        }
        let room = (room != MAIN).then(|| self.rooms.get(room).name().to_string());
        if let Some(mut draft) = self.draft(from, text, None, tx) {
            draft.room = room;
            effects.push(Effect::Publish(draft));
        }
    }

    /// The rooms a search from connection `id` covers: one room (which it
    /// must be able to see), or all it sees.
    pub(super) fn search_scope(
        &self,
        id: ConnId,
        room: Option<&str>,
        effects: &mut Vec<Effect>,
    ) -> Option<Scope> {
        let Some(name) = room else {
            return Some(self.scope_of(id));
        };
        let holder = self.holder_of(id);
        let room = self.visible_room(id, holder.as_ref(), name, effects)?;
        Some(match room {
            MAIN => Scope {
                main: true,
                rooms: Vec::new(),
            },
            room => Scope {
                main: false,
                rooms: vec![self.rooms.get(room).name().to_string()],
            },
        })
    }

    /// A change to the rooms the store kept (here or on another server):
    /// the desks it is about hear it.
    pub(super) fn room_changed(&mut self, change: RoomChange, effects: &mut Vec<Effect>) {
        // The connection that asked for it (if it is here) reads on once
        // it has heard what its change did.
        let asker = match &change {
            RoomChange::Enter { holder, .. } | RoomChange::Part { holder, .. } => {
                self.conn_of_holder(holder)
            }
            RoomChange::Topic { topic, .. } => self.directory.conn_of_name(&name_key(&topic.by)),
            RoomChange::Invite { by, .. } => self.directory.conn_of_name(&name_key(by)),
            RoomChange::Kick(kick) => self.directory.conn_of_name(&name_key(&kick.by)),
            RoomChange::Modes(change) => self.directory.conn_of_name(&name_key(&change.by)),
        };
        self.apply_room_change(change, effects);
        self.answered(asker, effects);
    }

    fn apply_room_change(&mut self, change: RoomChange, effects: &mut Vec<Effect>) {
        match change {
            RoomChange::Enter {
                name,
                private,
                holder,
                ..
            } => {
                let room = self.rooms.create(&name, private);
                let news = !self.rooms.get(room).holds(&holder);
                self.rooms.get_mut(room).add_holder(holder.clone());
                let Some(id) = self.conn_of_holder(&holder) else {
                    // A desk of another server: the room's members here
                    // hear it entered, as its members there do.
                    if let Some(presence) = self.remote_presence_of(&holder).filter(|_| news) {
                        let line = ServerLine::Enter {
                            room: self.rooms.get(room).name(),
                            who: presence.as_presence(),
                        };
                        effects.push(Effect::Broadcast(room, encode(&line)));
                    }
                    return;
                };
                if self.rooms.get(room).contains(id) {
                    return;
                }
                self.put_in(room, id, effects);
                let others = self.rooms.get(room).members().any(|member| member != id);
                if let Some(presence) = self.presence_of(id).filter(|_| others) {
                    let line = ServerLine::Enter {
                        room: self.rooms.get(room).name(),
                        who: presence.as_presence(),
                    };
                    effects.push(Effect::BroadcastOthers(room, id, encode(&line)));
                }
            }
            RoomChange::Part {
                key,
                holder,
                reason,
            } => {
                let Some(room) = self.rooms.find(&key) else {
                    return;
                };
                let news = self.rooms.get(room).holds(&holder);
                self.rooms.get_mut(room).remove_holder(&holder);
                let Some(id) = self.conn_of_holder(&holder) else {
                    if let Some(mut presence) = self.remote_presence_of(&holder).filter(|_| news) {
                        presence.reason = reason;
                        let line = ServerLine::Exit {
                            room: self.rooms.get(room).name(),
                            who: presence.as_presence(),
                        };
                        effects.push(Effect::Broadcast(room, encode(&line)));
                    }
                    return;
                };
                if !self.rooms.get(room).contains(id) {
                    return;
                }
                self.rooms.get_mut(room).leave(id);
                let name = self.rooms.get(room).name().to_string();
                effects.push(Effect::Send(
                    id,
                    encode(&ServerLine::Parted { room: &name }),
                ));
                if let Some(mut presence) = self.presence_of(id) {
                    presence.reason = reason;
                    let line = ServerLine::Exit {
                        room: &name,
                        who: presence.as_presence(),
                    };
                    effects.push(Effect::Broadcast(room, encode(&line)));
                }
            }
            RoomChange::Topic { key, topic } => {
                let Some(room) = self.rooms.find(&key) else {
                    return;
                };
                let line = topic_line(self.rooms.get(room).name(), Some(&topic));
                self.rooms.get_mut(room).set_topic(topic);
                effects.push(Effect::Broadcast(room, line));
            }
            RoomChange::Kick(kick) => self.kicked(&kick, effects),
            RoomChange::Modes(change) => self.modes_changed(&change, effects),
            RoomChange::Invite { key, holder, by } => {
                let Some(room) = self.rooms.find(&key) else {
                    return;
                };
                self.rooms.get_mut(room).invite(holder.clone());
                if let Some(id) = self.conn_of_holder(&holder) {
                    let line = ServerLine::Invited {
                        room: self.rooms.get(room).name(),
                        by: &by,
                    };
                    effects.push(Effect::Send(id, encode(&line)));
                }
            }
        }
    }

    /// The time, name and colour of the desk of another server that is
    /// `holder`, for ENTER and EXIT.
    pub(super) fn remote_presence_of(&self, holder: &Holder) -> Option<OwnedPresence> {
        let (name, color) = match holder {
            Holder::Desk(desk) => self.directory.remote_with_desk(*desk),
            Holder::Account(key) => self.directory.remote_with_name(key),
        }?;
        Some(OwnedPresence {
            time: timestamp_now(),
            name: name.to_string(),
            color,
            reason: String::new(),
        })
    }

    /// The time, name and colour of connection `id`, for ENTER and EXIT.
    fn presence_of(&self, id: ConnId) -> Option<OwnedPresence> {
        let member = self.directory.member(id)?;
        Some(OwnedPresence {
            time: timestamp_now(),
            name: member.name.clone(),
            color: member.color,
            reason: String::new(),
        })
    }
}

/// A presence line's fields, owned.
pub(super) struct OwnedPresence {
    time: String,
    pub(super) name: String,
    color: chat_shared::Color,
    /// Why it left, if it said.
    reason: String,
}

impl OwnedPresence {
    fn as_presence(&self) -> Presence<'_> {
        Presence {
            time: &self.time,
            name: &self.name,
            color: self.color,
            reason: &self.reason,
        }
    }
}

/// `TOPIC` for room `name`: its topic, or empty fields if none was set.
fn topic_line(name: &str, topic: Option<&Topic>) -> frames::Frame {
    encode(&ServerLine::Topic {
        room: name,
        time: topic.map_or("", |t| &t.time),
        by: topic.map_or("", |t| &t.by),
        text: topic.map_or("", |t| &t.text),
    })
}

/// `text` cut to at most `limit` bytes, at a character boundary.
pub fn truncated(text: &str, limit: usize) -> &str {
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
