//! A search index of messages this server does not keep itself (those of a
//! Redis stream): the log's schema in a temporary database, each
//! message a row under the number its keeper's ID maps to, so that the
//! search thread runs the log's own query over it ([`super::search`]). It
//! holds a bounded number of rows: past the bound the oldest are deleted,
//! and their words leave the full-text index with them.

use std::io;

use rusqlite::{params, Connection};

use super::schema::{describe, open_scratch};
use crate::store::Message;

/// The index and how many rows it holds.
pub(crate) struct MessageIndex {
    connection: Connection,
    /// Rows in it now.
    rows: usize,
    /// Most rows kept.
    max_rows: usize,
}

impl MessageIndex {
    /// An empty index that keeps the newest `max_rows` rows.
    pub(crate) fn open(max_rows: usize) -> io::Result<MessageIndex> {
        let connection = open_scratch().map_err(|e| {
            io::Error::other(format!("the search index cannot be made: {}", describe(&e)))
        })?;
        Ok(MessageIndex {
            connection,
            rows: 0,
            max_rows,
        })
    }

    /// The database, for the search thread.
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// How many rows it holds.
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Adds `messages`, each under its row number (a row already there is
    /// left as it is), in one transaction, then deletes the oldest rows past
    /// the bound. Tags (`/tx`) are not kept: a search does not show them.
    pub(crate) fn add(&mut self, messages: &[(i64, Message)]) -> io::Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        self.insert(messages)
            .and_then(|()| self.forget_oldest())
            .map_err(|e| io::Error::other(format!("the search index: {}", describe(&e))))
    }

    fn insert(&mut self, messages: &[(i64, Message)]) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT OR IGNORE INTO messages
                     (id, time, name, color, text, recipient, from_desk, to_desk, room)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut index = transaction
                .prepare_cached("INSERT INTO messages_fts (rowid, text) VALUES (?1, ?2)")?;
            for (row, message) in messages {
                let direct = message.direct.as_ref();
                let inserted = insert.execute(params![
                    row,
                    message.time,
                    message.name,
                    message.color.to_string(),
                    message.text,
                    direct.map(|d| &d.to),
                    direct.map(|d| d.from_desk.0.to_vec()),
                    direct.map(|d| d.to_desk.0.to_vec()),
                    message.room,
                ])?;
                if inserted == 1 {
                    index.execute(params![row, message.text])?;
                }
                self.rows += inserted;
            }
        }
        transaction.commit()
    }

    /// Deletes the oldest rows past [`MessageIndex::max_rows`].
    fn forget_oldest(&mut self) -> rusqlite::Result<()> {
        let over = self.rows.saturating_sub(self.max_rows);
        if over == 0 {
            return Ok(());
        }
        let deleted = self.connection.execute(
            "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?1)",
            params![over as i64],
        )?;
        self.rows -= deleted;
        Ok(())
    }
}
