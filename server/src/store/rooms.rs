//! What the store keeps of the rooms: each room's name, whether it is
//! private, its topic, who is in it and who was invited ([`RoomState`]),
//! and the changes that make it so ([`RoomChange`]), kept in order with the
//! messages so that every server sharing the store sees one history of the
//! rooms.
//!
//! Who is in a room is not a connection but a [`Holder`]: the account, on a
//! server with accounts, or else the desk (its secret's hash), so that
//! someone who takes a name later does not inherit its rooms.

use crate::desk::DeskId;

/// Who a room membership belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Holder {
    /// An account (`--auth token`), by its name's key.
    Account(String),
    /// A desk, by the hash of its secret.
    Desk(DeskId),
}

/// A room's topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The topic.
    pub text: String,
    /// Who set it.
    pub by: String,
    /// When (wire format).
    pub time: String,
}

/// A room as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    /// Its key ([`chat_shared::room::room_key`]).
    pub key: String,
    /// Its name, as it was made (`#Dev`).
    pub name: String,
    /// Whether only those invited may enter, list and read it.
    pub private: bool,
    /// Its topic, once one was set.
    pub topic: Option<Topic>,
    /// Who is in it.
    pub holders: Vec<Holder>,
    /// Who may enter it although it is private.
    pub invited: Vec<Holder>,
}

/// One change to the rooms, kept in the store's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomChange {
    /// `holder` entered the room; it is made first if it is new
    /// (`private` then says what it is like; the first to make it wins).
    Enter {
        /// The room's key.
        key: String,
        /// The room's name, as typed.
        name: String,
        /// Whether a new room is private.
        private: bool,
        /// Who entered.
        holder: Holder,
    },
    /// `holder` left the room.
    Part {
        /// The room's key.
        key: String,
        /// Who left.
        holder: Holder,
        /// Why, as it said (told to the members, not kept); may be empty.
        reason: String,
    },
    /// The room's topic was set.
    Topic {
        /// The room's key.
        key: String,
        /// The topic.
        topic: Topic,
    },
    /// Someone was put out of the room (boxed: a rare change, and the
    /// largest).
    Kick(Box<Kick>),
    /// An operator changed the room's modes. Not kept (modes live in each
    /// server's memory), only told to every server, in the log's order.
    Modes(Box<ModeChange>),
    /// `holder` may enter the private room.
    Invite {
        /// The room's key.
        key: String,
        /// Who.
        holder: Holder,
        /// Who invited them (a name).
        by: String,
    },
}

/// `holder` was put out of a room by `by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kick {
    /// The room's key.
    pub key: String,
    /// Who was put out.
    pub holder: Holder,
    /// Who put them out (a name).
    pub by: String,
    /// Why; empty for no reason.
    pub reason: String,
}

/// A change of a room's modes, as its operator asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    /// The room's key.
    pub key: String,
    /// Who changed them (a name).
    pub by: String,
    /// The changes, as IRC writes them (`+o-v bob carol`).
    pub changes: String,
}

impl RoomChange {
    /// The room it changes.
    pub fn key(&self) -> &str {
        match self {
            RoomChange::Enter { key, .. }
            | RoomChange::Part { key, .. }
            | RoomChange::Topic { key, .. }
            | RoomChange::Invite { key, .. } => key,
            RoomChange::Kick(kick) => &kick.key,
            RoomChange::Modes(change) => &change.key,
        }
    }
}

impl Holder {
    /// How the store writes it: `a:KEY` or `d:HEX`.
    pub fn encode(&self) -> String {
        match self {
            Holder::Account(key) => format!("a:{key}"),
            Holder::Desk(desk) => {
                let hex: String = desk.0.iter().map(|b| format!("{b:02x}")).collect();
                format!("d:{hex}")
            }
        }
    }

    /// Reads what [`Holder::encode`] wrote.
    pub fn decode(text: &str) -> Option<Holder> {
        if let Some(key) = text.strip_prefix("a:") {
            return Some(Holder::Account(key.to_string()));
        }
        let hex = text.strip_prefix("d:")?;
        if hex.len() != 64 {
            return None;
        }
        let mut desk = [0u8; 32];
        for (i, byte) in desk.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Holder::Desk(DeskId(desk)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_round_trip() {
        for holder in [
            Holder::Account("allce".to_string()),
            Holder::Desk(DeskId::of("secret")),
        ] {
            assert_eq!(Holder::decode(&holder.encode()), Some(holder));
        }
        assert_eq!(Holder::decode("x:1"), None);
        assert_eq!(Holder::decode("d:zz"), None);
    }
}
