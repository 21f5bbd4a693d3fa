//! How things look on screen: turns a [`ServerLine`] (and the client's own
//! notices) into the exact text printed, as pure functions that return a
//! `String`. Owns timestamps in local time, name colours, how actions,
//! mentions, direct messages, search results, room tags and room notices
//! look, and cleaning every peer field; it does not print, and it does not
//! decide whether colour is on (the caller passes a [`ColorMode`], decided
//! once at startup), what is a mention (`view` says) or which room is the
//! current one (the session says).

use std::fmt::Display;
use std::path::Path;
use std::time::Duration;

use chat_shared::message::{parse_timestamp, Chat, Direct, Found, Presence, RoomInfo, WhoEntry};
use chat_shared::room::{RoomProblem, MAIN_ROOM};
use chat_shared::sanitize::clean;
use chat_shared::{Color, ErrorCode, Fingerprint, ServerLine};
use chrono::TimeZone;

use crate::chat_text::{action, without_notice};
use crate::commands::{command_help, Answer, CommandHelp};
use crate::notify::NotifyLevel;
use crate::rooms::Listed;

/// Whether to emit SGR colour escapes. Passed in rather than read from
/// `colored`'s global switch so rendering stays a pure function (and tests
/// of both modes can run side by side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// Plain text only.
    Off,
    /// Names in their colour, replayed history dimmed, mentions in bold
    /// reverse video.
    On,
}

/// How a chat line is to be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChatStyle<'a> {
    /// Replayed history (`HIST`), dimmed when coloured.
    pub replayed: bool,
    /// It names this desk's user: highlighted.
    pub mention: bool,
    /// The room it was said in, shown after the time when it is not the
    /// current room; `None` shows none.
    pub room: Option<&'a str>,
}

/// How timestamps are shown, as in the seed: `2026-11-24 13:07:08`.
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// SGR "faint", for replayed history.
const DIM_SGR: &str = "2";

/// SGR bold and reverse video, for a line that names the user: it stands
/// out by more than colour, on any background and to anyone.
const HIGHLIGHT_SGR: &str = "1;7";

/// What starts a line that names the user when there is no colour.
const MENTION_MARKER: &str = ">> ";

/// SGR italic, for a direct message: set apart from the room's lines by
/// more than colour, and unlike a mention's reverse video.
const DIRECT_SGR: &str = "3";

/// SGR bold italic, for a direct message to the user: for them alone, so
/// it stands out even when replayed.
const DIRECT_TO_YOU_SGR: &str = "1;3";

/// SGR faint italic, for a replayed direct message the user wrote.
const DIRECT_REPLAYED_SGR: &str = "2;3";

/// How the user is named in a direct message they wrote or got.
const YOU: &str = "you";

/// The text to print for `line`, or `None` for lines that show nothing
/// here (`PONG`; `BYE` and `RESUME`, which the session reports in its own
/// words).
///
/// Every field that came from the peer is cleaned first, even though the
/// server cleans too: a terminal is only as safe as the last program that
/// wrote to it.
pub fn render_line<Tz>(line: &ServerLine<'_>, mode: ColorMode, tz: &Tz) -> Option<String>
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let text = match line {
        ServerLine::Msg(chat) => chat_line(chat, ChatStyle::default(), mode, tz),
        ServerLine::History(chat) => chat_line(
            chat,
            ChatStyle {
                replayed: true,
                ..ChatStyle::default()
            },
            mode,
            tz,
        ),
        ServerLine::Join(who) => presence_line(who, "joined", mode, tz),
        ServerLine::Leave(who) => presence_line(who, "left", mode, tz),
        ServerLine::Welcome {
            name,
            color,
            online,
            ..
        } => format!(
            "[+] You are {}; {online} online. Type /help for commands, q or /quit to leave.",
            paint_name(name, *color, mode)
        ),
        ServerLine::Who { count, people } => who_line(*count, people),
        ServerLine::Direct(direct) => direct_line(direct, None, false, mode, tz),
        ServerLine::DirectHistory(direct) => direct_line(direct, None, true, mode, tz),
        ServerLine::Searched { count } => match count {
            0 => "[*] search: nothing found.".to_string(),
            count => format!("[*] search: {count} found, oldest first:"),
        },
        ServerLine::Found(found) => found_line(found, None, None, mode, tz),
        ServerLine::RoomFound(r) => {
            let found = Found {
                chat: r.chat.clone(),
                to: None,
            };
            found_line(&found, Some(r.room), None, mode, tz)
        }
        ServerLine::Error { code, detail } => {
            let detail = if detail.is_empty() {
                code.as_str()
            } else {
                detail
            };
            format!("[!] {}", clean(detail))
        }
        ServerLine::Notice { text }
        | ServerLine::Unsure { detail: text, .. }
        | ServerLine::Unsent { detail: text, .. } => {
            format!("[!] {}", clean(text))
        }
        // A room's messages with their room: which room is the current one
        // is the session's to say (`chat_line`).
        ServerLine::RoomMsg(r) | ServerLine::RoomHistory(r) => {
            let style = ChatStyle {
                replayed: matches!(line, ServerLine::RoomHistory(_)),
                room: Some(r.room),
                ..ChatStyle::default()
            };
            chat_line(&r.chat, style, mode, tz)
        }
        ServerLine::Enter { room, who } => {
            presence_line(who, &format!("entered {}", clean(room)), mode, tz)
        }
        ServerLine::Exit { room, who } => {
            presence_line(who, &format!("left {}", clean(room)), mode, tz)
        }
        ServerLine::InRoom(info) => entered_room(info, false),
        ServerLine::RoomListed(info) => format!("[*] {}", clean(info.room)),
        ServerLine::Parted { room } => parted(room, false),
        ServerLine::Topic {
            room,
            time,
            by,
            text,
        } => topic_line(room, time, by, text, tz),
        ServerLine::Invited { room, by } => format!(
            "[*] {} invited you to {}; /join {} enters it.",
            clean(by),
            clean(room),
            clean(room)
        ),
        ServerLine::Mode {
            room,
            by: "",
            changes,
        } => format!("[*] {} is {}", clean(room), clean(changes)),
        ServerLine::Mode { room, by, changes } => {
            format!(
                "[*] {} set {} on {}",
                clean(by),
                clean(changes),
                clean(room)
            )
        }
        ServerLine::Kicked {
            room,
            name,
            by,
            reason,
        } => format!(
            "[*] {} put {} out of {}{}",
            clean(by),
            clean(name),
            clean(room),
            because(reason)
        ),
        ServerLine::Bye { .. }
        | ServerLine::Pong
        | ServerLine::Resumed { .. }
        | ServerLine::Rooms { .. }
        | ServerLine::Sent { .. } => return None,
    };
    Some(text)
}

