//! Names: which ones a person may take ([`check_name`]) and when two of them
//! are the same name ([`name_key`]).
//!
//! Both rules lean on Unicode Technical Standard #39 (security mechanisms)
//! through `unicode_security`, so no table of lookalikes or invisible
//! characters is kept here.

use std::fmt;

use unicode_security::skeleton;

use crate::{MAX_NAME_CHARS, SEPARATOR};

/// Checks a name: 1 to [`MAX_NAME_CHARS`] characters, no spaces, no control,
/// invisible or formatting characters, no `<SEP>`, no leading `/`.
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    let problem = if name.is_empty() {
        Some(NameProblem::Empty)
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some(NameProblem::TooLong)
    } else if name.chars().any(is_invisible) {
        Some(NameProblem::Invisible)
    } else if name
        .chars()
        .any(|c| c.is_whitespace() || crate::sanitize::is_unprintable(c))
        || name.contains(SEPARATOR)
        || name.starts_with('/')
    {
        Some(NameProblem::BadCharacter)
    } else {
        None
    };
    problem.map_or(Ok(()), Err)
}

/// What is wrong with a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// More than [`MAX_NAME_CHARS`] characters.
    TooLong,
    /// A character that may show as nothing (zero-width space, joiners,
    /// direction marks, variation selectors, ...), so that two names that
    /// look identical could differ.
    Invisible,
    /// Whitespace, a control character, `<SEP>` or a leading `/`.
    BadCharacter,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("the name is empty"),
            NameProblem::TooLong => write!(f, "names are at most {MAX_NAME_CHARS} characters"),
            NameProblem::Invisible => f.write_str(
                "names may not hold invisible characters (zero-width spaces, joiners, \
                 direction marks and the like)",
            ),
            NameProblem::BadCharacter => f.write_str(
                "names may not hold spaces, control characters, <SEP> or start with '/'",
            ),
        }
    }
}

impl std::error::Error for NameProblem {}

/// True for a Default_Ignorable_Code_Point: Unicode's list of characters a
/// renderer may draw as nothing (most format characters, variation selectors,
/// Hangul fillers, tags). A UTS #39 skeleton drops exactly these, so one of
/// them alone has an empty skeleton; that keeps the list Unicode's, not ours.
pub(crate) fn is_invisible(c: char) -> bool {
    let mut buf = [0; 4];
    let vanishes = skeleton(c.encode_utf8(&mut buf)).next().is_none();
    vanishes
}

