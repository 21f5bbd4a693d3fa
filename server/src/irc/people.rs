//! What IRC knows of the people on the server that our rules do not: the
//! user name and real name an IRC client registered with, its away message,
//! and whether it wants to hear of others' (`away-notify`). One entry per
//! IRC connection, from its first line until it is gone; our desks have
//! none (they are shown with their name as user name).
//!
//! Away is IRC's alone: our desks have no away state to show it with.

use std::collections::HashMap;

use crate::ids::ConnId;

/// One IRC connection.
#[derive(Debug, Default)]
pub struct Person {
    /// The user name `USER` gave (empty until then).
    pub user: Box<str>,
    /// The real name `USER` gave.
    pub real_name: Box<str>,
    /// Its away message, while it is away.
    pub away: Option<Box<str>>,
    /// Whether it turned on `away-notify`.
    pub away_notify: bool,
    /// When it arrived, in seconds since the epoch (`WHOIS`'s signon).
    pub since: u64,
    /// Whether it shows `#main` as a joined channel (`WHOIS` lists it).
    pub shows_main: bool,
}

/// Every IRC connection's [`Person`].
#[derive(Debug, Default)]
pub struct People {
    by_conn: HashMap<ConnId, Person>,
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

    /// Connection `id` is gone.
    pub fn forget(&mut self, id: ConnId) {
        self.by_conn.remove(&id);
    }

    /// What is known of connection `id`, if it speaks IRC.
    pub fn get(&self, id: ConnId) -> Option<&Person> {
        self.by_conn.get(&id)
    }

    /// The same, to change.
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Person> {
        self.by_conn.get_mut(&id)
    }
}