/// Printed once, before the first replayed message.
pub fn history_header() -> String {
    "[*] Recent messages:".to_string()
}

/// Printed when a server line cannot be understood; the line is not shown
/// raw, since it might be anything.
pub fn unreadable_line() -> String {
    "[!] (skipped a line from the server that this client does not understand)".to_string()
}

/// Printed when the server sent a line past the client's limit.
pub fn overlong_line() -> String {
    "[!] (skipped an over-long line from the server)".to_string()
}

/// The answer to a `/join` refused with `name-taken`.
pub fn name_taken(name: &str) -> String {
    format!("[!] The name \"{}\" is taken; choose another.", clean(name))
}

/// The answer to a name refused for any other reason, or refused locally.
pub fn name_refused(name: &str, why: &str) -> String {
    format!(
        "[!] The name \"{}\" is not allowed: {}",
        clean(name),
        clean(why)
    )
}

/// Printed once when a working connection is lost, whatever the number
/// of tries it then takes to get it back.
pub fn connection_lost(reason: &str) -> String {
    let reason = if reason.trim().is_empty() {
        "the server closed the connection"
    } else {
        reason
    };
    format!("[!] connection lost; reconnecting... ({})", clean(reason))
}

/// Printed when the desk is back in the room after a loss; `server` names
/// where, when the desk has several to choose from.
pub fn reconnected(name: &str, away: Duration, online: usize, server: Option<&str>) -> String {
    let to = server
        .map(|server| format!(" to {server}"))
        .unwrap_or_default();
    format!(
        "[+] reconnected as {}{to} (away {}); {online} online.",
        clean(name),
        human_duration(away)
    )
}

/// Printed at start when one of several servers does not answer; the
/// next one is tried.
pub fn server_unreachable(server: &str, why: &dyn Display) -> String {
    format!("[!] {server} does not answer ({why}); trying the next server.")
}

/// Printed when a TLS desk trusts a server's certificate for the first
/// time: the one moment a person can compare it with the server's.
pub fn trusted_first_time(server: &str, fingerprint: Fingerprint, file: &Path) -> String {
    format!(
        "[*] First TLS connection to {server}: trusting its certificate {fingerprint} \
         from now on (kept in {}). It should match the fingerprint the server printed at start.",
        file.display()
    )
}

/// Printed before asking for a token the server wants and the desk lacks.
pub fn account_needed(name: &str) -> String {
    format!(
        "[*] This server requires an account: type {}'s token (from chat-server user add).",
        clean(name)
    )
}

/// Printed at start when the token file is open to other users.
pub fn token_file_readable(file: &Path) -> String {
    format!(
        "[!] {} can be read by other users, who could sign in as you; chmod 600 it.",
        file.display()
    )
}

/// Why a signed-in desk could not join at start: its account's name is
/// taken, which can only be by another desk of the same account.
pub fn account_in_use(name: &str) -> String {
    format!(
        "the account {} is in use on another desk; an account joins from one desk at a time",
        clean(name)
    )
}

/// Printed once when a desk coming back finds its name still in use, most
/// likely for the connection it lost; it tries the name again meanwhile.
pub fn name_held(name: &str) -> String {
    format!(
        "[*] The name \"{}\" is still in use, most likely by the connection this desk lost; \
         trying it again every second for a while.",
        clean(name)
    )
}

/// Why the server refused the desk for good, with what to do about it:
/// `auth-failed`, `revoked` or `tls-required`, and the server's words.
pub fn refused(code: ErrorCode, detail: &str, name: Option<&str>, server: &str) -> String {
    let detail = clean(detail);
    let name = name.map_or("this desk".into(), clean);
    match code {
        ErrorCode::AuthFailed => format!(
            "{server} refused the account {name} ({detail}): the name has no account there, \
             or the token is wrong; check --token-file (or what was typed), or ask the \
             server's operator"
        ),
        ErrorCode::Revoked => format!(
            "{server} revoked the account {name} ({detail}): it no longer lets this desk in; \
             ask the server's operator"
        ),
        ErrorCode::TlsRequired => {
            format!("{server} takes TLS connections only ({detail}); connect with --tls")
        }
        other => format!("{server} refused this desk: {} ({detail})", other.as_str()),
    }
}

/// Printed above the messages a resumed desk missed.
pub fn missed_header() -> String {
    "[*] While you were away:".to_string()
}

/// Printed when more messages were missed than the server replays.
pub fn missed_not_shown(skipped: u64) -> String {
    let (messages, are) = if skipped == 1 {
        ("message", "is")
    } else {
        ("messages", "are")
    };
    format!("[!] {skipped} earlier {messages} from while you were away {are} not shown.")
}

/// Printed when the server came back with another log: what follows is its
/// recent history, which may repeat or leave out what was shown before.
pub fn other_log() -> String {
    "[!] The server started a new room log; its recent messages follow.".to_string()
}

/// A line typed while disconnected, kept for later.
pub fn queued(text: &str, waiting: usize) -> String {
    format!(
        "[*] Not connected; \"{}\" will be sent once the connection is back ({waiting} waiting).",
        clean(text)
    )
}

/// A line longer than the server takes: `bytes` of text, `limit` allowed.
pub fn too_long(bytes: usize, limit: usize) -> String {
    format!("[!] That message is {bytes} bytes; the limit is {limit}. Not sent.")
}

/// A line typed while disconnected with the queue full.
pub fn queue_full(limit: usize) -> String {
    format!("[!] Not sent: {limit} lines already wait for the connection.")
}

/// A message the room did not take (`ERR not-saved`, or lost with a
/// connection), with its text when known; `recallable` when Up-arrow
/// brings it back.
pub fn not_sent(detail: &str, text: Option<&str>, recallable: bool) -> String {
    let Some(text) = text else {
        return format!("[!] not sent: {}", clean(detail));
    };
    let again = if recallable {
        "Up-arrow brings it back"
    } else {
        "send it again"
    };
    format!(
        "[!] not sent: {} (\"{}\"; {again}).",
        clean(detail),
        clean(text)
    )
}

/// Printed when a command needs the connection and there is none.
pub fn not_connected() -> String {
    "[!] Not connected; try again once reconnected.".to_string()
}

/// Printed when the user leaves with lines still waiting for the connection.
pub fn waiting_dropped(count: usize) -> String {
    let lines = if count == 1 { "line" } else { "lines" };
    format!("[!] {count} unsent {lines} dropped.")
}

/// The name a desk had was taken by someone else while it was away.
pub fn name_taken_while_away(name: &str) -> String {
    format!(
        "[!] The name \"{}\" was taken while you were away; choose another.",
        clean(name)
    )
}

