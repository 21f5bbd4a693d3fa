//! The conversations, without I/O: each [`Room`]'s name, whether it is
//! private, its topic, who holds a place in it (accounts or desks, kept by
//! the store) and who may enter, the connections in it now, and what it said
//! lately, kept as the frames a newcomer is sent; and [`Rooms`], every room
//! by its [`RoomId`]. Who a connection is belongs to the directory
//! ([`crate::directory`]).
//!
//! Each room also has its modes ([`modes`]: IRC's channel modes, for every
//! desk) and its ranks: who is an operator (its maker, at first) and who is
//! voiced, by holder. Their changes come through the store's order (as
//! every room change does), but neither is kept: they live as long as the
//! server, and a room everyone left starts afresh when someone enters it
//! again.
//!
//! [`MAIN`] is the room every connection enters once it is let in (after its
//! TLS handshake and its login, when those apply), named or not: `nc` and
//! the load tools read it without a name. Its messages are `MSG` and `HIST`
//! lines, as every desk knows them; the other rooms' are `RMSG` and `RHIST`,
//! sent only to desks that entered them, so a desk that never asks for
//! rooms sees exactly what it always saw.

pub mod modes;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use chat_shared::message::{RoomChat, RoomInfo};
use chat_shared::room::{room_key, MAIN_ROOM};
use chat_shared::ServerLine;

use crate::frames::{chat_of, encode, Frame};
use crate::ids::ConnId;
use crate::store::{Holder, Message, RoomState, Topic};
use modes::{Modes, Rank};

/// Which room, as the rules and the loop name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoomId(usize);

/// The room every desk is in: the seed project's one room.
pub const MAIN: RoomId = RoomId(0);

/// One room.
#[derive(Debug)]
pub struct Room {
    /// Its name, as it was made (`#Dev`).
    name: String,
    /// Whether only those invited may enter, list and read it.
    private: bool,
    /// Its topic, once set.
    topic: Option<Topic>,
    /// Who holds a place in it, whether connected or not (none for
    /// [`MAIN`], which everyone is in).
    holders: HashSet<Holder>,
    /// Who may enter it although it is private.
    invited: HashSet<Holder>,
    /// The connections in it now. Ordered, so a broadcast walks the loop's
    /// slab in order.
    members: BTreeSet<ConnId>,
    /// The last messages, oldest first, already encoded as replayed lines.
    history: VecDeque<Frame>,
    /// How many messages `history` keeps.
    history_limit: usize,
    /// Its modes.
    pub modes: Modes,
    /// Who may change its modes, kick, and so on.
    operators: HashSet<Holder>,
    /// Who may speak while it is moderated.
    voiced: HashSet<Holder>,
    /// When this server made it (or read it back), in seconds since the
    /// epoch: IRC's `329`.
    created: u64,
}

