//! The user's lines until the room has them, each exactly once (issue 17
//! §5): room messages and direct messages, typed while the connection is
//! down (kept, bounded, and sent after the rejoin) or sent and not yet
//! settled. Pure state, given the time; the session sends and prints.
//!
//! Every line gets a desk-local ID, its TX. On a server that knows `/tx` it
//! goes out as `/tx TX LINE`, which the server stores once per desk and TX
//! however often it comes, answering `SENT` (stored, as message ID) or
//! `UNSURE` (its log did not say). A line the server cannot tell about, or
//! one sent on a connection that was then lost, is pending: it goes out
//! again under the same TX, after a backoff or on the next connection,
//! until `SENT`; after [`MAX_SENDS`] tries it is given back as unconfirmed.
//! `ERR not-saved` answers the oldest line waiting for the log, and means
//! that line was not stored, unless it was pending: an earlier try may have
//! been, so it goes out again instead.
//!
//! Whether the server knows `/tx` is found out on each connection by the
//! first tagged line: a server that does not refuses it as it reads it
//! (`ERR bad-command`), so it was not stored, and it goes out again
//! untagged, like every line after it on that connection. Until that first
//! answer the other lines wait, so that none goes out in both forms. A line
//! that is pending never goes out untagged (that could store it twice); it
//! is given back as unconfirmed instead.
//!
//! Untagged lines are followed as before tagging: the log answers each, in
//! order, with its copy or `ERR not-saved`; one whose answer was unclear
//! (`ERR unsure`, a lost connection) is settled by its copy, or given back
//! when the replay after a reconnect ends without it. A direct message to
//! nobody online is refused at once (`ERR no-such-name`), ahead of the
//! log's answers, and is found by the name it was for; a message for a
//! room the desk is not in, by the room.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

use chat_shared::message::MAX_TX_ID_CHARS;
use chat_shared::name::name_key;
use chat_shared::room::room_key;
use chat_shared::{ClientLine, MessageId, DEFAULT_MAX_LINE_BYTES};

use crate::backoff::Backoff;

/// One line of the user's, on its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A message for a room.
    Message {
        /// The room; `None` for `#main`.
        room: Option<String>,
        /// What it says.
        text: String,
    },
    /// A direct message for one person.
    Direct {
        /// Who it is for, as typed.
        to: String,
        /// What it says.
        text: String,
    },
}

impl Outgoing {
    /// A message for `#main`.
    #[cfg(test)]
    pub fn main(text: &str) -> Outgoing {
        Outgoing::Message {
            room: None,
            text: text.to_string(),
        }
    }

    /// The line on the wire, untagged, sent as `name`: `NAME<SEP>TEXT` in
    /// `#main`, `/to ROOM TEXT` in another room, `/msg TO TEXT`.
    pub fn wire<'a>(&'a self, name: &'a str) -> ClientLine<'a> {
        match self {
            Outgoing::Message { room: None, text } => ClientLine::Say { name, text },
            Outgoing::Message {
                room: Some(room),
                text,
            } => ClientLine::To { room, text },
            Outgoing::Direct { to, text } => ClientLine::Direct { to, text },
        }
    }

    /// What it says.
    pub fn text(&self) -> &str {
        match self {
            Outgoing::Message { text, .. } | Outgoing::Direct { text, .. } => text,
        }
    }

    /// The room it is for, if not `#main` (and not a direct message).
    pub fn room(&self) -> Option<&str> {
        match self {
            Outgoing::Message { room, .. } => room.as_deref(),
            Outgoing::Direct { .. } => None,
        }
    }

    /// The server refuses a line past [`DEFAULT_MAX_LINE_BYTES`]: when this
    /// one, sent untagged as `name`, would be, the most bytes its text may
    /// have, so that the user is told in terms of what they typed. (A line
    /// that fits untagged but not tagged goes untagged.)
    pub fn too_long(&self, name: &str) -> Option<usize> {
        let line_bytes = wire_bytes(&self.wire(name));
        (line_bytes > DEFAULT_MAX_LINE_BYTES)
            .then(|| DEFAULT_MAX_LINE_BYTES - (line_bytes - self.text().len()))
    }

    /// The line that sends it again when typed: what Up-arrow brings back
    /// and what a notice about it quotes.
    pub fn typed(&self) -> String {
        match self {
            Outgoing::Message { text, .. } => text.clone(),
            Outgoing::Direct { to, text } => format!("/msg {to} {text}"),
        }
    }
}

/// A line's bytes on the wire, its newline not counted (as the server
/// counts).
fn wire_bytes(line: &ClientLine<'_>) -> usize {
    line.encode().len() - 1
}