/// What the desk answers to a typed line it does not send.
pub fn answer(answer: &Answer<'_>) -> String {
    match answer {
        Answer::Help => help(),
        Answer::NotConnected => not_connected(),
        Answer::NobodyToReply => nobody_to_reply(),
        Answer::Misused(command) => misused(command),
        Answer::UnknownCommand(word) => unknown_command(word),
        Answer::BadRoom { typed, problem } => bad_room(typed, *problem),
        Answer::EveryoneInMain => everyone_in_main(),
    }
}

/// The answer to `/help`: every command, one a line.
pub fn help() -> String {
    format!("[*] Commands:\n{}", command_help().trim_end())
}

/// The answer to a `/word` the client does not know.
pub fn unknown_command(word: &str) -> String {
    format!(
        "[!] Unknown command {}; type /help for the commands, or //{} to send it as text.",
        clean(word),
        clean(word.trim_start_matches('/'))
    )
}

/// The answer to a known command typed wrong.
pub fn misused(command: &CommandHelp) -> String {
    format!("[!] Usage: {} ({}).", command.usage, command.meaning)
}

/// The answer to `/notify`: the level now in force.
pub fn notify_level(level: NotifyLevel) -> String {
    format!("[*] Notifications: {level} ({}).", level.meaning())
}

/// Printed once, when sound falls back to the terminal bell.
pub fn no_audio_device(reason: &str) -> String {
    format!(
        "[!] No audio device ({}); using the terminal bell.",
        clean(reason)
    )
}

/// A room's name typed wrong, and why.
pub fn bad_room(typed: &str, problem: RoomProblem) -> String {
    let hint = match problem {
        RoomProblem::NoHash => format!(" (#{})", clean(typed)),
        _ => String::new(),
    };
    format!(
        "[!] \"{}\" is no room's name: {problem}{hint}.",
        clean(typed)
    )
}

/// The answer to `/part` or `/invite` in `#main`.
pub fn everyone_in_main() -> String {
    format!("[!] Everyone is in {MAIN_ROOM}: nobody leaves it, or needs an invitation to it.")
}

/// `N members`, or `1 member`.
fn members(count: usize) -> String {
    if count == 1 {
        "1 member".to_string()
    } else {
        format!("{count} members")
    }
}

/// `INROOM`: the desk is in a room; `now_current` when typed lines go
/// there from now on (a `/join` was answered).
pub fn entered_room(info: &RoomInfo<'_>, now_current: bool) -> String {
    let room = clean(info.room);
    let mut about = members(info.members);
    if info.private {
        about = format!("private, {about}");
    }
    if !info.topic.is_empty() {
        about.push_str(&format!("; topic: {}", clean(info.topic)));
    }
    if now_current {
        format!("[*] Now in {room} ({about}).")
    } else {
        format!("[*] You are in {room} ({about}); /go {room} talks there.")
    }
}

/// `PARTED`: the desk left a room; `was_current` when typed lines go to
/// `#main` now.
pub fn parted(room: &str, was_current: bool) -> String {
    if was_current {
        format!("[*] You left {}; now in {MAIN_ROOM}.", clean(room))
    } else {
        format!("[*] You left {}.", clean(room))
    }
}

/// `KICKED` about this desk: it is out of `room`, which was perhaps the
/// current one.
pub fn kicked(room: &str, by: &str, reason: &str, was_current: bool) -> String {
    let now = if was_current {
        format!("; now in {MAIN_ROOM}")
    } else {
        String::new()
    };
    format!(
        "[!] {} put you out of {}{}{now}.",
        clean(by),
        clean(room),
        because(reason)
    )
}

/// ` (REASON)`, or nothing for no reason.
fn because(reason: &str) -> String {
    match reason {
        "" => String::new(),
        reason => format!(" ({})", clean(reason)),
    }
}

/// After a reconnect: the current room is gone (left elsewhere, or lost
/// with the server's memory).
pub fn current_room_gone(room: &str) -> String {
    format!(
        "[!] You are no longer in {} (it was left, or lost, while you were away); now in {MAIN_ROOM}.",
        clean(room)
    )
}

/// `/go`: typed lines go to `room` now.
pub fn now_in(room: &str) -> String {
    format!("[*] Now in {}.", clean(room))
}

/// `/go` to a room the desk is not in.
pub fn not_in_room(room: &str) -> String {
    format!("[!] You are not in {0}; /join {0} enters it.", clean(room))
}

/// `/invite` went out (the server says nothing back when it works).
pub fn invite_sent(name: &str, room: &str) -> String {
    format!("[*] Invited {} to {}.", clean(name), clean(room))
}

/// `TOPIC`: a room's topic, as set just now or as asked for.
fn topic_line<Tz>(room: &str, time: &str, by: &str, text: &str, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    if text.is_empty() {
        return format!("[*] {} has no topic.", clean(room));
    }
    let set = match (by.is_empty(), time.is_empty()) {
        (false, false) => format!(" (set by {}, {})", clean(by), local_time(time, tz)),
        (false, true) => format!(" (set by {})", clean(by)),
        _ => String::new(),
    };
    format!("[*] {} topic: {}{set}", clean(room), clean(text))
}

/// The answer to `/rooms`: one room a line, names and counts aligned,
/// `>` before the current room; for each, its members, the lines that
/// arrived there since the user was last there, whether it is private,
/// whether the desk is in it, and its topic.
pub fn room_list(rooms: &[Listed]) -> String {
    let name_width = rooms
        .iter()
        .map(|room| clean(&room.name).chars().count())
        .max()
        .unwrap_or(0);
    let count_width = rooms
        .iter()
        .map(|room| room.members.to_string().len())
        .max()
        .unwrap_or(0);
    let mut text = format!("[*] Rooms ({}):", rooms.len());
    for room in rooms {
        let mark = if room.current { '>' } else { ' ' };
        let mut extras = Vec::new();
        if room.unread > 0 {
            extras.push(format!("{} unread", room.unread));
        }
        if room.private {
            extras.push("private".to_string());
        }
        if !room.joined {
            extras.push("not in".to_string());
        }
        if !room.topic.is_empty() {
            extras.push(format!("topic: {}", clean(&room.topic)));
        }
        let word = if room.members == 1 {
            "member "
        } else {
            "members"
        };
        let line = format!(
            "  {mark} {:name_width$}  {:>count_width$} {word}  {}",
            clean(&room.name),
            room.members,
            extras.join("  ")
        );
        text.push('\n');
        text.push_str(line.trim_end());
    }
    text
}

