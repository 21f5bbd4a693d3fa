//! The store: every message, in order, with the ID the store gives it
//! (users know it as "the room's log"; in the code, "log" is the server's
//! own diagnostics, [`crate::log`]).
//!
//! The event loop never delivers a message the store has not taken: it
//! submits [`Draft`]s, and delivers a [`Message`] only when the store hands
//! it back with its ID ([`Completion::Appended`]). A store may answer at once
//! ([`memory::MemoryStore`], `--db none`) or later from another thread
//! ([`sqlite::SqliteStore`], the default), in which case it wakes the loop's
//! poll; or from a Redis stream that several servers share
//! ([`redis::RedisStore`], `--redis`). Answers come back in the order the
//! requests went in, which is what makes a resume exact: a replay covers
//! every message handed back before it.
//!
//! A store that several servers share also owns what makes them one room
//! ([`SharedRoom`]): names claimed across servers, who is on the others,
//! JOIN and LEAVE for everyone, and whether the link to the others is up.

use std::io;

use chat_shared::MessageId;

use crate::config::Db;
use crate::desk::DeskId;
use crate::ids::Asker;
use accounts::{AccountBook, Missing};

pub use message::{DirectTo, Draft, Message, ReplayFill, Scope, Tx};
pub use rooms::{Holder, Kick, ModeChange, RoomChange, RoomState, Topic};
pub use shared::{ClaimOutcome, NameClaim, PresenceKind, PresenceNote, RemoteMember, SharedRoom};

pub mod accounts;
pub mod link;
pub mod memory;
mod message;
pub mod redis;
mod rooms;
mod shared;
pub mod sqlite;

/// Most messages one `/resume` replays; the reply says how many more were
/// missed.
pub const REPLAY_LIMIT: usize = 1000;

/// A fresh random name for a log (64 bits): IDs from two logs must never
/// be taken for each other.
pub fn new_epoch() -> String {
    crate::desk::random_hex(8)
}

/// Most results one `/search` gives: the newest that match.
pub const SEARCH_LIMIT: usize = 20;

/// What the loop asks of the log.
#[derive(Debug)]
pub enum Request {
    /// Store these, in order, and hand them back with their IDs.
    Append(Vec<Draft>),
    /// The messages after `after`, for a desk that is resuming.
    Replay {
        /// Who asked.
        asker: Asker,
        /// The last message it showed.
        after: MessageId,
        /// The desk it proved to be, whose direct messages come too.
        desk: Option<DeskId>,
        /// The rooms it is in.
        scope: Scope,
        /// Most bytes of messages to answer with ([`ReplayFill`]).
        budget_bytes: usize,
    },
    /// The newest [`SEARCH_LIMIT`] messages holding every word of `words`
    /// that `desk` may see.
    Search {
        /// Who asked.
        asker: Asker,
        /// What to look for.
        words: String,
        /// The desk that asked, whose direct messages are searched too.
        desk: Option<DeskId>,
        /// The rooms searched.
        scope: Scope,
    },
    /// Change the rooms; answered with [`Completion::RoomChanged`] in the
    /// store's order.
    ChangeRoom {
        /// Who asked, told if the change cannot be kept.
        asker: Asker,
        /// The change.
        change: RoomChange,
    },
}

