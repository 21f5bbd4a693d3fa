//! The rooms this desk is in, as it knows them: which one typed lines go
//! to (the current room, `#main` at first), the lines that arrived in each
//! since the user last went there (unread), the room a `/join` or `/part`
//! waits on, which rooms the server put the desk back in after a
//! reconnect, and the answer to `/rooms` as its lines come in. Pure state;
//! the session sends and prints.

use std::collections::{BTreeMap, BTreeSet};

use chat_shared::message::RoomInfo;
use chat_shared::room::{check_room, room_key, RoomProblem, MAIN_ROOM};

/// The desk's rooms.
#[derive(Debug)]
pub struct Rooms {
    /// The rooms the desk is in, `#main` always among them, by key
    /// ([`room_key`]).
    joined: BTreeMap<String, Joined>,
    /// The key of the room typed lines go to.
    current: String,
    /// A `/join` or `/part` sent, not yet answered: the prompt waits for
    /// it, since the answer may change the room it shows.
    awaiting: Option<Awaiting>,
    /// After a reconnect, until the server's `RESUME` answer: the rooms it
    /// put the desk back in (it does so at once, before answering).
    returned: Option<BTreeSet<String>>,
    /// The answer to `/rooms`, while its lines come.
    listing: Option<Listing>,
}

/// A room the desk is in.
#[derive(Debug)]
struct Joined {
    /// Its name, as the server spells it.
    name: String,
    /// Lines that arrived since the user last went there.
    unread: usize,
}

/// What a `/join` or `/part` waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaiting {
    /// `INROOM` for this room (its key): it becomes the current room.
    Enter(String),
    /// `PARTED` for this room (its key).
    Part(String),
}

/// The answer to `/rooms`, while its lines come.
#[derive(Debug)]
struct Listing {
    /// How many `ROOM` lines are still to come.
    left: usize,
    rooms: Vec<Listed>,
}

/// One room of the answer to `/rooms`, with what this desk knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its name.
    pub name: String,
    /// Whether only those invited may enter.
    pub private: bool,
    /// How many desks are in it.
    pub members: usize,
    /// Its topic; empty if none.
    pub topic: String,
    /// Whether this desk is in it.
    pub joined: bool,
    /// Whether typed lines go there.
    pub current: bool,
    /// Lines that arrived there since the user last went there.
    pub unread: usize,
}

/// What `INROOM` changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entered {
    /// Worth a notice: the desk entered the room, or was told it is in it.
    /// A room the server put the desk back in after a reconnect is not.
    pub news: bool,
    /// The room is the current one now (the `/join` waiting for it).
    pub now_current: bool,
}

/// Why `/go` cannot go to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoRefused {
    /// Not a room's name.
    BadName(String, RoomProblem),
    /// The desk is not in it.
    NotIn(String),
}

/// The name a room is typed by: `dev` and `#dev` alike.
pub fn with_hash(typed: &str) -> String {
    if typed.starts_with('#') {
        typed.to_string()
    } else {
        format!("#{typed}")
    }
}

/// Whether `room` is `#main`.
pub fn is_main(room: &str) -> bool {
    room_key(room) == room_key(MAIN_ROOM)
}

impl Default for Rooms {
    fn default() -> Rooms {
        let main = room_key(MAIN_ROOM);
        let mut joined = BTreeMap::new();
        joined.insert(
            main.clone(),
            Joined {
                name: MAIN_ROOM.to_string(),
                unread: 0,
            },
        );
        Rooms {
            joined,
            current: main,
            awaiting: None,
            returned: None,
            listing: None,
        }
    }
}

impl Rooms {
    /// The current room's name.
    pub fn current(&self) -> &str {
        &self.joined[&self.current].name
    }

    /// The room typed lines go to, `None` for `#main` (whose lines are
    /// plain `NAME<SEP>TEXT`).
    pub fn current_room(&self) -> Option<&str> {
        (!is_main(&self.current)).then(|| self.current())
    }

    /// Whether `room` (`None`: `#main`) is the current room.
    pub fn is_current(&self, room: Option<&str>) -> bool {
        room_key(room.unwrap_or(MAIN_ROOM)) == self.current
    }

    /// A message from someone else arrived in `room` (`None`: `#main`):
    /// unread unless it is the current room.
    pub fn arrived(&mut self, room: Option<&str>) {
        let key = room_key(room.unwrap_or(MAIN_ROOM));
        if key != self.current {
            if let Some(joined) = self.joined.get_mut(&key) {
                joined.unread += 1;
            }
        }
    }

    /// `/go ROOM` (`dev`, `#dev`, `main`): typed lines go there from now
    /// on, and its unread lines count as read. Returns its name.
    pub fn go(&mut self, typed: &str) -> Result<String, GoRefused> {
        let name = with_hash(typed);
        check_room(&name).map_err(|problem| GoRefused::BadName(typed.to_string(), problem))?;
        let key = room_key(&name);
        let Some(joined) = self.joined.get_mut(&key) else {
            return Err(GoRefused::NotIn(name));
        };
        joined.unread = 0;
        self.current = key;
        Ok(joined.name.clone())
    }

