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
use crate::chat::Chat;
use crate::ids::ConnId;

/// One IRC connection: what every idle IRC desk holds, kept to 32 bytes
/// (a `HashMap` slot is as big as its value, and the map has ~1.6 slots a
/// desk). Its three names are one allocation, and what few clients ever
/// set sits behind one box ([`Rare`]). Measured at 5000 idle desks: the
/// 136-byte `Person` of old and its three strings cost ~330 B a desk, this
/// one ~100 (~130 when its user or real name is not its nick).
#[derive(Debug, Default)]
pub struct Person {
    /// Its nick once registered (for `WHOWAS` after it leaves), then the
    /// user name and real name `USER` gave, both empty until then: see
    /// [`names`].
    names: Box<str>,
    /// What few clients set: away, operator, the reason of a `PART`.
    rare: Option<Box<Rare>>,
    /// When it arrived, in seconds since the epoch (`WHOIS`'s signon).
    since: u32,
    /// Whether it turned on `away-notify`.
    pub away_notify: bool,
    /// Whether it shows `#main` as a joined channel.
    pub shows_main: bool,
    /// User mode `+i`: a `WHO` mask does not find it (but by its whole
    /// nick, or by someone sharing a channel with it).
    pub invisible: bool,
    /// User mode `+w`: it hears `WALLOPS`.
    pub wallops: bool,
}

/// What an IRC connection rarely has, boxed away from the rest.
#[derive(Debug, Default)]
struct Rare {
    /// Its away message, while it is away.
    away: Option<Box<str>>,
    /// User mode `+o`: the operator name it logged in with (`OPER`).
    oper: Option<Box<str>>,
    /// The rooms (their keys, as many as one line names) and reason of the
    /// `PART` it sent last, for its own `PART` lines when the rules answer
    /// (our `PARTED` has no reason).
    parting: Option<(Vec<String>, Box<str>)>,
}

impl Person {
    /// Its nick, once registered (empty before).
    pub fn nick(&self) -> &str {
        self.split().0
    }

    /// The user name `USER` gave (empty until then).
    pub fn user(&self) -> &str {
        self.split().1
    }

    /// The real name `USER` gave (empty until then).
    pub fn real_name(&self) -> &str {
        self.split().2
    }

    /// When it arrived, in seconds since the epoch.
    pub fn since(&self) -> u64 {
        u64::from(self.since)
    }

    /// Its away message, while it is away.
    pub fn away(&self) -> Option<&str> {
        self.rare.as_ref()?.away.as_deref()
    }

    /// Whether it is an operator (`+o`).
    pub fn is_oper(&self) -> bool {
        self.rare.as_ref().is_some_and(|rare| rare.oper.is_some())
    }

    /// `USER` gave `user` (no spaces) and `real_name`.
    pub fn set_user(&mut self, user: &str, real_name: &str) {
        self.names = names(self.nick(), user, real_name);
    }

    /// It is away with `away`, or back (`None`).
    pub fn set_away(&mut self, away: Option<Box<str>>) {
        self.rare_mut().away = away;
        self.tidy();
    }

    /// It logged in as operator `name`.
    pub fn set_oper(&mut self, name: &str) {
        self.rare_mut().oper = Some(name.into());
    }

    /// It stops being an operator (`-o`): whether it was one.
    pub fn drop_oper(&mut self) -> bool {
        let was = self.rare.as_mut().and_then(|rare| rare.oper.take());
        self.tidy();
        was.is_some()
    }

