//! The IRCv3 capabilities this server offers, as bits of a [`Caps`] set:
//! what `CAP LS` lists, what `CAP REQ` may turn on or off, and which of
//! them change how a broadcast is written (the render key).

/// A set of capabilities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps(u16);

/// One capability: its bit and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    bit: u16,
    /// Its name, as `CAP` lists it.
    pub name: &'static str,
    /// Offered only on a server whose desks log in (`--auth token`).
    pub needs_logins: bool,
}

/// `@time=` on messages (and history replayed on joining).
pub const SERVER_TIME: Cap = cap(0, "server-time");
/// Tags at all: `msgid=EPOCH/ID` on messages.
pub const MESSAGE_TAGS: Cap = cap(1, "message-tags");
/// The sender gets its own messages back, in the room's order.
pub const ECHO_MESSAGE: Cap = cap(2, "echo-message");
/// Every prefix in NAMES and WHO (we have none: nobody is an operator).
pub const MULTI_PREFIX: Cap = cap(3, "multi-prefix");
/// `nick!user@host` in NAMES.
pub const USERHOST_IN_NAMES: Cap = cap(4, "userhost-in-names");
/// `AWAY` from the people one shares a channel with.
pub const AWAY_NOTIFY: Cap = cap(5, "away-notify");
/// `CAP NEW`/`DEL` (implied by `CAP LS 302`).
pub const CAP_NOTIFY: Cap = cap(6, "cap-notify");
/// `@account=` on messages from people logged in to an account.
pub const ACCOUNT_TAG: Cap = Cap {
    needs_logins: true,
    ..cap(7, "account-tag")
};
/// Logging in with `AUTHENTICATE PLAIN` (account and token).
pub const SASL: Cap = Cap {
    needs_logins: true,
    ..cap(8, "sasl")
};

/// `BATCH` around a `CHATHISTORY` answer.
pub const BATCH: Cap = cap(9, "batch");
/// `CHATHISTORY` from the room's log (and no history sent on joining).
pub const CHATHISTORY: Cap = cap(10, "draft/chathistory");

/// Every capability, in the order `CAP LS` lists them.
pub const ALL: [Cap; 11] = [
    SERVER_TIME,
    MESSAGE_TAGS,
    ECHO_MESSAGE,
    MULTI_PREFIX,
    USERHOST_IN_NAMES,
    AWAY_NOTIFY,
    CAP_NOTIFY,
    ACCOUNT_TAG,
    SASL,
    BATCH,
    CHATHISTORY,
];

/// The capabilities that change the bytes of a broadcast line: the render
/// key carries them.
const IN_RENDER_KEY: [Cap; 3] = [SERVER_TIME, MESSAGE_TAGS, ACCOUNT_TAG];

const fn cap(bit: u16, name: &'static str) -> Cap {
    Cap {
        bit: 1 << bit,
        name,
        needs_logins: false,
    }
}

/// The capability called `name`, if this server offers it (`logins`: the
/// server runs with `--auth token`).
pub fn named(name: &str, logins: bool) -> Option<Cap> {
    ALL.into_iter()
        .find(|cap| cap.name.eq_ignore_ascii_case(name) && (logins || !cap.needs_logins))
}

/// `CAP LS`'s list: with values (`sasl=PLAIN`) for a 302 client.
pub fn listing(logins: bool, v302: bool) -> String {
    ALL.iter()
        .filter(|cap| logins || !cap.needs_logins)
        .map(|cap| match (cap.name, v302) {
            ("sasl", true) => "sasl=PLAIN".to_string(),
            (name, _) => name.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Caps {
    /// Whether `cap` is on.
    pub fn has(self, cap: Cap) -> bool {
        self.0 & cap.bit != 0
    }

    /// Turns `cap` on or off.
    pub fn set(&mut self, cap: Cap, on: bool) {
        if on {
            self.0 |= cap.bit;
        } else {
            self.0 &= !cap.bit;
        }
    }

    /// The names of those on, for `CAP LIST`.
    pub fn names(self) -> String {
        ALL.iter()
            .filter(|cap| self.has(**cap))
            .map(|cap| cap.name)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The bits of those that change how a broadcast is written.
    pub fn render_bits(self) -> u32 {
        IN_RENDER_KEY
            .iter()
            .filter(|cap| self.has(**cap))
            .fold(0, |bits, cap| bits | u32::from(cap.bit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_bring_sasl_and_account_tag() {
        assert!(named("sasl", false).is_none());
        assert_eq!(named("SASL", true), Some(SASL));
        assert!(!listing(false, true).contains("sasl"));
        assert!(listing(true, true).contains("sasl=PLAIN"));
        assert!(listing(true, false).split(' ').any(|cap| cap == "sasl"));
    }

    #[test]
    fn caps_are_turned_on_and_off() {
        let mut caps = Caps::default();
        caps.set(ECHO_MESSAGE, true);
        caps.set(SERVER_TIME, true);
        assert_eq!(caps.names(), "server-time echo-message");
        assert_eq!(caps.render_bits(), 1);
        caps.set(SERVER_TIME, false);
        assert_eq!(caps.names(), "echo-message");
        assert_eq!(caps.render_bits(), 0);
    }
}
