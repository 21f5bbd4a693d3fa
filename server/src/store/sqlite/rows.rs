//! Messages as rows: which columns are read, which rows a desk sees (its
//! rooms, its direct messages), the newest after a point, and an ID's row
//! number. `#main`'s messages have no room (`room IS NULL`).

use rusqlite::{named_params, Connection};

use chat_shared::{Color, MessageId};

use crate::desk::DeskId;
use crate::store::{DirectTo, Message, Scope, Tx, REPLAY_LIMIT};

/// The columns [`message_from_row`] reads, in its order.
pub(super) const MESSAGE_COLUMNS: &str = "m.id, m.time, m.name, m.color, m.text, m.recipient, \
     m.from_desk, m.to_desk, m.tx_desk, m.tx_id, m.room";

/// Which messages a desk sees: those of `#main` when `:main` is set, those
/// of the rooms whose names `:rooms` lists (a JSON array), and, with
/// `#main`, the direct messages the desk `:desk` (or NULL) wrote or
/// received.
pub(super) const VISIBLE: &str = "(CASE WHEN m.recipient IS NULL
        THEN (m.room IS NULL AND :main) OR m.room IN (SELECT value FROM json_each(:rooms))
        ELSE :main AND (m.from_desk = :desk OR m.to_desk = :desk) END)";

/// The parameters [`VISIBLE`] takes, for `desk` and `scope`.
pub(super) fn visible_params(
    desk: Option<DeskId>,
    scope: &Scope,
) -> (Option<Vec<u8>>, bool, String) {
    let rooms = serde_json::Value::from(scope.rooms.clone()).to_string();
    (desk.map(|d| d.0.to_vec()), scope.main, rooms)
}

/// Hands `take` the messages after `after` that a desk sees (`desk`,
/// `scope`), newest first, until it says no more (rows past that are not
/// read).
pub(super) fn for_newest_after(
    connection: &Connection,
    after: MessageId,
    desk: Option<DeskId>,
    scope: &Scope,
    mut take: impl FnMut(Message) -> bool,
) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m
         WHERE m.id > :after AND {VISIBLE} ORDER BY m.id DESC LIMIT :most"
    ))?;
    let (desk, main, rooms) = visible_params(desk, scope);
    // One more than a replay keeps, so it knows it is full.
    let most = REPLAY_LIMIT as i64 + 1;
    let mut rows = statement.query_map(
        named_params! {
            ":after": sequence_of(after), ":most": most,
            ":desk": desk, ":main": main, ":rooms": rooms,
        },
        message_from_row,
    )?;
    for row in rows.by_ref() {
        if !take(row?) {
            break;
        }
    }
    Ok(())
}

/// How many messages after `after` a desk sees (`desk`, `scope`).
pub(super) fn count_after(
    connection: &Connection,
    after: MessageId,
    desk: Option<DeskId>,
    scope: &Scope,
) -> rusqlite::Result<u64> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT count(*) FROM messages m WHERE m.id > :after AND {VISIBLE}"
    ))?;
    let (desk, main, rooms) = visible_params(desk, scope);
    let count: i64 = statement.query_row(
        named_params! {":after": sequence_of(after), ":desk": desk, ":main": main, ":rooms": rooms},
        |row| row.get(0),
    )?;
    Ok(count as u64)
}

/// The newest `limit` messages of one room (`None`: `#main`), oldest first.
pub(super) fn recent_in(
    connection: &Connection,
    room: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<Message>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m
         WHERE m.recipient IS NULL AND m.room IS :room ORDER BY m.id DESC LIMIT :limit"
    ))?;
    let rows = statement.query_map(
        named_params! {":room": room, ":limit": limit as i64},
        message_from_row,
    )?;
    let mut messages = rows.collect::<rusqlite::Result<Vec<Message>>>()?;
    messages.reverse();
    Ok(messages)
}

pub(super) fn message_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    let id: i64 = row.get(0)?;
    let name: String = row.get(2)?;
    let color: String = row.get(3)?;
    let recipient: Option<String> = row.get(5)?;
    let desk = |column: usize| -> rusqlite::Result<DeskId> {
        let bytes: Vec<u8> = row.get(column)?;
        Ok(DeskId(bytes.try_into().unwrap_or([0; 32])))
    };
    let direct = match recipient {
        Some(to) => Some(DirectTo {
            to,
            from_desk: desk(6)?,
            to_desk: desk(7)?,
        }),
        None => None,
    };
    let tx_id: Option<String> = row.get(9)?;
    let tx = match tx_id {
        Some(id) => Some(Tx { desk: desk(8)?, id }),
        None => None,
    };
    Ok(Message {
        id: MessageId::from_sequence(id as u64),
        time: row.get(1)?,
        color: color.parse().unwrap_or_else(|_| Color::for_name(&name)),
        name,
        text: row.get(4)?,
        direct,
        tx,
        room: row.get(10)?,
    })
}

/// The row number an ID stands for. IDs of another log's kind (two numbers)
/// are not ours: they sort after everything we have.
pub(super) fn sequence_of(id: MessageId) -> i64 {
    if id.minor() != 0 {
        return i64::MAX;
    }
    i64::try_from(id.major()).unwrap_or(i64::MAX)
}
