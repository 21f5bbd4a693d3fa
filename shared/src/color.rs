//! The colour palette. Colours travel as names, never as escape codes, so a
//! peer cannot smuggle terminal control sequences in through a colour. Each
//! name stands for one RGB value that reads well on dark and light
//! terminals alike, so a name looks the same on every desk.

use std::fmt;
use std::str::FromStr;

/// A name colour: the seed project's sixteen-colour names, less the four
/// that vanish on one background or the other (black and bright-black on a
/// dark terminal, white and bright-white on a light one). Each stands for
/// the RGB value [`Color::rgb`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Color {
    Blue,
    Cyan,
    Green,
    Magenta,
    Red,
    Yellow,
    BrightBlue,
    BrightCyan,
    BrightGreen,
    BrightMagenta,
    BrightRed,
    BrightYellow,
}

impl Color {
    /// Every colour, in a fixed order.
    pub const ALL: [Color; 12] = [
        Color::Blue,
        Color::Cyan,
        Color::Green,
        Color::Magenta,
        Color::Red,
        Color::Yellow,
        Color::BrightBlue,
        Color::BrightCyan,
        Color::BrightGreen,
        Color::BrightMagenta,
        Color::BrightRed,
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
            Color::Yellow => "yellow",
            Color::BrightBlue => "bright-blue",
            Color::BrightCyan => "bright-cyan",
            Color::BrightGreen => "bright-green",
            Color::BrightMagenta => "bright-magenta",
            Color::BrightRed => "bright-red",
            Color::BrightYellow => "bright-yellow",
        }
    }

    /// The colour as (red, green, blue). Every value has a WCAG 2 contrast
    /// ratio of at least 3:1 against both black and white (a relative
    /// luminance between 0.12 and 0.28), so a name stays readable whatever
    /// the terminal's background; a terminal's own "white" or "bright
    /// black" would not. The "bright" one of a pair is the lighter. Every
    /// channel is a level of the xterm 256-colour cube (0, 95, 135, 175,
    /// 215, 255), so a terminal that rounds RGB to its 256 colours shows
    /// exactly this colour.
    pub fn rgb(self) -> (u8, u8, u8) {
        match self {
            Color::Blue => (0, 95, 215),
            Color::Cyan => (0, 135, 135),
            Color::Green => (0, 135, 0),
            Color::Magenta => (175, 0, 175),
            Color::Red => (215, 0, 0),
            Color::Yellow => (135, 95, 0),
            Color::BrightBlue => (95, 95, 255),
            Color::BrightCyan => (0, 135, 175),
            Color::BrightGreen => (95, 135, 0),
            Color::BrightMagenta => (215, 95, 215),
            Color::BrightRed => (215, 95, 95),
            Color::BrightYellow => (175, 135, 0),
        }
    }

    /// The stable colour for a name, used when its owner chose none: the same
    /// name gets the same colour on every run and every desk.
    pub fn for_name(name: &str) -> Color {
        // FNV-1a: tiny, stable across Rust versions (std's hasher is not).
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.to_lowercase().bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Color::ALL[(hash % Color::ALL.len() as u64) as usize]
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
        // Pinned: every desk and every run, past and future, agree.
        assert_eq!(Color::for_name("alice"), PINNED_ALICE);
    }

    /// What [`Color::for_name`] gives "alice"; a change here recolours
    /// everyone.
    const PINNED_ALICE: Color = Color::BrightYellow;

    #[test]
    fn names_spread_over_the_whole_palette() {
        let mut seen: Vec<Color> = (0..200)
            .map(|i| Color::for_name(&format!("desk{i}")))
            .collect();
        seen.sort_by_key(|c| c.name());
        seen.dedup();
        assert_eq!(seen.len(), Color::ALL.len());
    }

    #[test]
    fn colours_unreadable_on_one_background_are_not_names() {
        for gone in ["white", "bright-white", "bright-black", "black"] {
            assert!(gone.parse::<Color>().is_err(), "{gone}");
        }
    }

    /// WCAG 2 relative luminance of an sRGB colour.
    fn relative_luminance((r, g, b): (u8, u8, u8)) -> f64 {
        let linear = |channel: u8| {
            let c = f64::from(channel) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    }

    /// WCAG 2 contrast ratio of two colours, from 1 (none) to 21.
    fn contrast_ratio(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
        let (la, lb) = (relative_luminance(a), relative_luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn the_contrast_formula_matches_wcag() {
        let (black, white) = ((0, 0, 0), (255, 255, 255));
        assert!((contrast_ratio(black, white) - 21.0).abs() < 1e-9);
        assert!((contrast_ratio(white, white) - 1.0).abs() < 1e-9);
        // WCAG's own example: #777777 on white is just under 4.5:1.
        let grey = contrast_ratio((0x77, 0x77, 0x77), white);
        assert!((4.47..4.49).contains(&grey), "{grey}");
    }

    #[test]
    fn every_colour_reads_on_black_and_on_white() {
        for color in Color::ALL {
            for (background, rgb) in [("black", (0, 0, 0)), ("white", (255, 255, 255))] {
                let ratio = contrast_ratio(color.rgb(), rgb);
                assert!(
                    ratio >= 3.0,
                    "{color} {:?} on {background}: {ratio:.2}:1",
                    color.rgb()
                );
            }
        }
    }

    #[test]
    fn every_colour_has_its_own_rgb_and_bright_is_lighter() {
        let mut values: Vec<(u8, u8, u8)> = Color::ALL.iter().map(|c| c.rgb()).collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), Color::ALL.len());
        for (plain, bright) in Color::ALL[..6].iter().zip(&Color::ALL[6..]) {
            assert_eq!(bright.name(), format!("bright-{plain}"));
            assert!(
                relative_luminance(bright.rgb()) > relative_luminance(plain.rgb()),
                "{bright} is not lighter than {plain}"
            );
        }
    }
}
