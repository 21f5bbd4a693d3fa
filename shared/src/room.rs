//! Room names: `#` and 1 to [`MAX_ROOM_CHARS`] letters, digits, `-`, `_`
//! or `.` ([`check_room`]). Two names are one room when they differ only in
//! case or look alike, by the same rule as people's names ([`room_key`]).
//! [`MAIN_ROOM`] is the room every desk is in.

use std::fmt;

use crate::name::{is_invisible, name_key};

/// The room every desk is in from the start: the seed's one room.
pub const MAIN_ROOM: &str = "#main";

/// Most characters after the `#`.
pub const MAX_ROOM_CHARS: usize = 32;

/// Checks a room's name: `#`, then 1 to [`MAX_ROOM_CHARS`] letters, digits,
/// `-`, `_` or `.`, nothing invisible.
pub fn check_room(name: &str) -> Result<(), RoomProblem> {
    let Some(rest) = name.strip_prefix('#') else {
        return Err(RoomProblem::NoHash);
    };
    if rest.is_empty() {
        Err(RoomProblem::Empty)
    } else if rest.chars().count() > MAX_ROOM_CHARS {
        Err(RoomProblem::TooLong)
    } else if rest.chars().any(is_invisible) {
        Err(RoomProblem::Invisible)
    } else if !rest
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Err(RoomProblem::BadCharacter)
    } else {
        Ok(())
    }
}

/// The key under which a server keeps a room: its name after the `#`, with
/// case and lookalike letters folded as in [`name_key`].
pub fn room_key(name: &str) -> String {
    name_key(name.strip_prefix('#').unwrap_or(name))
}

/// What is wrong with a room's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomProblem {
    /// It does not start with `#`.
    NoHash,
    /// Nothing after the `#`.
    Empty,
    /// More than [`MAX_ROOM_CHARS`] characters after the `#`.
    TooLong,
    /// A character that may show as nothing.
    Invisible,
    /// Anything but letters, digits, `-`, `_` and `.`.
    BadCharacter,
}

impl fmt::Display for RoomProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomProblem::NoHash => f.write_str("a room's name starts with #"),
            RoomProblem::Empty => f.write_str("a room's name has something after the #"),
            RoomProblem::TooLong => write!(
                f,
                "a room's name is at most {MAX_ROOM_CHARS} characters after the #"
            ),
            RoomProblem::Invisible => {
                f.write_str("a room's name may not hold invisible characters")
            }
            RoomProblem::BadCharacter => f.write_str(
                "a room's name holds only letters, digits, '-', '_' and '.' after the #",
            ),
        }
    }
}

impl std::error::Error for RoomProblem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_rooms_are_accepted() {
        for name in [
            "#dev",
            "#main",
            "#team-a",
            "#v1.2",
            "#snake_case",
            "#Café",
            "#x",
        ] {
            assert_eq!(check_room(name), Ok(()), "{name}");
        }
        assert_eq!(
            check_room(&format!("#{}", "x".repeat(MAX_ROOM_CHARS))),
            Ok(())
        );
    }

    #[test]
    fn a_room_starts_with_a_hash() {
        assert_eq!(check_room("dev"), Err(RoomProblem::NoHash));
        assert_eq!(check_room("#"), Err(RoomProblem::Empty));
    }

    #[test]
    fn long_rooms_are_refused() {
        let name = format!("#{}", "x".repeat(MAX_ROOM_CHARS + 1));
        assert_eq!(check_room(&name), Err(RoomProblem::TooLong));
    }

    #[test]
    fn spaces_punctuation_and_controls_are_refused() {
        for name in ["#a b", "#a,b", "#a:b", "#a\x1b", "##dev", "#a<SEP>b", "#a*"] {
            assert_eq!(check_room(name), Err(RoomProblem::BadCharacter), "{name:?}");
        }
    }

    #[test]
    fn invisible_characters_are_refused() {
        assert_eq!(check_room("#de\u{200B}v"), Err(RoomProblem::Invisible));
    }

    #[test]
    fn case_and_lookalikes_are_one_room() {
        assert_eq!(room_key("#Dev"), room_key("#dev"));
        assert_eq!(room_key("#d\u{435}v"), room_key("#dev"), "Cyrillic е");
        assert_ne!(room_key("#dev"), room_key("#ops"));
    }
}