/// A room command (or a message for a room) the server refused: why, in
/// the desk's words. The server's details name its own commands (`/room
/// join #x`); the desk's are `/join #x`.
pub fn room_refused(code: ErrorCode, detail: &str) -> String {
    let lead = match code {
        ErrorCode::NoSuchRoom => "No such room: ",
        ErrorCode::NotInRoom => "Not in that room: ",
        ErrorCode::NotInvited => "Not invited: ",
        ErrorCode::TooManyRooms => "Too many rooms: ",
        ErrorCode::RoomsTooFast => "Too many new rooms: ",
        _ => "",
    };
    format!("[!] {lead}{}", in_desk_words(detail))
}

/// A server's detail (cleaned) with its room commands (`/room join #x`)
/// put as the desk's (`/join #x`).
pub fn in_desk_words(detail: &str) -> String {
    let mut detail = clean(detail).into_owned();
    for (server, desk) in [
        ("/room join", "/join"),
        ("/room part", "/part"),
        ("/room invite", "/invite"),
        ("/room topic", "/topic"),
    ] {
        detail = detail.replace(server, desk);
    }
    detail
}

/// A line the server could not yet confirm: it goes out again, under the
/// same ID, so it is stored once.
pub fn pending(typed: &str) -> String {
    format!(
        "[*] pending: \"{}\" (the server could not confirm it yet; sending it again)",
        clean(typed)
    )
}

/// A line the server never confirmed, tried as often as the desk tries;
/// `recallable` when Up-arrow brings it back.
pub fn unconfirmed(typed: &str, recallable: bool) -> String {
    let again = if recallable {
        "; Up-arrow brings it back"
    } else {
        ""
    };
    format!(
        "[!] The server never confirmed \"{}\"; it may or may not have reached the room{again}.",
        clean(typed)
    )
}

/// Printed when the user leaves with lines the server has not confirmed.
pub fn unconfirmed_dropped(count: usize) -> String {
    let (lines, were) = if count == 1 {
        ("line was", "it")
    } else {
        ("lines were", "they")
    };
    format!("[!] {count} {lines} not confirmed yet; {were} may or may not have reached the room.")
}

/// The answer to `/notify #ROOM [on|off]`.
pub fn room_notify(room: &str, muted: bool) -> String {
    if muted {
        format!(
            "[*] {}: no sound for its messages (mentions and direct messages still chime).",
            clean(room)
        )
    } else {
        format!("[*] {}: its messages chime as /notify says.", clean(room))
    }
}

/// `12 s`, `3 min 5 s`, `2 h 4 min`: how long a person was away, to the
/// second while that matters.
fn human_duration(span: Duration) -> String {
    let secs = span.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// A `MSG` or `HIST` line: `[time] alice: text`, or `[time] * alice waves`
/// for an action; in the sender's colour; dimmed when replayed; and when it
/// names the user, in bold reverse video, or marked `>>` without colour.
pub fn chat_line<Tz>(chat: &Chat<'_>, style: ChatStyle, mode: ColorMode, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    // The name's colour is never dimmed (faint colours lose the contrast
    // the palette was chosen for); a highlight covers the whole line.
    let (line_sgr, name_sgr) = if style.mention {
        (
            HIGHLIGHT_SGR,
            format!("{HIGHLIGHT_SGR};{}", name_color(chat.color)),
        )
    } else if style.replayed {
        (DIM_SGR, name_color(chat.color))
    } else {
        ("", name_color(chat.color))
    };
    let marker = if style.mention && mode == ColorMode::Off {
        MENTION_MARKER
    } else {
        ""
    };
    let time = paint(&format!("[{}] ", local_time(chat.time, tz)), line_sgr, mode);
    let room = style
        .room
        .map(|room| paint(&format!("{} ", clean(room)), line_sgr, mode))
        .unwrap_or_default();
    let text = without_notice(chat.text);
    let said = match action(text) {
        Some(action) => paint(
            &format!("* {} {}", clean(chat.name), clean(action)),
            &name_sgr,
            mode,
        ),
        None => format!(
            "{}{}",
            paint(&clean(chat.name), &name_sgr, mode),
            paint(&format!(": {}", clean(text)), line_sgr, mode)
        ),
    };
    format!("{marker}{time}{room}{said}")
}

fn presence_line<Tz>(who: &Presence<'_>, verb: &str, mode: ColorMode, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let line = format!(
        "[{}] {} {verb}",
        local_time(who.time, tz),
        paint_name(who.name, who.color, mode)
    );
    match who.reason {
        "" => line,
        reason => format!("{line} ({})", clean(reason)),
    }
}

fn who_line(count: usize, people: &[WhoEntry<'_>]) -> String {
    if count == 0 || people.is_empty() {
        return format!("[*] {count} online.");
    }
    let listed: Vec<String> = people
        .iter()
        .map(|person| match idle(person.idle_secs) {
            Some(idle) => format!("{} ({idle} idle)", clean(person.name)),
            None => clean(person.name).into_owned(),
        })
        .collect();
    let mut line = format!("[*] {count} online: {}", listed.join(", "));
    // The server lists at most MAX_WHO_NAMES but always counts everyone.
    let unlisted = count.saturating_sub(people.len());
    if unlisted > 0 {
        line.push_str(&format!(", and {unlisted} more"));
    }
    line
}

/// How long someone has been idle, in the largest whole unit; `None` under
/// a minute, which is not worth saying.
fn idle(secs: u64) -> Option<String> {
    match secs {
        0..60 => None,
        60..3600 => Some(format!("{}m", secs / 60)),
        3600..86_400 => Some(format!("{}h", secs / 3600)),
        _ => Some(format!("{}d", secs / 86_400)),
    }
}

/// A direct message (`DM`, or `HISTDM` when `replayed`) as seen by `me`
/// (`None`: by nobody in it): `[time] alice → you: text` when it came to
/// `me`, `[time] you → bob: text` when `me` wrote it, in italics (bold when
/// it came to `me`, faint when `me` wrote it and it is replayed), the
/// writer in their colour.
pub fn direct_line<Tz>(
    direct: &Direct<'_>,
    me: Option<&str>,
    replayed: bool,
    mode: ColorMode,
    tz: &Tz,
) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let (from, to) = direct_names(direct.from, direct.to, me);
    let line_sgr = if to == YOU {
        DIRECT_TO_YOU_SGR
    } else if replayed {
        DIRECT_REPLAYED_SGR
    } else {
        DIRECT_SGR
    };
    let from_sgr = format!("{line_sgr};{}", name_color(direct.color));
    format!(
        "{}{}{}",
        paint(
            &format!("[{}] ", local_time(direct.time, tz)),
            line_sgr,
            mode
        ),
        paint(&from, &from_sgr, mode),
        paint(
            &format!(" \u{2192} {to}: {}", clean(direct.text)),
            line_sgr,
            mode
        )
    )
}

/// The writer and the reader of a direct message, cleaned, `me` as "you".
fn direct_names(from: &str, to: &str, me: Option<&str>) -> (String, String) {
    let shown = |name: &str| {
        if Some(name) == me {
            YOU.to_string()
        } else {
            clean(name).into_owned()
        }
    };
    (shown(from), shown(to))
}

/// One search result, marked as one, with its room if not `#main`; a
/// direct message reads as it did when it came (`alice → you`, `you →
/// bob`), seen by `me`.
pub fn found_line<Tz>(
    found: &Found<'_>,
    room: Option<&str>,
    me: Option<&str>,
    mode: ColorMode,
    tz: &Tz,
) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    let chat = &found.chat;
    let (from, to) = match found.to {
        Some(to) => {
            let (from, to) = direct_names(chat.name, to, me);
            (from, format!(" \u{2192} {to}"))
        }
        None => (clean(chat.name).into_owned(), String::new()),
    };
    let room = room
        .map(|room| format!("{} ", clean(room)))
        .unwrap_or_default();
    format!(
        "[found] [{}] {room}{}{to}: {}",
        local_time(chat.time, tz),
        paint(&from, &name_color(chat.color), mode),
        clean(chat.text)
    )
}

