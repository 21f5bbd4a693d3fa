//! The session's side of the user's lines: taking each typed line into the
//! `outbox`, sending what may go now (tagged or not, again after a
//! backoff, again on the next connection), and acting on what the server
//! answers about them: confirmed, pending, not stored, never confirmed.

use std::time::Instant;

use crate::outbox::{Next, Outgoing, QueueFull, Settled, MAX_WAITING_LINES};
use crate::render;

use super::{Flow, Session};
use std::ops::ControlFlow;

impl Session {
    /// Sends a line now, or keeps it until the desk is back in the room.
    pub(super) fn send_or_keep(&mut self, line: Outgoing) -> Flow {
        if self.link.joined() {
            self.outbox.push(line);
            return self.flush();
        }
        let typed = line.typed();
        match self.outbox.queue(line) {
            // During a join handshake the wait is a round trip: no news.
            Ok(_) if self.link.is_up() => {}
            Ok(waiting) => self.view.print(&render::queued(&typed, waiting)),
            Err(QueueFull) => self.view.print(&render::queue_full(MAX_WAITING_LINES)),
        }
        ControlFlow::Continue(())
    }

    /// Sends every line that may go now, oldest first, as our name; joined
    /// only. Then, if input ended with lines still unsent, leaves once
    /// none is.
    pub(super) fn flush(&mut self) -> Flow {
        let now = Instant::now();
        while self.link.joined() {
            let Some(name) = self.identity.name().map(str::to_string) else {
                break;
            };
            let next = self.outbox.next_send(&name, now);
            let sent = match next {
                None => break,
                Some(Next::TooLong { bytes, limit }) => {
                    self.view.print(&render::too_long(bytes, limit));
                    continue;
                }
                Some(Next::Unconfirmed(line)) => {
                    self.unconfirmed(&line);
                    continue;
                }
                Some(Next::Line(line)) => match self.link.connection() {
                    Some(connection) => connection.send(&line),
                    None => break,
                },
            };
            if let Err(err) = sent {
                // What went out on the lost connection goes again on the
                // next one.
                self.lost(&err.to_string())?;
                break;
            }
        }
        if self.leave_once_sent && !self.outbox.has_unsent() {
            return self.leave();
        }
        ControlFlow::Continue(())
    }

    /// What an unclear or refusing answer about one of the user's lines
    /// leads to; `detail` is the server's why.
    pub(super) fn settled(&mut self, settled: Option<Settled>, detail: &str) {
        match settled {
            None | Some(Settled::Retrying) => {}
            Some(Settled::NotStored(line)) => self.give_back(detail, &line),
            Some(Settled::Pending(line)) => self.view.print(&render::pending(&line.typed())),
            Some(Settled::Unconfirmed(line)) => self.unconfirmed(&line),
        }
    }

    /// The lines sent before a loss that the replay did not show never
    /// reached the room: give them back.
    pub(super) fn replay_ended(&mut self) {
        self.view.end_replay();
        for line in self.outbox.replay_over() {
            self.give_back("the connection was lost before the server had it", &line);
        }
    }

    /// Tells the user a line was not sent and puts it back in reach.
    pub(super) fn give_back(&mut self, why: &str, line: &Outgoing) {
        let typed = line.typed();
        let recallable = self.input.recall(&typed);
        self.view
            .print(&render::not_sent(why, Some(&typed), recallable));
    }

    /// Tells the user the server never confirmed a line, and puts it back
    /// in reach.
    fn unconfirmed(&mut self, line: &Outgoing) {
        let typed = line.typed();
        let recallable = self.input.recall(&typed);
        self.view.print(&render::unconfirmed(&typed, recallable));
    }
}
