//! What the rules decide and the loop carries out: the one vocabulary
//! between [`crate::chat::Chat`] (no I/O) and whoever drives it (the event
//! loop, or the threads baseline). Every frame here is a line of our own
//! protocol; each connection's framing renders it for its peer.

use chat_shared::MessageId;

use crate::close::CloseReason;
use crate::desk::DeskId;
use crate::frames::Frame;
use crate::ids::{Asker, ConnId};
use crate::room::RoomId;
use crate::store::{Draft, NameClaim};

/// One thing the rules want done.
#[derive(Debug)]
pub enum Effect {
    /// Send this to a connection the rules know is here (the sender of the
    /// line being handled, a member, a desk of a direct message).
    Send(ConnId, Frame),
    /// Send this to the connection that asked, if it is still the one that
    /// asked (an answer that comes back later from the store).
    Answer(Asker, Frame),
    /// Send this to every member of the room, the sender included.
    Broadcast(RoomId, Frame),
    /// Send this to every connection in any room: news about the server
    /// itself (it cannot save messages, it saves again).
    NoticeAll(Frame),
    /// Hand this message to the store; it is delivered once stored.
    Publish(Draft),
    /// Ask the store for what came after `after`, for a desk resuming.
    Replay {
        /// Who asked.
        asker: Asker,
        /// The last message it showed.
        after: MessageId,
        /// The desk it proved to be (its direct messages come too).
        desk: Option<DeskId>,
        /// Most bytes of messages to replay: what the desk may be sent.
        budget_bytes: usize,
    },
    /// Ask the store for the newest messages holding every word.
    Search {
        /// Who asked.
        asker: Asker,
        /// What to look for.
        words: String,
        /// The desk that asks (its direct messages are searched too).
        desk: Option<DeskId>,
    },
    /// Claim this name across the servers sharing the store; the answer
    /// comes back as a completion. The connection's further lines wait.
    Claim(Asker, NameClaim),
    /// Give this name back across the servers; its LEAVE comes back from
    /// the store.
    Release(NameClaim),
    /// Tell the other servers this name's desk changed (`/resume` with an
    /// earlier desk's secret), so their direct messages find it.
    Redesk(NameClaim),
    /// Read on the lines this connection sent while its name was being
    /// claimed.
    ReadOn(ConnId),
    /// Close this connection once what is queued for it is written.
    Close(ConnId, CloseReason),
}