/// Most lines kept while the connection is down. A person types far fewer
/// during any outage; past this the line is refused (and stays in the
/// editor's history), so a paste into a dead link cannot grow without end.
pub const MAX_WAITING_LINES: usize = 100;

/// Most times a line goes out before the desk stops trying: with the
/// backoff between tries (doubling from half a second to half a minute)
/// a minute or more of a log that cannot say whether it stored it, far
/// longer than the store takes to answer or fail.
pub const MAX_SENDS: u32 = 8;

/// Most message IDs of confirmed lines whose copy may still come: a
/// resend confirmed as stored before gets no copy, so some never do.
const MAX_CONFIRMED: usize = 64;

/// A line waiting for the connection was refused: the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// What to send next, or to tell the user instead.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<'a> {
    /// This line, as it goes on the wire.
    Line(ClientLine<'a>),
    /// A line longer than the server takes, dropped: `bytes` of text,
    /// `limit` allowed.
    TooLong {
        /// Its text's length.
        bytes: usize,
        /// The most its text may have.
        limit: usize,
    },
    /// A pending line that this connection cannot send without perhaps
    /// storing it twice (the server does not know `/tx`): given back as
    /// unconfirmed.
    Unconfirmed(Outgoing),
}

/// What an unclear or refusing answer about a line leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Not stored: give it back.
    NotStored(Outgoing),
    /// Pending from now on: the server cannot tell whether it stored it,
    /// and it goes out again.
    Pending(Outgoing),
    /// Still pending; it goes out again.
    Retrying,
    /// Sent [`MAX_SENDS`] times, never confirmed: given back as such.
    Unconfirmed(Outgoing),
}

/// Whether this connection's server knows `/tx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tagging {
    /// Not yet known: one tagged line goes out, the others wait.
    Unknown,
    /// It does: every line is tagged.
    On,
    /// It refused a tagged line: lines go untagged.
    Off,
}

/// Where a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// To send: typed while the connection was down, waiting for the
    /// connection's first answer about tagging, or pending until `at`.
    Ready { at: Option<Instant> },
    /// Sent on this connection, its answer not yet come.
    Sent { tagged: bool },
    /// Sent untagged, its answer unclear: its copy, or the end of the
    /// replay after a reconnect, settles it.
    Unconfirmed,
}

/// One of the user's lines.
#[derive(Debug)]
struct Entry {
    /// The desk's ID for it.
    tx: String,
    line: Outgoing,
    state: State,
    /// The name it was last sent as.
    sent_as: String,
    /// How many times it went out.
    sends: u32,
    /// The server may have stored it: only `SENT` settles it.
    pending: bool,
    /// The wait before it goes out again.
    backoff: Backoff,
}

/// The user's lines on their way to the room.
#[derive(Debug)]
pub struct Outbox {
    /// Every line not yet settled, in the order typed.
    entries: VecDeque<Entry>,
    /// The TXs of the lines sent on this connection and not yet answered,
    /// in the order sent: the log answers in that order.
    awaiting: VecDeque<String>,
    /// The TXs of the untagged lines whose answer was unclear, in the
    /// order sent.
    unconfirmed: VecDeque<String>,
    /// The IDs of tagged lines confirmed by `SENT`, whose copy may follow:
    /// such a copy settles nothing more.
    confirmed: VecDeque<MessageId>,
    tagging: Tagging,
    /// Starts every TX: differs from run to run.
    tx_prefix: String,
    /// The number of the next TX.
    next_tx: u64,
}

impl Default for Outbox {
    fn default() -> Outbox {
        let seed = RandomState::new().hash_one(std::process::id());
        Outbox::with_prefix(&format!("{:08x}", seed as u32))
    }
}

impl Outbox {
    /// An outbox whose TXs start with `prefix`.
    fn with_prefix(prefix: &str) -> Outbox {
        Outbox {
            entries: VecDeque::new(),
            awaiting: VecDeque::new(),
            unconfirmed: VecDeque::new(),
            confirmed: VecDeque::new(),
            tagging: Tagging::Unknown,
            tx_prefix: prefix.to_string(),
            next_tx: 1,
        }
    }

    /// Keeps a line typed while there is no connection (or no name yet)
    /// until the desk is back; returns how many such lines wait.
    pub fn queue(&mut self, line: Outgoing) -> Result<usize, QueueFull> {
        if self.never_sent() >= MAX_WAITING_LINES {
            return Err(QueueFull);
        }
        self.push(line);
        Ok(self.never_sent())
    }

