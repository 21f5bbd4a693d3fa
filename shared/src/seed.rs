//! The seed project's own desks: its Python client, unchanged, in our room.
//!
//! That client frames nothing: each `send()` is one message,
//! `COLOR[YYYY-MM-DD HH:MM:SS] NAME<SEP>TEXTRESET`, where COLOR is a colorama
//! foreground code (`ESC[34m`), the time is the desk's own clock, and RESET is
//! colorama's `Fore.RESET`, `ESC[39m`, with no newline. It prints whatever
//! bytes it receives, as they come.
//!
//! So a connection whose first byte is ESC is a seed desk (no line of our
//! protocol starts with one); its messages end at [`FRAME_END`]
//! ([`crate::LineReader::ending_with`]). Its colour code is read as one of
//! our colour names and never relayed as bytes, and its timestamp is ignored:
//! the server's is the one that counts. What it receives is rendered the way
//! the seed server relayed messages, `COLOR[time] NAME: TEXTRESET`, one per
//! line, in the server's local time.

use chrono::Local;

use crate::message::{parse_timestamp, ParseError};
use crate::name::check_name;
use crate::{Color, ServerLine, SEPARATOR};

/// What ends a seed desk's message: colorama's `Fore.RESET`.
pub const FRAME_END: &[u8] = b"\x1b[39m";

/// True when a connection's first byte says it is a seed desk.
pub fn is_seed_desk(first_byte: u8) -> bool {
    first_byte == 0x1b
}

/// One message from a seed desk, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedFrame<'a> {
    /// The colour it asked for, if its code is one of our colours.
    pub color: Option<Color>,
    /// The name it gave.
    pub name: &'a str,
    /// What it said, not yet cleaned.
    pub text: &'a str,
}

/// Parses a seed desk's message, without its [`FRAME_END`]:
/// `ESC[NNm[YYYY-MM-DD HH:MM:SS] NAME<SEP>TEXT`. The colour code and the time
/// are optional, so a hand-typed frame is still understood.
pub fn parse_frame(frame: &str) -> Result<SeedFrame<'_>, ParseError> {
    let (color, rest) = match frame.strip_prefix("\x1b[") {
        Some(rest) => {
            let (code, rest) = rest.split_once('m').ok_or(ParseError::NotAMessage)?;
            (code.parse().ok().and_then(color_of_code), rest)
        }
        None => (None, frame),
    };
    let rest = match rest.strip_prefix('[') {
        Some(stamped) => stamped.split_once("] ").map_or(rest, |(_, after)| after),
        None => rest,
    };
    let (name, text) = rest.split_once(SEPARATOR).ok_or(ParseError::NotAMessage)?;
    check_name(name)?;
    if text.trim().is_empty() {
        return Err(ParseError::EmptyText);
    }
    Ok(SeedFrame { color, name, text })
}

/// The colour a colorama foreground code stands for, if it is one of ours:
/// black, white and their bright forms (30, 37, 90, 97) are not name
/// colours, so a seed desk asking for one gets the colour its name gives.
fn color_of_code(code: u8) -> Option<Color> {
    Color::ALL
        .into_iter()
        .find(|color| ansi_code(*color) == code)
}

/// The ANSI foreground code of a colour, as colorama writes it.
pub fn ansi_code(color: Color) -> u8 {
    match color {
        Color::Red => 31,
        Color::Green => 32,
        Color::Yellow => 33,
        Color::Blue => 34,
        Color::Magenta => 35,
        Color::Cyan => 36,
        Color::BrightRed => 91,
        Color::BrightGreen => 92,
        Color::BrightYellow => 93,
        Color::BrightBlue => 94,
        Color::BrightMagenta => 95,
        Color::BrightCyan => 96,
    }
}

/// What a seed desk is sent for `line`, or `None` when it has no use for it
/// (`WELCOME`, `WHO`, `PONG`, `RESUME`). Every field was cleaned when `line`
/// was encoded; the only escape codes here are our own colour and reset.
pub fn render(line: &ServerLine<'_>) -> Option<Vec<u8>> {
    let reset = std::str::from_utf8(FRAME_END).unwrap_or_default();
    let text = match line {
        ServerLine::Msg(chat) | ServerLine::History(chat) => format!(
            "\x1b[{}m[{}] {}: {}{reset}",
            ansi_code(chat.color),
            local_time(chat.time),
            chat.name,
            chat.text
        ),
        // A seed desk cannot write one, but it can be written to.
        ServerLine::Direct(d) => format!(
            "\x1b[{}m[{}] {} (to you): {}{reset}",
            ansi_code(d.color),
            local_time(d.time),
            d.from,
            d.text
        ),
        ServerLine::Join(p) => format!(
            "\x1b[{}m[{}] {} joined{reset}",
            ansi_code(p.color),
            local_time(p.time),
            p.name
        ),
        ServerLine::Leave(p) => format!(
            "\x1b[{}m[{}] {} left{reset}",
            ansi_code(p.color),
            local_time(p.time),
            p.name
        ),
        ServerLine::Error { detail, .. } => format!("[!] {detail}"),
        ServerLine::Bye { reason } => format!("[!] {reason}"),
        ServerLine::Notice { text } => format!("[!] {text}"),
        ServerLine::Welcome { .. }
        | ServerLine::DirectHistory(_)
        | ServerLine::Searched { .. }
        | ServerLine::Found(_)
        | ServerLine::Who { .. }
        | ServerLine::Pong
        | ServerLine::Resumed { .. }
        // A seed desk never tags its lines (`/tx`), nor enters rooms.
        | ServerLine::Sent { .. }
        | ServerLine::Unsure { .. }
        | ServerLine::Unsent { .. }
        | ServerLine::RoomMsg(_)
        | ServerLine::RoomHistory(_)
        | ServerLine::RoomFound(_)
        | ServerLine::Enter { .. }
        | ServerLine::Exit { .. }
        | ServerLine::InRoom(_)
        | ServerLine::Parted { .. }
        | ServerLine::Rooms { .. }
        | ServerLine::RoomListed(_)
        | ServerLine::Topic { .. }
        | ServerLine::Invited { .. }
        | ServerLine::Mode { .. }
        | ServerLine::Kicked { .. } => return None,
    };
    let mut bytes = text.into_bytes();
    bytes.push(b'\n');
    Some(bytes)
}

