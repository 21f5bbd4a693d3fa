//! IRC lines as the server reads and writes them: the limits of the
//! protocol (512 bytes with the `\r\n`, tags aside; modern.ircdocs.horse
//! "Message format"), long text split to fit, formatting codes dropped.
//! Reading and writing one line ([`Message`], [`Out`]) is
//! `chat_shared::irc`'s, which the load tool's IRC desks share.

pub use chat_shared::irc::{Message, Out};

/// Longest line without its tags, `\r\n` included.
pub const MAX_LINE_BYTES: usize = 512;

/// Most bytes of tags a client may send (`@` and the space included): the
/// message-tags spec's 4094 of client data.
pub const MAX_CLIENT_TAG_BYTES: usize = 4096;

/// Longest line a client may send, tags and all: what the line reader is
/// set to for an IRC connection.
pub const MAX_INPUT_BYTES: usize = MAX_CLIENT_TAG_BYTES + MAX_LINE_BYTES;

/// `text` cut into pieces of at most `limit` bytes each, at character
/// boundaries, after a space where there is one in the second half of a
/// piece: a long message reaches IRC clients split, never cut.
pub fn split_text(text: &str, limit: usize) -> Vec<&str> {
    let limit = limit.max(4);
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > limit {
        let mut end = limit;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(space) = rest[..end].rfind(' ').filter(|at| *at >= end / 2) {
            end = space + 1;
        }
        pieces.push(&rest[..end]);
        rest = &rest[end..];
    }
    pieces.push(rest);
    pieces
}

/// IRC's formatting codes (bold, colours, italics, ...) taken out of
/// `text`, so that our desks never get them as control bytes.
pub fn strip_formatting(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x02' | '\x0f' | '\x11' | '\x16' | '\x1d' | '\x1e' | '\x1f' => {}
            // Colour: up to two digits, then optionally a comma and two more.
            '\x03' => {
                let foreground = skip_digits(&mut chars);
                if foreground > 0 && chars.peek() == Some(&',') {
                    let mut ahead = chars.clone();
                    ahead.next();
                    if ahead.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                        skip_digits(&mut chars);
                    }
                }
            }
            // Hex colour: six hex digits, optionally a comma and six more.
            '\x04' => {
                for _ in 0..6 {
                    chars.next_if(char::is_ascii_hexdigit);
                }
                if chars.peek() == Some(&',') {
                    chars.next();
                    for _ in 0..6 {
                        chars.next_if(char::is_ascii_hexdigit);
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Skips up to two digits; says how many.
fn skip_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> usize {
    (0..2)
        .take_while(|_| chars.next_if(char::is_ascii_digit).is_some())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_split_at_spaces_and_characters() {
        let text = "word ".repeat(30);
        let pieces = split_text(&text, 32);
        assert!(pieces.iter().all(|p| p.len() <= 32));
        assert_eq!(pieces.concat(), text);
        let wide = "é".repeat(40);
        let pieces = split_text(&wide, 9);
        assert!(pieces.iter().all(|p| p.len() <= 9 && !p.is_empty()));
        assert_eq!(pieces.concat(), wide);
    }

    #[test]
    fn formatting_codes_are_dropped() {
        assert_eq!(
            strip_formatting("\x02bold\x02 \x0304,12red\x03 \x1ditalic\x0f 3\x03,5"),
            "bold red italic 3,5"
        );
        assert_eq!(strip_formatting("\x04ff00AAhex"), "hex");
    }
}
