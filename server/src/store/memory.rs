//! `--db none`: the room's log in memory, as the room was before it had a
//! durable one. Answers at once; keeps the last [`REPLAY_LIMIT`] messages for
//! desks that resume; a restart forgets everything (and starts a new epoch).

use std::collections::{HashMap, VecDeque};
use std::io;

use chat_shared::MessageId;

use super::{
    Asker, Busy, Completion, Draft, Message, ReplayFill, Request, RoomState, Scope, SearchRefusal,
    Store, Tx, REPLAY_LIMIT,
};
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
    /// The desks' own IDs of the newest tagged messages, and what they were
    /// stored as, oldest first, so a resend is not stored twice.
    tx_seen: HashMap<Tx, MessageId>,
    /// The same IDs in the order they came, to forget the oldest.
    tx_order: VecDeque<Tx>,
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
            tx_seen: HashMap::new(),
            tx_order: VecDeque::new(),
            done: Vec::new(),
        }
    }

    /// Stores the drafts, in order, each tagged one once: answers with the
    /// messages stored, and a [`Completion::Duplicate`] for each resend.
    fn append(&mut self, drafts: Vec<Draft>) {
        let mut stored = Vec::with_capacity(drafts.len());
        for draft in drafts {
            if let Some(id) = draft.tx.as_ref().and_then(|tx| self.tx_seen.get(tx)) {
                let id = *id;
                if !stored.is_empty() {
                    self.done
                        .push(Completion::Appended(std::mem::take(&mut stored)));
                }
                self.done.push(Completion::Duplicate { draft, id });
                continue;
            }
            self.last += 1;
            let message = Message::from_draft(draft, MessageId::from_sequence(self.last));
            if let Some(tx) = &message.tx {
                self.remember_tx(tx.clone(), message.id);
            }
            if self.kept.len() == REPLAY_LIMIT {
                self.kept.pop_front();
            }
            self.kept.push_back(message.clone());
            stored.push(message);
        }
        if !stored.is_empty() {
            self.done.push(Completion::Appended(stored));
        }
    }

    /// Remembers what a tagged message was stored as, for as long as the
    /// newest [`REPLAY_LIMIT`] tagged messages.
    fn remember_tx(&mut self, tx: Tx, id: MessageId) {
        if self.tx_order.len() == REPLAY_LIMIT {
            if let Some(oldest) = self.tx_order.pop_front() {
                self.tx_seen.remove(&oldest);
            }
        }
        self.tx_order.push_back(tx.clone());
        self.tx_seen.insert(tx, id);
    }

    /// The kept messages after `after` that `desk` may see, and how many
    /// after it are gone (direct messages among them cannot be told apart
    /// any more, so they count too).
    fn replay(
        &self,
        asker: Asker,
        after: MessageId,
        desk: Option<DeskId>,
        scope: &Scope,
        budget_bytes: usize,
    ) -> Completion {
        let after_first_kept = self
            .kept
            .front()
            .map_or(0, |m| m.id.major().saturating_sub(1));
        let mut fill = ReplayFill::new(budget_bytes);
        for message in self.kept.iter().rev() {
            if message.id > after && message.visible_to(desk, scope) {
                fill.offer(message.clone());
            }
        }
        fill.answer(asker, after_first_kept.saturating_sub(after.major()))
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

    fn rooms(&mut self) -> io::Result<Vec<RoomState>> {
        Ok(Vec::new())
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
            Request::Append(drafts) => {
                self.append(drafts);
                return Ok(());
            }
            Request::Replay {
                asker,
                after,
                desk,
                scope,
                budget_bytes,
            } => self.replay(asker, after, desk, &scope, budget_bytes),
            // Nothing to keep beyond the rules' own state: a restart
            // forgets the rooms with the messages.
            Request::ChangeRoom { change, .. } => Completion::RoomChanged(change),
            // The rules ask only a store that searches.
            Request::Search { asker, .. } => Completion::SearchFailed {
                asker,
                why: SearchRefusal::Failed("this store keeps no search index".to_string()),
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

    use super::super::Draft;
    use super::*;

    fn draft(text: &str) -> Draft {
        Draft {
            from: Asker { conn: 0, serial: 0 },
            time: "t".into(),
            name: "alice".into(),
            color: Color::Red,
            text: text.into(),
            direct: None,
            tx: None,
            room: None,
        }
    }

    fn ids(messages: &[Message]) -> Vec<String> {
        messages.iter().map(|m| m.id.to_string()).collect()
    }

    /// A replay after `after` for `desk`, with room for everything: its
    /// messages and how many were skipped.
    fn replay(log: &MemoryStore, after: MessageId, desk: Option<DeskId>) -> (Vec<Message>, u64) {
        let asker = Asker { conn: 0, serial: 0 };
        match log.replay(asker, after, desk, &Scope::main(), usize::MAX) {
            Completion::Replay {
                messages, skipped, ..
            } => (messages, skipped),
            other => panic!("expected a replay, got {other:?}"),
        }
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
        let (messages, skipped) = replay(&log, MessageId::from_sequence(3), None);
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
        let (messages, skipped) = replay(&log, MessageId::ZERO, None);
        assert_eq!(messages.len(), REPLAY_LIMIT);
        assert_eq!(skipped, 10);
        assert_eq!(messages[0].id, MessageId::from_sequence(11));
    }

    #[test]
    fn a_replay_keeps_the_newest_that_fit_its_budget() {
        let mut log = MemoryStore::new();
        log.submit(Request::Append(
            (0..10).map(|n| draft(&n.to_string())).collect(),
        ))
        .unwrap();
        let one = Message::from_draft(draft("0"), MessageId::ZERO).line_bytes();
        let asker = Asker { conn: 0, serial: 0 };
        let Completion::Replay {
            messages, skipped, ..
        } = log.replay(asker, MessageId::ZERO, None, &Scope::main(), 3 * one)
        else {
            panic!("expected a replay");
        };
        assert_eq!(ids(&messages), ["8", "9", "10"]);
        assert_eq!(skipped, 7);
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
            assert_eq!(
                replay(&log, MessageId::ZERO, desk).0.len(),
                seen,
                "{desk:?}"
            );
        }
        assert_eq!(
            ids(&log.recent(20).unwrap()),
            ["1"],
            "history is the room's only"
        );
    }

    fn tagged(text: &str, id: &str) -> Draft {
        Draft {
            tx: Some(Tx {
                desk: DeskId::of("a"),
                id: id.into(),
            }),
            ..draft(text)
        }
    }

    #[test]
    fn a_tagged_message_sent_again_is_stored_once() {
        let mut log = MemoryStore::new();
        log.submit(Request::Append(vec![tagged("hi", "t1"), draft("other")]))
            .unwrap();
        log.submit(Request::Append(vec![
            tagged("hi", "t1"),
            tagged("new", "t2"),
        ]))
        .unwrap();
        let mut out = Vec::new();
        log.completions(&mut out);
        match &out[..] {
            [Completion::Appended(first), Completion::Duplicate { id, .. }, Completion::Appended(then)] =>
            {
                assert_eq!(ids(first), ["1", "2"]);
                assert_eq!(*id, MessageId::from_sequence(1));
                assert_eq!(ids(then), ["3"]);
            }
            other => panic!("expected a duplicate between two appends, got {other:?}"),
        }
    }

    #[test]
    fn the_same_id_from_another_desk_is_another_message() {
        let mut log = MemoryStore::new();
        let mut other = tagged("hi", "t1");
        other.tx.as_mut().unwrap().desk = DeskId::of("b");
        log.submit(Request::Append(vec![tagged("hi", "t1"), other]))
            .unwrap();
        let mut out = Vec::new();
        log.completions(&mut out);
        assert!(
            matches!(&out[..], [Completion::Appended(stored)] if stored.len() == 2),
            "{out:?}"
        );
    }

    #[test]
    fn each_run_has_its_own_epoch() {
        assert_ne!(MemoryStore::new().epoch(), MemoryStore::new().epoch());
    }
}
