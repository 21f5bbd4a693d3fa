//! The session's side of the rooms: the room commands typed (`/join`,
//! `/part`, `/go`, `/invite`), the server's room lines (`INROOM`,
//! `PARTED`, the answer to `/rooms`) and its refusals, each turned into
//! calls on `rooms` and what the screen shows.

use std::ops::ControlFlow;

use chat_shared::message::RoomInfo;
use chat_shared::{ClientLine, ErrorCode, RoomCommand};

use crate::render;
use crate::rooms::{GoRefused, Listed, Rooms};

use super::{Flow, Session};

impl Session {
    /// `/join ROOM [private | key KEY]`: the prompt waits for the answer,
    /// which makes the room the current one.
    pub(super) fn enter(&mut self, room: &str, private: bool, key: Option<&str>) {
        let join = ClientLine::Room(RoomCommand::Join { room, private, key });
        if self.send(&join).is_ok() {
            self.rooms.join_sent(room);
        }
    }

    /// `/part ROOM`: the prompt waits for the answer, which may change the
    /// current room.
    pub(super) fn part(&mut self, room: &str) {
        if !self.rooms.is_in(room) {
            self.view.print(&render::not_in_room(room));
            return;
        }
        if self
            .send(&ClientLine::Room(RoomCommand::Part { room, reason: "" }))
            .is_ok()
        {
            self.rooms.part_sent(room);
        }
    }

    /// `/go ROOM`: typed lines go there from now on; the next prompt says so.
    pub(super) fn go(&mut self, typed: &str) {
        let text = match self.rooms.go(typed) {
            Ok(room) => render::now_in(&room),
            Err(GoRefused::NotIn(room)) => render::not_in_room(&room),
            Err(GoRefused::BadName(typed, problem)) => render::bad_room(&typed, problem),
        };
        self.view.print(&text);
    }

    /// `/invite NAME`: the server says nothing back when it works.
    pub(super) fn invite(&mut self, room: &str, name: &str) {
        let invite = ClientLine::Room(RoomCommand::Invite { room, name });
        if self.send(&invite).is_ok() {
            self.view.print(&render::invite_sent(name, room));
        }
    }

    /// `INROOM`: the desk is in a room; if a `/join` waited for it, it is
    /// the current room now, and the prompt says so.
    pub(super) fn entered(&mut self, info: &RoomInfo<'_>) -> Flow {
        let entered = self.rooms.entered(info);
        if entered.news {
            self.view
                .print(&render::entered_room(info, entered.now_current));
        }
        self.room_answered()
    }

    /// `PARTED`: the desk left a room (by `/part`, or from elsewhere).
    pub(super) fn parted(&mut self, room: &str) -> Flow {
        let was_current = self.rooms.parted(room);
        self.view.print(&render::parted(room, was_current));
        self.room_answered()
    }

    /// `KICKED` about this desk: it is out of the room, as if it had left.
    pub(super) fn kicked(&mut self, room: &str, by: &str, reason: &str) {
        let was_current = self.rooms.parted(room);
        self.view
            .print(&render::kicked(room, by, reason, was_current));
    }

    /// `ROOMS` or `ROOM`: shows the answer to `/rooms` once it is whole.
    pub(super) fn rooms_listed(&mut self, line: impl FnOnce(&mut Rooms) -> Option<Vec<Listed>>) {
        if let Some(listed) = line(&mut self.rooms) {
            self.view.print(&render::room_list(&listed));
        }
    }

    /// The server answered `/resume`, having put the desk back in its
    /// rooms: if the current room is not among them, `#main` is current.
    pub(super) fn rooms_returned(&mut self) {
        if let Some(gone) = self.rooms.resumed() {
            self.view.print(&render::current_room_gone(&gone));
        }
    }

    /// The server refused a room command: says why, in the desk's words;
    /// a `/join` or `/part` waiting for its answer has it.
    pub(super) fn room_refused(&mut self, code: ErrorCode, detail: &str) -> Flow {
        self.view.print(&render::room_refused(code, detail));
        self.rooms.answered();
        self.room_answered()
    }

    /// A `/join` or `/part` was answered (or will not be): the lines typed
    /// meanwhile go to the room that is current now, until one of them
    /// waits for an answer in turn; then the prompt names the room.
    pub(super) fn room_answered(&mut self) -> Flow {
        if !self.rooms.awaiting_answer() {
            while let Some(line) = self.held.pop_front() {
                self.chat_typed(&line)?;
                if self.rooms.awaiting_answer() {
                    return ControlFlow::Continue(());
                }
            }
            if self.leave_once_sent && !self.outbox.has_unsent() {
                return self.leave();
            }
        }
        self.read_chat();
        ControlFlow::Continue(())
    }
}
