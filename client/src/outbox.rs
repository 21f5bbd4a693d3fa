//! The user's own lines until the room has them: room messages and direct
//! messages typed while the connection is down (kept, bounded, and sent
//! after the rejoin), and those sent but not yet seen coming back from the
//! server. The log answers each one, in order, with its copy (`MSG`, or
//! the `DM` back to its writer) or with `ERR not-saved`, so the oldest line
//! in flight is always the one such an answer is about. A direct message to
//! nobody online is refused at once (`ERR no-such-name`), ahead of the
//! log's answers, and is found by the name it was for. Pure state; the
//! session sends and prints.

use std::collections::VecDeque;

use chat_shared::name::name_key;
use chat_shared::{ClientLine, DEFAULT_MAX_LINE_BYTES};

/// One line of the user's, on its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A message for the room.
    Room(String),
    /// A direct message for one person.
    Direct {
        /// Who it is for, as typed.
        to: String,
        /// What it says.
        text: String,
    },
}

impl Outgoing {
    /// The line on the wire, sent as `name`.
    pub fn wire<'a>(&'a self, name: &'a str) -> ClientLine<'a> {
        match self {
            Outgoing::Room(text) => ClientLine::Say { name, text },
            Outgoing::Direct { to, text } => ClientLine::Direct { to, text },
        }
    }

    /// What it says.
    pub fn text(&self) -> &str {
        match self {
            Outgoing::Room(text) | Outgoing::Direct { text, .. } => text,
        }
    }

    /// The server refuses a line past [`DEFAULT_MAX_LINE_BYTES`]: when this
    /// one, sent as `name`, would be, the most bytes its text may have, so
    /// that the user is told in terms of what they typed.
    pub fn too_long(&self, name: &str) -> Option<usize> {
        // The encoded line ends with `\n`, which the limit does not count.
        let line_bytes = self.wire(name).encode().len() - 1;
        (line_bytes > DEFAULT_MAX_LINE_BYTES)
            .then(|| DEFAULT_MAX_LINE_BYTES - (line_bytes - self.text().len()))
    }

    /// The line that sends it again when typed: what Up-arrow brings back
    /// and what a notice about it quotes.
    pub fn typed(&self) -> String {
        match self {
            Outgoing::Room(text) => text.clone(),
            Outgoing::Direct { to, text } => format!("/msg {to} {text}"),
        }
    }
}

/// Most lines kept while the connection is down. A person types far fewer
/// during any outage; past this the line is refused (and stays in the
/// editor's history), so a paste into a dead link cannot grow without end.
pub const MAX_WAITING_LINES: usize = 100;

/// A line waiting for the connection was refused: the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// The user's lines on their way to the room.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Typed while there was no connection (or no name yet), oldest first.
    waiting: VecDeque<Outgoing>,
    /// Sent, not yet answered: (the name it was sent as, the line).
    in_flight: VecDeque<(String, Outgoing)>,
    /// How many at the front of `in_flight` were sent on a connection that
    /// was since lost: the server may or may not have stored them.
    unsure: usize,
}

impl Outbox {
    /// Keeps a line until the connection is back; returns how many wait.
    pub fn queue(&mut self, line: Outgoing) -> Result<usize, QueueFull> {
        if self.waiting.len() >= MAX_WAITING_LINES {
            return Err(QueueFull);
        }
        self.waiting.push_back(line);
        Ok(self.waiting.len())
    }

    /// Whether any line waits for the connection.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// The waiting lines, oldest first, to be sent now.
    pub fn take_waiting(&mut self) -> Vec<Outgoing> {
        self.waiting.drain(..).collect()
    }

    /// Drops the waiting lines (the user left); returns how many there were.
    pub fn discard_waiting(&mut self) -> usize {
        let dropped = self.waiting.len();
        self.waiting.clear();
        dropped
    }

    /// `line` was sent as `name`.
    pub fn sent(&mut self, name: &str, line: Outgoing) {
        self.in_flight.push_back((name.to_string(), line));
    }

    /// The server's copy of a message (or direct message) from `name` was
    /// shown. If it is ours, the oldest line in flight has arrived.
    pub fn copy_shown(&mut self, name: &str) {
        if self
            .in_flight
            .front()
            .is_some_and(|(sent_as, _)| sent_as == name)
        {
            self.in_flight.pop_front();
            self.unsure = self.unsure.saturating_sub(1);
        }
    }

    /// `ERR not-saved`: the oldest line in flight reached nobody. Returns
    /// it, to give back to the user.
    pub fn not_saved(&mut self) -> Option<Outgoing> {
        let (_, line) = self.in_flight.pop_front()?;
        self.unsure = self.unsure.saturating_sub(1);
        Some(line)
    }

    /// `ERR no-such-name`, whose `detail` names who was not online: the
    /// direct message sent on this connection to that name reached nobody.
    /// The refusal comes ahead of the log's answers to earlier lines, so it
    /// is found by the name, the oldest to it first; failing that (a
    /// server that words it differently), the oldest direct message sent
    /// on this connection, so the count of lines in flight stays right.
    /// Returns it, to give back to the user.
    pub fn no_such_name(&mut self, detail: &str) -> Option<Outgoing> {
        let named: Vec<String> = detail.split_whitespace().map(name_key).collect();
        let directs = || {
            self.in_flight
                .iter()
                .enumerate()
                .skip(self.unsure)
                .filter_map(|(at, (_, line))| match line {
                    Outgoing::Direct { to, .. } => Some((at, name_key(to))),
                    Outgoing::Room(_) => None,
                })
        };
        let at = directs()
            .find(|(_, to)| named.contains(to))
            .or_else(|| directs().next())
            .map(|(at, _)| at)?;
        self.in_flight.remove(at).map(|(_, line)| line)
    }

