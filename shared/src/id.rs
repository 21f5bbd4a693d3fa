//! Message IDs: assigned by the room's log, unique and strictly increasing
//! within a room, opaque to desks except for their order.
//!
//! Two logs assign them: the embedded log counts (`42`), a Redis stream uses
//! its entry IDs (`1732540028123-0`). Both read as one or two numbers joined
//! by `-`, and compare number by number, so a desk can keep the last one it
//! showed and skip anything not newer, whichever log the server uses.

use std::fmt;
use std::str::FromStr;

/// A message's place in its room's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId {
    /// The first number: a sequence number, or a Redis entry's milliseconds.
    major: u64,
    /// The second number, after `-`; 0 when there is none.
    minor: u64,
}

impl MessageId {
    /// The ID of an embedded log's message number `n`.
    pub fn from_sequence(n: u64) -> MessageId {
        MessageId { major: n, minor: 0 }
    }

    /// An ID made of two numbers, as a Redis stream writes `MAJOR-MINOR`.
    pub fn new(major: u64, minor: u64) -> MessageId {
        MessageId { major, minor }
    }

    /// Before every message: resuming after it replays the whole log.
    pub const ZERO: MessageId = MessageId { major: 0, minor: 0 };

    /// The first number.
    pub fn major(self) -> u64 {
        self.major
    }

    /// The second number.
    pub fn minor(self) -> u64 {
        self.minor
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.minor == 0 {
            write!(f, "{}", self.major)
        } else {
            write!(f, "{}-{}", self.major, self.minor)
        }
    }
}

/// A word that is not a message ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMessageId;

impl fmt::Display for BadMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message ID is a number, or two joined by '-'")
    }
}

impl std::error::Error for BadMessageId {}

impl FromStr for MessageId {
    type Err = BadMessageId;

    fn from_str(word: &str) -> Result<MessageId, BadMessageId> {
        let number = |digits: &str| {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BadMessageId);
            }
            digits.parse::<u64>().map_err(|_| BadMessageId)
        };
        match word.split_once('-') {
            Some((major, minor)) => Ok(MessageId::new(number(major)?, number(minor)?)),
            None => Ok(MessageId::from_sequence(number(word)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_ids_round_trip() {
        let id: MessageId = "42".parse().unwrap();
        assert_eq!(id, MessageId::from_sequence(42));
        assert_eq!(id.to_string(), "42");
    }

    #[test]
    fn stream_ids_round_trip() {
        let id: MessageId = "1732540028123-7".parse().unwrap();
        assert_eq!(id, MessageId::new(1_732_540_028_123, 7));
        assert_eq!(id.to_string(), "1732540028123-7");
    }

    #[test]
    fn ids_order_number_by_number() {
        let ids: Vec<MessageId> = ["9", "10", "10-1", "10-2", "11-0"]
            .iter()
            .map(|w| w.parse().unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }

    #[test]
    fn junk_is_not_an_id() {
        for junk in [
            "",
            "-",
            "1-",
            "-1",
            "a",
            "1-2-3",
            "+1",
            " 1",
            "99999999999999999999",
        ] {
            assert_eq!(junk.parse::<MessageId>(), Err(BadMessageId), "{junk:?}");
        }
    }
}
