//! What the store keeps: messages ([`Message`], and [`Draft`]s on their way
//! in), who a direct message is between, the desk's own ID for a message,
//! and how a replay is filled ([`ReplayFill`]).

use chat_shared::{Color, MessageId};

use super::{Completion, REPLAY_LIMIT};
use crate::desk::DeskId;
use crate::ids::Asker;

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
    /// For a direct message, who it is between; `None` for a room.
    pub direct: Option<DirectTo>,
    /// The desk's own ID for it, if it gave one.
    pub tx: Option<Tx>,
    /// The room it is said in, by its name as the room was made; `None` for
    /// `#main` (and for a direct message).
    pub room: Option<String>,
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
    /// For a direct message, who it is between; `None` for a room.
    pub direct: Option<DirectTo>,
    /// The desk's own ID for it, if it gave one.
    pub tx: Option<Tx>,
    /// The room it was said in, by its name as the room was made; `None`
    /// for `#main` (and for a direct message).
    pub room: Option<String>,
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
            room: draft.room,
        }
    }

    /// Whether a desk sees it: a message of a room in `scope`, or a direct
    /// message the desk (`desk`) wrote or received.
    pub fn visible_to(&self, desk: Option<DeskId>, scope: &Scope) -> bool {
        match &self.direct {
            Some(direct) => scope.main && direct.involves(desk),
            None => scope.holds(self.room.as_deref()),
        }
    }
}

#[cfg(test)]
impl Message {
    /// alice saying `text` in `room` (`None`: `#main`) as message `id`: the
    /// message most tests need.
    pub(crate) fn from_alice(id: MessageId, text: &str, room: Option<&str>) -> Message {
        Message {
            id,
            time: "2026-12-06T13:07:08.000Z".to_string(),
            name: "alice".to_string(),
            color: Color::for_name("alice"),
            text: text.to_string(),
            direct: None,
            tx: None,
            room: room.map(str::to_string),
        }
    }
}

/// The rooms a replay or a search covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// Whether `#main` is in it (and the desk's direct messages).
    pub main: bool,
    /// The other rooms, by name as they were made.
    pub rooms: Vec<String>,
}

impl Scope {
    /// `#main` and the desk's direct messages alone: what a desk in no
    /// other room sees.
    pub fn main() -> Scope {
        Scope {
            main: true,
            rooms: Vec::new(),
        }
    }

    /// Whether a message of `room` (`None`: `#main`) is in it.
    pub fn holds(&self, room: Option<&str>) -> bool {
        match room {
            None => self.main,
            Some(key) => self.rooms.iter().any(|r| r == key),
        }
    }
}

/// Bytes a replayed line takes besides its text, name and time: its kind,
/// ID, colour, separators and newline (or a direct message's reader).
const LINE_OVERHEAD_BYTES: usize = 64;

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