impl Room {
    /// An empty room named `name` that keeps its last `history_limit`
    /// messages.
    fn new(name: &str, private: bool, history_limit: usize) -> Room {
        Room {
            name: name.to_string(),
            private,
            topic: None,
            holders: HashSet::new(),
            invited: HashSet::new(),
            members: BTreeSet::new(),
            history: VecDeque::with_capacity(history_limit.min(64)),
            history_limit,
            modes: Modes::new_room(),
            operators: HashSet::new(),
            voiced: HashSet::new(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
        }
    }

    /// When this server made it (or read it back), in seconds since the
    /// epoch.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// Whether `holder` has `rank` here.
    pub fn has_rank(&self, holder: &Holder, rank: Rank) -> bool {
        match rank {
            Rank::Operator => self.operators.contains(holder),
            Rank::Voice => self.voiced.contains(holder),
        }
    }

    /// Gives or takes `rank`; whether that changed anything.
    pub fn set_rank(&mut self, holder: &Holder, rank: Rank, on: bool) -> bool {
        let ranked = match rank {
            Rank::Operator => &mut self.operators,
            Rank::Voice => &mut self.voiced,
        };
        match on {
            true => ranked.insert(holder.clone()),
            false => ranked.remove(holder),
        }
    }

    /// Whether `holder` is an operator or voiced here.
    pub fn is_ranked(&self, holder: &Holder) -> bool {
        self.has_rank(holder, Rank::Operator) || self.has_rank(holder, Rank::Voice)
    }

    /// Whether `holder` may speak here: the room is not moderated, or it is
    /// an operator or voiced.
    pub fn may_speak(&self, holder: &Holder) -> bool {
        !self.modes.moderated || self.is_ranked(holder)
    }

    /// Whether `holder` was invited in.
    pub fn is_invited(&self, holder: &Holder) -> bool {
        self.invited.contains(holder)
    }

    /// Whether `holder` may see who is in it and find it listed: it may
    /// see it ([`Room::is_open_to`]), and the room is not secret or
    /// `holder` is in it.
    pub fn is_listed_to(&self, holder: Option<&Holder>) -> bool {
        let inside = holder.is_some_and(|h| self.holders.contains(h));
        self.is_open_to(holder) && (inside || !self.modes.secret)
    }

    /// Why `holder` may not enter (with `key`, and as `address`, its
    /// `nick!user@host`), if it may not: the room's modes keep it out. An
    /// invitation lets it past a ban, `+i` and `+l`, not past a key. A
    /// room nobody holds a place in starts afresh, so nothing keeps
    /// anyone out of it.
    pub fn refusal(&self, holder: &Holder, key: Option<&str>, address: &str) -> Option<Refusal> {
        if self.holders.is_empty() || self.holders.contains(holder) {
            return None;
        }
        let invited = self.invited.contains(holder);
        if !invited && self.modes.is_banned(address) {
            return Some(Refusal::Banned);
        }
        if !invited && self.modes.invite_only {
            return Some(Refusal::InviteOnly);
        }
        if self.modes.key.as_deref().is_some_and(|k| Some(k) != key) {
            return Some(Refusal::BadKey);
        }
        if !invited && self.modes.limit.is_some_and(|l| self.holders.len() >= l) {
            return Some(Refusal::Full);
        }
        None
    }

    /// Its name, as it was made.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether only those invited may enter, list and read it.
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Its topic, once set.
    pub fn topic(&self) -> Option<&Topic> {
        self.topic.as_ref()
    }

    /// Sets its topic.
    pub fn set_topic(&mut self, topic: Topic) {
        self.topic = Some(topic);
    }

    /// Whether `holder` holds a place in it.
    pub fn holds(&self, holder: &Holder) -> bool {
        self.holders.contains(holder)
    }

    /// Whether `holder` may see it: a public room, or one it is in or was
    /// invited to.
    pub fn is_open_to(&self, holder: Option<&Holder>) -> bool {
        !self.private
            || holder.is_some_and(|h| self.holders.contains(h) || self.invited.contains(h))
    }

    /// `holder` holds a place in it from now on. The first in a room
    /// nobody holds a place in makes it afresh: it is its operator, and
    /// the room has a new room's modes.
    pub fn add_holder(&mut self, holder: Holder) {
        if self.holders.is_empty() {
            self.modes = Modes::new_room();
            self.voiced.clear();
            self.operators = HashSet::from([holder.clone()]);
        }
        self.holders.insert(holder);
    }

    /// `holder` no longer holds a place in it, nor a rank.
    pub fn remove_holder(&mut self, holder: &Holder) {
        self.holders.remove(holder);
        self.operators.remove(holder);
        self.voiced.remove(holder);
    }

    /// `holder` may enter it although it is private.
    pub fn invite(&mut self, holder: Holder) {
        self.invited.insert(holder);
    }

    /// Connection `id` is in the room from now on.
    pub fn enter(&mut self, id: ConnId) {
        self.members.insert(id);
    }

    /// Connection `id` is no longer in the room.
    pub fn leave(&mut self, id: ConnId) {
        self.members.remove(&id);
    }

    /// True while connection `id` is in the room.
    pub fn contains(&self, id: ConnId) -> bool {
        self.members.contains(&id)
    }

    /// The connections in the room.
    pub fn members(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.members.iter().copied()
    }

    /// What the room is like, for `INROOM` and `ROOM` lines: `members` is
    /// how many hold a place in it (for [`MAIN`], the caller's count of
    /// everyone online).
    pub fn info(&self, members: usize) -> RoomInfo<'_> {
        RoomInfo {
            room: &self.name,
            private: self.private,
            members,
            topic: self.topic.as_ref().map_or("", |topic| &topic.text),
        }
    }

