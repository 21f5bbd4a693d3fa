//! `--irc`: a load desk that speaks IRC, as irssi or a bot would, on the
//! chat port. It registers (`NICK`, `USER`) after asking for two
//! capabilities: `message-tags`, so every message carries the room's ID
//! (`@msgid=EPOCH/ID`) and the order check works as for our desks, and
//! `echo-message`, so a sender gets its own messages back as our desks do
//! and both kinds of desk owe the same deliveries. It speaks in `#main`
//! only after the welcome burst has ended (`376` or `422`), answers the
//! server's `PING`, and reads `PRIVMSG #main` lines back.
//!
//! Lines are read and written with `chat_shared::irc`, the server's own.

use chat_shared::irc::{Message, Out};
use chat_shared::MessageId;

use crate::marker::{self, Delivery, Seen};

/// The channel the load talks in: our `#main`.
const CHANNEL: &str = "#main";

/// The capabilities asked for (see the module docs).
const CAPABILITIES: &str = "message-tags echo-message";

/// One IRC desk's state between the engine and the server: what it may not
/// say before its welcome.
#[derive(Debug, Default)]
pub struct IrcDesk {
    /// The welcome burst has ended: messages go out as they are queued.
    welcomed: bool,
    /// Messages queued before that, in order.
    held: Vec<u8>,
}

impl IrcDesk {
    /// A desk about to register; what it sends first is [`registration`].
    pub fn new() -> IrcDesk {
        IrcDesk::default()
    }

    /// Queues `PRIVMSG #main :text` on `out`, or holds it until the welcome.
    pub fn say(&mut self, text: &str, out: &mut Vec<u8>) {
        let mut line = Out::new();
        line.text_line("", "", "PRIVMSG", &[CHANNEL, text]);
        let target = if self.welcomed { out } else { &mut self.held };
        target.extend_from_slice(&line.into_bytes());
    }

    /// Looks at one line from the server before the driver does: a `PING`
    /// is answered on `out`, the end of the welcome burst lets the held
    /// messages go.
    pub fn heard(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let Some(message) = std::str::from_utf8(line).ok().and_then(Message::parse) else {
            return;
        };
        if message.is("PING") {
            let mut pong = Out::new();
            pong.line("", "", "PONG", &[message.param(0).unwrap_or("")]);
            out.extend_from_slice(&pong.into_bytes());
        } else if is_welcome_end(&message) && !self.welcomed {
            self.welcomed = true;
            out.append(&mut self.held);
            self.held = Vec::new();
        }
    }

    /// Whether the welcome burst has ended.
    pub fn is_welcomed(&self) -> bool {
        self.welcomed
    }
}

/// What a desk called `nick` sends on connecting: the capabilities, then
/// its registration.
pub fn registration(nick: &str) -> Vec<u8> {
    let mut out = Out::new();
    out.line("", "", "CAP", &["REQ", CAPABILITIES]);
    out.line("", "", "NICK", &[nick]);
    out.text_line("", "", "USER", &[nick, "0", "*", nick]);
    out.line("", "", "CAP", &["END"]);
    out.into_bytes()
}

/// `QUIT`, for a desk that leaves politely.
pub fn quit() -> Vec<u8> {
    let mut out = Out::new();
    out.text_line("", "", "QUIT", &["load run over"]);
    out.into_bytes()
}

/// `376` (end of MOTD) or `422` (no MOTD): the last line of the welcome.
fn is_welcome_end(message: &Message<'_>) -> bool {
    message.is("376") || message.is("422")
}

