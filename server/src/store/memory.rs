//! `--db none`: the room's log in memory, as the room was before it had a
//! durable one. Answers at once; keeps the last [`REPLAY_LIMIT`] messages for
//! desks that resume; a restart forgets everything (and starts a new epoch).

use std::collections::VecDeque;
use std::io;

use chat_shared::MessageId;

use super::{Busy, Completion, Message, Request, Store, REPLAY_LIMIT};
use crate::desk::DeskId;

/// A log that lives and dies with the process.
#[derive(Debug)]
pub struct MemoryStore {
    /// A fresh name for each run: IDs restart at 1.
    epoch: String,
    /// The last message's number.
    last: u64,
    /// The newest messages, oldest first, for replays.
    kept: VecDeque<Message>,
    /// Answers not yet collected.
    done: Vec<Completion>,
}

impl MemoryStore {
    /// An empty log with a new epoch.
    pub fn new() -> MemoryStore {
        MemoryStore {
            epoch: super::new_epoch(),
            last: 0,
            kept: VecDeque::new(),
            done: Vec::new(),
        }
    }

    fn append(&mut self, drafts: Vec<super::Draft>) -> Vec<Message> {
        drafts
            .into_iter()
            .map(|draft| {
                self.last += 1;
                let message = Message::from_draft(draft, MessageId::from_sequence(self.last));
                if self.kept.len() == REPLAY_LIMIT {
                    self.kept.pop_front();
                }
                self.kept.push_back(message.clone());
                message
            })
            .collect()
    }

    /// The kept messages after `after` that `desk` may see, and how many
    /// after it are gone (direct messages among them cannot be told apart
    /// any more, so they count too).
    fn replay(&self, after: MessageId, desk: Option<DeskId>) -> (Vec<Message>, u64) {
        let after_first_kept = self
            .kept
            .front()
            .map_or(0, |m| m.id.major().saturating_sub(1));
        let messages: Vec<Message> = self
            .kept
            .iter()
            .filter(|message| message.id > after && message.visible_to(desk))
            .cloned()
            .collect();
        let skipped = after_first_kept.saturating_sub(after.major());
        (messages, skipped)
    }
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new()
    }
}

impl Store for MemoryStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn describe(&self) -> String {
        "in memory only (--db none): a restart forgets the room".to_string()
    }

    fn can_search(&self) -> bool {
        false
    }

    fn recent(&mut self, limit: usize) -> io::Result<Vec<Message>> {
        let mut recent: Vec<Message> = self
            .kept
            .iter()
            .rev()
            .filter(|message| message.direct.is_none())
            .take(limit)
            .cloned()
            .collect();
        recent.reverse();
        Ok(recent)
    }

    fn submit(&mut self, request: Request) -> Result<(), Busy> {
        let completion = match request {
            Request::Append(drafts) => Completion::Appended(self.append(drafts)),
            Request::Replay { asker, after, desk } => {
                let (messages, skipped) = self.replay(after, desk);
                Completion::Replay {
                    asker,
                    messages,
                    skipped,
                }
            }
            Request::Search { asker, .. } => Completion::SearchFailed {
                asker,
                error:
                    "search needs the room's log; this server keeps the room in memory (--db none)"
                        .to_string(),
            },
        };
        self.done.push(completion);
        Ok(())
    }

    fn completions(&mut self, out: &mut Vec<Completion>) {
        out.append(&mut self.done);
    }

    fn close(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.done)
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::Color;

    use super::super::{Asker, Draft};
    use super::*;

    fn draft(text: &str) -> Draft {
        Draft {
            from: Asker { conn: 0, serial: 0 },
            time: "t".into(),
            name: "alice".into(),
            color: Color::Red,
            text: text.into(),
            direct: None,
        }
    }

    fn ids(messages: &[Message]) -> Vec<String> {
        messages.iter().map(|m| m.id.to_string()).collect()
    }

    #[test]
    fn ids_count_up_from_one() {
        let mut log = MemoryStore::new();
        log.submit(Request::Append(vec![draft("a"), draft("b")]))
            .unwrap();
        let mut out = Vec::new();
        log.completions(&mut out);
        let [Completion::Appended(messages)] = &out[..] else {
            panic!("expected one append, got {out:?}");
        };
        assert_eq!(ids(messages), ["1", "2"]);
    }

    #[test]
    fn replay_gives_what_came_after() {
        let mut log = MemoryStore::new();
        log.submit(Request::Append(
            (0..5).map(|n| draft(&n.to_string())).collect(),
        ))
        .unwrap();
        let (messages, skipped) = log.replay(MessageId::from_sequence(3), None);
        assert_eq!(ids(&messages), ["4", "5"]);
        assert_eq!(skipped, 0);
    }

    #[test]
    fn replay_counts_what_it_no_longer_keeps() {
        let mut log = MemoryStore::new();
        let drafts = (0..REPLAY_LIMIT + 10)
            .map(|n| draft(&n.to_string()))
            .collect();
        log.submit(Request::Append(drafts)).unwrap();
        let (messages, skipped) = log.replay(MessageId::ZERO, None);
        assert_eq!(messages.len(), REPLAY_LIMIT);
        assert_eq!(skipped, 10);
        assert_eq!(messages[0].id, MessageId::from_sequence(11));
    }

    #[test]
    fn direct_messages_replay_only_to_their_desks() {
        let mut log = MemoryStore::new();
        let (alice, bob, eve) = (DeskId::of("a"), DeskId::of("b"), DeskId::of("e"));
        let mut secret = draft("psst");
        secret.direct = Some(super::super::DirectTo {
            to: "bob".into(),
            from_desk: alice,
            to_desk: bob,
        });
        log.submit(Request::Append(vec![draft("room"), secret]))
            .unwrap();
        for (desk, seen) in [(Some(alice), 2), (Some(bob), 2), (Some(eve), 1), (None, 1)] {
            assert_eq!(log.replay(MessageId::ZERO, desk).0.len(), seen, "{desk:?}");
        }
        assert_eq!(
            ids(&log.recent(20).unwrap()),
            ["1"],
            "history is the room's only"
        );
    }

    #[test]
    fn each_run_has_its_own_epoch() {
        assert_ne!(MemoryStore::new().epoch(), MemoryStore::new().epoch());
    }
}
