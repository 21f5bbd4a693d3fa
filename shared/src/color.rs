//! The colour palette. Colours travel as names, never as escape codes, so a
//! peer cannot smuggle terminal control sequences in through a colour.

use std::fmt;
use std::str::FromStr;

/// A name colour: the sixteen-colour palette of the seed project, minus black
/// (unreadable on most terminals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Color {
    Blue,
    Cyan,
    Green,
    Magenta,
    Red,
    White,
    Yellow,
    BrightBlack,
    BrightBlue,
    BrightCyan,
    BrightGreen,
    BrightMagenta,
    BrightRed,
    BrightWhite,
    BrightYellow,
}

impl Color {
    /// Every colour, in a fixed order.
    pub const ALL: [Color; 15] = [
        Color::Blue,
        Color::Cyan,
        Color::Green,
        Color::Magenta,
        Color::Red,
        Color::White,
        Color::Yellow,
        Color::BrightBlack,
        Color::BrightBlue,
        Color::BrightCyan,
        Color::BrightGreen,
        Color::BrightMagenta,
        Color::BrightRed,
        Color::BrightWhite,
        Color::BrightYellow,
    ];

    /// The name used on the wire and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Cyan => "cyan",
            Color::Green => "green",
            Color::Magenta => "magenta",
            Color::Red => "red",
            Color::White => "white",
            Color::Yellow => "yellow",
            Color::BrightBlack => "bright-black",
            Color::BrightBlue => "bright-blue",
            Color::BrightCyan => "bright-cyan",
            Color::BrightGreen => "bright-green",
            Color::BrightMagenta => "bright-magenta",
            Color::BrightRed => "bright-red",
            Color::BrightWhite => "bright-white",
            Color::BrightYellow => "bright-yellow",
        }
    }

    /// A colour picked from `seed` (any number: a hash, a random value).
    pub fn from_seed(seed: u64) -> Color {
        Color::ALL[(seed % Color::ALL.len() as u64) as usize]
    }

    /// The stable colour for a name, used when its owner chose none: the same
    /// name gets the same colour on every server run.
    pub fn for_name(name: &str) -> Color {
        // FNV-1a: tiny, stable across Rust versions (std's hasher is not).
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.to_lowercase().bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Color::from_seed(hash)
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a colour name outside the palette.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownColor(pub String);

impl fmt::Display for UnknownColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown colour '{}'; choose one of: ", self.0)?;
        let names: Vec<&str> = Color::ALL.iter().map(|c| c.name()).collect();
        f.write_str(&names.join(", "))
    }
}

impl std::error::Error for UnknownColor {}

impl FromStr for Color {
    type Err = UnknownColor;

    /// Accepts the wire names, case-insensitively, with `_` or `-` or nothing
    /// between "bright" and the hue (`bright-red`, `bright_red`, `BrightRed`).
    fn from_str(s: &str) -> Result<Color, UnknownColor> {
        let wanted: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        Color::ALL
            .into_iter()
            .find(|c| c.name().replace('-', "") == wanted)
            .ok_or_else(|| UnknownColor(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back() {
        for color in Color::ALL {
            assert_eq!(color.name().parse::<Color>(), Ok(color));
        }
    }

    #[test]
    fn spelling_variants_parse() {
        assert_eq!("BrightRed".parse::<Color>(), Ok(Color::BrightRed));
        assert_eq!("bright_red".parse::<Color>(), Ok(Color::BrightRed));
        assert_eq!("RED".parse::<Color>(), Ok(Color::Red));
    }

    #[test]
    fn unknown_colour_is_an_error_listing_the_choices() {
        let err = "\x1b[31m".parse::<Color>().unwrap_err();
        assert!(err.to_string().contains("bright-yellow"));
    }

    #[test]
    fn colour_for_name_is_stable_and_case_blind() {
        assert_eq!(Color::for_name("alice"), Color::for_name("Alice"));
        assert_eq!(Color::for_name("alice"), Color::for_name("alice"));
    }
}
