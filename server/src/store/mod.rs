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

use chat_shared::{Color, MessageId};

use crate::desk::DeskId;
use crate::ids::Asker;

pub mod accounts;
pub mod link;
pub mod memory;
pub mod redis;
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

/// Who a direct message is between. Stored with it, so that it is replayed
/// (and found) only for those two desks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectTo {
    /// The reader's name when it was sent.
    pub to: String,
    /// The writer's desk.
    pub from_desk: DeskId,
    /// The reader's desk.
    pub to_desk: DeskId,
}

impl DirectTo {
    /// True when `desk` wrote or received it.
    pub fn involves(&self, desk: Option<DeskId>) -> bool {
        desk.is_some_and(|desk| desk == self.from_desk || desk == self.to_desk)
    }
}

/// A desk's own ID for one of its messages (`/tx`): the store keeps a
/// message once per desk and ID, so a desk may send it again after an
/// unclear outcome without doubling it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tx {
    /// The desk that sent it.
    pub desk: DeskId,
    /// The desk's ID for it.
    pub id: String,
}

/// A message the room accepted, not yet in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// Who sent it, told if the log cannot take it.
    pub from: Asker,
    /// When the server received it (wire format).
    pub time: String,
    /// The sender's name.
    pub name: String,
    /// The sender's colour.
    pub color: Color,
    /// What they said, cleaned.
    pub text: String,
    /// For a direct message, who it is between; `None` for the room.
    pub direct: Option<DirectTo>,
    /// The desk's own ID for it, if it gave one.
    pub tx: Option<Tx>,
}

/// A message in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its place in the log.
    pub id: MessageId,
    /// When the server received it (wire format).
    pub time: String,
    /// Who said it.
    pub name: String,
    /// Their colour.
    pub color: Color,
    /// What they said, cleaned.
    pub text: String,
    /// For a direct message, who it is between; `None` for the room.
    pub direct: Option<DirectTo>,
    /// The desk's own ID for it, if it gave one.
    pub tx: Option<Tx>,
}

impl Message {
    /// The message a draft becomes once the log gives it `id`.
    pub fn from_draft(draft: Draft, id: MessageId) -> Message {
        Message {
            id,
            time: draft.time,
            name: draft.name,
            color: draft.color,
            text: draft.text,
            direct: draft.direct,
            tx: draft.tx,
        }
    }

    /// Whether `desk` may see it: a room message, or a direct message it
    /// wrote or received.
    pub fn visible_to(&self, desk: Option<DeskId>) -> bool {
        self.direct
            .as_ref()
            .is_none_or(|direct| direct.involves(desk))
    }
}

/// Bytes a replayed line takes besides its text, name and time: its kind,
/// ID, colour, separators and newline (or a direct message's reader).
pub(crate) const LINE_OVERHEAD_BYTES: usize = 64;

impl Message {
    /// About how many bytes its replayed line takes.
    pub fn line_bytes(&self) -> usize {
        let to = self.direct.as_ref().map_or(0, |direct| direct.to.len());
        self.text.len() + self.name.len() + self.time.len() + to + LINE_OVERHEAD_BYTES
    }
}

/// What one replay holds: the newest messages after a point, offered
/// newest first, as many as fit in [`REPLAY_LIMIT`] and a byte budget; the
/// older ones are only counted. A store fills one of these, so a crowd
/// resuming at once costs each store's answer no more than the desk can be
/// sent.
#[derive(Debug)]
pub struct ReplayFill {
    /// Kept so far, newest first.
    messages: Vec<Message>,
    /// Their [`Message::line_bytes`].
    bytes: usize,
    /// Most bytes kept.
    budget_bytes: usize,
    /// Offered but not kept.
    skipped: u64,
}

impl ReplayFill {
    /// An empty replay that keeps at most `budget_bytes`.
    pub fn new(budget_bytes: usize) -> ReplayFill {
        ReplayFill {
            messages: Vec::new(),
            bytes: 0,
            budget_bytes,
            skipped: 0,
        }
    }

