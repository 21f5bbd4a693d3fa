//! How the office lives in Redis: the keys (all under `chat:{OFFICE}:`, the
//! braces a Redis Cluster hash tag, so one office's keys share a slot), the
//! fields of a stream entry, and how an account is written. Pure: no
//! connection here.

use chat_shared::{Color, MessageId};

use crate::desk::DeskId;
use crate::store::accounts::Account;
use crate::store::{
    DirectTo, Draft, Holder, Kick, Message, ModeChange, PresenceKind, PresenceNote, RoomChange,
    Topic, Tx,
};

/// The names of one office's keys.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `chat:{OFFICE}:`.
    prefix: String,
}

impl Keys {
    /// The keys of office `office`.
    pub fn new(office: &str) -> Keys {
        Keys {
            prefix: format!("chat:{{{office}}}:"),
        }
    }

    /// The stream: messages, direct messages, JOINs and LEAVEs, in order.
    pub fn stream(&self) -> String {
        format!("{}stream", self.prefix)
    }

    /// The log's epoch, the same for every server.
    pub fn epoch(&self) -> String {
        format!("{}epoch", self.prefix)
    }

    /// Who holds the name whose key is `name_key`: a server ID, with a TTL.
    pub fn name(&self, name_key: &str) -> String {
        format!("{}name:{name_key}", self.prefix)
    }

    /// The desks on server `server`: name key -> `COLOR NAME DESK`.
    pub fn members(&self, server: &str) -> String {
        format!("{}members:{server}", self.prefix)
    }

    /// Present while server `server` is alive (a TTL it keeps refreshing).
    pub fn alive(&self, server: &str) -> String {
        format!("{}alive:{server}", self.prefix)
    }

    /// The set of servers that have joined the room.
    pub fn servers(&self) -> String {
        format!("{}servers", self.prefix)
    }

    /// What the message a desk tagged `tx_id` was stored as (`/tx`): its
    /// stream ID, kept a day, so a resend is not stored twice.
    pub fn tx(&self, desk: DeskId, tx_id: &str) -> String {
        format!("{}tx:{}:{tx_id}", self.prefix, desk_hex(desk))
    }

    /// The set of every room's key but `#main`'s.
    pub fn rooms(&self) -> String {
        format!("{}rooms", self.prefix)
    }

    /// Room `key`: its name, whether it is private, its topic.
    pub fn room(&self, key: &str) -> String {
        format!("{}room:{key}", self.prefix)
    }

    /// Who is in room `key` (a set of [`Holder::encode`]s).
    pub fn room_holders(&self, key: &str) -> String {
        format!("{}room:{key}:holders", self.prefix)
    }

    /// Who may enter the private room `key`.
    pub fn room_invited(&self, key: &str) -> String {
        format!("{}room:{key}:invited", self.prefix)
    }

    /// Taken by the one survivor that announces a dead server's LEAVEs.
    pub fn reaping(&self, server: &str) -> String {
        format!("{}reaping:{server}", self.prefix)
    }

    /// The accounts (`--auth token`): name key -> [`account_value`].
    pub fn accounts(&self) -> String {
        format!("{}accounts", self.prefix)
    }

    /// A random word set afresh with every change to the accounts: the
    /// servers' watchers read it every second, and the accounts only when
    /// it differs.
    pub fn accounts_stamp(&self) -> String {
        format!("{}accounts:stamp", self.prefix)
    }
}

/// An account as [`Keys::accounts`] keeps it: its name, when it was added
/// and its token's SHA-256 in hex (names and times have no spaces).
pub fn account_value(account: &Account) -> String {
    format!(
        "{} {} {}",
        account.name,
        account.created,
        hex(&account.token_hash)
    )
}

/// The account an [`account_value`] holds; `None` for one written by hand,
/// or by a newer server, that it cannot read.
pub fn parse_account(value: &str) -> Option<Account> {
    let mut words = value.split(' ');
    let (name, created, hash) = (words.next()?, words.next()?, words.next()?);
    Some(Account {
        name: name.to_string(),
        created: created.to_string(),
        token_hash: unhex(hash)?,
    })
}

/// A stream ID as Redis writes it: always both numbers, so `(ID` ranges are
/// exact.
pub fn stream_id(id: MessageId) -> String {
    format!("{}-{}", id.major(), id.minor())
}

