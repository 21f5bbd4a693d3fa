//! What the text of a chat message means to a desk of ours, beyond its
//! words: an action (`/me waves`, shown as `* alice waves`), an IRC
//! client's notice (`/notice build done`, shown as a plain line) and
//! whether it names someone (a mention). The protocol carries both as plain text, so
//! any client, `nc` included, can send them; this module is the one place
//! that reads them. Pure functions; `render` shows, `view` chimes.

/// What an action's text starts with on the wire: `alice<SEP>/me waves`.
/// The server relays it like any text (it starts with the name, not `/`).
pub const ACTION_PREFIX: &str = "/me ";

/// The action in `text`, if it is one: `waves` for `/me waves`.
pub fn action(text: &str) -> Option<&str> {
    text.strip_prefix(ACTION_PREFIX)
}

/// The words of `text` as a desk shows them: a notice without its
/// `/notice`; anything else as it is.
pub fn without_notice(text: &str) -> &str {
    text.strip_prefix(chat_shared::NOTICE_PREFIX)
        .unwrap_or(text)
}

/// The text that carries `action` on the wire.
pub fn action_text(action: &str) -> String {
    format!("{ACTION_PREFIX}{action}")
}

/// Whether `text` names `name`: the name as a whole word, with or without a
/// leading `@`, in any case (`@Alice`, `thanks alice!`). A word is not part
/// of a longer name: `alice` is not named in `malice`, `alicex` or
/// `alice_2`. An action is read without its `/me`, so a person called `me`
/// is not named by every action.
pub fn names(text: &str, name: &str) -> bool {
    let words = action(text).unwrap_or(text).to_lowercase();
    let name = name.to_lowercase();
    if name.is_empty() {
        return false;
    }
    words.match_indices(&name).any(|(at, _)| {
        let before = words[..at].chars().next_back();
        let after = words[at + name.len()..].chars().next();
        !before.is_some_and(continues_a_name) && !after.is_some_and(continues_a_name)
    })
}

/// Characters that, next to a name, make it part of a longer one: letters,
/// digits and the joiners people put in names. Everything else (spaces,
/// `@`, punctuation, an apostrophe as in `alice's`) ends a word.
fn continues_a_name(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_is_text_after_slash_me() {
        assert_eq!(action("/me waves"), Some("waves"));
        assert_eq!(action(&action_text("waves at bob")), Some("waves at bob"));
        assert_eq!(action("/me"), None);
        assert_eq!(action("/meow"), None);
        assert_eq!(action("I /me waves"), None);
    }

    #[test]
    fn a_notice_is_shown_as_its_words() {
        assert_eq!(without_notice("/notice build done"), "build done");
        assert_eq!(without_notice("/noticed it"), "/noticed it");
        assert_eq!(without_notice("plain"), "plain");
    }

    #[test]
    fn a_name_is_named_as_a_word_in_any_case() {
        for text in [
            "alice",
            "hi alice",
            "@alice look",
            "@Alice: look",
            "thanks, ALICE!",
            "alice's idea",
            "(alice)",
            "bob,alice",
        ] {
            assert!(names(text, "alice"), "{text:?}");
        }
    }

    #[test]
    fn a_longer_name_is_not_a_mention() {
        for text in [
            "malice",
            "alicex",
            "alice_2 said",
            "alice-bob",
            "@alice2",
            "alic",
            "",
        ] {
            assert!(!names(text, "alice"), "{text:?}");
        }
    }

    #[test]
    fn a_later_whole_word_counts_after_a_partial_one() {
        assert!(names("malice aforethought, alice", "alice"));
    }

    #[test]
    fn names_with_punctuation_and_other_scripts() {
        assert!(names("ask o'neil.", "O'Neil"));
        assert!(names("ÉMILE, à toi", "émile"));
        assert!(!names("émilea", "émile"));
        assert!(names("thanks 李雷", "李雷"));
    }

    #[test]
    fn an_action_names_by_its_words_only() {
        assert!(names("/me waves at alice", "alice"));
        assert!(!names("/me waves", "me"));
        assert!(names("/me thinks me too", "me"));
    }
}
