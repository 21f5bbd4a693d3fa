//! Which chat messages to show, across reconnects: each message once, in
//! the log's order. Remembers the log (its epoch) and the last message ID
//! shown in each room, decides what a returning desk asks `/resume` for,
//! holds back what arrives before the server's `RESUME` answer, and counts
//! the replay that follows it, to tell when it is over. Pure state; `view`
//! feeds it and prints what it lets through.
//!
//! IDs are one sequence across rooms, and the server delivers in that
//! order, so the newest ID shown anywhere is where a returning desk
//! resumes. Each room is counted on its own all the same: a room's history,
//! shown on entering it, is older than what the desk showed elsewhere and
//! still new here.

use std::collections::BTreeMap;

use chat_shared::room::{room_key, MAIN_ROOM};
use chat_shared::MessageId;

/// What to print above a replayed message that starts a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayHeader {
    /// The newcomer's history, or another log's.
    Recent,
    /// What happened while this desk was away.
    Missed,
}

/// What to do with a message: `MSG`, `HIST`, `DM` or `HISTDM` (direct
/// messages are numbered in the same log, and counted with `#main`), or
/// `RMSG` and `RHIST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New: show it, after this header if there is one.
    Show(Option<ReplayHeader>),
    /// Already shown, or held back until the `RESUME` answer (whose replay
    /// will include it): show nothing.
    Skip,
}

/// How the server answered `/resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// Same log: what was missed follows; `skipped` older ones were too
    /// many to replay.
    Missed {
        /// Messages missed and not replayed.
        skipped: u64,
    },
    /// Another log (the server lost or replaced its own): IDs cannot be
    /// compared, and its recent history follows instead.
    OtherLog,
}

/// The desk's place in the room's log.
#[derive(Debug, Default)]
pub struct Feed {
    /// The log the IDs below belong to, once a `WELCOME` or `RESUME` named it.
    epoch: Option<String>,
    /// The newest message shown in each room, by the room's key; direct
    /// messages count with `#main`.
    last_shown: BTreeMap<String, MessageId>,
    /// From reconnecting until the `RESUME` answer: every message is held
    /// back, since the replay after the answer holds them all.
    awaiting_resume: bool,
    /// The header still to print before the next replayed message.
    header: Option<ReplayHeader>,
    /// After the `RESUME` answer, the replayed lines still to come: until
    /// they are in, the replay may still show lines sent before the loss.
    replay_left: Option<u64>,
}

impl Feed {
    /// A connection was just opened. Returns what to ask `/resume` for once
    /// joined: the log and the last message shown. A desk that knows the
    /// log but showed nothing yet resumes after message zero: its log was
    /// empty when it came (else it would have shown the history), so all
    /// of it is what it missed; and only a `/resume` presents the desk's
    /// secret, which ties direct messages to it, not to whoever holds the
    /// name.
    pub fn connection_opened(&mut self) -> Option<(String, MessageId)> {
        let newest = self.last_shown.values().max().copied();
        let resume_from = self
            .epoch
            .clone()
            .map(|epoch| (epoch, newest.unwrap_or(MessageId::ZERO)));
        self.awaiting_resume = resume_from.is_some();
        // A newcomer is shown the history the server sends on connect,
        // like anyone else.
        self.header = Some(ReplayHeader::Recent);
        resume_from
    }

    /// `WELCOME` named the log. While a resume is pending the log we asked
    /// about stays ours until the answer says otherwise.
    pub fn welcomed(&mut self, epoch: &str) {
        if !self.awaiting_resume {
            self.epoch = Some(epoch.to_string());
        }
    }

    /// The `RESUME` answer came: from now on messages are shown again, and
    /// `replayed` lines of replay follow.
    pub fn resumed(&mut self, epoch: &str, skipped: u64, replayed: u64) -> Resumed {
        self.awaiting_resume = false;
        self.replay_left = Some(replayed);
        if self.epoch.as_deref() == Some(epoch) {
            self.header = Some(ReplayHeader::Missed);
            Resumed::Missed { skipped }
        } else {
            self.epoch = Some(epoch.to_string());
            self.last_shown.clear();
            self.header = Some(ReplayHeader::Recent);
            Resumed::OtherLog
        }
    }

    /// Whether the replay the `RESUME` answer announced is still coming.
    pub fn replaying(&self) -> bool {
        self.replay_left.is_some()
    }

    /// Counts one replayed line, shown or not; true when it was the last
    /// one the `RESUME` answer announced, which ends the replay.
    pub fn count_replayed(&mut self) -> bool {
        let Some(left) = self.replay_left.as_mut() else {
            return false;
        };
        *left = left.saturating_sub(1);
        if *left > 0 {
            return false;
        }
        self.replay_left = None;
        true
    }

    /// The replay is over, or will not come (the connection was lost).
    pub fn end_replay(&mut self) {
        self.replay_left = None;
    }

