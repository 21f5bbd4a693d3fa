//! What `/room mode` and `/room kick` do, for desks and IRC clients alike:
//! a room's operators change its modes ([`crate::room::modes`]) and ranks,
//! and put people out of it. Both go through the store like every change
//! to the rooms, so that every server sharing it makes them in the same
//! order: a kick is kept like a part; a change of modes is not kept (see
//! the room module's docs), only told. What can be refused is refused
//! before the store, with the numerics IRC needs; what the store hands
//! back is made if it still applies.

use chat_shared::name::name_key;
use chat_shared::{ErrorCode, ServerLine};

use std::sync::Arc;

use super::{Chat, IrcUsers};
use crate::effect::Effect;
use crate::frames::{self, encode};
use crate::ids::{Asker, ConnId};
use crate::room::modes::{self, Applied, Change, Problem, Rank};
use crate::room::{RoomId, MAIN};
use crate::store::{Holder, Kick, ModeChange, Request, RoomChange};

impl Chat {
    /// The holder who is `name` (online, here or on another server), and
    /// the name as they took it.
    pub(super) fn holder_named(&self, name: &str) -> Option<(String, Holder)> {
        let (name, desk) = self.directory.find(name)?;
        let holder = match self.gate {
            Some(_) => Holder::Account(name_key(name)),
            None => Holder::Desk(desk),
        };
        Some((name.to_string(), holder))
    }

    /// Who a rank change in `room` is about: the one called `name`, if
    /// they are online (`no-such-name`) and in the room (`not-there`).
    pub fn rank_target(&self, room: RoomId, name: &str) -> Result<(String, Holder), ErrorCode> {
        let (name, holder) = self.holder_named(name).ok_or(ErrorCode::NoSuchName)?;
        match self.rooms.get(room).holds(&holder) {
            true => Ok((name, holder)),
            false => Err(ErrorCode::NotThere),
        }
    }

    /// Whether connection `id` is an operator of `room`.
    pub fn is_operator(&self, room: RoomId, id: ConnId) -> bool {
        self.holder_of(id)
            .is_some_and(|holder| self.rooms.get(room).has_rank(&holder, Rank::Operator))
    }