/// The answer to `/r` when nobody has sent the user a direct message.
pub fn nobody_to_reply() -> String {
    "[!] Nobody has sent you a direct message yet; use /msg NAME TEXT.".to_string()
}

/// A direct message the server refused, with why (`nobody called dave is
/// online`) and the line that sends it again.
pub fn direct_refused(detail: &str, typed: Option<&str>, recallable: bool) -> String {
    let again = match typed {
        Some(typed) if recallable => format!(" (\"{}\"; Up-arrow brings it back)", clean(typed)),
        Some(typed) => format!(" (\"{}\")", clean(typed)),
        None => String::new(),
    };
    format!("[!] {}; not sent{again}.", clean(detail))
}

/// The wire time (UTC) in the desk's time zone; a time that does not parse
/// is shown as sent (cleaned) rather than dropping the message.
fn local_time<Tz>(wire: &str, tz: &Tz) -> String
where
    Tz: TimeZone,
    Tz::Offset: Display,
{
    match parse_timestamp(wire) {
        Some(utc) => utc.with_timezone(tz).format(TIME_FORMAT).to_string(),
        None => clean(wire).into_owned(),
    }
}

fn paint_name(name: &str, color: Color, mode: ColorMode) -> String {
    paint(&clean(name), &name_color(color), mode)
}

/// Wraps `text` in SGR attributes (`"1;7"`) and a reset; no attributes,
/// no escapes.
fn paint(text: &str, sgr: &str, mode: ColorMode) -> String {
    match mode {
        ColorMode::On if !sgr.is_empty() => format!("\x1b[{sgr}m{text}\x1b[0m"),
        ColorMode::On | ColorMode::Off => text.to_string(),
    }
}

