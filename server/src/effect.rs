//! What the rules decide and the loop carries out: the one vocabulary
//! between [`crate::chat::Chat`] (no I/O) and whoever drives it (the event
//! loop, or the threads baseline). Every frame here is a line of our own
//! protocol; each connection's framing renders it for its peer.

use crate::close::CloseReason;
use crate::frames::Frame;
use crate::ids::{Asker, ConnId};
use crate::room::RoomId;
use crate::store::{Draft, NameClaim, Request};

/// One thing the rules want done.
#[derive(Debug)]
pub enum Effect {
    /// Send this to a connection the rules know is here (the sender of the
    /// line being handled, a member, a desk of a direct message).
    Send(ConnId, Frame),
    /// Send this to the connection that asked, if it is still the one that
    /// asked (an answer that comes back later from the store).
    Answer(Asker, Frame),
    /// Send this to every member of the room.
    Broadcast(RoomId, Frame),
    /// A stored message for every member of its room; its sender (when it
    /// is here) gets it as its own copy, which a dialect may not want (an
    /// IRC client without `echo-message`).
    Message {
        /// The room.
        room: RoomId,
        /// The message's line.
        frame: Frame,
        /// The connection that said it, if it is here.
        sender: Option<ConnId>,
    },
    /// A direct message's copy for its writer: sent as [`Effect::Send`],
    /// unless the writer's dialect does not want its own copies.
    Copy(ConnId, Frame),
    /// Send this as it is: a line already in the connection's own dialect
    /// (an IRC reply), not one of our lines to render.
    SendRaw(ConnId, Frame),
    /// Send this to every member of the room but one (who is told its own
    /// way).
    BroadcastOthers(RoomId, ConnId, Frame),
    /// A leaver's `LEAVE` for a connection that shared a room with it:
    /// sent only if that connection does not hear `#main` (an IRC client
    /// that is not in `#main`), since `#main`'s broadcast tells everyone
    /// else.
    Departure(ConnId, Frame),
    /// Send this to every connection in any room: news about the server
    /// itself (it cannot save messages, it saves again).
    NoticeAll(Frame),
    /// Hand this message to the store; it is delivered once stored.
    Publish(Draft),
    /// Ask the store for something whose answer comes back later: a replay
    /// for a desk resuming, a search, a change to the rooms. If the store is
    /// too far behind to take it, the rules say what instead
    /// ([`crate::chat::Chat::unavailable`]).
    Ask(Request),
    /// Claim this name across the servers sharing the store, for a desk new
    /// or coming back (`returning`); the answer comes back as a completion.
    /// The connection's further lines wait.
    Claim {
        /// Who asked.
        asker: Asker,
        /// The name.
        claim: NameClaim,
        /// Whether the desk comes back with its secret.
        returning: bool,
    },
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
