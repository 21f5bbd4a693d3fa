//! The user's own lines until the room has them: those typed while the
//! connection is down (kept, bounded, and sent after the rejoin), and those
//! sent but not yet seen coming back from the server. The server answers
//! each message, in order, with its copy or with `ERR not-saved`, so the
//! oldest line in flight is always the one an answer is about. Pure state;
//! the session sends and prints.

use std::collections::VecDeque;

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
    waiting: VecDeque<String>,
    /// Sent, not yet answered: (the name it was sent as, the text).
    in_flight: VecDeque<(String, String)>,
    /// How many at the front of `in_flight` were sent on a connection that
    /// was since lost: the server may or may not have stored them.
    unsure: usize,
}

impl Outbox {
    /// Keeps a line until the connection is back; returns how many wait.
    pub fn queue(&mut self, text: String) -> Result<usize, QueueFull> {
        if self.waiting.len() >= MAX_WAITING_LINES {
            return Err(QueueFull);
        }
        self.waiting.push_back(text);
        Ok(self.waiting.len())
    }

    /// Whether any line waits for the connection.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// The waiting lines, oldest first, to be sent now.
    pub fn take_waiting(&mut self) -> Vec<String> {
        self.waiting.drain(..).collect()
    }

    /// Drops the waiting lines (the user left); returns how many there were.
    pub fn discard_waiting(&mut self) -> usize {
        let dropped = self.waiting.len();
        self.waiting.clear();
        dropped
    }

    /// `text` was sent as `name`.
    pub fn sent(&mut self, name: &str, text: &str) {
        self.in_flight
            .push_back((name.to_string(), text.to_string()));
    }

    /// The server's copy of a message from `name` was shown. If it is ours,
    /// the oldest line in flight has arrived.
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
    /// its text, to give back to the user.
    pub fn not_saved(&mut self) -> Option<String> {
        let (_, text) = self.in_flight.pop_front()?;
        self.unsure = self.unsure.saturating_sub(1);
        Some(text)
    }

    /// The connection was lost: what is in flight may never have arrived.
    /// A resumed replay shows those that did ([`Outbox::copy_shown`]).
    pub fn connection_lost(&mut self) {
        self.unsure = self.in_flight.len();
    }

    /// The replay after a reconnect is over: the lines sent before the
    /// loss that it did not show never reached the room. Returns them.
    pub fn replay_over(&mut self) -> Vec<String> {
        let lost = self.unsure.min(self.in_flight.len());
        self.unsure = 0;
        self.in_flight.drain(..lost).map(|(_, text)| text).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_lines_come_out_in_order() {
        let mut outbox = Outbox::default();
        assert_eq!(outbox.queue("one".into()), Ok(1));
        assert_eq!(outbox.queue("two".into()), Ok(2));
        assert!(outbox.has_waiting());
        assert_eq!(outbox.take_waiting(), ["one", "two"]);
        assert!(!outbox.has_waiting());
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut outbox = Outbox::default();
        for i in 0..MAX_WAITING_LINES {
            assert!(outbox.queue(i.to_string()).is_ok());
        }
        assert_eq!(outbox.queue("one too many".into()), Err(QueueFull));
        assert_eq!(outbox.discard_waiting(), MAX_WAITING_LINES);
    }

    #[test]
    fn copies_and_refusals_answer_the_oldest_line() {
        let mut outbox = Outbox::default();
        outbox.sent("alice", "first");
        outbox.sent("alice", "second");
        outbox.sent("alice", "third");
        outbox.copy_shown("bob");
        outbox.copy_shown("alice");
        assert_eq!(outbox.not_saved().as_deref(), Some("second"));
        outbox.copy_shown("alice");
        assert_eq!(outbox.not_saved(), None);
    }

    #[test]
    fn lines_the_replay_does_not_show_are_given_back() {
        let mut outbox = Outbox::default();
        outbox.sent("alice", "stored before the crash");
        outbox.sent("alice", "lost in the crash");
        outbox.connection_lost();
        // The replay shows the first; then a line sent after the rejoin.
        outbox.copy_shown("alice");
        outbox.sent("alice", "after the rejoin");
        assert_eq!(outbox.replay_over(), ["lost in the crash"]);
        outbox.copy_shown("alice");
        assert_eq!(outbox.not_saved(), None);
    }

    #[test]
    fn lines_sent_under_an_old_name_are_matched_by_it() {
        let mut outbox = Outbox::default();
        outbox.sent("alice", "before");
        outbox.connection_lost();
        outbox.copy_shown("alice2");
        outbox.copy_shown("alice");
        assert!(outbox.replay_over().is_empty());
    }
}
