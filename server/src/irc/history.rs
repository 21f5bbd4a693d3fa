//! `CHATHISTORY` (IRCv3 `draft/chathistory`) from the room's log: the same
//! replay our desks' `/resume` gets ([`crate::store::Request::Replay`]: the
//! newest messages after an ID that fit the replay budget, at most
//! [`crate::store::REPLAY_LIMIT`]), cut to what the client asked for and sent
//! in a `chathistory` batch.
//!
//! The replay comes back as our lines (`RESUME`, then one `HIST` or `RHIST`
//! each), sent to this client alone; [`Pending`] collects them as they are
//! rendered and writes the answer after the last. Direct messages are not
//! served: an IRC client has no desk secret to prove it wrote them.

use chat_shared::message::Chat as Said;
use chat_shared::MessageId;

/// Most messages one `CHATHISTORY` answers with (`005 CHATHISTORY`).
pub const MAX_LIMIT: usize = 1000;

/// Where a query starts or ends: a message, or a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// `msgid=EPOCH/ID`, of this log.
    Id(MessageId),
    /// `timestamp=...`, as our times are written.
    Time(String),
}

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The newest, after the anchor if one is given.
    Latest(Option<Anchor>),
    /// The newest before the anchor.
    Before(Anchor),
    /// The oldest after the anchor.
    After(Anchor),
    /// Those nearest the anchor, either side.
    Around(Anchor),
    /// Those between the two anchors, from the first's side.
    Between(Anchor, Anchor),
}

/// One message of the replay, as this module needs it.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: MessageId,
    pub time: String,
    pub name: String,
    pub text: String,
}

impl Found {
    /// A replayed line's message.
    pub fn of(said: &Said<'_>) -> Found {
        Found {
            id: said.id,
            time: said.time.to_string(),
            name: said.name.to_string(),
            text: said.text.to_string(),
        }
    }

    /// Where it stands against `anchor`.
    fn cmp(&self, anchor: &Anchor) -> std::cmp::Ordering {
        match anchor {
            Anchor::Id(id) => self.id.cmp(id),
            Anchor::Time(time) => self.time.as_str().cmp(time.as_str()),
        }
    }
}

/// A query on its way: asked, and being answered line by line.
#[derive(Debug)]
pub struct Pending {
    /// The channel, as the client wrote it.
    pub target: String,
    pub kind: Kind,
    pub limit: usize,
    /// How many replayed lines come (from `RESUME`), once known.
    pub expected: Option<u64>,
    /// Replayed lines seen so far.
    pub seen: u64,
    /// Those of the target's room.
    pub found: Vec<Found>,
}

impl Pending {
    /// Whether every replayed line has come.
    pub fn is_complete(&self) -> bool {
        self.expected.is_some_and(|expected| self.seen >= expected)
    }

    /// The messages to answer with, oldest first.
    pub fn answer(&self) -> &[Found] {
        let all = &self.found[..];
        let after = |anchor: &Anchor| all.partition_point(|m| m.cmp(anchor).is_le());
        let before = |anchor: &Anchor| all.partition_point(|m| m.cmp(anchor).is_lt());
        let newest = |slice: &'_ [Found]| -> (usize, usize) {
            (slice.len().saturating_sub(self.limit), slice.len())
        };
        let (start, end) = match &self.kind {
            Kind::Latest(None) => newest(all),
            Kind::Latest(Some(anchor)) => {
                let from = after(anchor);
                let (start, end) = newest(&all[from..]);
                (from + start, from + end)
            }
            Kind::Before(anchor) => newest(&all[..before(anchor)]),
            Kind::After(anchor) => {
                let from = after(anchor);
                (from, (from + self.limit).min(all.len()))
            }
            Kind::Around(anchor) => {
                let middle = before(anchor);
                let start = middle.saturating_sub(self.limit / 2);
                (start, (start + self.limit).min(all.len()))
            }
            Kind::Between(first, second) => {
                let (low, high, from_low) = match first.cmp_anchor(second) {
                    std::cmp::Ordering::Greater => (second, first, false),
                    _ => (first, second, true),
                };
                let (from, to) = (after(low), before(high).max(after(low)));
                match from_low {
                    true => (from, (from + self.limit).min(to)),
                    false => (to.saturating_sub(self.limit).max(from), to),
                }
            }
        };
        &all[start..end]
    }
}