/// What one line from the server means to the load generator, as
/// [`marker::classify`] says for our lines: a `PRIVMSG #main` with its
/// `msgid` is a delivery, `ERROR` a goodbye, an error numeric a refusal.
pub fn classify(line: &[u8], run: u32) -> Seen {
    let Some(message) = std::str::from_utf8(line).ok().and_then(Message::parse) else {
        return Seen::Other;
    };
    if message.is("PRIVMSG") && message.param(0) == Some(CHANNEL) {
        // `EPOCH/ID`; a message split in pieces has `ID.2`... after the
        // first, which no load message is long enough to need.
        let id = message
            .tag("msgid")
            .and_then(|msgid| msgid.rsplit_once('/'))
            .and_then(|(_, id)| id.parse::<MessageId>().ok());
        return match (id, message.param(1)) {
            (Some(id), Some(text)) => Seen::Msg(Delivery {
                id,
                marker: marker::scan(text, run),
            }),
            _ => Seen::Other,
        };
    }
    if message.is("ERROR") {
        return Seen::Bye(message.param(0).unwrap_or("").to_string());
    }
    let numeric = message.command;
    let is_error = numeric.len() == 3
        && matches!(numeric.as_bytes()[0], b'4' | b'5')
        && numeric.bytes().all(|b| b.is_ascii_digit())
        && !is_welcome_end(&message);
    if is_error {
        let words = message.params.last().copied().unwrap_or("");
        return Seen::IrcRefused(format!("{numeric} {words}"));
    }
    Seen::Other
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marker::{Kind, Marker};

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn registration_asks_for_ids_and_echoes_then_registers() {
        assert_eq!(
            text(&registration("load-1-0")),
            "CAP REQ :message-tags echo-message\r\nNICK load-1-0\r\n\
             USER load-1-0 0 * :load-1-0\r\nCAP END\r\n"
        );
    }

    #[test]
    fn messages_wait_for_the_end_of_the_welcome() {
        let mut desk = IrcDesk::new();
        let mut out = Vec::new();
        desk.say("first", &mut out);
        assert!(out.is_empty());
        desk.heard(
            b":office.chat 001 n :Welcome to the office chat, n",
            &mut out,
        );
        assert!(out.is_empty() && !desk.is_welcomed());
        desk.heard(
            b":office.chat 422 n :There is no message of the day",
            &mut out,
        );
        assert!(desk.is_welcomed());
        desk.say("second", &mut out);
        assert_eq!(
            text(&out),
            "PRIVMSG #main :first\r\nPRIVMSG #main :second\r\n"
        );
    }

    #[test]
    fn a_ping_is_answered_with_its_token() {
        let mut desk = IrcDesk::new();
        let mut out = Vec::new();
        desk.heard(b"PING :office.chat", &mut out);
        desk.heard(b"@time=x PING tok", &mut out);
        assert_eq!(text(&out), "PONG office.chat\r\nPONG tok\r\n");
    }

    #[test]
    fn a_tagged_privmsg_is_a_delivery_with_the_room_s_id() {
        let marker = Marker {
            kind: Kind::Measured,
            run: 0xabc,
            seq: 5,
            sender: 2,
            sent_us: 99,
        };
        let mut said = String::new();
        marker.write_text(64, &mut said);
        let line =
            format!("@msgid=5f3a9c/1732540028123-4 :load-2!load-2@127.0.0.1 PRIVMSG #main :{said}");
        assert_eq!(
            classify(line.as_bytes(), 0xabc),
            Seen::Msg(Delivery {
                id: MessageId::new(1_732_540_028_123, 4),
                marker: Some(marker),
            })
        );
        let plain = b"@msgid=e/17 :alice!a@h PRIVMSG #main :hello";
        assert_eq!(
            classify(plain, 0xabc),
            Seen::Msg(Delivery {
                id: MessageId::from_sequence(17),
                marker: None,
            })
        );
    }

    #[test]
    fn other_lines_are_not_deliveries() {
        // No ID: nothing to check the order with.
        assert_eq!(classify(b":a!a@h PRIVMSG #main :hi", 1), Seen::Other);
        assert_eq!(
            classify(b"@msgid=e/3 :a!a@h PRIVMSG #dev :hi", 1),
            Seen::Other
        );
        assert_eq!(classify(b":a!a@h JOIN #main", 1), Seen::Other);
        assert_eq!(classify(b":srv 422 n :No MOTD", 1), Seen::Other);
        assert_eq!(classify(b"\xff", 1), Seen::Other);
    }

    #[test]
    fn errors_and_goodbyes_are_seen() {
        assert_eq!(
            classify(b":srv 433 * load-1 :Nickname is already in use", 1),
            Seen::IrcRefused("433 Nickname is already in use".into())
        );
        assert_eq!(
            classify(b"ERROR :Closing link: too slow", 1),
            Seen::Bye("Closing link: too slow".into())
        );
    }
}
