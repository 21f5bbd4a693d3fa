//! What IRC knows of the people on the server that our rules do not: the
//! user name and real name an IRC client registered with, its away message,
//! its user modes (`+i`, `+w`, `+o`), the reason it gave for its last
//! `PART` (our `PARTED` has none), and whether it wants to hear of others' away
//! (`away-notify`). One entry per IRC connection, from its first line until
//! it is gone, when its nick goes to [`Whowas`]; our desks have none (they
//! are shown with their name as user name).
//!
//! Away and modes are IRC's alone: our desks have no line to show them
//! with.

use std::collections::HashMap;

use chat_shared::name::name_key;
use chat_shared::room::room_key;

use super::whowas::{Was, Whowas};
use crate::ids::ConnId;

/// One IRC connection.
#[derive(Debug, Default)]
pub struct Person {
    /// The user name `USER` gave (empty until then).
    pub user: Box<str>,
    /// The real name `USER` gave.
    pub real_name: Box<str>,
    /// Its nick, once registered (for `WHOWAS` after it leaves).
    nick: Box<str>,
    /// Its away message, while it is away.
    pub away: Option<Box<str>>,
    /// Whether it turned on `away-notify`.
    pub away_notify: bool,
    /// Whether it shows `#main` as a joined channel.
    pub shows_main: bool,
    /// When it arrived, in seconds since the epoch (`WHOIS`'s signon).
    pub since: u64,
    /// User mode `+i`: a `WHO` mask does not find it (but by its whole
    /// nick, or by someone sharing a channel with it).
    pub invisible: bool,
    /// User mode `+w`: it hears `WALLOPS`.
    pub wallops: bool,
    /// User mode `+o`: the operator name it logged in with (`OPER`).
    pub oper: Option<Box<str>>,
    /// The rooms (their keys, as many as one line names) and reason of the
    /// `PART` it sent last, for its own `PART` lines when the rules answer
    /// (our `PARTED` has no reason).
    parting: Option<(Vec<String>, Box<str>)>,
}

impl Person {
    /// Its user modes as `MODE` shows them: `+`, then the letters.
    pub fn modes(&self) -> String {
        let mut modes = String::from("+");
        for (on, letter) in [
            (self.invisible, 'i'),
            (self.oper.is_some(), 'o'),
            (self.wallops, 'w'),
        ] {
            if on {
                modes.push(letter);
            }
        }
        modes
    }

    /// It parts `rooms` for `reason` (empty: none given). Its lines wait
    /// for the rules' answers, so the `PARTED`s of an earlier `PART` have
    /// all come by now.
    pub fn parting<'r>(&mut self, rooms: impl Iterator<Item = &'r str>, reason: &str) {
        self.parting =
            (!reason.is_empty()).then(|| (rooms.map(room_key).collect(), bounded(reason)));
    }

    /// Why it parts `room`, if it said.
    pub fn part_reason(&self, room: &str) -> Option<&str> {
        match &self.parting {
            Some((keys, reason)) if keys.contains(&room_key(room)) => Some(reason),
            _ => None,
        }
    }
}

/// Every IRC connection's [`Person`], and the nicks of those gone.
#[derive(Debug, Default)]
pub struct People {
    by_conn: HashMap<ConnId, Person>,
    /// Registered IRC connections by the key of their nick: a nick is
    /// still found here while its `QUIT` is being told, after our rules
    /// forgot it.
    by_nick: HashMap<String, ConnId>,
    /// The nicks of IRC clients that left.
    was: Whowas,
}

impl People {
    /// Connection `id` speaks IRC from now on.
    pub fn arrive(&mut self, id: ConnId) {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        self.by_conn.insert(
            id,
            Person {
                since,
                ..Person::default()
            },
        );
    }

    /// Connection `id` registered as `nick`.
    pub fn registered(&mut self, id: ConnId, nick: &str) {
        if let Some(person) = self.by_conn.get_mut(&id) {
            person.nick = nick.into();
            self.by_nick.insert(name_key(nick), id);
        }
    }

    /// Connection `id`, registered, is called `nick` from now on: its old
    /// nick goes to `WHOWAS`.
    pub fn renamed(&mut self, id: ConnId, nick: &str) {
        let Some(person) = self.by_conn.get_mut(&id) else {
            return;
        };
        let old = std::mem::replace(&mut person.nick, nick.into());
        self.was.record(Was {
            nick: old.clone(),
            user: person.user.clone(),
            real_name: person.real_name.clone(),
        });
        let key = name_key(&old);
        if self.by_nick.get(&key) == Some(&id) {
            self.by_nick.remove(&key);
        }
        self.by_nick.insert(name_key(nick), id);
    }

    /// Connection `id` is gone: its nick goes to `WHOWAS`.
    pub fn forget(&mut self, id: ConnId) {
        let Some(person) = self.by_conn.remove(&id) else {
            return;
        };
        if person.nick.is_empty() {
            return;
        }
        let key = name_key(&person.nick);
        if self.by_nick.get(&key) == Some(&id) {
            self.by_nick.remove(&key);
        }
        self.was.record(Was {
            nick: person.nick,
            user: person.user,
            real_name: person.real_name,
        });
    }

    /// What is known of connection `id`, if it speaks IRC.
    pub fn get(&self, id: ConnId) -> Option<&Person> {
        self.by_conn.get(&id)
    }

    /// The same, to change.
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Person> {
        self.by_conn.get_mut(&id)
    }

    /// The IRC connection registered as `nick` (any case), while it is
    /// here.
    pub fn conn_named(&self, nick: &str) -> Option<ConnId> {
        self.by_nick.get(&name_key(nick)).copied()
    }

    /// Every IRC connection and what is known of it.
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, &Person)> {
        self.by_conn.iter().map(|(id, person)| (*id, person))
    }

    /// The nicks of IRC clients that left.
    pub fn was(&self) -> &Whowas {
        &self.was
    }
}

/// `reason`, cut as the rules cut the reasons they pass on.
fn bounded(reason: &str) -> Box<str> {
    crate::chat::truncated(reason, crate::chat::MAX_REASON_BYTES).into()
}
