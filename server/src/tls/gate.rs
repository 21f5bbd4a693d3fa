//! How many TLS handshakes the loop runs at once.
//!
//! A handshake holds a few kilobytes of rustls state for a round trip or
//! two. When ten thousand desks reconnect at once, running every handshake
//! together holds all of that at the same time, and the heap it leaves
//! behind, in holes between what the desks keep, is not handed back to the
//! system: measured here, 10,000 TLS desks arriving at once left the server
//! at 35 MiB of RSS with 18 MiB in use; arriving a few hundred at a time,
//! at 21 MiB. Past the limit, a newcomer's ClientHello waits, unread, in its
//! socket, and the loop comes back to it, oldest first, as handshakes end.
//! The work is the same; only its order changes.

use std::collections::VecDeque;

use crate::ids::ConnId;

/// Handshakes run at once: enough to keep the loop busy while clients
/// answer (a loopback round trip is microseconds, a client's share of a
/// handshake about a hundred), few enough that their state is about a
/// megabyte.
pub const HANDSHAKES_AT_ONCE: usize = 256;

/// The handshakes running, and the newcomers waiting for one to end.
#[derive(Debug, Default)]
pub struct HandshakeGate {
    running: usize,
    /// Connections whose handshake waits, oldest first, by id and serial.
    /// A connection may be listed twice (a readiness event while it
    /// waits): whoever takes the next one skips those already going.
    waiting: VecDeque<(ConnId, u64)>,
}

impl HandshakeGate {
    /// True when a newcomer may start its handshake now: a place is free
    /// and nobody waits for one.
    pub fn has_room_for_newcomer(&self) -> bool {
        self.has_free_place() && self.waiting.is_empty()
    }

    /// True when a handshake may start now (the one of a connection that
    /// waited).
    pub fn has_free_place(&self) -> bool {
        self.running < HANDSHAKES_AT_ONCE
    }

    /// True when someone waits and a place is free for them.
    pub fn may_begin_one_waiting(&self) -> bool {
        self.has_free_place() && !self.waiting.is_empty()
    }

    /// A handshake started.
    pub fn started(&mut self) {
        self.running += 1;
    }

    /// A handshake ended (done, failed, or its connection gone).
    pub fn ended(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// Connection `id` (serial `serial`) waits for a place.
    pub fn wait(&mut self, id: ConnId, serial: u64) {
        self.waiting.push_back((id, serial));
    }

    /// The connection that has waited longest and, as `still_waiting`
    /// says, still waits.
    pub fn next_waiting(
        &mut self,
        mut still_waiting: impl FnMut(ConnId, u64) -> bool,
    ) -> Option<ConnId> {
        while let Some((id, serial)) = self.waiting.pop_front() {
            if still_waiting(id, serial) {
                return Some(id);
            }
        }
        // A storm's queue gives its memory back.
        self.waiting = VecDeque::new();
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newcomers_wait_behind_those_waiting_who_go_oldest_first() {
        let mut gate = HandshakeGate::default();
        for _ in 0..HANDSHAKES_AT_ONCE {
            assert!(gate.has_room_for_newcomer());
            gate.started();
        }
        assert!(!gate.has_free_place());
        gate.wait(7, 1);
        gate.wait(8, 2);
        gate.wait(7, 1); // a second event while it waits
        gate.ended();
        assert!(gate.has_free_place());
        assert!(!gate.has_room_for_newcomer(), "7 and 8 were first");
        assert_eq!(gate.next_waiting(|_, _| true), Some(7));
        gate.started();
        gate.ended();
        // 7 is going: its second listing is skipped.
        assert_eq!(gate.next_waiting(|id, _| id != 7), Some(8));
        assert_eq!(gate.next_waiting(|id, _| id != 7), None);
        assert!(gate.has_room_for_newcomer());
    }

    #[test]
    fn a_connection_gone_meanwhile_is_skipped() {
        let mut gate = HandshakeGate::default();
        gate.wait(3, 10);
        gate.wait(4, 11);
        assert_eq!(gate.next_waiting(|_, serial| serial != 10), Some(4));
    }
}
