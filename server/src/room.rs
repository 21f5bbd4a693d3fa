//! One conversation: who is in it and what it said lately, kept as the
//! `HIST` frames a newcomer is sent; and [`Rooms`], every room by its
//! [`RoomId`]. No I/O, no names: who a connection is belongs to the
//! directory ([`crate::directory`]).
//!
//! There is one room for now, [`MAIN`], which every connection enters once
//! it is let in (after its TLS handshake and its login, when those apply),
//! named or not: `nc` and the load tools read the room without a name.

use std::collections::{BTreeSet, VecDeque};

use chat_shared::ServerLine;

use crate::frames::{chat_of, encode, Frame};
use crate::ids::ConnId;
use crate::store::Message;

/// Which room, as the rules and the loop name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoomId(usize);

/// The room every desk is in: the seed project's one room.
pub const MAIN: RoomId = RoomId(0);

/// One room.
#[derive(Debug)]
pub struct Room {
    /// The connections in it. Ordered, so a broadcast walks the loop's
    /// slab in order.
    members: BTreeSet<ConnId>,
    /// The last messages, oldest first, already encoded as `HIST` lines.
    history: VecDeque<Frame>,
    /// How many messages `history` keeps.
    history_limit: usize,
}

impl Room {
    /// An empty room that keeps its last `history_limit` messages.
    pub fn new(history_limit: usize) -> Room {
        Room {
            members: BTreeSet::new(),
            history: VecDeque::with_capacity(history_limit),
            history_limit,
        }
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

    /// Takes a message the store kept for this room: its replayed line
    /// (`history`, its `HIST`) joins the history, and the returned `MSG`
    /// frame goes to every member.
    pub fn record(&mut self, message: &Message, history: Frame) -> Frame {
        if self.history_limit > 0 {
            if self.history.len() == self.history_limit {
                self.history.pop_front();
            }
            self.history.push_back(history);
        }
        encode(&ServerLine::Msg(chat_of(message)))
    }

    /// The `HIST` lines of the recent history, oldest first.
    pub fn history(&self) -> impl ExactSizeIterator<Item = &Frame> + DoubleEndedIterator {
        self.history.iter()
    }

    /// The newest `HIST` lines that fit in `budget_bytes`, oldest first:
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

/// Every room, by id.
#[derive(Debug)]
pub struct Rooms {
    rooms: Vec<Room>,
}

impl Rooms {
    /// The rooms of a server that starts: [`MAIN`] alone.
    pub fn new(history_limit: usize) -> Rooms {
        Rooms {
            rooms: vec![Room::new(history_limit)],
        }
    }

    /// The room `id`.
    pub fn get(&self, id: RoomId) -> &Room {
        &self.rooms[id.0]
    }

    /// The room `id`, to change.
    pub fn get_mut(&mut self, id: RoomId) -> &mut Room {
        &mut self.rooms[id.0]
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
    use chat_shared::{Color, MessageId};

    fn message(n: u64, text: &str) -> Message {
        Message {
            id: MessageId::from_sequence(n),
            time: "2026-12-06T13:07:08.000Z".to_string(),
            name: "alice".to_string(),
            color: Color::for_name("alice"),
            text: text.to_string(),
            direct: None,
            tx: None,
        }
    }

    fn text(frame: &Frame) -> String {
        String::from_utf8(frame.to_vec()).unwrap()
    }

    /// Records `message` in `room`, as the rules do.
    fn record(room: &mut Room, message: &Message) -> Frame {
        let history = crate::frames::HistFrames::default().frame(message);
        room.record(message, history)
    }

    #[test]
    fn a_recorded_message_is_sent_live_and_kept_as_history() {
        let mut room = Room::new(20);
        let live = record(&mut room, &message(1, "hello"));
        assert!(text(&live).starts_with("MSG<SEP>1<SEP>"));
        let kept: Vec<String> = room.history().map(text).collect();
        assert_eq!(kept.len(), 1);
        assert!(kept[0].starts_with("HIST<SEP>1<SEP>") && kept[0].ends_with("<SEP>hello\n"));
    }

    #[test]
    fn history_keeps_the_last_messages() {
        let mut room = Room::new(2);
        for (n, word) in ["one", "two", "three"].iter().enumerate() {
            record(&mut room, &message(n as u64 + 1, word));
        }
        let kept: Vec<String> = room.history().map(text).collect();
        assert_eq!(kept.len(), 2);
        assert!(kept[0].ends_with("<SEP>two\n") && kept[1].ends_with("<SEP>three\n"));
    }

    #[test]
    fn no_history_when_limit_is_zero() {
        let mut room = Room::new(0);
        record(&mut room, &message(1, "one"));
        assert_eq!(room.history().count(), 0);
    }

    #[test]
    fn a_newcomer_gets_the_newest_history_that_fits() {
        let mut room = Room::new(20);
        for n in 1..=3 {
            record(&mut room, &message(n, "x"));
        }
        let one = room.history().next().unwrap().len();
        let fitting: Vec<String> = room.history_within(2 * one).map(text).collect();
        assert_eq!(fitting.len(), 2);
        assert!(fitting[0].starts_with("HIST<SEP>2<SEP>"), "{fitting:?}");
    }

    #[test]
    fn members_come_and_go_in_order() {
        let mut room = Room::new(0);
        room.enter(3);
        room.enter(1);
        assert_eq!(room.members().collect::<Vec<_>>(), [1, 3]);
        room.leave(3);
        assert!(!room.contains(3) && room.contains(1));
    }
}