    /// How many hold a place in it.
    pub fn holder_count(&self) -> usize {
        self.holders.len()
    }

    /// Takes a message the store kept for this room: its replayed line
    /// (`history`) joins the history, and the returned live line (`MSG`, or
    /// `RMSG` in any room but [`MAIN`]) goes to every member.
    pub fn record(&mut self, message: &Message, history: Frame) -> Frame {
        if self.history_limit > 0 {
            if self.history.len() == self.history_limit {
                self.history.pop_front();
            }
            self.history.push_back(history);
        }
        let chat = chat_of(message);
        match &message.room {
            None => encode(&ServerLine::Msg(chat)),
            Some(room) => encode(&ServerLine::RoomMsg(RoomChat { room, chat })),
        }
    }

    /// The replayed lines of the recent history, oldest first.
    pub fn history(&self) -> impl ExactSizeIterator<Item = &Frame> + DoubleEndedIterator {
        self.history.iter()
    }

    /// The newest replayed lines that fit in `budget_bytes`, oldest first:
    /// what a newcomer is sent before anything live.
    pub fn history_within(&self, budget_bytes: usize) -> impl Iterator<Item = &Frame> {
        let mut total = 0;
        let fitting = self
            .history
            .iter()
            .rev()
            .take_while(|frame| {
                total += frame.len();
                total <= budget_bytes
            })
            .count();
        self.history.iter().skip(self.history.len() - fitting)
    }
}

/// Why a desk may not enter a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A ban mask matches it (`+b`).
    Banned,
    /// Only those invited enter (`+i`).
    InviteOnly,
    /// It has a key, and this was not it (`+k`).
    BadKey,
    /// It holds as many as its limit (`+l`).
    Full,
}

/// Every room, by id and by key.
#[derive(Debug)]
pub struct Rooms {
    rooms: Vec<Room>,
    /// The rooms by [`room_key`] of their names.
    by_key: HashMap<String, RoomId>,
    /// Each room's history length.
    history_limit: usize,
}

impl Rooms {
    /// The rooms of a server that starts: [`MAIN`] alone.
    pub fn new(history_limit: usize) -> Rooms {
        Rooms {
            rooms: vec![Room::new(MAIN_ROOM, false, history_limit)],
            by_key: HashMap::from([(room_key(MAIN_ROOM), MAIN)]),
            history_limit,
        }
    }

    /// Takes the rooms the store kept.
    pub fn restore(&mut self, states: Vec<RoomState>) {
        for state in states {
            let id = self.create(&state.name, state.private);
            let room = self.get_mut(id);
            room.modes = Modes::restored();
            room.topic = state.topic;
            room.holders.extend(state.holders);
            room.invited.extend(state.invited);
        }
    }

    /// The room named `name` (any spelling of it).
    pub fn find(&self, name: &str) -> Option<RoomId> {
        self.by_key.get(&room_key(name)).copied()
    }

    /// The room `name`, made (public or `private`) if it is new.
    pub fn create(&mut self, name: &str, private: bool) -> RoomId {
        if let Some(id) = self.find(name) {
            return id;
        }
        let id = RoomId(self.rooms.len());
        self.rooms
            .push(Room::new(name, private, self.history_limit));
        self.by_key.insert(room_key(name), id);
        id
    }

    /// How many rooms there are, [`MAIN`] included.
    pub fn count(&self) -> usize {
        self.rooms.len()
    }

    /// The room `id`.
    pub fn get(&self, id: RoomId) -> &Room {
        &self.rooms[id.0]
    }

    /// The room `id`, to change.
    pub fn get_mut(&mut self, id: RoomId) -> &mut Room {
        &mut self.rooms[id.0]
    }