impl Anchor {
    /// Reads `msgid=EPOCH/ID` (of the log `epoch`) or `timestamp=TIME`.
    pub fn parse(text: &str, epoch: &str) -> Option<Anchor> {
        if let Some(id) = text.strip_prefix("msgid=") {
            let (given, id) = id.split_once('/')?;
            return (given == epoch).then(|| id.parse().ok().map(Anchor::Id))?;
        }
        let time = text.strip_prefix("timestamp=")?;
        chrono::DateTime::parse_from_rfc3339(time).ok()?;
        Some(Anchor::Time(time.to_string()))
    }

    fn cmp_anchor(&self, other: &Anchor) -> std::cmp::Ordering {
        match (self, other) {
            (Anchor::Id(a), Anchor::Id(b)) => a.cmp(b),
            (Anchor::Time(a), Anchor::Time(b)) => a.cmp(b),
            _ => std::cmp::Ordering::Equal,
        }
    }

    /// The ID to replay after: the anchor's own for an ID, the start of the
    /// log for a time (the replay then holds the newest messages).
    pub fn replay_after(&self) -> MessageId {
        match self {
            Anchor::Id(id) => *id,
            Anchor::Time(_) => MessageId::from_sequence(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(kind: Kind, limit: usize) -> Pending {
        Pending {
            target: "#dev".into(),
            kind,
            limit,
            expected: Some(10),
            seen: 10,
            found: (1..=10)
                .map(|n| Found {
                    id: MessageId::from_sequence(n),
                    time: format!("2026-12-07T00:00:{n:02}.000Z"),
                    name: "bob".into(),
                    text: format!("m{n}"),
                })
                .collect(),
        }
    }

    fn texts(pending: &Pending) -> Vec<String> {
        pending.answer().iter().map(|m| m.text.clone()).collect()
    }

    fn id(n: u64) -> Anchor {
        Anchor::Id(MessageId::from_sequence(n))
    }

    #[test]
    fn each_kind_takes_its_side_of_the_anchor() {
        assert_eq!(texts(&pending(Kind::Latest(None), 3)), ["m8", "m9", "m10"]);
        assert_eq!(texts(&pending(Kind::Latest(Some(id(8))), 5)), ["m9", "m10"]);
        assert_eq!(texts(&pending(Kind::Before(id(5)), 2)), ["m3", "m4"]);
        assert_eq!(texts(&pending(Kind::After(id(5)), 2)), ["m6", "m7"]);
        assert_eq!(
            texts(&pending(Kind::Around(id(5)), 4)),
            ["m3", "m4", "m5", "m6"]
        );
        assert_eq!(
            texts(&pending(Kind::Between(id(2), id(6)), 2)),
            ["m3", "m4"]
        );
        assert_eq!(
            texts(&pending(Kind::Between(id(6), id(2)), 2)),
            ["m4", "m5"]
        );
        let time = Anchor::Time("2026-12-07T00:00:05.000Z".into());
        assert_eq!(texts(&pending(Kind::Before(time), 1)), ["m4"]);
    }

    #[test]
    fn anchors_are_of_this_log() {
        assert_eq!(Anchor::parse("msgid=e1/7", "e1"), Some(id(7)));
        assert_eq!(Anchor::parse("msgid=e2/7", "e1"), None);
        assert!(Anchor::parse("timestamp=2026-12-07T00:00:05.000Z", "e1").is_some());
        assert_eq!(Anchor::parse("timestamp=yesterday", "e1"), None);
        assert_eq!(Anchor::parse("*", "e1"), None);
    }
}
