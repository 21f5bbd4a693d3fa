//! What the desk shows: every line it prints (on `screen`, in colour or
//! not), each message once and in order across reconnects (`feed`), and
//! the chime for live ones (`sound`). The session says what arrived, in
//! which room, whether that room is the current one, and who we are; this
//! decides how it looks and whether it sounds.

use std::sync::Arc;

use chat_shared::message::{Chat, Direct, Found};
use chat_shared::room::MAIN_ROOM;
use chat_shared::{MessageId, ServerLine};

use crate::chat_text::names;
use crate::feed::{Feed, ReplayHeader, Resumed, Verdict};
use crate::notify::{Arrival, NotifyLevel};
use crate::render::{self, ChatStyle, ColorMode};
use crate::screen::Screen;
use crate::sound::Notifier;

/// The desk's output.
pub struct View {
    /// Where every line goes; shared with the input thread.
    screen: Arc<Screen>,
    /// Colour or not, decided at startup.
    mode: ColorMode,
    /// Chimes (or rings the bell) for live lines, as the level says.
    notifier: Notifier,
    /// Which messages were shown, so each is shown once.
    feed: Feed,
}

impl View {
    pub fn new(screen: Arc<Screen>, mode: ColorMode, notifier: Notifier) -> View {
        View {
            screen,
            mode,
            notifier,
            feed: Feed::default(),
        }
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// Shows one line of the desk's own.
    pub fn print(&self, text: &str) {
        self.screen.print(text);
    }

    /// Shows a line from the server as `render` words it, if it shows
    /// anything.
    pub fn show(&self, line: &ServerLine<'_>) {
        if let Some(text) = render::render_line(line, self.mode, &chrono::Local) {
            self.screen.print(&text);
        }
    }

    /// `/notify`: changes the level (`None` keeps it) and says which is on.
    pub fn set_notify_level(&mut self, level: Option<NotifyLevel>) {
        if let Some(level) = level {
            if let Some(reason) = self.notifier.set_level(level) {
                self.print(&render::no_audio_device(&reason));
            }
        }
        self.print(&render::notify_level(self.notifier.level()));
    }

    /// `/notify #ROOM [on|off]`: lets the room's messages chime or not
    /// (`None` keeps it), and says which.
    pub fn set_room_notify(&mut self, room: &str, on: Option<bool>) {
        if let Some(on) = on {
            self.notifier.set_room_muted(room, !on);
        }
        self.print(&render::room_notify(
            room,
            self.notifier.is_room_muted(room),
        ));
    }

    // ---- the feed: each message once, across reconnects ----

    /// A connection was just opened; returns what to ask `/resume` for once
    /// joined ([`Feed::connection_opened`]).
    pub fn connection_opened(&mut self) -> Option<(String, MessageId)> {
        self.feed.connection_opened()
    }

    /// `WELCOME` named the room's log.
    pub fn welcomed(&mut self, epoch: &str) {
        self.feed.welcomed(epoch);
    }

    /// The `RESUME` answer: says what was not replayed, or that the log
    /// is another one.
    pub fn resumed(&mut self, epoch: &str, skipped: u64, replayed: u64) {
        match self.feed.resumed(epoch, skipped, replayed) {
            Resumed::Missed { skipped: 0 } => {}
            Resumed::Missed { skipped } => self.print(&render::missed_not_shown(skipped)),
            Resumed::OtherLog => self.print(&render::other_log()),
        }
    }

    /// Whether the replay after a `RESUME` answer is still coming.
    pub fn replaying(&self) -> bool {
        self.feed.replaying()
    }

    /// Counts one replayed line; true when it ended the replay.
    pub fn count_replayed(&mut self) -> bool {
        self.feed.count_replayed()
    }

    /// The replay is over, or will not come.
    pub fn end_replay(&mut self) {
        self.feed.end_replay();
    }

    /// Whether a message of `room` (`None`: `#main`, or a direct
    /// message), live or replayed, is new here; prints the replay header
    /// above it if it starts a replay.
    pub fn admit(&mut self, room: Option<&str>, id: MessageId, replayed: bool) -> bool {
        let Verdict::Show(header) = self.feed.admit(room, id, replayed) else {
            return false;
        };
        match header {
            Some(ReplayHeader::Recent) => self.print(&render::history_header()),
            Some(ReplayHeader::Missed) => self.print(&render::missed_header()),
            None => {}
        }
        true
    }

    // ---- lines from the room ----

    /// A chat message let through by [`View::admit`], said in `room`
    /// (`None`: `#main`), seen by `me`; `elsewhere` when that is not the
    /// current room, which the line then names.
    pub fn chat(
        &mut self,
        chat: &Chat<'_>,
        room: Option<&str>,
        elsewhere: bool,
        replayed: bool,
        me: Option<&str>,
    ) {
        let room = room.unwrap_or(MAIN_ROOM);
        let arrival = chat_arrival(chat, me);
        let style = ChatStyle {
            replayed,
            mention: arrival == Arrival::Mention,
            room: elsewhere.then_some(room),
        };
        self.print(&render::chat_line(chat, style, self.mode, &chrono::Local));
        // Replayed history is old news: only live lines may sound.
        if !replayed {
            self.notifier.arrived_in(room, arrival);
        }
    }

    /// A direct message let through by [`View::admit`]: ours coming back,
    /// or one for `me` (the server sends no others).
    pub fn direct(&mut self, direct: &Direct<'_>, replayed: bool, me: Option<&str>) {
        self.print(&render::direct_line(
            direct,
            me,
            replayed,
            self.mode,
            &chrono::Local,
        ));
        if !replayed {
            let own = me == Some(direct.from);
            self.notifier
                .arrived(if own { Arrival::Own } else { Arrival::Direct });
        }
    }

    /// A search result, from `room` if not `#main`: an old message found
    /// again, not news, so the feed and the chime never hear of it.
    pub fn found(&self, found: &Found<'_>, room: Option<&str>, me: Option<&str>) {
        self.print(&render::found_line(
            found,
            room,
            me,
            self.mode,
            &chrono::Local,
        ));
    }
}

/// How a chat message strikes `me`: our own line coming back, one that
/// names us, or neither.
fn chat_arrival(chat: &Chat<'_>, me: Option<&str>) -> Arrival {
    match me {
        Some(me) if me == chat.name => Arrival::Own,
        Some(me) if names(chat.text, me) => Arrival::Mention,
        _ => Arrival::Ordinary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_shared::Color;

    fn said<'a>(name: &'a str, text: &'a str) -> Chat<'a> {
        Chat {
            id: MessageId::from_sequence(1),
            time: "2026-11-24T13:07:08.123Z",
            name,
            color: Color::Red,
            text,
        }
    }

    #[test]
    fn our_own_line_is_own() {
        assert_eq!(
            chat_arrival(&said("alice", "hi alice"), Some("alice")),
            Arrival::Own
        );
    }

    #[test]
    fn a_line_naming_us_is_a_mention() {
        assert_eq!(
            chat_arrival(&said("bob", "@Alice look"), Some("alice")),
            Arrival::Mention
        );
    }

    #[test]
    fn a_line_not_naming_us_is_ordinary() {
        assert_eq!(
            chat_arrival(&said("bob", "hi all"), Some("alice")),
            Arrival::Ordinary
        );
    }

    #[test]
    fn before_we_have_a_name_every_line_is_ordinary() {
        assert_eq!(
            chat_arrival(&said("bob", "hi alice"), None),
            Arrival::Ordinary
        );
    }
}