    /// Whether the desk is in `room`.
    pub fn is_in(&self, room: &str) -> bool {
        self.joined.contains_key(&room_key(room))
    }

    /// `/join ROOM` went out: once the server says the desk is in it, it
    /// becomes the current room.
    pub fn join_sent(&mut self, room: &str) {
        self.awaiting = Some(Awaiting::Enter(room_key(room)));
    }

    /// `/part ROOM` went out.
    pub fn part_sent(&mut self, room: &str) {
        self.awaiting = Some(Awaiting::Part(room_key(room)));
    }

    /// Whether a `/join` or `/part` waits for its answer.
    pub fn awaiting_answer(&self) -> bool {
        self.awaiting.is_some()
    }

    /// The server refused a room command (or the connection was lost):
    /// nothing waits for an answer any more.
    pub fn answered(&mut self) {
        self.awaiting = None;
    }

    /// `INROOM`: the desk is in this room.
    pub fn entered(&mut self, info: &RoomInfo<'_>) -> Entered {
        let key = room_key(info.room);
        let known = self.joined.contains_key(&key);
        if !known {
            self.joined.insert(
                key.clone(),
                Joined {
                    name: info.room.to_string(),
                    unread: 0,
                },
            );
        }
        let returning = match &mut self.returned {
            Some(returned) => {
                returned.insert(key.clone());
                known
            }
            None => false,
        };
        let now_current = self.awaiting == Some(Awaiting::Enter(key.clone()));
        if now_current {
            self.awaiting = None;
            self.current = key;
            if let Some(joined) = self.joined.get_mut(&self.current) {
                joined.unread = 0;
            }
        }
        Entered {
            news: !returning || now_current,
            now_current,
        }
    }

    /// `PARTED`: the desk left this room. Returns whether it was the
    /// current room, which `#main` is now.
    pub fn parted(&mut self, room: &str) -> bool {
        let key = room_key(room);
        if self.awaiting == Some(Awaiting::Part(key.clone())) {
            self.awaiting = None;
        }
        if is_main(room) || self.joined.remove(&key).is_none() {
            return false;
        }
        let was_current = self.current == key;
        if was_current {
            self.current = room_key(MAIN_ROOM);
        }
        was_current
    }

    /// A connection was opened: the server will put the desk back in its
    /// rooms before it answers `/resume`.
    pub fn reconnecting(&mut self) {
        self.awaiting = None;
        self.listing = None;
        self.returned = Some(BTreeSet::new());
    }

    /// The server answered `/resume`: the rooms it did not put the desk
    /// back in are gone (parted elsewhere, or lost with the server's
    /// memory). Returns the current room's name if it is one of them;
    /// `#main` is the current room then.
    pub fn resumed(&mut self) -> Option<String> {
        let returned = self.returned.take()?;
        let main = room_key(MAIN_ROOM);
        let current_gone = self.current != main && !returned.contains(&self.current);
        let gone = current_gone.then(|| self.current().to_string());
        self.joined
            .retain(|key, _| *key == main || returned.contains(key));
        if current_gone {
            self.current = main;
        }
        gone
    }

    /// `ROOMS`: `count` `ROOM` lines follow.
    pub fn listing_starts(&mut self, count: usize) -> Option<Vec<Listed>> {
        self.listing = Some(Listing {
            left: count,
            rooms: Vec::new(),
        });
        self.listing_done()
    }

    /// `ROOM`: one room of the answer to `/rooms`. Returns the whole list
    /// with the last one.
    pub fn listed(&mut self, info: &RoomInfo<'_>) -> Option<Vec<Listed>> {
        let key = room_key(info.room);
        let joined = self.joined.get(&key);
        let listing = self.listing.as_mut()?;
        listing.rooms.push(Listed {
            name: info.room.to_string(),
            private: info.private,
            members: info.members,
            topic: info.topic.to_string(),
            joined: joined.is_some(),
            current: key == self.current,
            unread: joined.map_or(0, |joined| joined.unread),
        });
        listing.left = listing.left.saturating_sub(1);
        self.listing_done()
    }

