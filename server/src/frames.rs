//! What the server says, as [`Frame`]s: encoded lines of our own protocol,
//! shared by every recipient of a broadcast (encoded once, not once per
//! client), and the lines the rules build from stored messages.
//!
//! A frame is always a line of our own protocol; a connection that speaks
//! another dialect gets it rendered by its framing ([`crate::framing`]).

use std::sync::Arc;

use chat_shared::message::{Chat, Direct, Found};
use chat_shared::{ErrorCode, ServerLine};

use crate::store::{DirectTo, Message};

/// An encoded server line, shared by every recipient's queue.
pub type Frame = Arc<[u8]>;

/// Encodes a server line into a shareable frame.
pub fn encode(line: &ServerLine<'_>) -> Frame {
    Frame::from(line.encode())
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

/// A stored message as it is replayed: `HIST` or `HISTDM`.
pub fn replayed(message: &Message) -> Frame {
    match &message.direct {
        Some(direct) => encode(&ServerLine::DirectHistory(direct_of(message, direct))),
        None => encode(&ServerLine::History(chat_of(message))),
    }
}

/// The answer to a `/search`: `SEARCH`, then a `FOUND` line for each
/// message, oldest first.
pub fn search_results(messages: &[Message]) -> Vec<Frame> {
    let mut frames = vec![encode(&ServerLine::Searched {
        count: messages.len(),
    })];
    frames.extend(messages.iter().map(|message| {
        encode(&ServerLine::Found(Found {
            chat: chat_of(message),
            to: message.direct.as_ref().map(|direct| direct.to.as_str()),
        }))
    }));
    frames
}
