//! Messages as rows: which columns are read, which rows a desk may see,
//! the newest after a point, and an ID's row number.

use rusqlite::{params, Connection};

use chat_shared::{Color, MessageId};

use crate::desk::DeskId;
use crate::store::{DirectTo, Message, Tx, REPLAY_LIMIT};

/// Hands `take` the messages after `after` that `desk` may see, newest
/// first, until it says no more (rows past that are not read).
pub(super) fn for_newest_after(
    connection: &Connection,
    after: MessageId,
    desk: Option<DeskId>,
    mut take: impl FnMut(Message) -> bool,
) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m
         WHERE m.id > ?1 AND {VISIBLE} ORDER BY m.id DESC LIMIT ?2"
    ))?;
    let desk = desk.map(|d| d.0.to_vec());
    // One more than a replay keeps, so it knows it is full.
    let most = REPLAY_LIMIT as i64 + 1;
    let mut rows =
        statement.query_map(params![sequence_of(after), most, desk], message_from_row)?;
    for row in rows.by_ref() {
        if !take(row?) {
            break;
        }
    }
    Ok(())
}

/// The columns [`message_from_row`] reads, in its order.
pub(super) const MESSAGE_COLUMNS: &str =
    "m.id, m.time, m.name, m.color, m.text, m.recipient, m.from_desk, m.to_desk, m.tx_desk, m.tx_id";

/// Which messages `?3`, a desk ID or NULL, may see: the room's, and the
/// direct messages it wrote or received.
pub(super) const VISIBLE: &str = "(m.recipient IS NULL OR m.from_desk = ?3 OR m.to_desk = ?3)";

/// The newest `limit` messages after `after` that `desk` may see, newest
/// first.
pub(super) fn newest_after(
    connection: &Connection,
    after: MessageId,
    limit: usize,
    desk: Option<DeskId>,
) -> rusqlite::Result<Vec<Message>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m
         WHERE m.id > ?1 AND {VISIBLE} ORDER BY m.id DESC LIMIT ?2"
    ))?;
    let desk = desk.map(|d| d.0.to_vec());
    let rows = statement.query_map(
        params![sequence_of(after), limit as i64, desk],
        message_from_row,
    )?;
    rows.collect()
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
