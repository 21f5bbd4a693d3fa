//! The browser desk: the chat port also answers browsers. An HTTP request
//! (told from a desk's line on its first line, [`is_request_line`]) gets
//! the page and its assets, embedded in the binary ([`page`]), or is
//! upgraded to a WebSocket ([`request`]) whose text messages carry lines of
//! our own protocol ([`socket`]): a browser desk is one of our desks, in
//! frames.
//!
//! Nothing here does I/O: the framing ([`crate::framing`]) hands the lines
//! of a request's head and the bytes of a socket to these types, and the
//! loop sends what they answer.

mod page;
mod request;
mod socket;

pub use request::{is_request_line, same_origin, Reply, Request, MAX_HEAD_BYTES, SOCKET_PATH};
pub use socket::{text_frame, SocketReader, CONTROL_FRAMES_PER_SECOND};

use chat_shared::Line;

use crate::chat::Context;
use crate::close::{AfterLine, CloseReason};
use crate::effect::Effect;
use crate::frames::Frame;

/// Where a request is after one line of its head.
#[derive(Debug)]
pub enum Next {
    /// Its head goes on.
    Reading,
    /// It was answered; the reader stops and the connection closes once
    /// the answer is written.
    Answered(AfterLine),
    /// It became a WebSocket, and its desk entered the room as any desk
    /// of ours does.
    Upgraded,
}

/// Takes one line of `request`'s head from the connection `cx` is about.
pub fn on_head_line(request: &mut Request, line: Line<'_>, cx: &mut Context<'_>) -> Next {
    match request.line(line) {
        None => Next::Reading,
        Some(Reply::Answer { status, bytes }) => {
            cx.effects
                .push(Effect::SendRaw(cx.from.conn, Frame::new(bytes)));
            Next::Answered(AfterLine::Stop(CloseReason::Answered(status)))
        }
        Some(Reply::Upgrade(bytes)) => {
            cx.effects
                .push(Effect::SendRaw(cx.from.conn, Frame::new(bytes)));
            cx.chat.connected(cx.from.conn, cx.effects);
            Next::Upgraded
        }
    }
}