/// What the log answers, in the order of the requests.
#[derive(Debug)]
pub enum Completion {
    /// Stored: deliver them.
    Appended(Vec<Message>),
    /// Not stored, so nobody may get them.
    NotSaved {
        /// The drafts, for their senders.
        drafts: Vec<Draft>,
        /// Why, for the log and the desks.
        error: String,
    },
    /// Perhaps stored, perhaps not: the store did not answer in time. If
    /// they were stored, they are delivered like any other.
    Unsure {
        /// The drafts, for their senders.
        drafts: Vec<Draft>,
        /// Why, for the log and the desks.
        error: String,
    },
    /// Stored before, under the same desk and ID: not stored again.
    Duplicate {
        /// The draft sent again.
        draft: Draft,
        /// The message it was stored as.
        id: MessageId,
    },
    /// The answer to [`Request::Replay`]: the newest messages after the one
    /// asked about that fit its limits ([`ReplayFill`]), oldest first.
    Replay {
        /// Who asked.
        asker: Asker,
        /// The messages.
        messages: Vec<Message>,
        /// How many more came after the one asked about, older than these.
        skipped: u64,
    },
    /// A replay could not be read.
    ReplayFailed {
        /// Who asked.
        asker: Asker,
        /// Why.
        error: String,
    },
    /// The answer to [`Request::Search`], oldest first.
    Found {
        /// Who asked.
        asker: Asker,
        /// The results.
        messages: Vec<Message>,
    },
    /// A search was not answered.
    SearchFailed {
        /// Who asked.
        asker: Asker,
        /// Why.
        why: SearchRefusal,
    },
    /// The answer to [`SharedRoom::claim`].
    Claimed {
        /// Who asked.
        asker: Asker,
        /// The name it asked for.
        claim: NameClaim,
        /// Whether it got it.
        outcome: ClaimOutcome,
    },
    /// The rooms changed (here or on another server sharing the store).
    RoomChanged(RoomChange),
    /// A change to the rooms could not be kept.
    RoomNotSaved {
        /// Who asked.
        asker: Asker,
        /// Why, for the log.
        error: String,
    },
    /// Someone joined or left the room, on this server or another: for
    /// everyone, in the log's order.
    Presence(PresenceNote),
    /// Who is on the other servers, read once at start.
    Roster(Vec<RemoteMember>),
    /// The link to the shared log is down: messages are refused until it is
    /// back.
    LinkDown(String),
    /// The link is back; delivery resumed from the last message delivered.
    LinkUp,
}

/// Why a search was not answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchRefusal {
    /// Too many searches wait already.
    Busy,
    /// The search index is still being filled (a server on Redis indexes
    /// the stream's messages when it starts).
    Indexing,
    /// It ran past its time and was stopped.
    TooBroad,
    /// Nothing in the words can be searched for.
    BadWords,
    /// The store could not run it: why, for the server's log only.
    Failed(String),
}

/// The store was too far behind to take a request; it comes back untouched.
#[derive(Debug)]
pub struct Busy(pub Request);

/// Where messages are kept. See the module docs for the contract.
pub trait Store: Send {
    /// Names this store: IDs from two stores with different epochs are not
    /// comparable.
    fn epoch(&self) -> &str;

    /// A short description for the start-up line.
    fn describe(&self) -> String;

    /// Whether it answers [`Request::Search`].
    fn can_search(&self) -> bool;

    /// The newest `limit` messages of each room (`#main` and the others),
    /// oldest first, read once at start-up.
    fn recent(&mut self, limit: usize) -> io::Result<Vec<Message>>;

    /// Every room but `#main`, read once at start-up.
    fn rooms(&mut self) -> io::Result<Vec<RoomState>>;

    /// Queues a request without waiting.
    fn submit(&mut self, request: Request) -> Result<(), Busy>;

    /// Moves the answers ready now into `out`, in order.
    fn completions(&mut self, out: &mut Vec<Completion>);

    /// Finishes what was submitted, makes it durable and stops; returns the
    /// last answers.
    fn close(&mut self) -> Vec<Completion>;

    /// The other servers' room, when this log is shared with them; names
    /// are then claimed through it.
    fn shared(&mut self) -> Option<&mut dyn SharedRoom> {
        None
    }
}

/// The accounts kept where `db` says (a file or an office on Redis).
pub fn open_book(db: &Db, missing: Missing) -> io::Result<Box<dyn AccountBook>> {
    match db {
        Db::Path(path) => Ok(Box::new(sqlite::SqliteAccounts::open(path, missing)?)),
        Db::Redis(target) => Ok(Box::new(redis::RedisAccounts::open(target)?)),
        Db::None => Err(io::Error::other(
            "accounts live in the room's log or on Redis, not in memory (--db none)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_not_kept_in_memory() {
        assert!(open_book(&Db::None, Missing::Create).is_err());
    }
}