/// The key under which a server keeps `name` unique: two names get the same
/// key when they differ only in case or only look alike (UTS #39 confusables),
/// such as `alice`, `ALICE`, `AIice` (capital I) and `аlice` (Cyrillic а).
///
/// The key is for comparing, never for showing: `alice`'s key is `allce`.
///
/// Case and lookalikes do not commute, so the order matters. The skeleton
/// takes capital I to l but leaves small i alone, so lower-casing after it
/// would part `alice` from `ALICE`; and it takes Cyrillic М to Latin M but
/// small м to a small-capital letter, so lower-casing before it would part
/// `МАХ` from `max` (and skeleton-then-lower-case would part `ДМИТРИЙ` from
/// `Дмитрий`). So each round upper-cases first, which makes case variants
/// identical before any table is consulted and meets most cross-script
/// lookalikes where they live, in the capitals; then takes the skeleton,
/// lower-cases and takes the skeleton again, so that lower-case lookalikes
/// such as `rn` and `m` meet too. Rounds repeat until nothing changes.
///
/// The price of judging letters by their capitals: where a letter's two cases
/// look like different Latin letters (Greek ν looks like v, its capital Ν like
/// N), the capital wins, so `νick` is `nick`'s name and not `vick`'s. No single
/// key can be both.
pub fn name_key(name: &str) -> String {
    /// Rounds settle after two for every single character; this bound only
    /// keeps a pathological name from looping.
    const MAX_ROUNDS: usize = 4;
    let mut key = name.to_lowercase();
    for _ in 0..MAX_ROUNDS {
        let upper: String = skeleton(&key.to_uppercase()).collect();
        let next: String = skeleton(&upper.to_lowercase()).collect();
        if next == key {
            break;
        }
        key = next;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_as_invisible(name: &str) -> bool {
        check_name(name) == Err(NameProblem::Invisible)
    }

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "alice",
            "José",
            "Дмитрий",
            "李雷",
            "Zoë",
            "o'brien",
            "x-1_2",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name:?}");
        }
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
    }

    #[test]
    fn spaces_and_controls_are_bad_characters() {
        for name in ["has space", "esc\x1b", "tab\t", "/slash", "a<SEP>b"] {
            assert_eq!(check_name(name), Err(NameProblem::BadCharacter), "{name:?}");
        }
    }

    #[test]
    fn zero_width_space_is_invisible() {
        assert!(refused_as_invisible("al\u{200B}ice"));
    }

    #[test]
    fn zero_width_joiners_are_invisible() {
        assert!(refused_as_invisible("al\u{200C}ice"));
        assert!(refused_as_invisible("al\u{200D}ice"));
    }

    #[test]
    fn word_joiner_is_invisible() {
        assert!(refused_as_invisible("al\u{2060}ice"));
    }

    #[test]
    fn byte_order_mark_is_invisible() {
        assert!(refused_as_invisible("\u{FEFF}alice"));
    }

    #[test]
    fn soft_hyphen_is_invisible() {
        assert!(refused_as_invisible("al\u{AD}ice"));
    }

    #[test]
    fn bidi_embeddings_and_overrides_are_invisible() {
        for c in '\u{202A}'..='\u{202E}' {
            assert!(
                refused_as_invisible(&format!("alice{c}")),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn bidi_isolates_are_invisible() {
        for c in '\u{2066}'..='\u{2069}' {
            assert!(
                refused_as_invisible(&format!("alice{c}")),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn direction_marks_are_invisible() {
        assert!(refused_as_invisible("alice\u{200E}"));
        assert!(refused_as_invisible("alice\u{200F}"));
    }

    #[test]
    fn mongolian_vowel_separator_is_invisible() {
        assert!(refused_as_invisible("al\u{180E}ice"));
    }

    #[test]
    fn combining_grapheme_joiner_is_invisible() {
        assert!(refused_as_invisible("al\u{34F}ice"));
    }

    #[test]
    fn variation_selectors_are_invisible() {
        for c in '\u{FE00}'..='\u{FE0F}' {
            assert!(
                refused_as_invisible(&format!("alice{c}")),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn tag_characters_are_invisible() {
        for c in '\u{E0000}'..='\u{E007F}' {
            assert!(
                refused_as_invisible(&format!("alice{c}")),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn hangul_fillers_are_invisible() {
        for c in ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'] {
            assert!(refused_as_invisible(&format!("{c}")), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn invisible_refusal_says_why() {
        let err = check_name("al\u{200B}ice").unwrap_err();
        assert!(err.to_string().contains("invisible"), "{err}");
    }

    #[test]
    fn case_variants_share_a_key() {
        for name in ["ALICE", "Alice", "aLiCe"] {
            assert_eq!(name_key(name), name_key("alice"), "{name:?}");
        }
    }

    #[test]
    fn cyrillic_a_shares_alices_key() {
        assert_eq!(name_key("\u{430}lice"), name_key("alice"));
    }

    #[test]
    fn capital_i_for_l_shares_alices_key() {
        assert_eq!(name_key("AIice"), name_key("alice"));
    }

    #[test]
    fn cyrillic_i_shares_alices_key() {
        assert_eq!(name_key("al\u{456}ce"), name_key("alice"));
        assert_eq!(name_key("AL\u{406}CE"), name_key("alice"));
    }

    #[test]
    fn different_names_differ() {
        assert_ne!(name_key("bob"), name_key("alice"));
        assert_ne!(name_key("alice"), name_key("alicia"));
    }

    #[test]
    fn rn_and_m_are_the_same_name() {
        // The skeleton reads "rn" as "m"; at chat-name sizes they are.
        assert_eq!(name_key("rn"), name_key("m"));
        assert_eq!(name_key("RN"), name_key("M"));
        assert_eq!(name_key("carn"), name_key("cam"));
    }

    #[test]
    fn digits_that_look_like_letters_are_the_same_name() {
        assert_eq!(name_key("b0b"), name_key("bob"));
        assert_eq!(name_key("a1ice"), name_key("alice"));
    }

    #[test]
    fn cyrillic_capitals_share_latin_keys() {
        // М А Х in Cyrillic, which upper-casing first is there to catch.
        assert_eq!(name_key("\u{41C}\u{410}\u{425}"), name_key("max"));
    }

    #[test]
    fn non_latin_case_variants_share_a_key() {
        assert_eq!(name_key("ДМИТРИЙ"), name_key("Дмитрий"));
        assert_eq!(name_key("ΣΟΦΊΑ"), name_key("σοφία"));
        assert_eq!(name_key("JOSÉ"), name_key("José"));
        assert_eq!(name_key("ZOË"), name_key("Zoë"));
    }

    #[test]
    fn accents_still_count() {
        assert_ne!(name_key("José"), name_key("Jose"));
        assert_ne!(name_key("Zoë"), name_key("Zoe"));
    }

    #[test]
    fn greek_nu_is_judged_by_its_capital() {
        // ν looks like v, but Ν like N: the capital wins (see name_key).
        assert_eq!(name_key("\u{39D}ick"), name_key("Nick"));
        assert_eq!(name_key("\u{3BD}ick"), name_key("nick"));
    }

    #[test]
    fn case_never_matters_for_latin_greek_or_cyrillic() {
        let letters = ('\0'..='\u{52F}').filter(|c| c.is_alphanumeric());
        for c in letters.map(String::from) {
            let key = name_key(&c);
            assert_eq!(name_key(&c.to_lowercase()), key, "{c:?}");
            assert_eq!(name_key(&c.to_uppercase()), key, "{c:?}");
        }
    }

    #[test]
    fn key_is_stable() {
        for name in ["alice", "AIice", "Дмитрий", "rn", "李雷", "Zoë", "ßtraße"] {
            let key = name_key(name);
            assert_eq!(name_key(&key), key, "{name:?}");
        }
    }
}
