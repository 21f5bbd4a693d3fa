//! Makes peer-supplied text safe to relay and to print.
//!
//! Invalid UTF-8 becomes U+FFFD. Control characters are never passed on: a
//! relayed ESC or BEL would let one user recolour, clear or beep everyone
//! else's terminal. They are made visible instead of dropped, so nothing a user
//! sent silently disappears: C0 controls and DEL in caret notation (`^[`, `^G`,
//! `^?`), C1 controls and the invisible bidirectional overrides (which can make
//! text read backwards) as `<U+XXXX>`. A tab becomes a space. `\r` and `\n`
//! are controls too (`^M`, `^J`), so cleaned text never ends a line early.
//!
//! Cleaning is idempotent: everything [`clean`] writes is itself printable,
//! so text cleaned twice (by the server's room, then by
//! [`crate::ServerLine::encode`]) is the same as text cleaned once.

use std::borrow::Cow;

/// Decodes `raw` (replacing invalid UTF-8) and makes its controls visible.
pub fn clean_bytes(raw: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(raw) {
        Cow::Borrowed(text) => clean(text),
        Cow::Owned(text) => Cow::Owned(clean(&text).into_owned()),
    }
}

/// Makes the controls in `text` visible; borrows when there are none.
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// True for the characters [`clean`] rewrites: controls and bidi overrides.
pub fn is_unprintable(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

fn push_visible(out: &mut String, c: char) {
    match c {
        '\t' => out.push(' '),
        '\0'..='\x1f' => {
            out.push('^');
            out.push(char::from(c as u8 + b'@'));
        }
        '\x7f' => out.push_str("^?"),
        c if is_unprintable(c) => out.push_str(&format!("<U+{:04X}>", c as u32)),
        c => out.push(c),
    }
}

/// The Unicode bidirectional formatting characters ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(
            clean("hello, wörld ✓"),
            Cow::Borrowed("hello, wörld ✓")
        ));
    }

    #[test]
    fn ansi_escape_made_visible() {
        assert_eq!(clean("\x1b[31mred\x1b[0m"), "^[[31mred^[[0m");
    }

    #[test]
    fn bell_made_visible() {
        assert_eq!(clean("ding\x07"), "ding^G");
    }

    #[test]
    fn nul_and_del() {
        assert_eq!(clean("a\0b\x7f"), "a^@b^?");
    }

    #[test]
    fn carriage_return_inside_text() {
        assert_eq!(clean("fake\rreal"), "fake^Mreal");
    }

    #[test]
    fn line_breaks_made_visible() {
        assert_eq!(clean("one\ntwo\r\nthree"), "one^Jtwo^M^Jthree");
    }

    #[test]
    fn cleaning_is_idempotent() {
        let once = clean("\x1b[31m\x07\0\x7f\t\r\n\u{9b}\u{85}\u{202E}\u{2066}ok ✓");
        assert!(
            matches!(clean(&once), Cow::Borrowed(again) if again == once),
            "{once:?}"
        );
    }

    #[test]
    fn cleaning_bytes_is_idempotent() {
        let once = clean_bytes(b"\xff\x1b\xc2\x9b\r");
        assert!(matches!(clean_bytes(once.as_bytes()), Cow::Borrowed(again) if again == once));
    }

    #[test]
    fn tab_becomes_space() {
        assert_eq!(clean("a\tb"), "a b");
    }

    #[test]
    fn c1_control_made_visible() {
        // U+009B is the one-character CSI: as dangerous as ESC [.
        assert_eq!(clean("x\u{9b}31m"), "x<U+009B>31m");
    }

    #[test]
    fn bidi_override_made_visible() {
        assert_eq!(clean("abc\u{202E}def"), "abc<U+202E>def");
    }

    #[test]
    fn invalid_utf8_replaced() {
        assert_eq!(clean_bytes(b"ok\xff\xfe!"), "ok\u{FFFD}\u{FFFD}!");
    }

    #[test]
    fn invalid_utf8_and_controls_together() {
        assert_eq!(clean_bytes(b"\xff\x1b"), "\u{FFFD}^[");
    }
}