/// The SGR foreground of a palette colour: its exact RGB (`38;2;R;G;B`).
/// Written here rather than by `colored`, which turns RGB into the nearest
/// of the terminal's sixteen colours unless `COLORTERM` says truecolor:
/// that would bring back the white and grey the palette leaves out. A
/// terminal without RGB rounds to its 256 colours, where every palette
/// value sits exactly.
fn name_color(color: Color) -> String {
    let (r, g, b) = color.rgb();
    format!("38;2;{r};{g};{b}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_shared::message::RoomChat;
    use chat_shared::{ErrorCode, MessageId};
    use chrono::{FixedOffset, Utc};

    const TIME: &str = "2026-11-24T13:07:08.123Z";

    fn msg<'a>(name: &'a str, color: Color, text: &'a str) -> ServerLine<'a> {
        ServerLine::Msg(Chat {
            id: MessageId::from_sequence(1),
            time: TIME,
            name,
            color,
            text,
        })
    }

    fn plain(line: &ServerLine<'_>) -> Option<String> {
        render_line(line, ColorMode::Off, &Utc)
    }

    #[test]
    fn message_without_colour() {
        assert_eq!(
            plain(&msg("alice", Color::Red, "hello there")).as_deref(),
            Some("[2026-11-24 13:07:08] alice: hello there")
        );
    }

    #[test]
    fn message_with_colour_wraps_only_the_name() {
        let shown = render_line(&msg("alice", Color::Red, "hi"), ColorMode::On, &Utc);
        assert_eq!(
            shown.as_deref(),
            Some("[2026-11-24 13:07:08] \x1b[38;2;215;0;0malice\x1b[0m: hi")
        );
    }

    /// `line` shown live, as a mention, in `mode`.
    fn mention(line: &ServerLine<'_>, replayed: bool, mode: ColorMode) -> String {
        let (ServerLine::Msg(chat) | ServerLine::History(chat)) = line else {
            panic!("not a chat line: {line:?}");
        };
        let style = ChatStyle {
            replayed,
            mention: true,
            room: None,
        };
        chat_line(chat, style, mode, &Utc)
    }

    #[test]
    fn an_action_reads_as_a_sentence() {
        let line = msg("alice", Color::Red, "/me waves");
        assert_eq!(
            plain(&line).as_deref(),
            Some("[2026-11-24 13:07:08] * alice waves")
        );
        assert_eq!(
            render_line(&line, ColorMode::On, &Utc).as_deref(),
            Some("[2026-11-24 13:07:08] \x1b[38;2;215;0;0m* alice waves\x1b[0m")
        );
        // Only "/me " starts an action.
        assert_eq!(
            plain(&msg("alice", Color::Red, "/meow")).as_deref(),
            Some("[2026-11-24 13:07:08] alice: /meow")
        );
    }

    #[test]
    fn an_action_is_cleaned_like_any_text() {
        let line = msg("alice", Color::Red, "/me rings\x07");
        assert_eq!(
            plain(&line).as_deref(),
            Some("[2026-11-24 13:07:08] * alice rings^G")
        );
    }

    #[test]
    fn a_mention_is_marked_when_plain() {
        let line = msg("bob", Color::Green, "hi alice");
        assert_eq!(
            mention(&line, false, ColorMode::Off),
            ">> [2026-11-24 13:07:08] bob: hi alice"
        );
        let action = msg("bob", Color::Green, "/me waves at alice");
        assert_eq!(
            mention(&action, false, ColorMode::Off),
            ">> [2026-11-24 13:07:08] * bob waves at alice"
        );
    }

    #[test]
    fn a_mention_is_bold_reverse_across_the_line_when_coloured() {
        let line = msg("bob", Color::Green, "hi alice");
        assert_eq!(
            mention(&line, false, ColorMode::On),
            "\x1b[1;7m[2026-11-24 13:07:08] \x1b[0m\x1b[1;7;38;2;0;135;0mbob\x1b[0m\x1b[1;7m: hi alice\x1b[0m"
        );
        // A replayed mention is highlighted, not dimmed: it is for you.
        let replayed = ServerLine::History(Chat {
            id: MessageId::from_sequence(1),
            time: TIME,
            name: "bob",
            color: Color::Green,
            text: "hi alice",
        });
        assert_eq!(
            mention(&replayed, true, ColorMode::On),
            mention(&line, false, ColorMode::On)
        );
    }

    #[test]
    fn a_line_from_another_room_names_it_after_the_time() {
        let chat = Chat {
            id: MessageId::from_sequence(1),
            time: TIME,
            name: "alice",
            color: Color::Red,
            text: "hi bob",
        };
        let style = |mention| ChatStyle {
            mention,
            room: Some("#dev"),
            ..ChatStyle::default()
        };
        assert_eq!(
            chat_line(&chat, style(false), ColorMode::Off, &Utc),
            "[2026-11-24 13:07:08] #dev alice: hi bob"
        );
        assert_eq!(
            chat_line(&chat, style(true), ColorMode::Off, &Utc),
            ">> [2026-11-24 13:07:08] #dev alice: hi bob"
        );
        assert_eq!(
            chat_line(&chat, style(false), ColorMode::On, &Utc),
            "[2026-11-24 13:07:08] #dev \x1b[38;2;215;0;0malice\x1b[0m: hi bob"
        );
        let action = Chat {
            text: "/me waves",
            ..chat.clone()
        };
        assert_eq!(
            chat_line(&action, style(false), ColorMode::Off, &Utc),
            "[2026-11-24 13:07:08] #dev * alice waves"
        );
        // Replayed room history is dimmed, its tag with it.
        let replayed = ChatStyle {
            replayed: true,
            ..style(false)
        };
        assert!(chat_line(&chat, replayed, ColorMode::On, &Utc)
            .starts_with("\x1b[2m[2026-11-24 13:07:08] \x1b[0m\x1b[2m#dev \x1b[0m"));
        let line = ServerLine::RoomMsg(RoomChat { room: "#dev", chat });
        assert_eq!(
            plain(&line).as_deref(),
            Some("[2026-11-24 13:07:08] #dev alice: hi bob")
        );
    }

    #[test]
    fn room_notices_are_short_sentences() {
        let who = Presence {
            time: TIME,
            name: "carol",
            color: Color::Yellow,
            reason: "",
        };
        assert_eq!(
            plain(&ServerLine::Enter {
                room: "#dev",
                who: who.clone()
            })
            .as_deref(),
            Some("[2026-11-24 13:07:08] carol entered #dev")
        );
        assert_eq!(
            plain(&ServerLine::Exit {
                room: "#dev",
                who: who.clone()
            })
            .as_deref(),
            Some("[2026-11-24 13:07:08] carol left #dev")
        );
        let why = Presence {
            reason: "off to lunch",
            ..who
        };
        assert_eq!(
            plain(&ServerLine::Exit {
                room: "#dev",
                who: why
            })
            .as_deref(),
            Some("[2026-11-24 13:07:08] carol left #dev (off to lunch)")
        );
        let info = RoomInfo {
            room: "#hr",
            private: true,
            members: 1,
            topic: "pay",
        };
        assert_eq!(
            entered_room(&info, true),
            "[*] Now in #hr (private, 1 member; topic: pay)."
        );
        assert_eq!(
            plain(&ServerLine::InRoom(RoomInfo {
                private: false,
                members: 2,
                topic: "",
                ..info
            }))
            .as_deref(),
            Some("[*] You are in #hr (2 members); /go #hr talks there.")
        );
        assert_eq!(parted("#dev", true), "[*] You left #dev; now in #main.");
        assert_eq!(
            kicked("#dev", "bob", "too loud", true),
            "[!] bob put you out of #dev (too loud); now in #main."
        );
        assert_eq!(
            plain(&ServerLine::Kicked {
                room: "#dev",
                name: "carol",
                by: "bob",
                reason: ""
            })
            .as_deref(),
            Some("[*] bob put carol out of #dev")
        );
        assert_eq!(
            plain(&ServerLine::Mode {
                room: "#dev",
                by: "bob",
                changes: "+m"
            })
            .as_deref(),
            Some("[*] bob set +m on #dev")
        );
        assert_eq!(
            plain(&ServerLine::Parted { room: "#dev" }).as_deref(),
            Some("[*] You left #dev.")
        );
        assert_eq!(
            plain(&ServerLine::Topic {
                room: "#dev",
                time: TIME,
                by: "bob",
                text: "ship friday"
            })
            .as_deref(),
            Some("[*] #dev topic: ship friday (set by bob, 2026-11-24 13:07:08)")
        );
        assert_eq!(
            plain(&ServerLine::Topic {
                room: "#dev",
                time: "",
                by: "",
                text: ""
            })
            .as_deref(),
            Some("[*] #dev has no topic.")
        );
        assert_eq!(
            plain(&ServerLine::Invited {
                room: "#hr",
                by: "alice"
            })
            .as_deref(),
            Some("[*] alice invited you to #hr; /join #hr enters it.")
        );
    }

    #[test]
    fn the_room_list_aligns_its_columns_and_marks_the_current_room() {
        let room = |name: &str, members, unread, current, joined| Listed {
            name: name.to_string(),
            private: name == "#hr",
            members,
            topic: if name == "#dev" {
                "ship friday".to_string()
            } else {
                String::new()
            },
            joined,
            current,
            unread,
        };
        let list = room_list(&[
            room("#main", 12, 3, false, true),
            room("#dev", 2, 0, true, true),
            room("#hr", 1, 0, false, false),
        ]);
        assert_eq!(
            list,
            "[*] Rooms (3):\n    \
             #main  12 members  3 unread\n  > \
             #dev    2 members  topic: ship friday\n    \
             #hr     1 member   private  not in"
        );
    }

    #[test]
    fn room_refusals_read_as_the_desks_commands() {
        assert_eq!(
            room_refused(
                ErrorCode::NoSuchRoom,
                "there is no room #x; /room join #x makes it"
            ),
            "[!] No such room: there is no room #x; /join #x makes it"
        );
        assert_eq!(
            room_refused(
                ErrorCode::NotInvited,
                "#hr is private; a member must /room invite you"
            ),
            "[!] Not invited: #hr is private; a member must /invite you"
        );
        assert_eq!(
            room_refused(ErrorCode::BadRoom, "everyone stays in #main"),
            "[!] everyone stays in #main"
        );
        assert_eq!(
            bad_room("dev", RoomProblem::NoHash),
            "[!] \"dev\" is no room's name: a room's name starts with # (#dev)."
        );
    }

    #[test]
    fn a_pending_line_is_not_called_lost() {
        assert_eq!(
            pending("hi\x07"),
            "[*] pending: \"hi^G\" (the server could not confirm it yet; sending it again)"
        );
        assert_eq!(
            unconfirmed("hi", true),
            "[!] The server never confirmed \"hi\"; it may or may not have reached the room; \
             Up-arrow brings it back."
        );
        assert_eq!(
            unconfirmed_dropped(2),
            "[!] 2 lines were not confirmed yet; they may or may not have reached the room."
        );
    }

    #[test]
    fn a_search_result_from_a_room_names_it() {
        let line = ServerLine::RoomFound(RoomChat {
            room: "#dev",
            chat: Chat {
                id: MessageId::from_sequence(1),
                time: TIME,
                name: "alice",
                color: Color::Green,
                text: "the budget",
            },
        });
        assert_eq!(
            plain(&line).as_deref(),
            Some("[found] [2026-11-24 13:07:08] #dev alice: the budget")
        );
    }

    #[test]
    fn time_is_shown_in_the_given_zone() {
        let plus_two = FixedOffset::east_opt(2 * 3600).unwrap();
        let shown = render_line(&msg("a", Color::Blue, "x"), ColorMode::Off, &plus_two);
        assert_eq!(shown.as_deref(), Some("[2026-11-24 15:07:08] a: x"));
    }

    #[test]
    fn unparsable_time_is_shown_cleaned() {
        let line = ServerLine::Msg(Chat {
            id: MessageId::from_sequence(1),
            time: "later\x1b[2J",
            name: "a",
            color: Color::Blue,
            text: "x",
        });
        assert_eq!(plain(&line).as_deref(), Some("[later^[[2J] a: x"));
    }

    #[test]
    fn escapes_in_text_and_name_are_made_visible() {
        let shown = plain(&msg("ev\x07il", Color::Red, "\x1b[31mred\x1b[0m")).unwrap();
        assert_eq!(shown, "[2026-11-24 13:07:08] ev^Gil: ^[[31mred^[[0m");
        let coloured = render_line(
            &msg("a", Color::Red, "\x1b]0;title\x07"),
            ColorMode::On,
            &Utc,
        )
        .unwrap();
        assert!(!coloured.contains('\x07'), "{coloured:?}");
        assert_eq!(coloured.matches('\x1b').count(), 2, "{coloured:?}");
    }

    #[test]
    fn history_looks_like_a_message_when_plain() {
        let line = ServerLine::History(Chat {
            id: MessageId::from_sequence(1),
            time: TIME,
            name: "bob",
            color: Color::Green,
            text: "earlier",
        });
        assert_eq!(
            plain(&line).as_deref(),
            Some("[2026-11-24 13:07:08] bob: earlier")
        );
    }

    #[test]
    fn history_is_dimmed_when_coloured() {
        let line = ServerLine::History(Chat {
            id: MessageId::from_sequence(1),
            time: TIME,
            name: "bob",
            color: Color::Green,
            text: "earlier",
        });
        assert_eq!(
            render_line(&line, ColorMode::On, &Utc).as_deref(),
            Some("\x1b[2m[2026-11-24 13:07:08] \x1b[0m\x1b[38;2;0;135;0mbob\x1b[0m\x1b[2m: earlier\x1b[0m")
        );
    }

    fn direct<'a>(from: &'a str, to: &'a str, text: &'a str) -> Direct<'a> {
        Direct {
            id: MessageId::from_sequence(1),
            time: TIME,
            from,
            color: Color::Green,
            to,
            text,
        }
    }

    #[test]
    fn a_direct_message_names_you_as_you() {
        let to_bob = direct("alice", "bob", "lunch?\x07");
        let seen = |me, replayed| direct_line(&to_bob, me, replayed, ColorMode::Off, &Utc);
        assert_eq!(
            seen(Some("bob"), false),
            "[2026-11-24 13:07:08] alice \u{2192} you: lunch?^G"
        );
        assert_eq!(
            seen(Some("alice"), true),
            "[2026-11-24 13:07:08] you \u{2192} bob: lunch?^G"
        );
        assert_eq!(
            plain(&ServerLine::Direct(to_bob.clone())).as_deref(),
            Some("[2026-11-24 13:07:08] alice \u{2192} bob: lunch?^G")
        );
    }

    #[test]
    fn a_direct_message_is_italic_and_bold_when_for_you() {
        let to_bob = direct("alice", "bob", "hi");
        let seen = |me, replayed| direct_line(&to_bob, me, replayed, ColorMode::On, &Utc);
        assert_eq!(
            seen(Some("bob"), false),
            "\x1b[1;3m[2026-11-24 13:07:08] \x1b[0m\x1b[1;3;38;2;0;135;0malice\x1b[0m\x1b[1;3m \u{2192} you: hi\x1b[0m"
        );
        // Replayed, it is still for you.
        assert_eq!(seen(Some("bob"), true), seen(Some("bob"), false));
        assert_eq!(
            seen(Some("alice"), false),
            "\x1b[3m[2026-11-24 13:07:08] \x1b[0m\x1b[3;38;2;0;135;0myou\x1b[0m\x1b[3m \u{2192} bob: hi\x1b[0m"
        );
        assert!(seen(Some("alice"), true).starts_with("\x1b[2;3m["));
    }

    #[test]
    fn search_results_are_marked_and_direct_ones_name_you() {
        let found = |to| Found {
            chat: Chat {
                id: MessageId::from_sequence(1),
                time: TIME,
                name: "alice",
                color: Color::Green,
                text: "the budget",
            },
            to,
        };
        let seen = |to, me| found_line(&found(to), None, me, ColorMode::Off, &Utc);
        assert_eq!(
            seen(None, Some("alice")),
            "[found] [2026-11-24 13:07:08] alice: the budget"
        );
        assert_eq!(
            seen(Some("bob"), Some("bob")),
            "[found] [2026-11-24 13:07:08] alice \u{2192} you: the budget"
        );
        assert_eq!(
            seen(Some("bob"), Some("alice")),
            "[found] [2026-11-24 13:07:08] you \u{2192} bob: the budget"
        );
    }

    #[test]
    fn a_refused_direct_message_says_why_and_how_to_get_it_back() {
        assert_eq!(
            direct_refused("nobody called dave is online", Some("/msg dave hi"), true),
            "[!] nobody called dave is online; not sent (\"/msg dave hi\"; Up-arrow brings it back)."
        );
        assert_eq!(
            direct_refused("nobody called dave is online", None, false),
            "[!] nobody called dave is online; not sent."
        );
    }

    #[test]
    fn join_and_leave() {
        let who = Presence {
            time: TIME,
            name: "carol",
            color: Color::Yellow,
            reason: "",
        };
        assert_eq!(
            plain(&ServerLine::Join(who.clone())).as_deref(),
            Some("[2026-11-24 13:07:08] carol joined")
        );
        assert_eq!(
            plain(&ServerLine::Leave(who.clone())).as_deref(),
            Some("[2026-11-24 13:07:08] carol left")
        );
        let killed = Presence {
            reason: "Killed (root (spam))",
            ..who
        };
        assert_eq!(
            plain(&ServerLine::Leave(killed)).as_deref(),
            Some("[2026-11-24 13:07:08] carol left (Killed (root (spam)))")
        );
    }

    #[test]
    fn who_lists_names() {
        let person = |name, idle_secs| WhoEntry { name, idle_secs };
        let line = ServerLine::Who {
            count: 3,
            people: vec![
                person("alice", 130),
                person("bob", 5),
                person("carol", 7200),
            ],
        };
        assert_eq!(
            plain(&line).as_deref(),
            Some("[*] 3 online: alice (2m idle), bob, carol (2h idle)")
        );
    }

    #[test]
    fn who_counts_the_unlisted() {
        let line = ServerLine::Who {
            count: 102,
            people: vec![
                WhoEntry {
                    name: "a",
                    idle_secs: 0,
                },
                WhoEntry {
                    name: "b",
                    idle_secs: 0,
                },
            ],
        };
        assert_eq!(
            plain(&line).as_deref(),
            Some("[*] 102 online: a, b, and 100 more")
        );
    }

    #[test]
    fn who_with_nobody() {
        let line = ServerLine::Who {
            count: 0,
            people: vec![],
        };
        assert_eq!(plain(&line).as_deref(), Some("[*] 0 online."));
    }

    #[test]
    fn welcome() {
        let line = ServerLine::Welcome {
            name: "alice",
            color: Color::Red,
            online: 2,
            epoch: "e1",
            desk: "00ff",
        };
        let shown = plain(&line).unwrap();
        assert!(shown.starts_with("[+] You are alice; 2 online."), "{shown}");
    }

    #[test]
    fn error_shows_detail_cleaned() {
        let line = ServerLine::Error {
            code: ErrorCode::EmptyText,
            detail: "the message is empty\x1b",
        };
        assert_eq!(plain(&line).as_deref(), Some("[!] the message is empty^["));
    }

    #[test]
    fn error_without_detail_shows_code() {
        let line = ServerLine::Error {
            code: ErrorCode::BadLine,
            detail: "",
        };
        assert_eq!(plain(&line).as_deref(), Some("[!] bad-line"));
    }

    #[test]
    fn pong_bye_and_resume_show_nothing_here() {
        assert_eq!(plain(&ServerLine::Pong), None);
        assert_eq!(plain(&ServerLine::Bye { reason: "x" }), None);
        let resumed = ServerLine::Resumed {
            epoch: "e1",
            skipped: 0,
            replayed: 0,
        };
        assert_eq!(plain(&resumed), None);
    }

    #[test]
    fn server_notes_are_shown_cleaned() {
        let line = ServerLine::Notice {
            text: "the disk is full\x1b",
        };
        assert_eq!(plain(&line).as_deref(), Some("[!] the disk is full^["));
    }

    #[test]
    fn reconnect_notices() {
        assert_eq!(
            connection_lost("the server is going down"),
            "[!] connection lost; reconnecting... (the server is going down)"
        );
        assert_eq!(
            connection_lost(""),
            "[!] connection lost; reconnecting... (the server closed the connection)"
        );
        assert_eq!(
            reconnected("alice", Duration::from_millis(12_400), 3, None),
            "[+] reconnected as alice (away 12 s); 3 online."
        );
        assert_eq!(
            reconnected("alice", Duration::from_secs(1), 2, Some("b:5002")),
            "[+] reconnected as alice to b:5002 (away 1 s); 2 online."
        );
        assert_eq!(
            missed_not_shown(1),
            "[!] 1 earlier message from while you were away is not shown."
        );
        assert_eq!(
            missed_not_shown(1200),
            "[!] 1200 earlier messages from while you were away are not shown."
        );
        assert_eq!(
            not_sent("the disk is full", Some("hi\x07"), true),
            "[!] not sent: the disk is full (\"hi^G\"; Up-arrow brings it back)."
        );
        assert_eq!(
            not_sent("the disk is full", Some("hi"), false),
            "[!] not sent: the disk is full (\"hi\"; send it again)."
        );
        assert_eq!(
            not_sent("the disk is full", None, false),
            "[!] not sent: the disk is full"
        );
    }

    #[test]
    fn durations_read_like_a_person_says_them() {
        assert_eq!(human_duration(Duration::from_secs(0)), "0 s");
        assert_eq!(human_duration(Duration::from_secs(59)), "59 s");
        assert_eq!(human_duration(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(human_duration(Duration::from_secs(7440)), "2 h 4 min");
    }

    #[test]
    fn notices() {
        assert_eq!(
            name_taken("alice"),
            "[!] The name \"alice\" is taken; choose another."
        );
        assert_eq!(
            no_audio_device("no card"),
            "[!] No audio device (no card); using the terminal bell."
        );
    }

    #[test]
    fn every_palette_colour_is_its_own_rgb() {
        let mut codes: Vec<String> = Color::ALL.iter().map(|c| name_color(*c)).collect();
        assert_eq!(name_color(Color::BrightCyan), "38;2;0;135;175");
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Color::ALL.len());
    }

    #[test]
    fn help_lists_the_commands_under_a_header() {
        let help = help();
        assert!(help.starts_with("[*] Commands:\n    /who "), "{help}");
        assert!(help.contains("/notify [all|mentions|off]"), "{help}");
        assert!(!help.ends_with('\n'), "{help:?}");
    }

    #[test]
    fn command_answers() {
        assert_eq!(
            unknown_command("/etc/hosts"),
            "[!] Unknown command /etc/hosts; type /help for the commands, or //etc/hosts to send it as text."
        );
        assert_eq!(
            misused(&CommandHelp {
                usage: "/me ACTION",
                meaning: "act"
            }),
            "[!] Usage: /me ACTION (act)."
        );
        assert_eq!(
            notify_level(NotifyLevel::Mentions),
            "[*] Notifications: mentions (a sound only for messages that name you or are for you)."
        );
    }
}