    /// The marks of connection `id`'s ranks in `room`, highest first: `@`
    /// for an operator, `+` for voice (IRC's NAMES and WHO prefixes).
    pub fn rank_marks(&self, room: RoomId, id: ConnId) -> &'static str {
        let Some(holder) = self.holder_of(id) else {
            return "";
        };
        let room = self.rooms.get(room);
        match (
            room.has_rank(&holder, Rank::Operator),
            room.has_rank(&holder, Rank::Voice),
        ) {
            (true, true) => "@+",
            (true, false) => "@",
            (false, true) => "+",
            (false, false) => "",
        }
    }

    /// Whether `holder` is an operator of `room`; if not, connection `id`
    /// is told that only its operators `act` (`set its topic (+t)`).
    pub(super) fn operator_or_refusal(
        &self,
        id: ConnId,
        room: RoomId,
        holder: &Holder,
        act: &str,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let the_room = self.rooms.get(room);
        if the_room.has_rank(holder, Rank::Operator) {
            return true;
        }
        let detail = format!("only the operators of {} {act}", the_room.name());
        effects.push(Effect::Send(
            id,
            frames::error(ErrorCode::NotOperator, &detail),
        ));
        false
    }

    /// The user names of IRC clients are read from `users`: an IRC
    /// client's address, for ban masks, is `NICK!USER@irc` (a desk's is
    /// `NAME!NAME@desk`, as IRC clients are shown it).
    pub fn read_irc_users(&mut self, users: Arc<dyn IrcUsers>) {
        self.irc_users = Some(users);
    }

    /// Connection `id`'s `nick!user@host`, as ban masks are matched.
    pub(super) fn address_of(&self, id: ConnId) -> String {
        let name = self.directory.name_of(id).unwrap_or("*");
        let user = self.irc_users.as_ref().and_then(|users| users.user_of(id));
        match user.filter(|user| !user.is_empty()) {
            Some(user) => format!("{name}!{user}@irc"),
            None => format!("{name}!{name}@desk"),
        }
    }

    /// `/room mode ROOM [CHANGES]`: changes `room`'s modes (its operators
    /// only), or says what they are.
    pub(super) fn room_mode(
        &mut self,
        from: Asker,
        holder: &Holder,
        name: &str,
        changes: &str,
        effects: &mut Vec<Effect>,
    ) {
        let id = from.conn;
        let Some(room) = self.visible_room(id, Some(holder), name, effects) else {
            return;
        };
        let asks = changes.trim().is_empty();
        let (changes, problems) = modes::parse(changes);
        for problem in &problems {
            let (code, detail) = match problem {
                Problem::Unknown(letter) => (
                    ErrorCode::UnknownMode,
                    format!("{letter} is not a mode; rooms have b k l i m n s t o v"),
                ),
                Problem::BadArgument('k', _) => (
                    ErrorCode::BadMode,
                    format!(
                        "a key is 1 to {} characters, without spaces or commas",
                        modes::MAX_KEY_CHARS
                    ),
                ),
                Problem::BadArgument(letter, _) => {
                    (ErrorCode::BadMode, format!("that is not a {letter} mask"))
                }
                Problem::TooMany => (
                    ErrorCode::BadMode,
                    format!(
                        "at most {} changes with arguments a line; the rest were dropped",
                        modes::MAX_ARG_CHANGES
                    ),
                ),
            };
            effects.push(Effect::Send(id, frames::error(code, &detail)));
        }
        let the_room = self.rooms.get(room);
        let room_name = the_room.name().to_string();
        if changes.is_empty() {
            if asks {
                let now = match room {
                    MAIN => "+n".to_string(),
                    _ => the_room.modes.describe(the_room.holds(holder)),
                };
                effects.push(Effect::Send(id, mode_line(&room_name, "", &now)));
            }
            return;
        }
        if changes.iter().all(|change| *change == Change::ListBans) {
            let mut listed = Applied::default();
            for ban in &the_room.modes.bans {
                listed.push(true, 'b', Some(&ban.mask));
            }
            let line = if listed.is_empty() {
                "+b".to_string()
            } else {
                listed.line()
            };
            effects.push(Effect::Send(id, mode_line(&room_name, "", &line)));
            return;
        }
        if room == MAIN {
            let detail = "nobody runs #main: it has no modes to change";
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::NotOperator, detail),
            ));
            return;
        }
        if !the_room.holds(holder) {
            let detail = format!("you are not in {room_name}; /room join {room_name} first");
            effects.push(Effect::Send(
                id,
                frames::error(ErrorCode::NotInRoom, &detail),
            ));
            return;
        }
        if !self.operator_or_refusal(id, room, holder, "change its modes", effects) {
            return;
        }
        let accepted = self.accepted_modes(id, room, &changes, effects);
        if accepted.is_empty() {
            return;
        }
        let by = self.directory.name_of(id).unwrap_or_default().to_string();
        effects.push(Effect::Ask(Request::ChangeRoom {
            asker: from,
            change: RoomChange::Modes(Box::new(ModeChange {
                key: chat_shared::room::room_key(&room_name),
                by,
                changes: accepted.line(),
            })),
        }));
    }

    /// The changes an operator asked for that may be made, as one line;
    /// refusals (a rank for someone absent, a full ban list) go to
    /// connection `id` now, before the store.
    fn accepted_modes(
        &self,
        id: ConnId,
        room: RoomId,
        changes: &[Change<'_>],
        effects: &mut Vec<Effect>,
    ) -> Applied {
        let the_room = self.rooms.get(room);
        let mut accepted = Applied::default();
        let mut bans = the_room.modes.bans.len();
        for change in changes {
            match *change {
                Change::Flag(flag, on) => accepted.push(on, flag.letter(), None),
                Change::Key(Some(key)) => accepted.push(true, 'k', Some(key)),
                // `k` takes an argument either way (CHANMODES' second group).
                Change::Key(None) => accepted.push(false, 'k', Some("*")),
                Change::Limit(Some(limit)) => accepted.push(true, 'l', Some(&limit.to_string())),
                Change::Limit(None) => accepted.push(false, 'l', None),
                Change::Ban(true, mask) => {
                    let new = !the_room
                        .modes
                        .bans
                        .iter()
                        .any(|ban| ban.mask.eq_ignore_ascii_case(mask));
                    if new && bans >= modes::MAX_BANS {
                        let detail = format!(
                            "a room keeps at most {} bans; lift one first",
                            modes::MAX_BANS
                        );
                        effects.push(Effect::Send(id, frames::error(ErrorCode::BadMode, &detail)));
                        continue;
                    }
                    bans += usize::from(new);
                    accepted.push(true, 'b', Some(mask));
                }
                Change::Ban(false, mask) => accepted.push(false, 'b', Some(mask)),
                Change::ListBans => {}
                Change::Rank(rank, on, name) => match self.rank_target(room, name) {
                    Ok((name, _)) => accepted.push(on, rank.letter(), Some(&name)),
                    Err(code) => {
                        let detail = match code {
                            ErrorCode::NoSuchName => format!("nobody called {name} is online"),
                            _ => format!("{name} is not in {}", the_room.name()),
                        };
                        effects.push(Effect::Send(id, frames::error(code, &detail)));
                    }
                },
            }
        }
        accepted
    }

    /// A change of modes the store kept (here or on another server, in the
    /// log's order, so every server's rooms agree): made if its author is
    /// still an operator of the room, and what changed is told to its
    /// members. What no longer applies (a rank for someone who left) is
    /// skipped.
    pub(super) fn modes_changed(&mut self, change: &ModeChange, effects: &mut Vec<Effect>) {
        let Some(room) = self.rooms.find(&change.key) else {
            return;
        };
        let Some((_, by)) = self.holder_named(&change.by) else {
            return;
        };
        if !self.rooms.get(room).has_rank(&by, Rank::Operator) {
            return;
        }
        let (changes, _) = modes::parse(&change.changes);
        let mut applied = Applied::default();
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        for change_asked in &changes {
            let target = match change_asked {
                Change::Rank(_, _, name) => self.rank_target(room, name).ok(),
                _ => None,
            };
            let the_room = self.rooms.get_mut(room);
            let modes = &mut the_room.modes;
            match *change_asked {
                Change::Flag(flag, on) => {
                    if modes.set(flag, on) {
                        applied.push(on, flag.letter(), None);
                    }
                }
                Change::Key(Some(key)) => {
                    if modes.key.as_deref() != Some(key) {
                        modes.key = Some(key.to_string());
                        applied.push(true, 'k', Some(key));
                    }
                }
                Change::Key(None) => {
                    if modes.key.take().is_some() {
                        applied.push(false, 'k', Some("*"));
                    }
                }
                Change::Limit(Some(limit)) => {
                    if modes.limit != Some(limit) {
                        modes.limit = Some(limit);
                        applied.push(true, 'l', Some(&limit.to_string()));
                    }
                }
                Change::Limit(None) => {
                    if modes.limit.take().is_some() {
                        applied.push(false, 'l', None);
                    }
                }
                Change::Ban(true, mask) => {
                    if modes.ban(mask, &change.by, now) == Ok(true) {
                        applied.push(true, 'b', Some(mask));
                    }
                }
                Change::Ban(false, mask) => {
                    if modes.unban(mask) {
                        applied.push(false, 'b', Some(mask));
                    }
                }
                Change::ListBans => {}
                Change::Rank(rank, on, _) => {
                    if let Some((name, holder)) = target {
                        if the_room.set_rank(&holder, rank, on) {
                            applied.push(on, rank.letter(), Some(&name));
                        }
                    }
                }
            }
        }
        if !applied.is_empty() {
            let name = self.rooms.get(room).name();
            effects.push(Effect::Broadcast(
                room,
                mode_line(name, &change.by, &applied.line()),
            ));
        }
    }

    /// `/room kick ROOM NAME [REASON]`: an operator of `room` puts NAME
    /// out of it, through the store.
    pub(super) fn kick(
        &mut self,
        from: Asker,
        holder: &Holder,
        name: &str,
        who: &str,
        reason: &str,
        effects: &mut Vec<Effect>,
    ) {
        let id = from.conn;
        let Some(room) = self.held_room(id, holder, name, effects) else {
            return;
        };
        let refuse = |code, detail: &str, effects: &mut Vec<Effect>| {
            effects.push(Effect::Send(id, frames::error(code, detail)));
        };
        if room == MAIN {
            return refuse(ErrorCode::BadRoom, "everyone stays in #main", effects);
        }
        if !self.operator_or_refusal(id, room, holder, "kick", effects) {
            return;
        }
        let the_room = self.rooms.get(room);
        let target = match self.rank_target(room, who) {
            Ok((_, target)) => target,
            Err(ErrorCode::NoSuchName) => {
                let detail = format!("nobody called {who} is online");
                return refuse(ErrorCode::NoSuchName, &detail, effects);
            }
            Err(code) => {
                let detail = format!("{who} is not in {}", the_room.name());
                return refuse(code, &detail, effects);
            }
        };
        let by = self.directory.name_of(id).unwrap_or_default().to_string();
        let reason = chat_shared::sanitize::clean(reason);
        let reason = super::rooms::truncated(&reason, super::rooms::MAX_TOPIC_BYTES).to_string();
        effects.push(Effect::Ask(Request::ChangeRoom {
            asker: from,
            change: RoomChange::Kick(Box::new(Kick {
                key: chat_shared::room::room_key(the_room.name()),
                holder: target,
                by,
                reason,
            })),
        }));
    }

    /// A kick the store kept: the room's members and the one put out hear
    /// it, and it is out of the room.
    pub(super) fn kicked(&mut self, kick: &Kick, effects: &mut Vec<Effect>) {
        let Kick {
            key,
            holder,
            by,
            reason,
        } = kick;
        let Some(room) = self.rooms.find(key) else {
            return;
        };
        if !self.rooms.get(room).holds(holder) {
            return;
        }
        let here = self.conn_of_holder(holder);
        let name = match here {
            Some(id) => self.directory.name_of(id).map(str::to_string),
            None => self
                .remote_presence_of(holder)
                .map(|presence| presence.name),
        }
        .unwrap_or_default();
        let line = encode(&ServerLine::Kicked {
            room: self.rooms.get(room).name(),
            name: &name,
            by,
            reason,
        });
        let the_room = self.rooms.get_mut(room);
        the_room.remove_holder(holder);
        if let Some(id) = here.filter(|id| the_room.contains(*id)) {
            the_room.leave(id);
            effects.push(Effect::Send(id, line.clone()));
        }
        effects.push(Effect::Broadcast(room, line));
    }
}

/// `MODE` for room `room`: `changes` made by `by`, or (with `by` empty)
/// the room's modes as asked.
fn mode_line(room: &str, by: &str, changes: &str) -> frames::Frame {
    encode(&ServerLine::Mode { room, by, changes })
}