    /// The connection was lost: what is in flight may never have arrived.
    /// A resumed replay shows those that did ([`Outbox::copy_shown`]).
    pub fn connection_lost(&mut self) {
        self.unsure = self.in_flight.len();
    }

    /// The replay after a reconnect is over: the lines sent before the
    /// loss that it did not show never reached the room. Returns them.
    pub fn replay_over(&mut self) -> Vec<Outgoing> {
        let lost = self.unsure.min(self.in_flight.len());
        self.unsure = 0;
        self.in_flight.drain(..lost).map(|(_, line)| line).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(text: &str) -> Outgoing {
        Outgoing::Room(text.to_string())
    }

    fn direct(to: &str, text: &str) -> Outgoing {
        Outgoing::Direct {
            to: to.to_string(),
            text: text.to_string(),
        }
    }

    #[test]
    fn waiting_lines_come_out_in_order() {
        let mut outbox = Outbox::default();
        assert_eq!(outbox.queue(room("one")), Ok(1));
        assert_eq!(outbox.queue(direct("bob", "two")), Ok(2));
        assert!(outbox.has_waiting());
        assert_eq!(outbox.take_waiting(), [room("one"), direct("bob", "two")]);
        assert!(!outbox.has_waiting());
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut outbox = Outbox::default();
        for i in 0..MAX_WAITING_LINES {
            assert!(outbox.queue(room(&i.to_string())).is_ok());
        }
        assert_eq!(outbox.queue(room("one too many")), Err(QueueFull));
        assert_eq!(outbox.discard_waiting(), MAX_WAITING_LINES);
    }

    #[test]
    fn copies_and_refusals_answer_the_oldest_line() {
        let mut outbox = Outbox::default();
        outbox.sent("alice", room("first"));
        outbox.sent("alice", direct("bob", "second"));
        outbox.sent("alice", room("third"));
        outbox.copy_shown("bob");
        outbox.copy_shown("alice");
        assert_eq!(outbox.not_saved(), Some(direct("bob", "second")));
        outbox.copy_shown("alice");
        assert_eq!(outbox.not_saved(), None);
    }

    #[test]
    fn a_direct_message_to_nobody_is_found_by_the_name() {
        let mut outbox = Outbox::default();
        outbox.sent("alice", direct("bob", "to bob"));
        outbox.sent("alice", room("to the room"));
        outbox.sent("alice", direct("Dave", "to dave"));
        // Refused at once, before the log answers the lines before it.
        assert_eq!(
            outbox.no_such_name("nobody called Dave is online"),
            Some(direct("Dave", "to dave"))
        );
        outbox.copy_shown("alice");
        assert_eq!(outbox.not_saved(), Some(room("to the room")));
        // Worded otherwise: the oldest direct message it can be.
        outbox.sent("alice", direct("erin", "to erin"));
        assert_eq!(
            outbox.no_such_name("not here"),
            Some(direct("erin", "to erin"))
        );
        assert_eq!(outbox.no_such_name("nobody called erin is online"), None);
    }

    #[test]
    fn lines_the_replay_does_not_show_are_given_back() {
        let mut outbox = Outbox::default();
        outbox.sent("alice", room("stored before the crash"));
        outbox.sent("alice", direct("bob", "lost in the crash"));
        outbox.connection_lost();
        // The replay shows the first; then a line sent after the rejoin.
        outbox.copy_shown("alice");
        outbox.sent("alice", room("after the rejoin"));
        // A refusal on the new connection is never about the lost lines.
        assert_eq!(outbox.no_such_name("nobody called bob is online"), None);
        assert_eq!(outbox.replay_over(), [direct("bob", "lost in the crash")]);
        outbox.copy_shown("alice");
        assert_eq!(outbox.not_saved(), None);
    }

    #[test]
    fn lines_sent_under_an_old_name_are_matched_by_it() {
        let mut outbox = Outbox::default();
        outbox.sent("alice", room("before"));
        outbox.connection_lost();
        outbox.copy_shown("alice2");
        outbox.copy_shown("alice");
        assert!(outbox.replay_over().is_empty());
    }

    #[test]
    fn a_direct_message_is_typed_back_as_msg() {
        assert_eq!(direct("bob", "hi there").typed(), "/msg bob hi there");
        assert_eq!(room("hi there").typed(), "hi there");
    }

    #[test]
    fn a_line_within_the_limit_passes() {
        let text = "x".repeat(DEFAULT_MAX_LINE_BYTES - "alice<SEP>".len());
        assert_eq!(room(&text).too_long("alice"), None);
    }

    #[test]
    fn a_line_past_the_limit_gives_the_limit_for_its_text() {
        let text = "x".repeat(DEFAULT_MAX_LINE_BYTES);
        assert_eq!(
            room(&text).too_long("alice"),
            Some(DEFAULT_MAX_LINE_BYTES - "alice<SEP>".len())
        );
    }

    #[test]
    fn a_direct_message_is_limited_after_its_command() {
        let text = "x".repeat(DEFAULT_MAX_LINE_BYTES);
        assert_eq!(
            direct("bob", &text).too_long("alice"),
            Some(DEFAULT_MAX_LINE_BYTES - "/msg bob ".len())
        );
    }
}