    /// Takes a line typed in the room, to send now.
    pub fn push(&mut self, line: Outgoing) {
        let tx = format!("{}-{}", self.tx_prefix, self.next_tx);
        self.next_tx += 1;
        debug_assert!(tx.len() <= MAX_TX_ID_CHARS);
        self.entries.push_back(Entry {
            tx,
            line,
            state: State::Ready { at: None },
            sent_as: String::new(),
            sends: 0,
            pending: false,
            backoff: Backoff::new(),
        });
    }

    /// How many lines never went out.
    fn never_sent(&self) -> usize {
        self.entries.iter().filter(|e| e.sends == 0).count()
    }

    /// Whether any line never went out.
    pub fn has_unsent(&self) -> bool {
        self.never_sent() > 0
    }

    /// Drops the lines that never went out (the user left); returns how
    /// many there were, and how many others are not settled.
    pub fn discard(&mut self) -> (usize, usize) {
        let never_sent = self.never_sent();
        let unsettled = self.entries.len() - never_sent;
        self.entries.clear();
        self.awaiting.clear();
        self.unconfirmed.clear();
        (never_sent, unsettled)
    }

    /// The next line to send as `name` at `now`, if one may go: marked as
    /// sent on this connection.
    pub fn next_send(&mut self, name: &str, now: Instant) -> Option<Next<'_>> {
        if self.probing() {
            return None;
        }
        let at = self.entries.iter().position(
            |entry| matches!(entry.state, State::Ready { at } if at.is_none_or(|at| at <= now)),
        )?;
        let entry = &self.entries[at];
        if let Some(limit) = entry.line.too_long(name) {
            let bytes = entry.line.text().len();
            self.entries.remove(at);
            return Some(Next::TooLong { bytes, limit });
        }
        let tagged = self.tagging != Tagging::Off && fits_tagged(entry, name);
        if entry.pending && !tagged {
            let entry = self.entries.remove(at)?;
            return Some(Next::Unconfirmed(entry.line));
        }
        self.awaiting.push_back(entry.tx.clone());
        let entry = &mut self.entries[at];
        entry.state = State::Sent { tagged };
        entry.sends += 1;
        entry.sent_as = name.to_string();
        let entry = &self.entries[at];
        Some(Next::Line(entry.on_wire(tagged)))
    }

    /// When a pending line is due to go out again, if one is and may.
    pub fn next_retry(&self) -> Option<Instant> {
        if self.probing() {
            return None;
        }
        self.entries
            .iter()
            .filter_map(|entry| match entry.state {
                State::Ready { at } => at,
                _ => None,
            })
            .min()
    }

    /// Whether the first tagged line on this connection waits for its
    /// answer, which says whether the server knows `/tx`.
    fn probing(&self) -> bool {
        self.tagging == Tagging::Unknown
            && self
                .awaiting
                .iter()
                .any(|tx| self.find(tx).is_some_and(|at| self.entries[at].is_tagged()))
    }

    fn find(&self, tx: &str) -> Option<usize> {
        self.entries.iter().position(|entry| entry.tx == tx)
    }

    /// Takes `tx` out of the lines awaiting an answer.
    fn answered(&mut self, tx: &str) {
        self.awaiting.retain(|awaiting| awaiting != tx);
    }

    /// `SENT`: the line tagged `tx` is stored as message `id`; its copy
    /// follows, unless it was stored before.
    pub fn sent(&mut self, tx: &str, id: MessageId) {
        self.tagging = Tagging::On;
        self.answered(tx);
        if let Some(at) = self.find(tx) {
            self.entries.remove(at);
        }
        if self.confirmed.len() == MAX_CONFIRMED {
            self.confirmed.pop_front();
        }
        self.confirmed.push_back(id);
    }

    /// `UNSURE`: the server cannot tell whether the line tagged `tx` was
    /// stored. It goes out again at `now` plus its backoff.
    pub fn unsure(&mut self, tx: &str, now: Instant) -> Option<Settled> {
        self.tagging = Tagging::On;
        self.answered(tx);
        let at = self.find(tx)?;
        let newly = !self.entries[at].pending;
        self.entries[at].pending = true;
        Some(match self.again(at, now) {
            Settled::Retrying if newly => Settled::Pending(self.entries[at].line.clone()),
            settled => settled,
        })
    }

    /// `ERR not-saved`: the oldest line awaiting the log's answer was not
    /// stored, this time (an untagged line's answer, which names none).
    pub fn not_saved(&mut self, now: Instant) -> Option<Settled> {
        let tx = self.awaiting.pop_front()?;
        self.not_stored(&tx, now)
    }

    /// `UNSENT`: the line tagged `tx` was not stored, this time.
    pub fn unsent(&mut self, tx: &str, now: Instant) -> Option<Settled> {
        self.tagging = Tagging::On;
        self.answered(tx);
        self.not_stored(tx, now)
    }

    /// The line tagged `tx` was not stored by this try. Unless an earlier
    /// try may have been, it is given back; else it goes out again.
    fn not_stored(&mut self, tx: &str, now: Instant) -> Option<Settled> {
        let at = self.find(tx)?;
        if self.entries[at].is_tagged() {
            self.tagging = Tagging::On;
        }
        if self.entries[at].pending {
            return Some(self.again(at, now));
        }
        let entry = self.entries.remove(at)?;
        Some(Settled::NotStored(entry.line))
    }

    /// Line `at`, pending, goes out again after its backoff; or, sent as
    /// often as it may be, is given back as unconfirmed.
    fn again(&mut self, at: usize, now: Instant) -> Settled {
        let entry = &mut self.entries[at];
        if entry.sends >= MAX_SENDS {
            let line = entry.line.clone();
            self.entries.remove(at);
            return Settled::Unconfirmed(line);
        }
        entry.state = State::Ready {
            at: Some(now + entry.backoff.next_delay()),
        };
        Settled::Retrying
    }

    /// `ERR bad-command`: if it answers the first tagged line on this
    /// connection, the server does not know `/tx` and did not store it:
    /// that line, and every line after it, goes out untagged. Returns
    /// whether it did.
    pub fn tx_refused(&mut self) -> bool {
        if self.tagging != Tagging::Unknown {
            return false;
        }
        let probe = self.awaiting.iter().find_map(|tx| {
            self.find(tx)
                .filter(|at| self.entries[*at].is_tagged())
                .map(|at| (tx.clone(), at))
        });
        let Some((tx, at)) = probe else {
            return false;
        };
        self.tagging = Tagging::Off;
        self.answered(&tx);
        let entry = &mut self.entries[at];
        entry.state = State::Ready { at: None };
        entry.sends -= 1;
        true
    }

    /// `ERR unsure` (a server that does not know `/tx`): the oldest
    /// untagged line awaiting the log's answer may or may not be stored.
    pub fn unsure_untagged(&mut self) {
        let Some(tx) = self.awaiting.front().cloned() else {
            return;
        };
        let Some(at) = self.find(&tx) else {
            return;
        };
        if self.entries[at].state == (State::Sent { tagged: false }) {
            self.awaiting.pop_front();
            self.entries[at].state = State::Unconfirmed;
            self.unconfirmed.push_back(tx);
        }
    }

    /// The server's copy of a message (or direct message) from `name`,
    /// message `id`, was shown. If it is ours and untagged, the oldest such
    /// line has arrived (a tagged line was settled by its `SENT`).
    pub fn copy_shown(&mut self, name: &str, id: MessageId) {
        if let Some(at) = self.confirmed.iter().position(|c| *c == id) {
            self.confirmed.remove(at);
            return;
        }
        let (oldest, unclear) = match self.unconfirmed.front() {
            Some(tx) => (tx.clone(), true),
            None => match self.awaiting.front() {
                Some(tx) => (tx.clone(), false),
                None => return,
            },
        };
        let Some(at) = self.find(&oldest) else {
            return;
        };
        let entry = &self.entries[at];
        if entry.is_tagged() || entry.sent_as != name {
            return;
        }
        self.entries.remove(at);
        if unclear {
            self.unconfirmed.pop_front();
        } else {
            self.awaiting.pop_front();
        }
    }

    /// `ERR no-such-name`, whose `detail` names who was not online: the
    /// direct message sent on this connection to that name reached nobody.
    /// The refusal comes ahead of the log's answers to earlier lines, so it
    /// is found by the name, the oldest to it first; failing that (a
    /// server that words it differently), the oldest direct message sent
    /// on this connection. Returns it, to give back to the user.
    pub fn no_such_name(&mut self, detail: &str) -> Option<Outgoing> {
        let named: Vec<String> = detail.split_whitespace().map(name_key).collect();
        self.refused_by(|line| match line {
            Outgoing::Direct { to, .. } => Some(named.contains(&name_key(to))),
            Outgoing::Message { .. } => None,
        })
    }

    /// `ERR not-in-room` or `ERR no-such-room`, whose `detail` names the
    /// room: the message sent on this connection to that room reached
    /// nobody; found as [`Outbox::no_such_name`] finds a direct message.
    pub fn not_in_room(&mut self, detail: &str) -> Option<Outgoing> {
        let named: Vec<String> = detail
            .split(|c: char| c.is_whitespace() || matches!(c, ';' | ','))
            .filter(|word| word.starts_with('#'))
            .map(room_key)
            .collect();
        self.refused_by(|line| line.room().map(|room| named.contains(&room_key(room))))
    }

    /// Takes out the oldest line awaiting an answer that `kind` says may be
    /// refused so (`Some`), preferring one it names (`Some(true)`).
    fn refused_by(&mut self, kind: impl Fn(&Outgoing) -> Option<bool>) -> Option<Outgoing> {
        let candidates: Vec<(usize, bool)> = self
            .awaiting
            .iter()
            .enumerate()
            .filter_map(|(order, tx)| {
                let at = self.find(tx)?;
                kind(&self.entries[at].line).map(|named| (order, named))
            })
            .collect();
        let (order, _) = candidates
            .iter()
            .find(|(_, named)| *named)
            .or_else(|| candidates.first())
            .copied()?;
        let tx = self.awaiting.remove(order)?;
        let at = self.find(&tx)?;
        self.entries.remove(at).map(|entry| entry.line)
    }

    /// The connection was lost: what was sent on it may never have
    /// arrived. A tagged line is pending and goes out again on the next
    /// connection; an untagged one is settled by the replay there. A
    /// pending line waiting for its backoff goes out at once there too.
    pub fn connection_lost(&mut self) {
        for tx in std::mem::take(&mut self.awaiting) {
            let Some(at) = self.find(&tx) else {
                continue;
            };
            let entry = &mut self.entries[at];
            if entry.is_tagged() {
                entry.pending = true;
                entry.state = State::Ready { at: None };
            } else {
                entry.state = State::Unconfirmed;
                self.unconfirmed.push_back(tx);
            }
        }
        for entry in &mut self.entries {
            if let State::Ready { at } = &mut entry.state {
                *at = None;
            }
        }
        self.tagging = Tagging::Unknown;
    }

    /// The replay after a reconnect is over (or none comes): the untagged
    /// lines it did not show never reached the room. Returns them.
    pub fn replay_over(&mut self) -> Vec<Outgoing> {
        let mut lost = Vec::new();
        for tx in std::mem::take(&mut self.unconfirmed) {
            if let Some(entry) = self.find(&tx).and_then(|at| self.entries.remove(at)) {
                lost.push(entry.line);
            }
        }
        lost
    }
}