/// The value of a member in [`Keys::members`]: colour, name (names have no
/// spaces) and desk.
pub fn member_value(color: Color, name: &str, desk: DeskId) -> String {
    format!("{color} {name} {}", desk_hex(desk))
}

/// A desk ID as [`member_value`] writes it (its last word).
pub fn desk_hex(desk: DeskId) -> String {
    hex(&desk.0)
}

/// The colour, name and desk of a [`member_value`].
pub fn parse_member(value: &str) -> Option<(Color, String, DeskId)> {
    let mut words = value.split(' ');
    let (color, name, desk) = (words.next()?, words.next()?, words.next()?);
    Some((color.parse().ok()?, name.to_string(), DeskId(unhex(desk)?)))
}

/// The fields of a message's entry.
pub fn message_fields(draft: &Draft, server: &str) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        (
            "kind",
            if draft.direct.is_some() { "dm" } else { "msg" }.to_string(),
        ),
        ("time", draft.time.clone()),
        ("name", draft.name.clone()),
        ("color", draft.color.to_string()),
        ("text", draft.text.clone()),
        ("server", server.to_string()),
    ];
    if let Some(direct) = &draft.direct {
        fields.push(("to", direct.to.clone()));
        fields.push(("from_desk", hex(&direct.from_desk.0)));
        fields.push(("to_desk", hex(&direct.to_desk.0)));
    }
    if let Some(tx) = &draft.tx {
        fields.push(("tx_desk", hex(&tx.desk.0)));
        fields.push(("tx_id", tx.id.clone()));
    }
    if let Some(room) = &draft.room {
        fields.push(("room", room.clone()));
    }
    fields
}

/// The fields of a change to the rooms' entry.
pub fn room_fields(change: &RoomChange) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("kind", "room".to_string()),
        ("key", change.key().to_string()),
    ];
    match change {
        RoomChange::Enter {
            name,
            private,
            holder,
            ..
        } => {
            fields.push(("op", "enter".to_string()));
            fields.push(("name", name.clone()));
            fields.push(("private", u8::from(*private).to_string()));
            fields.push(("holder", holder.encode()));
        }
        RoomChange::Part { holder, reason, .. } => {
            fields.push(("op", "part".to_string()));
            fields.push(("holder", holder.encode()));
            if !reason.is_empty() {
                fields.push(("reason", reason.clone()));
            }
        }
        RoomChange::Topic { topic, .. } => {
            fields.push(("op", "topic".to_string()));
            fields.push(("text", topic.text.clone()));
            fields.push(("by", topic.by.clone()));
            fields.push(("time", topic.time.clone()));
        }
        RoomChange::Modes(change) => {
            fields.push(("op", "modes".to_string()));
            fields.push(("by", change.by.clone()));
            fields.push(("changes", change.changes.clone()));
        }
        RoomChange::Kick(kick) => {
            fields.push(("op", "kick".to_string()));
            fields.push(("holder", kick.holder.encode()));
            fields.push(("by", kick.by.clone()));
            fields.push(("reason", kick.reason.clone()));
        }
        RoomChange::Invite { holder, by, .. } => {
            fields.push(("op", "invite".to_string()));
            fields.push(("holder", holder.encode()));
            fields.push(("by", by.clone()));
        }
    }
    fields
}

/// Reads a change to the rooms from its entry's fields.
fn parse_room_change(field: impl Fn(&str) -> Option<String>) -> Option<RoomChange> {
    let key = field("key")?;
    let holder = || field("holder").and_then(|h| Holder::decode(&h));
    Some(match field("op")?.as_str() {
        "enter" => RoomChange::Enter {
            key,
            name: field("name")?,
            private: field("private")? == "1",
            holder: holder()?,
        },
        "part" => RoomChange::Part {
            key,
            holder: holder()?,
            // Entries written before reasons were passed on have none.
            reason: field("reason").unwrap_or_default(),
        },
        "topic" => RoomChange::Topic {
            key,
            topic: Topic {
                text: field("text")?,
                by: field("by")?,
                time: field("time")?,
            },
        },
        "invite" => RoomChange::Invite {
            key,
            holder: holder()?,
            by: field("by")?,
        },
        "modes" => RoomChange::Modes(Box::new(ModeChange {
            key,
            by: field("by")?,
            changes: field("changes")?,
        })),
        "kick" => RoomChange::Kick(Box::new(Kick {
            key,
            holder: holder()?,
            by: field("by")?,
            reason: field("reason")?,
        })),
        _ => return None,
    })
}