    fn listing_done(&mut self) -> Option<Vec<Listed>> {
        if self.listing.as_ref()?.left > 0 {
            return None;
        }
        self.listing.take().map(|listing| listing.rooms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(room: &str) -> RoomInfo<'_> {
        RoomInfo {
            room,
            private: false,
            members: 2,
            topic: "",
        }
    }

    /// A desk that joined #dev (now current) and was told it is in #ops.
    fn in_dev_and_ops() -> Rooms {
        let mut rooms = Rooms::default();
        rooms.join_sent("#dev");
        assert!(rooms.awaiting_answer());
        assert_eq!(
            rooms.entered(&info("#dev")),
            Entered {
                news: true,
                now_current: true
            }
        );
        assert!(!rooms.awaiting_answer());
        assert_eq!(
            rooms.entered(&info("#ops")),
            Entered {
                news: true,
                now_current: false
            }
        );
        rooms
    }

    #[test]
    fn main_is_current_at_first_and_its_lines_are_plain() {
        let rooms = Rooms::default();
        assert_eq!(rooms.current(), "#main");
        assert_eq!(rooms.current_room(), None);
        assert!(rooms.is_current(None));
        assert!(rooms.is_current(Some("#Main")));
    }

    #[test]
    fn a_joined_room_becomes_current_and_takes_the_typed_lines() {
        let rooms = in_dev_and_ops();
        assert_eq!(rooms.current(), "#dev");
        assert_eq!(rooms.current_room(), Some("#dev"));
        assert!(rooms.is_current(Some("#DEV")));
        assert!(!rooms.is_current(None));
    }

    #[test]
    fn lines_elsewhere_are_unread_until_the_user_goes_there() {
        let mut rooms = in_dev_and_ops();
        rooms.arrived(None);
        rooms.arrived(Some("#ops"));
        rooms.arrived(Some("#ops"));
        rooms.arrived(Some("#dev"));
        rooms.arrived(Some("#never-joined"));
        let unread = |rooms: &Rooms, name: &str| rooms.joined[&room_key(name)].unread;
        assert_eq!(unread(&rooms, "#main"), 1);
        assert_eq!(unread(&rooms, "#ops"), 2);
        assert_eq!(unread(&rooms, "#dev"), 0);
        assert_eq!(rooms.go("ops"), Ok("#ops".to_string()));
        assert_eq!(unread(&rooms, "#ops"), 0);
        assert_eq!(rooms.go("main"), Ok("#main".to_string()));
        assert_eq!(unread(&rooms, "#main"), 0);
        assert_eq!(rooms.current_room(), None);
    }

    #[test]
    fn go_refuses_bad_names_and_rooms_the_desk_is_not_in() {
        let mut rooms = in_dev_and_ops();
        assert_eq!(rooms.go("#hr"), Err(GoRefused::NotIn("#hr".to_string())));
        assert_eq!(
            rooms.go("a b"),
            Err(GoRefused::BadName(
                "a b".to_string(),
                RoomProblem::BadCharacter
            ))
        );
        assert_eq!(rooms.current(), "#dev");
    }

    #[test]
    fn parting_the_current_room_goes_back_to_main() {
        let mut rooms = in_dev_and_ops();
        rooms.part_sent("#dev");
        assert!(rooms.awaiting_answer());
        assert!(rooms.parted("#dev"));
        assert!(!rooms.awaiting_answer());
        assert_eq!(rooms.current(), "#main");
        assert!(!rooms.parted("#ops"));
        assert!(!rooms.is_in("#ops"));
        assert!(!rooms.parted("#main"));
        assert!(rooms.is_in("#main"));
    }

    #[test]
    fn after_a_reconnect_rooms_come_back_quietly_and_a_gone_current_room_falls_back() {
        let mut rooms = in_dev_and_ops();
        rooms.arrived(Some("#ops"));
        rooms.reconnecting();
        // The server puts the desk back in #ops only: #dev was parted
        // elsewhere.
        assert_eq!(
            rooms.entered(&info("#ops")),
            Entered {
                news: false,
                now_current: false
            }
        );
        assert_eq!(rooms.resumed(), Some("#dev".to_string()));
        assert_eq!(rooms.current(), "#main");
        assert!(!rooms.is_in("#dev"));
        assert_eq!(rooms.joined[&room_key("#ops")].unread, 1);
        // Without a reconnect there is nothing to settle.
        assert_eq!(rooms.resumed(), None);
    }

    #[test]
    fn the_current_room_survives_a_reconnect_that_returns_it() {
        let mut rooms = in_dev_and_ops();
        rooms.reconnecting();
        rooms.entered(&info("#dev"));
        rooms.entered(&info("#ops"));
        assert_eq!(rooms.resumed(), None);
        assert_eq!(rooms.current(), "#dev");
    }

    #[test]
    fn the_room_list_is_whole_once_its_last_line_came() {
        let mut rooms = in_dev_and_ops();
        rooms.arrived(Some("#ops"));
        assert_eq!(rooms.listing_starts(2), None);
        assert_eq!(rooms.listed(&info("#main")), None);
        let listed = rooms.listed(&info("#ops")).expect("the whole list");
        assert_eq!(listed.len(), 2);
        assert!(listed[0].joined && !listed[0].current);
        assert_eq!(listed[1].unread, 1);
        // A ROOM line with no ROOMS before it is not a list.
        assert_eq!(rooms.listed(&info("#dev")), None);
    }
}