    /// Every room but [`MAIN`], with its id.
    pub fn others(&self) -> impl Iterator<Item = (RoomId, &Room)> {
        self.rooms
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, room)| (RoomId(i), room))
    }

    /// The rooms but [`MAIN`] where `holder` holds a place.
    pub fn held_by<'a>(&'a self, holder: &'a Holder) -> impl Iterator<Item = RoomId> + 'a {
        self.others()
            .filter(move |(_, room)| room.holds(holder))
            .map(|(id, _)| id)
    }

    /// Connection `id` leaves every room it is in.
    pub fn leave_all(&mut self, id: ConnId) {
        for room in &mut self.rooms {
            room.leave(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::DeskId;
    use chat_shared::MessageId;

    fn message(n: u64, text: &str, room: Option<&str>) -> Message {
        Message::from_alice(MessageId::from_sequence(n), text, room)
    }

    fn text(frame: &Frame) -> String {
        String::from_utf8(frame.to_vec()).unwrap()
    }

    /// Records `message` in `room`, as the rules do.
    fn record(room: &mut Room, message: &Message) -> Frame {
        let history = crate::frames::HistFrames::default().frame(message);
        room.record(message, history)
    }

    fn main_room(history_limit: usize) -> Room {
        Room::new(MAIN_ROOM, false, history_limit)
    }

    #[test]
    fn a_recorded_message_is_sent_live_and_kept_as_history() {
        let mut room = main_room(20);
        let live = record(&mut room, &message(1, "hello", None));
        assert!(text(&live).starts_with("MSG<SEP>1<SEP>"));
        let kept: Vec<String> = room.history().map(text).collect();
        assert_eq!(kept.len(), 1);
        assert!(kept[0].starts_with("HIST<SEP>1<SEP>") && kept[0].ends_with("<SEP>hello\n"));
    }

    #[test]
    fn another_rooms_lines_name_it() {
        let mut room = Room::new("#dev", false, 20);
        let live = record(&mut room, &message(1, "hi", Some("#dev")));
        assert!(
            text(&live).starts_with("RMSG<SEP>#dev<SEP>1<SEP>"),
            "{}",
            text(&live)
        );
        let kept: Vec<String> = room.history().map(text).collect();
        assert!(kept[0].starts_with("RHIST<SEP>#dev<SEP>1<SEP>"), "{kept:?}");
    }

    #[test]
    fn history_keeps_the_last_messages() {
        let mut room = main_room(2);
        for (n, word) in ["one", "two", "three"].iter().enumerate() {
            record(&mut room, &message(n as u64 + 1, word, None));
        }
        let kept: Vec<String> = room.history().map(text).collect();
        assert_eq!(kept.len(), 2);
        assert!(kept[0].ends_with("<SEP>two\n") && kept[1].ends_with("<SEP>three\n"));
    }

    #[test]
    fn no_history_when_limit_is_zero() {
        let mut room = main_room(0);
        record(&mut room, &message(1, "one", None));
        assert_eq!(room.history().count(), 0);
    }

    #[test]
    fn a_newcomer_gets_the_newest_history_that_fits() {
        let mut room = main_room(20);
        for n in 1..=3 {
            record(&mut room, &message(n, "x", None));
        }
        let one = room.history().next().unwrap().len();
        let fitting: Vec<String> = room.history_within(2 * one).map(text).collect();
        assert_eq!(fitting.len(), 2);
        assert!(fitting[0].starts_with("HIST<SEP>2<SEP>"), "{fitting:?}");
    }

    #[test]
    fn members_come_and_go_in_order() {
        let mut room = main_room(0);
        room.enter(3);
        room.enter(1);
        assert_eq!(room.members().collect::<Vec<_>>(), [1, 3]);
        room.leave(3);
        assert!(!room.contains(3) && room.contains(1));
    }

    #[test]
    fn rooms_are_found_by_any_spelling_and_made_once() {
        let mut rooms = Rooms::new(20);
        assert_eq!(rooms.find("#MAIN"), Some(MAIN));
        let dev = rooms.create("#Dev", true);
        assert_eq!(rooms.create("#dev", false), dev);
        assert_eq!(rooms.find("#DEV"), Some(dev));
        assert!(rooms.get(dev).is_private());
        assert_eq!(rooms.get(dev).name(), "#Dev");
        assert_eq!(rooms.count(), 2);
    }

    #[test]
    fn a_private_room_is_open_to_its_holders_and_those_invited() {
        let mut rooms = Rooms::new(0);
        let hr = rooms.create("#hr", true);
        let (alice, bob, eve) = (
            Holder::Desk(DeskId::of("a")),
            Holder::Desk(DeskId::of("b")),
            Holder::Desk(DeskId::of("e")),
        );
        rooms.get_mut(hr).add_holder(alice.clone());
        rooms.get_mut(hr).invite(bob.clone());
        let room = rooms.get(hr);
        assert!(room.is_open_to(Some(&alice)) && room.is_open_to(Some(&bob)));
        assert!(!room.is_open_to(Some(&eve)) && !room.is_open_to(None));
        assert_eq!(rooms.held_by(&alice).collect::<Vec<_>>(), [hr]);
        assert_eq!(rooms.held_by(&bob).count(), 0);
    }

    fn desk(secret: &str) -> Holder {
        Holder::Desk(DeskId::of(secret))
    }

    #[test]
    fn the_maker_of_a_room_is_its_operator_and_it_is_nt() {
        let mut room = Room::new("#dev", false, 0);
        room.add_holder(desk("a"));
        room.add_holder(desk("b"));
        assert!(room.has_rank(&desk("a"), Rank::Operator));
        assert!(!room.has_rank(&desk("b"), Rank::Operator));
        assert_eq!(room.modes.describe(true), "+nt");
    }

    #[test]
    fn a_room_everyone_left_starts_afresh() {
        let mut room = Room::new("#dev", false, 0);
        room.add_holder(desk("a"));
        room.modes.moderated = true;
        room.set_rank(&desk("a"), Rank::Voice, true);
        room.remove_holder(&desk("a"));
        assert!(!room.has_rank(&desk("a"), Rank::Operator));
        room.add_holder(desk("b"));
        assert!(room.has_rank(&desk("b"), Rank::Operator));
        assert!(!room.modes.moderated);
    }

    #[test]
    fn a_moderated_room_hears_operators_and_voiced_only() {
        let mut room = Room::new("#dev", false, 0);
        room.add_holder(desk("op"));
        room.add_holder(desk("v"));
        room.add_holder(desk("x"));
        assert!(room.may_speak(&desk("x")));
        room.modes.moderated = true;
        assert!(room.set_rank(&desk("v"), Rank::Voice, true));
        assert!(!room.set_rank(&desk("v"), Rank::Voice, true));
        assert!(room.may_speak(&desk("op")) && room.may_speak(&desk("v")));
        assert!(!room.may_speak(&desk("x")));
    }

    #[test]
    fn modes_keep_desks_out_unless_invited() {
        let mut room = Room::new("#dev", false, 0);
        room.add_holder(desk("op"));
        let (eve, address) = (desk("e"), "eve!eve@desk");
        assert_eq!(room.refusal(&eve, None, address), None);
        room.modes.limit = Some(1);
        assert_eq!(room.refusal(&eve, None, address), Some(Refusal::Full));
        room.modes.key = Some("beer".into());
        assert_eq!(
            room.refusal(&eve, Some("wine"), address),
            Some(Refusal::BadKey)
        );
        room.modes.invite_only = true;
        assert_eq!(room.refusal(&eve, None, address), Some(Refusal::InviteOnly));
        room.modes.ban("EVE!*@*", "op", 0).unwrap();
        assert_eq!(room.refusal(&eve, None, address), Some(Refusal::Banned));
        room.invite(eve.clone());
        // The invitation lets it past the ban, +i and +l, not the key.
        assert_eq!(room.refusal(&eve, None, address), Some(Refusal::BadKey));
        assert_eq!(room.refusal(&eve, Some("beer"), address), None);
        // Those in it are never refused.
        assert_eq!(room.refusal(&desk("op"), None, "op!op@desk"), None);
    }

    #[test]
    fn a_secret_room_is_listed_to_its_members_only() {
        let mut room = Room::new("#dev", false, 0);
        room.add_holder(desk("a"));
        assert!(room.is_listed_to(None));
        room.modes.secret = true;
        assert!(!room.is_listed_to(None) && !room.is_listed_to(Some(&desk("b"))));
        assert!(room.is_listed_to(Some(&desk("a"))));
    }

    #[test]
    fn restored_rooms_are_n_without_operators() {
        let mut rooms = Rooms::new(0);
        rooms.restore(vec![RoomState {
            key: "#dev".into(),
            name: "#dev".into(),
            private: false,
            topic: None,
            holders: vec![desk("a")],
            invited: vec![],
        }]);
        let room = rooms.get(rooms.find("#dev").unwrap());
        assert_eq!(room.modes.describe(true), "+n");
        assert!(!room.has_rank(&desk("a"), Rank::Operator));
    }
}