/// The fields of a JOIN's, LEAVE's or change of desk's entry.
pub fn presence_fields(note: &PresenceNote) -> Vec<(&'static str, String)> {
    let kind = match note.kind {
        PresenceKind::Join => "join",
        PresenceKind::Return => "return",
        PresenceKind::Leave => "leave",
        PresenceKind::Desk => "desk",
    };
    vec![
        ("kind", kind.to_string()),
        ("time", note.time.clone()),
        ("name", note.name.clone()),
        ("color", note.color.to_string()),
        ("server", note.server.clone()),
        ("desk", hex(&note.desk.0)),
    ]
}

/// What one stream entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A message or a direct message.
    Message(Message),
    /// A JOIN or a LEAVE.
    Presence(PresenceNote),
    /// A change to the rooms.
    Room(RoomChange),
}

/// Reads an entry; `None` for one this server does not understand (written
/// by a newer server, or by hand), which is skipped.
pub fn parse_entry(entry: &redis::streams::StreamId) -> Option<Entry> {
    let id: MessageId = entry.id.parse().ok()?;
    let field = |name: &str| entry.get::<String>(name);
    if field("kind")? == "room" {
        return parse_room_change(field).map(Entry::Room);
    }
    let name = field("name")?;
    let color = field("color")
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| Color::for_name(&name));
    let time = field("time")?;
    let kind = field("kind")?;
    match kind.as_str() {
        "msg" | "dm" => {
            let direct = if kind == "dm" {
                Some(DirectTo {
                    to: field("to")?,
                    from_desk: DeskId(unhex(&field("from_desk")?)?),
                    to_desk: DeskId(unhex(&field("to_desk")?)?),
                })
            } else {
                None
            };
            let tx = match (field("tx_desk"), field("tx_id")) {
                (Some(desk), Some(id)) => Some(Tx {
                    desk: DeskId(unhex(&desk)?),
                    id,
                }),
                _ => None,
            };
            Some(Entry::Message(Message {
                id,
                time,
                name,
                color,
                text: field("text")?,
                direct,
                tx,
                room: field("room"),
            }))
        }
        "join" | "return" | "leave" | "desk" => Some(Entry::Presence(PresenceNote {
            kind: match kind.as_str() {
                "join" => PresenceKind::Join,
                "return" => PresenceKind::Return,
                "leave" => PresenceKind::Leave,
                _ => PresenceKind::Desk,
            },
            time,
            name,
            color,
            server: field("server")?,
            desk: DeskId(unhex(&field("desk")?)?),
        })),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Asker;
    use redis::streams::StreamId;
    use redis::Value;

    fn entry(id: &str, fields: Vec<(&'static str, String)>) -> StreamId {
        StreamId {
            id: id.to_string(),
            map: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::BulkString(v.into_bytes())))
                .collect(),
            milliseconds_elapsed_from_delivery: None,
            delivered_count: None,
        }
    }

    fn draft(direct: Option<DirectTo>) -> Draft {
        Draft {
            from: Asker { conn: 1, serial: 1 },
            time: "2026-11-25T20:00:00.000Z".to_string(),
            name: "alice".to_string(),
            color: Color::for_name("alice"),
            text: "hi there".to_string(),
            direct,
            tx: None,
            room: None,
        }
    }

    #[test]
    fn keys_share_a_hash_tag() {
        let keys = Keys::new("main");
        assert_eq!(keys.stream(), "chat:{main}:stream");
        assert_eq!(keys.name("alice"), "chat:{main}:name:alice");
    }

    #[test]
    fn stream_ids_keep_both_numbers() {
        assert_eq!(
            stream_id(MessageId::new(1732540028123, 0)),
            "1732540028123-0"
        );
    }

    #[test]
    fn a_message_round_trips() {
        let draft = draft(None);
        let parsed = parse_entry(&entry("5-1", message_fields(&draft, "s1")));
        assert_eq!(
            parsed,
            Some(Entry::Message(Message::from_draft(
                draft,
                MessageId::new(5, 1)
            )))
        );
    }

    #[test]
    fn a_direct_message_round_trips() {
        let direct = DirectTo {
            to: "bob".to_string(),
            from_desk: DeskId::of("a"),
            to_desk: DeskId::of("b"),
        };
        let draft = draft(Some(direct));
        let parsed = parse_entry(&entry("7-0", message_fields(&draft, "s1")));
        assert_eq!(
            parsed,
            Some(Entry::Message(Message::from_draft(
                draft,
                MessageId::new(7, 0)
            )))
        );
    }

    #[test]
    fn a_tagged_message_round_trips() {
        let draft = Draft {
            tx: Some(Tx {
                desk: DeskId::of("a"),
                id: "t-1".to_string(),
            }),
            ..draft(None)
        };
        let parsed = parse_entry(&entry("8-0", message_fields(&draft, "s1")));
        assert_eq!(
            parsed,
            Some(Entry::Message(Message::from_draft(
                draft,
                MessageId::new(8, 0)
            )))
        );
    }

    #[test]
    fn a_room_message_round_trips() {
        let draft = Draft {
            room: Some("dev".to_string()),
            ..draft(None)
        };
        let parsed = parse_entry(&entry("9-0", message_fields(&draft, "s1")));
        assert_eq!(
            parsed,
            Some(Entry::Message(Message::from_draft(
                draft,
                MessageId::new(9, 0)
            )))
        );
    }

    #[test]
    fn room_changes_round_trip() {
        let holder = Holder::Desk(DeskId::of("a"));
        for change in [
            RoomChange::Enter {
                key: "dev".into(),
                name: "#Dev".into(),
                private: true,
                holder: holder.clone(),
            },
            RoomChange::Part {
                key: "dev".into(),
                holder: holder.clone(),
                reason: String::new(),
            },
            RoomChange::Part {
                key: "dev".into(),
                holder: holder.clone(),
                reason: "off to lunch".into(),
            },
            RoomChange::Topic {
                key: "dev".into(),
                topic: Topic {
                    text: "ship it".into(),
                    by: "bob".into(),
                    time: "t".into(),
                },
            },
            RoomChange::Modes(Box::new(ModeChange {
                key: "dev".into(),
                by: "bob".into(),
                changes: "+o-v carol dave".into(),
            })),
            RoomChange::Kick(Box::new(Kick {
                key: "dev".into(),
                holder: holder.clone(),
                by: "bob".into(),
                reason: "too loud".into(),
            })),
            RoomChange::Invite {
                key: "dev".into(),
                holder,
                by: "carol".into(),
            },
        ] {
            assert_eq!(
                parse_entry(&entry("10-0", room_fields(&change))),
                Some(Entry::Room(change))
            );
        }
    }

    #[test]
    fn tags_are_kept_per_desk() {
        let keys = Keys::new("main");
        assert_ne!(
            keys.tx(DeskId::of("a"), "t1"),
            keys.tx(DeskId::of("b"), "t1")
        );
        assert!(keys
            .tx(DeskId::of("a"), "t1")
            .starts_with("chat:{main}:tx:"));
    }

    #[test]
    fn a_presence_round_trips() {
        for kind in [
            PresenceKind::Join,
            PresenceKind::Return,
            PresenceKind::Leave,
            PresenceKind::Desk,
        ] {
            let note = PresenceNote {
                kind,
                time: "t".to_string(),
                name: "bob".to_string(),
                color: Color::for_name("bob"),
                server: "s2".to_string(),
                desk: DeskId::of("b"),
            };
            let fields = presence_fields(&note);
            assert_eq!(
                parse_entry(&entry("8-0", fields)),
                Some(Entry::Presence(note))
            );
        }
    }

    #[test]
    fn an_unknown_kind_is_skipped() {
        let fields = vec![
            ("kind", "poll".to_string()),
            ("time", "t".to_string()),
            ("name", "x".to_string()),
        ];
        assert_eq!(parse_entry(&entry("9-0", fields)), None);
    }

    #[test]
    fn account_values_round_trip_and_hold_only_the_hash() {
        let token = "the token itself";
        let account = Account {
            name: "alice".to_string(),
            created: "2026-11-25T20:00:00.000Z".to_string(),
            token_hash: crate::secret::hash_token(token),
        };
        let value = account_value(&account);
        assert!(!value.contains(token), "{value}");
        assert_eq!(parse_account(&value), Some(account));
        assert_eq!(parse_account("alice 2026 nothex"), None);
        assert_eq!(parse_account("alice"), None);
    }

    #[test]
    fn member_values_round_trip() {
        let color = Color::for_name("carol");
        let desk = DeskId::of("c");
        assert_eq!(
            parse_member(&member_value(color, "carol", desk)),
            Some((color, "carol".to_string(), desk))
        );
    }
}