/// A wire time as the seed printed its own: local, to the second.
fn local_time(time: &str) -> String {
    parse_timestamp(time).map_or_else(
        || time.to_string(),
        |t| {
            t.with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Chat, Presence};
    use crate::MessageId;

    #[test]
    fn a_seed_frame_is_understood() {
        assert_eq!(
            parse_frame("\x1b[94m[2021-10-26 13:07:08] sharan<SEP>hello there you guys"),
            Ok(SeedFrame {
                color: Some(Color::BrightBlue),
                name: "sharan",
                text: "hello there you guys"
            })
        );
    }

    #[test]
    fn colorama_colours_map_onto_ours_but_black_and_white() {
        for code in (31..=36).chain(91..=96) {
            let color = color_of_code(code).unwrap_or_else(|| panic!("code {code}"));
            assert_eq!(ansi_code(color), code);
        }
        for unreadable in [30, 37, 90, 97, 1] {
            assert_eq!(color_of_code(unreadable), None, "code {unreadable}");
        }
    }

    #[test]
    fn a_seed_desk_in_white_gets_no_colour_of_its_own() {
        let frame = parse_frame("\x1b[97m[2021-10-26 13:07:08] siri<SEP>hi").unwrap();
        assert_eq!((frame.color, frame.name), (None, "siri"));
    }

    #[test]
    fn an_unknown_code_is_no_colour_not_an_error() {
        let frame = parse_frame("\x1b[38;5;196m[2021-10-26 13:07:08] bob<SEP>hi").unwrap();
        assert_eq!((frame.color, frame.name), (None, "bob"));
    }

    #[test]
    fn the_timestamp_is_optional_and_ignored() {
        let frame = parse_frame("\x1b[32mbob<SEP>[not a time] hi").unwrap();
        assert_eq!((frame.name, frame.text), ("bob", "[not a time] hi"));
    }

    #[test]
    fn seed_names_follow_our_rules() {
        assert!(parse_frame("\x1b[32m[2021-10-26 13:07:08] two words<SEP>hi").is_err());
        assert_eq!(
            parse_frame("\x1b[32m[2021-10-26 13:07:08] bob<SEP>  "),
            Err(ParseError::EmptyText)
        );
        assert_eq!(parse_frame("\x1b[32mjunk"), Err(ParseError::NotAMessage));
    }

    #[test]
    fn only_an_escape_starts_a_seed_desk() {
        assert!(is_seed_desk(0x1b));
        for first in [b'a', b'/', b'\n', b'H'] {
            assert!(!is_seed_desk(first));
        }
    }

    #[test]
    fn a_message_renders_like_the_seed_relayed_it() {
        let line = ServerLine::Msg(Chat {
            id: MessageId::from_sequence(3),
            time: "2026-11-25T13:07:08.123Z",
            name: "alice",
            color: Color::Green,
            text: "hello",
        });
        let rendered = String::from_utf8(render(&line).unwrap()).unwrap();
        let stamp = local_time("2026-11-25T13:07:08.123Z");
        assert_eq!(
            rendered,
            format!("\x1b[32m[{stamp}] alice: hello\x1b[39m\n")
        );
        assert_eq!(stamp.len(), "2026-11-25 13:07:08".len());
    }

    #[test]
    fn presence_and_refusals_render_as_lines() {
        let presence = Presence {
            time: "2026-11-25T13:07:08.123Z",
            name: "bob",
            color: Color::Red,
            reason: "",
        };
        let joined = String::from_utf8(render(&ServerLine::Join(presence)).unwrap()).unwrap();
        assert!(joined.ends_with("] bob joined\x1b[39m\n"), "{joined:?}");
        let refused = ServerLine::Error {
            code: crate::ErrorCode::NameTaken,
            detail: "the name bob is taken; choose another",
        };
        assert_eq!(
            render(&refused).unwrap(),
            b"[!] the name bob is taken; choose another\n"
        );
        assert_eq!(render(&ServerLine::Pong), None);
    }
}