    /// Offers the next older message; false once it is full (everything
    /// older is only counted).
    pub fn offer(&mut self, message: Message) -> bool {
        let bytes = self.bytes + message.line_bytes();
        if self.skipped > 0 || self.messages.len() == REPLAY_LIMIT || bytes > self.budget_bytes {
            self.skipped += 1;
            return false;
        }
        self.bytes = bytes;
        self.messages.push(message);
        true
    }

    /// Whether it took everything offered.
    pub fn is_full(&self) -> bool {
        self.skipped > 0
    }

    /// How many it kept.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether it kept nothing.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The answer for `asker`: the messages oldest first, and how many
    /// were missed but not kept (`also_skipped` counted elsewhere too).
    pub fn answer(self, asker: Asker, also_skipped: u64) -> Completion {
        let skipped = self.skipped + also_skipped;
        self.into_answer(asker, skipped)
    }

    /// The answer for `asker` when `missed` messages came after the point
    /// asked about in all: those not kept are counted as skipped.
    pub fn answer_out_of(self, asker: Asker, missed: u64) -> Completion {
        let skipped = missed.saturating_sub(self.messages.len() as u64);
        self.into_answer(asker, skipped)
    }

    fn into_answer(mut self, asker: Asker, skipped: u64) -> Completion {
        self.messages.reverse();
        Completion::Replay {
            asker,
            messages: self.messages,
            skipped,
        }
    }
}

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
    /// It ran past its time and was stopped.
    TooBroad,
    /// Nothing in the words can be searched for.
    BadWords,
    /// The store could not run it: why, for the server's log only.
    Failed(String),
}

/// A name a desk wants, to be claimed across servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameClaim {
    /// As the desk wrote it.
    pub name: String,
    /// What makes two names the same ([`chat_shared::name::name_key`]).
    pub key: String,
    /// The colour it will have.
    pub color: Color,
    /// The desk holding it, so desks on other servers can write to it.
    pub desk: DeskId,
}

/// What came of a [`NameClaim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The name is this desk's in the whole room.
    Granted,
    /// A desk on some server has it.
    Taken,
    /// The shared log could not be asked: why.
    Unavailable(String),
}

/// What a [`PresenceNote`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceKind {
    /// Someone joined.
    Join,
    /// Someone left.
    Leave,
    /// Someone's desk changed: it reconnected and proved it is an earlier
    /// desk (`/resume` with its secret), whose direct messages are its.
    Desk,
}

/// A JOIN, a LEAVE or a change of desk, read from the shared log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceNote {
    /// What happened.
    pub kind: PresenceKind,
    /// When (wire format).
    pub time: String,
    /// Who.
    pub name: String,
    /// Their colour.
    pub color: Color,
    /// The server their desk is on.
    pub server: String,
    /// Their desk.
    pub desk: DeskId,
}

/// A desk on another server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMember {
    /// Its name.
    pub name: String,
    /// Its colour.
    pub color: Color,
    /// The server it is on.
    pub server: String,
    /// Its desk, for direct messages.
    pub desk: DeskId,
}

/// What a log shared by several servers does beyond storing messages.
pub trait SharedRoom {
    /// This server's name among the others.
    fn server_id(&self) -> &str;

    /// Asks for `claim.name` across servers; answered with
    /// [`Completion::Claimed`], whose JOIN follows as a
    /// [`Completion::Presence`]. Hands the claim back if the log is too far
    /// behind to take it.
    fn claim(&mut self, asker: Asker, claim: NameClaim) -> Result<(), NameClaim>;

    /// Gives back a name this server holds, and tells everyone its desk left.
    fn release(&mut self, claim: NameClaim);

    /// Tells the other servers that the desk holding `claim.name` is now
    /// `claim.desk`.
    fn redesk(&mut self, claim: NameClaim);
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

    /// The newest `limit` messages, oldest first, read once at start-up.
    fn recent(&mut self, limit: usize) -> io::Result<Vec<Message>>;

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