    /// Whether to show the message `id` of `room` (`None`: `#main`, or a
    /// direct message); `replayed` for `HIST`, `HISTDM` and `RHIST`.
    pub fn admit(&mut self, room: Option<&str>, id: MessageId, replayed: bool) -> Verdict {
        let key = room_key(room.unwrap_or(MAIN_ROOM));
        if self.awaiting_resume || self.last_shown.get(&key).is_some_and(|last| id <= *last) {
            return Verdict::Skip;
        }
        self.last_shown.insert(key, id);
        if replayed {
            Verdict::Show(self.header.take())
        } else {
            // Live traffic ends any replay; a later one gets its own header.
            self.header = None;
            Verdict::Show(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> MessageId {
        MessageId::from_sequence(n)
    }

    fn shown(verdict: Verdict) -> bool {
        matches!(verdict, Verdict::Show(_))
    }

    /// A desk that joined log "e1" and showed messages 1 to 3.
    fn desk_that_saw_three() -> Feed {
        let mut feed = Feed::default();
        assert_eq!(feed.connection_opened(), None);
        assert_eq!(
            feed.admit(None, id(1), true),
            Verdict::Show(Some(ReplayHeader::Recent))
        );
        assert_eq!(feed.admit(None, id(2), true), Verdict::Show(None));
        feed.welcomed("e1");
        assert_eq!(feed.admit(None, id(3), false), Verdict::Show(None));
        feed
    }

    #[test]
    fn a_newcomer_sees_everything_once_in_order() {
        let mut feed = desk_that_saw_three();
        assert_eq!(feed.admit(None, id(3), false), Verdict::Skip);
        assert_eq!(feed.admit(None, id(2), false), Verdict::Skip);
        assert!(shown(feed.admit(None, id(4), false)));
    }

    #[test]
    fn a_returning_desk_resumes_after_the_last_shown() {
        let mut feed = desk_that_saw_three();
        assert_eq!(feed.connection_opened(), Some(("e1".to_string(), id(3))));
    }

    #[test]
    fn everything_before_the_resume_answer_is_held_back() {
        let mut feed = desk_that_saw_three();
        feed.connection_opened();
        // The on-connect history and a live message, before the answer.
        assert_eq!(feed.admit(None, id(2), true), Verdict::Skip);
        assert_eq!(feed.admit(None, id(5), false), Verdict::Skip);
        feed.welcomed("e1");
        assert_eq!(feed.resumed("e1", 0, 0), Resumed::Missed { skipped: 0 });
        // The replay holds 4 and 5; each is shown once, under one header.
        assert_eq!(
            feed.admit(None, id(4), true),
            Verdict::Show(Some(ReplayHeader::Missed))
        );
        assert_eq!(feed.admit(None, id(5), true), Verdict::Show(None));
        assert_eq!(feed.admit(None, id(5), false), Verdict::Skip);
        assert!(shown(feed.admit(None, id(6), false)));
    }

    #[test]
    fn another_log_forgets_the_last_id() {
        let mut feed = desk_that_saw_three();
        feed.connection_opened();
        feed.welcomed("e2");
        assert_eq!(feed.resumed("e2", 0, 0), Resumed::OtherLog);
        // The new log counts from 1 again: its history is shown.
        assert_eq!(
            feed.admit(None, id(1), true),
            Verdict::Show(Some(ReplayHeader::Recent))
        );
        // And the next reconnect resumes in the new log.
        assert_eq!(feed.connection_opened(), Some(("e2".to_string(), id(1))));
    }

    #[test]
    fn skipped_count_is_passed_on() {
        let mut feed = desk_that_saw_three();
        feed.connection_opened();
        assert_eq!(feed.resumed("e1", 12, 0), Resumed::Missed { skipped: 12 });
    }

    #[test]
    fn a_desk_that_showed_nothing_resumes_from_the_start() {
        let mut feed = Feed::default();
        assert_eq!(feed.connection_opened(), None);
        feed.welcomed("e1");
        assert_eq!(
            feed.connection_opened(),
            Some(("e1".to_string(), MessageId::ZERO))
        );
        assert_eq!(feed.admit(None, id(1), true), Verdict::Skip);
        assert_eq!(feed.resumed("e1", 0, 0), Resumed::Missed { skipped: 0 });
        assert_eq!(
            feed.admit(None, id(1), true),
            Verdict::Show(Some(ReplayHeader::Missed))
        );
    }

    #[test]
    fn a_loss_before_the_answer_resumes_from_the_same_place() {
        let mut feed = desk_that_saw_three();
        feed.connection_opened();
        assert_eq!(feed.admit(None, id(7), false), Verdict::Skip);
        assert_eq!(feed.connection_opened(), Some(("e1".to_string(), id(3))));
    }

    #[test]
    fn the_replay_ends_with_the_last_line_announced() {
        let mut feed = desk_that_saw_three();
        feed.connection_opened();
        feed.resumed("e1", 0, 2);
        assert!(feed.replaying());
        assert!(!feed.count_replayed());
        assert!(feed.count_replayed());
        assert!(!feed.replaying());
    }

    #[test]
    fn replayed_lines_before_the_resume_answer_count_for_nothing() {
        let mut feed = desk_that_saw_three();
        feed.connection_opened();
        assert!(!feed.count_replayed());
        assert!(!feed.replaying());
    }

    #[test]
    fn a_rooms_history_is_shown_though_older_than_what_main_showed() {
        let mut feed = desk_that_saw_three();
        // Entering #dev: its history is older than main's last message.
        assert!(shown(feed.admit(Some("#dev"), id(2), true)));
        assert_eq!(feed.admit(Some("#Dev"), id(2), true), Verdict::Skip);
        assert!(shown(feed.admit(Some("#dev"), id(4), false)));
        assert_eq!(feed.admit(None, id(3), false), Verdict::Skip);
        // A returning desk resumes after the newest shown anywhere.
        assert!(shown(feed.admit(None, id(5), false)));
        assert!(shown(feed.admit(Some("#dev"), id(6), false)));
        assert_eq!(feed.connection_opened(), Some(("e1".to_string(), id(6))));
    }

    #[test]
    fn an_ended_replay_counts_no_more() {
        let mut feed = desk_that_saw_three();
        feed.connection_opened();
        feed.resumed("e1", 0, 5);
        feed.end_replay();
        assert!(!feed.replaying());
        assert!(!feed.count_replayed());
    }
}