impl Entry {
    /// Whether it went out tagged last time.
    fn is_tagged(&self) -> bool {
        self.state == State::Sent { tagged: true }
    }

    /// The line as it goes on the wire, tagged or not.
    fn on_wire(&self, tagged: bool) -> ClientLine<'_> {
        let line = self.line.wire(&self.sent_as);
        if tagged {
            ClientLine::Tagged {
                tx: &self.tx,
                line: Box::new(line),
            }
        } else {
            line
        }
    }
}

/// Whether `entry`, sent as `name`, fits in a line tagged.
fn fits_tagged(entry: &Entry, name: &str) -> bool {
    let tagged = ClientLine::Tagged {
        tx: &entry.tx,
        line: Box::new(entry.line.wire(name)),
    };
    wire_bytes(&tagged) <= DEFAULT_MAX_LINE_BYTES
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn room(text: &str) -> Outgoing {
        Outgoing::main(text)
    }

    fn in_room(room: &str, text: &str) -> Outgoing {
        Outgoing::Message {
            room: Some(room.to_string()),
            text: text.to_string(),
        }
    }

    fn direct(to: &str, text: &str) -> Outgoing {
        Outgoing::Direct {
            to: to.to_string(),
            text: text.to_string(),
        }
    }

    fn id(n: u64) -> MessageId {
        MessageId::from_sequence(n)
    }

    /// What the next line to send as alice now is, encoded.
    fn next(outbox: &mut Outbox, now: Instant) -> Option<String> {
        match outbox.next_send("alice", now)? {
            Next::Line(line) => Some(line.encode().trim_end().to_string()),
            other => panic!("expected a line, got {other:?}"),
        }
    }

    /// An outbox on a connection whose server does not know `/tx`, with
    /// `lines` sent on it, untagged.
    fn untagged_sent(lines: &[Outgoing]) -> Outbox {
        let mut outbox = Outbox::with_prefix("p");
        for line in lines {
            outbox.push(line.clone());
        }
        let now = Instant::now();
        next(&mut outbox, now);
        assert!(outbox.tx_refused());
        while next(&mut outbox, now).is_some() {}
        outbox
    }

    /// An outbox on a connection whose server knows `/tx`.
    fn tagging_outbox() -> Outbox {
        let mut outbox = Outbox::with_prefix("p");
        outbox.push(room("probe"));
        let now = Instant::now();
        assert_eq!(
            next(&mut outbox, now).as_deref(),
            Some("/tx p-1 alice<SEP>probe")
        );
        outbox.sent("p-1", id(1));
        outbox.copy_shown("alice", id(1));
        outbox
    }

    #[test]
    fn every_line_is_tagged_with_its_own_id_in_its_room() {
        let mut outbox = tagging_outbox();
        outbox.push(room("one"));
        outbox.push(in_room("#dev", "two"));
        outbox.push(direct("bob", "three"));
        let now = Instant::now();
        assert_eq!(
            next(&mut outbox, now).as_deref(),
            Some("/tx p-2 alice<SEP>one")
        );
        assert_eq!(
            next(&mut outbox, now).as_deref(),
            Some("/tx p-3 /to #dev two")
        );
        assert_eq!(
            next(&mut outbox, now).as_deref(),
            Some("/tx p-4 /msg bob three")
        );
        assert_eq!(next(&mut outbox, now), None);
    }

    #[test]
    fn tx_ids_are_valid_and_differ_between_runs() {
        let (mut a, mut b) = (Outbox::default(), Outbox::default());
        a.push(room("x"));
        b.push(room("x"));
        let (a, b) = (&a.entries[0].tx, &b.entries[0].tx);
        assert!(chat_shared::message::is_tx_id(a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn until_the_first_answer_only_one_line_goes_out() {
        let mut outbox = Outbox::with_prefix("p");
        outbox.push(room("first"));
        outbox.push(room("second"));
        let now = Instant::now();
        assert!(next(&mut outbox, now).is_some());
        assert_eq!(next(&mut outbox, now), None);
        outbox.sent("p-1", id(7));
        assert_eq!(
            next(&mut outbox, now).as_deref(),
            Some("/tx p-2 alice<SEP>second")
        );
    }

    #[test]
    fn a_server_without_tx_gets_the_refused_line_again_untagged_and_the_rest_so() {
        let mut outbox = Outbox::with_prefix("p");
        outbox.push(room("first"));
        outbox.push(direct("bob", "second"));
        let now = Instant::now();
        assert_eq!(
            next(&mut outbox, now).as_deref(),
            Some("/tx p-1 alice<SEP>first")
        );
        assert!(outbox.has_unsent());
        assert!(outbox.tx_refused());
        assert_eq!(next(&mut outbox, now).as_deref(), Some("alice<SEP>first"));
        assert_eq!(next(&mut outbox, now).as_deref(), Some("/msg bob second"));
        assert!(!outbox.has_unsent());
        // Another bad-command says nothing about tagging any more.
        assert!(!outbox.tx_refused());
        // Untagged lines are settled by their copies, oldest first.
        outbox.copy_shown("alice", id(1));
        assert_eq!(
            outbox.not_saved(now),
            Some(Settled::NotStored(direct("bob", "second")))
        );
        // The next connection asks again.
        outbox.connection_lost();
        outbox.push(room("third"));
        assert_eq!(
            next(&mut outbox, now).as_deref(),
            Some("/tx p-3 alice<SEP>third")
        );
    }

    #[test]
    fn an_unsure_line_is_pending_and_goes_again_with_the_same_id_after_a_backoff() {
        let mut outbox = tagging_outbox();
        outbox.push(room("unclear"));
        let now = Instant::now();
        assert_eq!(
            next(&mut outbox, now).as_deref(),
            Some("/tx p-2 alice<SEP>unclear")
        );
        assert_eq!(
            outbox.unsure("p-2", now),
            Some(Settled::Pending(room("unclear")))
        );
        assert_eq!(next(&mut outbox, now), None, "not before its backoff");
        let due = outbox.next_retry().expect("a retry is due");
        assert!(due > now && due < now + Duration::from_secs(1), "{due:?}");
        assert_eq!(
            next(&mut outbox, due).as_deref(),
            Some("/tx p-2 alice<SEP>unclear")
        );
        // Not saved this time: an earlier try may have been, so it waits
        // for another try rather than being given back.
        assert_eq!(outbox.not_saved(due), Some(Settled::Retrying));
        let again = outbox.next_retry().unwrap();
        assert!(
            again - due > Duration::from_millis(400),
            "{:?}",
            again - due
        );
        assert_eq!(
            next(&mut outbox, again).as_deref(),
            Some("/tx p-2 alice<SEP>unclear")
        );
        outbox.sent("p-2", id(9));
        assert_eq!(outbox.next_retry(), None);
        assert_eq!(next(&mut outbox, again + Duration::from_secs(60)), None);
    }

    #[test]
    fn unsent_settles_the_line_it_names_not_the_oldest() {
        let mut outbox = tagging_outbox();
        outbox.push(room("first"));
        outbox.push(room("second"));
        let now = Instant::now();
        next(&mut outbox, now);
        next(&mut outbox, now);
        assert_eq!(
            outbox.unsent("p-3", now),
            Some(Settled::NotStored(room("second")))
        );
        // The first still waits for its own answer.
        outbox.sent("p-2", id(5));
        assert_eq!(outbox.not_saved(now), None, "nothing else awaits");
    }

    #[test]
    fn a_pending_line_gives_up_after_its_last_try() {
        let mut outbox = tagging_outbox();
        outbox.push(room("never confirmed"));
        let mut now = Instant::now();
        for _ in 1..MAX_SENDS {
            assert!(next(&mut outbox, now).is_some());
            assert!(matches!(
                outbox.unsure("p-2", now),
                Some(Settled::Pending(_) | Settled::Retrying)
            ));
            now = outbox.next_retry().unwrap();
        }
        assert!(next(&mut outbox, now).is_some());
        assert_eq!(
            outbox.unsure("p-2", now),
            Some(Settled::Unconfirmed(room("never confirmed")))
        );
        assert_eq!(outbox.next_retry(), None);
    }

    #[test]
    fn a_line_lost_with_the_connection_goes_again_on_the_next_one_with_the_same_id() {
        let mut outbox = tagging_outbox();
        outbox.push(room("in flight"));
        outbox.push(room("typed after"));
        let now = Instant::now();
        next(&mut outbox, now);
        next(&mut outbox, now);
        outbox.connection_lost();
        assert!(
            outbox.replay_over().is_empty(),
            "tagged lines are not given back"
        );
        // The first goes alone: is this server one that knows /tx?
        assert_eq!(
            next(&mut outbox, now).as_deref(),
            Some("/tx p-2 alice<SEP>in flight")
        );
        assert_eq!(next(&mut outbox, now), None);
        // It was stored before the loss: SENT, and no copy.
        outbox.sent("p-2", id(5));
        assert_eq!(
            next(&mut outbox, now).as_deref(),
            Some("/tx p-3 alice<SEP>typed after")
        );
        // A pending line is never given back as not stored.
        assert_eq!(outbox.not_saved(now), Some(Settled::Retrying));
    }

    #[test]
    fn a_pending_line_is_not_sent_untagged() {
        let mut outbox = tagging_outbox();
        outbox.push(room("in flight"));
        let now = Instant::now();
        next(&mut outbox, now);
        outbox.connection_lost();
        // The next server does not know /tx: sending it untagged could
        // store it twice.
        next(&mut outbox, now);
        assert!(outbox.tx_refused());
        assert_eq!(
            outbox.next_send("alice", now),
            Some(Next::Unconfirmed(room("in flight")))
        );
    }

    #[test]
    fn copies_of_tagged_lines_settle_no_untagged_line() {
        let mut outbox = tagging_outbox();
        let long = "x".repeat(DEFAULT_MAX_LINE_BYTES - "alice<SEP>".len());
        outbox.push(room("short"));
        outbox.push(room(&long));
        let now = Instant::now();
        assert!(next(&mut outbox, now).unwrap().starts_with("/tx "));
        // It fits only untagged: it goes so.
        assert_eq!(next(&mut outbox, now), Some(format!("alice<SEP>{long}")));
        outbox.sent("p-2", id(3));
        outbox.copy_shown("alice", id(3));
        // The untagged one is still on its way: a not-saved is about it.
        assert_eq!(outbox.not_saved(now), Some(Settled::NotStored(room(&long))));
    }

    #[test]
    fn copies_and_refusals_answer_the_oldest_untagged_line() {
        let mut outbox = untagged_sent(&[room("first"), direct("bob", "second"), room("third")]);
        let now = Instant::now();
        outbox.copy_shown("bob", id(1));
        outbox.copy_shown("alice", id(2));
        assert_eq!(
            outbox.not_saved(now),
            Some(Settled::NotStored(direct("bob", "second")))
        );
        outbox.copy_shown("alice", id(3));
        assert_eq!(outbox.not_saved(now), None);
    }

    #[test]
    fn a_direct_message_to_nobody_is_found_by_the_name() {
        let mut outbox = tagging_outbox();
        for line in [
            direct("bob", "to bob"),
            room("to the room"),
            direct("Dave", "to dave"),
        ] {
            outbox.push(line);
        }
        let now = Instant::now();
        while next(&mut outbox, now).is_some() {}
        // Refused at once, before the log answers the lines before it.
        assert_eq!(
            outbox.no_such_name("nobody called Dave is online"),
            Some(direct("Dave", "to dave"))
        );
        outbox.sent("p-2", id(4));
        assert_eq!(
            outbox.not_saved(now),
            Some(Settled::NotStored(room("to the room")))
        );
        // Worded otherwise: the oldest direct message it can be.
        outbox.push(direct("erin", "to erin"));
        next(&mut outbox, now);
        assert_eq!(
            outbox.no_such_name("not here"),
            Some(direct("erin", "to erin"))
        );
        assert_eq!(outbox.no_such_name("nobody called erin is online"), None);
    }

    #[test]
    fn a_message_to_a_room_left_elsewhere_is_found_by_the_room() {
        let mut outbox = tagging_outbox();
        outbox.push(in_room("#dev", "to dev"));
        outbox.push(in_room("#ops", "to ops"));
        let now = Instant::now();
        while next(&mut outbox, now).is_some() {}
        assert_eq!(
            outbox.not_in_room("you are not in #Ops; /room join #ops first"),
            Some(in_room("#ops", "to ops"))
        );
        assert_eq!(
            outbox.not_in_room("you are not in #hr"),
            Some(in_room("#dev", "to dev"))
        );
    }

    #[test]
    fn untagged_lines_the_replay_does_not_show_are_given_back() {
        let mut outbox = untagged_sent(&[
            room("stored before the crash"),
            direct("bob", "lost in the crash"),
        ]);
        let now = Instant::now();
        outbox.connection_lost();
        // The replay shows the first; then a line sent after the rejoin,
        // on a server still without /tx.
        outbox.copy_shown("alice", id(1));
        outbox.push(room("after the rejoin"));
        next(&mut outbox, now);
        assert!(outbox.tx_refused());
        next(&mut outbox, now);
        // A refusal on the new connection is never about the lost lines.
        assert_eq!(outbox.no_such_name("nobody called bob is online"), None);
        assert_eq!(outbox.replay_over(), [direct("bob", "lost in the crash")]);
        outbox.copy_shown("alice", id(2));
        assert_eq!(outbox.not_saved(now), None);
    }

    #[test]
    fn an_err_unsure_line_is_settled_by_its_copy() {
        let mut outbox = untagged_sent(&[room("unclear"), room("next")]);
        let now = Instant::now();
        outbox.unsure_untagged();
        // The next not-saved is about the next line, not the unclear one.
        assert_eq!(
            outbox.not_saved(now),
            Some(Settled::NotStored(room("next")))
        );
        outbox.copy_shown("alice", id(8));
        assert!(outbox.replay_over().is_empty());
    }

    #[test]
    fn the_queue_is_bounded_and_leaving_counts_what_is_dropped() {
        let mut outbox = Outbox::default();
        for i in 0..MAX_WAITING_LINES {
            assert_eq!(outbox.queue(room(&i.to_string())), Ok(i + 1));
        }
        assert_eq!(outbox.queue(room("one too many")), Err(QueueFull));
        next(&mut outbox, Instant::now());
        assert_eq!(outbox.discard(), (MAX_WAITING_LINES - 1, 1));
        assert!(!outbox.has_unsent());
    }

    #[test]
    fn lines_sent_under_an_old_name_are_matched_by_it() {
        let mut outbox = untagged_sent(&[room("before")]);
        outbox.connection_lost();
        outbox.copy_shown("alice2", id(1));
        outbox.copy_shown("alice", id(2));
        assert!(outbox.replay_over().is_empty());
    }

    #[test]
    fn a_line_past_the_limit_is_dropped_with_the_limit_for_its_text() {
        let mut outbox = Outbox::default();
        outbox.push(room(&"x".repeat(DEFAULT_MAX_LINE_BYTES)));
        assert_eq!(
            outbox.next_send("alice", Instant::now()),
            Some(Next::TooLong {
                bytes: DEFAULT_MAX_LINE_BYTES,
                limit: DEFAULT_MAX_LINE_BYTES - "alice<SEP>".len()
            })
        );
        assert!(!outbox.has_unsent());
    }

    #[test]
    fn a_direct_message_is_typed_back_as_msg() {
        assert_eq!(direct("bob", "hi there").typed(), "/msg bob hi there");
        assert_eq!(room("hi there").typed(), "hi there");
        assert_eq!(in_room("#dev", "hi there").typed(), "hi there");
    }

    #[test]
    fn a_line_within_the_limit_passes() {
        let text = "x".repeat(DEFAULT_MAX_LINE_BYTES - "alice<SEP>".len());
        assert_eq!(room(&text).too_long("alice"), None);
    }

    #[test]
    fn a_room_message_and_a_direct_message_are_limited_after_their_command() {
        let text = "x".repeat(DEFAULT_MAX_LINE_BYTES);
        assert_eq!(
            direct("bob", &text).too_long("alice"),
            Some(DEFAULT_MAX_LINE_BYTES - "/msg bob ".len())
        );
        assert_eq!(
            in_room("#dev", &text).too_long("alice"),
            Some(DEFAULT_MAX_LINE_BYTES - "/to #dev ".len())
        );
    }
}