    /// Its user modes as `MODE` shows them: `+`, then the letters.
    pub fn modes(&self) -> String {
        let mut modes = String::from("+");
        for (on, letter) in [
            (self.invisible, 'i'),
            (self.is_oper(), 'o'),
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
        let parting =
            (!reason.is_empty()).then(|| (rooms.map(room_key).collect(), bounded(reason)));
        if parting.is_some() || self.rare.is_some() {
            self.rare_mut().parting = parting;
            self.tidy();
        }
    }

    /// Why it parts `room`, if it said.
    pub fn part_reason(&self, room: &str) -> Option<&str> {
        match &self.rare.as_ref()?.parting {
            Some((keys, reason)) if keys.contains(&room_key(room)) => Some(reason),
            _ => None,
        }
    }

    /// Its nick, user name and real name, as [`names`] wrote them.
    fn split(&self) -> (&str, &str, &str) {
        let mut parts = self.names.splitn(3, ' ');
        let nick = parts.next().unwrap_or("");
        let Some(user) = parts.next() else {
            return (nick, "", "");
        };
        let user = if user.is_empty() { user_of(nick) } else { user };
        (nick, user, parts.next().unwrap_or(nick))
    }

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Gives the box back once nothing rare is left in it.
    fn tidy(&mut self) {
        if self.rare.as_ref().is_some_and(|rare| {
            rare.away.is_none() && rare.oper.is_none() && rare.parting.is_none()
        }) {
            self.rare = None;
        }
    }

    /// What `WHOWAS` keeps of it.
    fn was(&self) -> Was {
        Was {
            nick: self.nick().into(),
            user: self.user().into(),
            real_name: self.real_name().into(),
        }
    }
}

/// Every IRC connection's [`Person`], and the nicks of those gone.
#[derive(Debug, Default)]
pub struct People {
    by_conn: HashMap<ConnId, Person>,
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
                since: u32::try_from(since).unwrap_or(u32::MAX),
                ..Person::default()
            },
        );
    }

    /// Connection `id` registered as `nick`.
    pub fn registered(&mut self, id: ConnId, nick: &str) {
        if let Some(person) = self.by_conn.get_mut(&id) {
            let (_, user, real_name) = person.split();
            person.names = names(nick, user, real_name);
        }
    }

    /// Connection `id`, registered, is called `nick` from now on: its old
    /// nick goes to `WHOWAS`.
    pub fn renamed(&mut self, id: ConnId, nick: &str) {
        let Some(person) = self.by_conn.get_mut(&id) else {
            return;
        };
        self.was.record(person.was());
        let (_, user, real_name) = person.split();
        person.names = names(nick, user, real_name);
    }

    /// Connection `id` is gone: its nick goes to `WHOWAS`.
    pub fn forget(&mut self, id: ConnId) {
        let Some(person) = self.by_conn.remove(&id) else {
            return;
        };
        if !person.nick().is_empty() {
            self.was.record(person.was());
        }
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
    /// here: our rules' own, or the one whose departure they are telling
    /// (they forgot its name, its `QUIT` still shows its user name). No
    /// index of nicks of its own: that cost ~90 B an idle desk.
    pub fn conn_named(&self, chat: &Chat, nick: &str) -> Option<ConnId> {
        chat.conn_named(nick).or_else(|| {
            let id = chat.departing()?;
            let person = self.by_conn.get(&id)?;
            (name_key(person.nick()) == name_key(nick)).then_some(id)
        })
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

/// A [`Person`]'s names, in one allocation: `NICK` until `USER`, then
/// `NICK USER REAL NAME` (neither a nick nor a user name has a space),
/// without what repeats: an empty `USER` is the one the nick makes
/// ([`user_of`]), a missing real name is the nick. Many clients give their
/// nick as user name, and bots as real name too:
/// `load-0000abcd-1234 load-0000abcd-12 load-0000abcd-1234` (53 B) took a
/// 64-byte chunk of malloc, `load-0000abcd-1234 ` takes 32.
fn names(nick: &str, user: &str, real_name: &str) -> Box<str> {
    debug_assert!(!nick.contains(' ') && !user.contains(' '));
    debug_assert_eq!(user.is_empty(), real_name.is_empty());
    if user.is_empty() {
        return nick.into();
    }
    let user_part = if user == user_of(nick) { "" } else { user };
    match real_name == nick {
        true => format!("{nick} {user_part}").into(),
        false => format!("{nick} {user_part} {real_name}").into(),
    }
}

/// Most characters of a user name: longer ones are cut.
const MAX_USER_CHARS: usize = 16;

/// The user name `USER NAME` gives: `name` cut to [`MAX_USER_CHARS`].
pub fn user_of(name: &str) -> &str {
    match name.char_indices().nth(MAX_USER_CHARS) {
        Some((end, _)) => &name[..end],
        None => name,
    }
}

/// `reason`, cut as the rules cut the reasons they pass on.
fn bounded(reason: &str) -> Box<str> {
    crate::chat::truncated(reason, crate::chat::MAX_REASON_BYTES).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(nick: &str, user: &str, real_name: &str) -> Person {
        Person {
            names: names(nick, user, real_name),
            ..Person::default()
        }
    }

    #[test]
    fn names_come_back_as_given() {
        for (nick, user, real_name) in [
            ("", "", ""),
            ("bob", "", ""),
            ("", "bob", "Bob Smith"),
            ("", "bob", "bob"),
            ("bob", "bob", "bob"),
            ("bob", "bob", "Bob Smith"),
            ("bob", "rob", "rob"),
            ("bob", "rob", "bob"),
            ("bob", "rob", " spaced  out "),
            ("bob", "bob", " "),
            (
                "a-nick-of-twenty-one",
                "a-nick-of-twenty",
                "a-nick-of-twenty-one",
            ),
            ("a-nick-of-twenty-one", "a-nick-of-twenty-one", "x"),
            ("ünïcödé-nick-of-twenty", "ünïcödé-nick-of-", "ünïcödé"),
        ] {
            let person = person(nick, user, real_name);
            assert_eq!(
                (person.nick(), person.user(), person.real_name()),
                (nick, user, real_name),
                "{:?}",
                person.names
            );
        }
    }

    #[test]
    fn what_repeats_is_not_kept() {
        assert_eq!(&*names("bob", "bob", "bob"), "bob ");
        assert_eq!(&*names("bob", "bob", "Bob"), "bob  Bob");
        assert_eq!(&*names("bob", "rob", "bob"), "bob rob");
        assert_eq!(
            &*names(
                "a-nick-of-twenty-one",
                "a-nick-of-twenty",
                "a-nick-of-twenty-one"
            ),
            "a-nick-of-twenty-one "
        );
    }

    #[test]
    fn a_person_is_32_bytes() {
        // Every idle IRC desk holds one, ~1.6 times over in the map.
        assert_eq!(std::mem::size_of::<Person>(), 32);
    }
}
