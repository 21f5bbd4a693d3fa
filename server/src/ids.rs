//! How the rest of the server names a connection without holding it: its
//! key in the loop's slab ([`ConnId`]) and, for answers that come back later
//! (from the store, from another server), that key with the serial number
//! that tells it apart from a later connection given the same key
//! ([`Asker`]).

/// Identifies a connection to the rules ([`crate::chat::Chat`]); the caller
/// chooses it (the event loop uses its slab key, the threads mode a counter).
pub type ConnId = usize;

/// Which connection asked, as the loop knows it: its slab key, and a serial
/// number that tells it apart from a later connection given the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Asker {
    /// The connection's slab key.
    pub conn: ConnId,
    /// The connection's serial number, unique for the server's life.
    pub serial: u64,
}
