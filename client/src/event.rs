//! Everything the main thread waits for, in one type: the threads around
//! it (input, each connect attempt, each connection's I/O thread) report
//! through one channel of these, in the order things happen, and only the
//! main thread acts on them.

use crate::attempt::{ConnectError, Connected};
use crate::input::InputEvent;
use crate::net::Received;

/// One report to the main thread.
#[derive(Debug)]
pub enum Event {
    /// From the input thread.
    Input(InputEvent),
    /// A connect attempt ended.
    Connected {
        /// Which attempt (the link's ID when it started).
        link_id: u64,
        result: Result<Connected, ConnectError>,
    },
    /// From a connection's I/O thread.
    Server {
        /// Which connection (the link's ID when it opened).
        link_id: u64,
        received: Received,
    },
}
