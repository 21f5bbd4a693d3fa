//! What the server says, as [`Frame`]s: encoded lines of our own protocol,
//! shared by every recipient of a broadcast (encoded once, not once per
//! client), and the lines the rules build from stored messages.
//!
//! A frame is always a line of our own protocol; a connection that speaks
//! another dialect gets it rendered by its framing ([`crate::framing`]).
//!
//! Every frame counts itself in and out of [`live_frame_bytes`], so the loop
//! knows exactly how much memory the lines it holds for its desks take, however
//! many queues share each one ([`crate::outbox`] counts the queues' slots).
//! And the replayed line of a stored message is one frame however many
//! desks are sent it ([`HistFrames`]).

use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use chat_shared::message::{Chat, Direct, Found, RoomChat};
use chat_shared::{ErrorCode, MessageId, ServerLine};

use crate::store::{DirectTo, Message};

/// Bytes in every frame alive now, server-wide.
static LIVE_FRAME_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes in every frame alive now: what the lines held for desks take,
/// each counted once however many queues share it.
pub fn live_frame_bytes() -> usize {
    LIVE_FRAME_BYTES.load(Ordering::Relaxed)
}

/// An encoded server line, shared by every recipient's queue: cloning it
/// is a reference count, not a copy.
#[derive(Debug, Clone)]
pub struct Frame(Arc<Bytes>);

/// A frame's bytes; counted out of [`LIVE_FRAME_BYTES`] when the last
/// frame sharing them goes.
#[derive(Debug)]
struct Bytes(Box<[u8]>);

impl Drop for Bytes {
    fn drop(&mut self) {
        LIVE_FRAME_BYTES.fetch_sub(self.0.len(), Ordering::Relaxed);
    }
}

impl Frame {
    /// A frame holding `bytes`.
    pub fn new(bytes: Vec<u8>) -> Frame {
        LIVE_FRAME_BYTES.fetch_add(bytes.len(), Ordering::Relaxed);
        Frame(Arc::new(Bytes(bytes.into_boxed_slice())))
    }

    /// True when both are the same frame (one allocation, shared).
    pub fn ptr_eq(a: &Frame, b: &Frame) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for Frame {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0 .0
    }
}

/// Encodes a server line into a shareable frame.
pub fn encode(line: &ServerLine<'_>) -> Frame {
    Frame::new(line.encode())
}

/// `ERR<SEP>CODE<SEP>DETAIL`.
pub fn error(code: ErrorCode, detail: &str) -> Frame {
    encode(&ServerLine::Error { code, detail })
}

/// `BYE<SEP>REASON`.
pub fn bye(reason: &str) -> Frame {
    encode(&ServerLine::Bye { reason })
}

/// A stored room message as a line.
pub fn chat_of(message: &Message) -> Chat<'_> {
    Chat {
        id: message.id,
        time: &message.time,
        name: &message.name,
        color: message.color,
        text: &message.text,
    }
}

/// A stored direct message as a line.
pub fn direct_of<'a>(message: &'a Message, direct: &'a DirectTo) -> Direct<'a> {
    Direct {
        id: message.id,
        time: &message.time,
        from: &message.name,
        color: message.color,
        to: &direct.to,
        text: &message.text,
    }
}

/// A stored message as it is replayed: `HIST`, `RHIST` (in a room but
/// `#main`) or `HISTDM`.
fn replayed(message: &Message) -> Frame {
    let chat = chat_of(message);
    match (&message.direct, &message.room) {
        (Some(direct), _) => encode(&ServerLine::DirectHistory(direct_of(message, direct))),
        (None, Some(room)) => encode(&ServerLine::RoomHistory(RoomChat { room, chat })),
        (None, None) => encode(&ServerLine::History(chat)),
    }
}

/// How many stored messages' replayed lines are remembered: more than a
/// replay holds, so a crowd resuming from about the same place shares
/// them.
const REMEMBERED_REPLAYS: usize = 4096;

/// The replayed lines (`HIST`, `HISTDM`) of recently stored messages, by
/// message ID, while anyone holds them: a room's history, a queue, a
/// replay. The same message replayed to many desks is then one frame, not
/// one per desk. Holds only weak references: it keeps nothing alive.
#[derive(Debug, Default)]
pub struct HistFrames {
    by_id: HashMap<MessageId, Weak<Bytes>>,
    /// The IDs in the order they were remembered, to forget the oldest.
    order: VecDeque<MessageId>,
}

impl HistFrames {
    /// The replayed line of `message`: the frame already alive for it, or
    /// a new one, remembered.
    pub fn frame(&mut self, message: &Message) -> Frame {
        if let Some(alive) = self.by_id.get(&message.id).and_then(Weak::upgrade) {
            return Frame(alive);
        }
        let frame = replayed(message);
        if self
            .by_id
            .insert(message.id, Arc::downgrade(&frame.0))
            .is_none()
        {
            self.order.push_back(message.id);
        }
        if self.order.len() > REMEMBERED_REPLAYS {
            if let Some(oldest) = self.order.pop_front() {
                self.by_id.remove(&oldest);
            }
        }
        frame
    }
}

/// The answer to a `/search`: `SEARCH`, then a `FOUND` line for each
/// message, oldest first.
pub fn search_results(messages: &[Message]) -> Vec<Frame> {
    let mut frames = vec![encode(&ServerLine::Searched {
        count: messages.len(),
    })];
    frames.extend(messages.iter().map(|message| {
        let chat = chat_of(message);
        match &message.room {
            Some(room) => encode(&ServerLine::RoomFound(RoomChat { room, chat })),
            None => encode(&ServerLine::Found(Found {
                chat,
                to: message.direct.as_ref().map(|direct| direct.to.as_str()),
            })),
        }
    }));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_shared::Color;

    fn message(n: u64) -> Message {
        Message {
            id: MessageId::from_sequence(n),
            time: "t".to_string(),
            name: "alice".to_string(),
            color: Color::for_name("alice"),
            text: "hello".to_string(),
            direct: None,
            tx: None,
            room: None,
        }
    }

    #[test]
    fn a_message_replayed_twice_is_one_frame() {
        let mut frames = HistFrames::default();
        let first = frames.frame(&message(1));
        let again = frames.frame(&message(1));
        assert!(Frame::ptr_eq(&first, &again));
        assert!(first.starts_with(b"HIST<SEP>1<SEP>"));
        assert!(!Frame::ptr_eq(&first, &frames.frame(&message(2))));
    }

    #[test]
    fn a_frame_nobody_holds_is_made_again() {
        let mut frames = HistFrames::default();
        let first = frames.frame(&message(1));
        let bytes = first.to_vec();
        drop(first);
        assert_eq!(frames.frame(&message(1)).to_vec(), bytes);
    }

    #[test]
    fn the_oldest_are_forgotten() {
        let mut frames = HistFrames::default();
        let kept: Vec<Frame> = (0..REMEMBERED_REPLAYS as u64 + 10)
            .map(|n| frames.frame(&message(n)))
            .collect();
        assert_eq!(frames.by_id.len(), REMEMBERED_REPLAYS);
        drop(kept);
    }
}
