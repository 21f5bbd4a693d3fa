//! The conversations, without I/O: each [`Room`]'s name, whether it is
//! private, its topic, who holds a place in it (accounts or desks, kept by
//! the store) and who may enter, the connections in it now, and what it said
//! lately, kept as the frames a newcomer is sent; and [`Rooms`], every room
//! by its [`RoomId`]. Who a connection is belongs to the directory
//! ([`crate::directory`]).
//!
//! [`MAIN`] is the room every connection enters once it is let in (after its
//! TLS handshake and its login, when those apply), named or not: `nc` and
//! the load tools read it without a name. Its messages are `MSG` and `HIST`
//! lines, as every desk knows them; the other rooms' are `RMSG` and `RHIST`,
//! sent only to desks that entered them, so a desk that never asks for
//! rooms sees exactly what it always saw.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use chat_shared::message::{RoomChat, RoomInfo};
use chat_shared::room::{room_key, MAIN_ROOM};
use chat_shared::ServerLine;

use crate::frames::{chat_of, encode, Frame};
use crate::ids::ConnId;
use crate::store::{Holder, Message, RoomState, Topic};

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
        }
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

    /// `holder` holds a place in it from now on.
    pub fn add_holder(&mut self, holder: Holder) {
        self.holders.insert(holder);
    }

    /// `holder` no longer holds a place in it.
    pub fn remove_holder(&mut self, holder: &Holder) {
        self.holders.remove(holder);
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
}
