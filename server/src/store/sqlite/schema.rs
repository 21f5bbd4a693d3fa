//! The log's file: opening it (with its folder), checking it is ours, the
//! schema and bringing an older chat-server's file up to date, and the
//! sentence a person sees when the file cannot be used.

use std::io;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

/// Marks our files (`PRAGMA application_id`): "CHAT".
const APPLICATION_ID: i64 = 0x4348_4154;

/// The schema's version (`PRAGMA user_version`): 2 added direct messages
/// and search, 3 accounts, 4 the desks' own IDs for their messages (`/tx`),
/// 5 rooms, 6 the search index filled after each commit instead of in it.
const SCHEMA_VERSION: i64 = 6;

/// How long a write waits for another connection's (the `user` commands')
/// transaction; they are a few rows, so this is generous.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether [`open_database`] takes the file for this process alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The server's: refused if another server holds the file.
    Exclusive,
    /// The `user` commands': beside a running server.
    Shared,
}

/// Opens (or creates, with its folder) a room's log file, checks it is
/// ours and brings its schema up to date. With [`Lock::Exclusive`], also returns the lock that
/// keeps a second server away, held until the file handle is dropped.
pub fn open_database(path: &Path, lock: Lock) -> io::Result<(Connection, Option<std::fs::File>)> {
    let fail =
        |what: String| io::Error::other(format!("the room's log {}: {what}", path.display()));
    if path.is_dir() {
        return Err(fail("is a directory".to_string()));
    }
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|e| {
            io::Error::new(e.kind(), fail(format!("cannot create its folder: {e}")))
        })?;
    }
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail(describe(&e)))?;
    let held = match lock {
        Lock::Shared => None,
        Lock::Exclusive => {
            let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
            match file.try_lock() {
                Ok(()) => Some(file),
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(fail(
                        "is in use by another chat-server (only one server may use a log)"
                            .to_string(),
                    ))
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(fail(format!("could not be locked: {e}")))
                }
            }
        }
    };
    prepare(&connection).map_err(|e| fail(e.to_string()))?;
    Ok((connection, held))
}

/// Opens one more connection to the log at `path`, which the server already
/// holds open (and locked), for a thread working beside the storage thread;
/// `purpose` ends the error's "cannot be opened for ...".
pub(super) fn open_beside(path: &Path, flags: OpenFlags, purpose: &str) -> io::Result<Connection> {
    Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .and_then(|connection| {
            connection.busy_timeout(BUSY_TIMEOUT)?;
            Ok(connection)
        })
        .map_err(|e| {
            io::Error::other(format!(
                "the room's log {} cannot be opened for {purpose}: {}",
                path.display(),
                describe(&e)
            ))
        })
}

/// Sets the file up, or refuses it: WAL, our schema. The checks only read,
/// so a file that is refused is left exactly as it was.
fn prepare(connection: &Connection) -> Result<(), OpenError> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    check_ownership(connection)?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::Refused(format!(
            "cannot use write-ahead logging (journal mode {mode})"
        )));
    }
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    // Checkpoints run on the storage thread's own schedule, never inside a
    // commit.
    connection.pragma_update(None, "wal_autocheckpoint", 0)?;
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let outcome = create_schema(connection);
    let end = if outcome.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    connection.execute_batch(end)?;
    Ok(outcome?)
}

/// Refuses a file that is another program's database, or a newer
/// chat-server's.
fn check_ownership(connection: &Connection) -> Result<(), OpenError> {
    let application_id: i64 =
        connection.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    let tables: i64 = connection.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
        [],
        |row| row.get(0),
    )?;
    if application_id != APPLICATION_ID && (application_id != 0 || tables > 0) {
        return Err(OpenError::Refused(
            "is another program's database, not a chat-server log; left untouched".to_string(),
        ));
    }
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(OpenError::Refused(format!(
            "was written by a newer chat-server (schema {version}); left untouched"
        )));
    }
    Ok(())
}

/// The search index: SQLite's FTS5 over the messages' text. Rows are
/// indexed by whoever inserts them, after their own commit: the storage
/// thread ([`super::Storage`]), or an index of messages kept elsewhere
/// ([`super::index`]). Up to schema 5 a trigger indexed each row inside
/// the commit that stored it, which made every commit, and so every
/// message's way to the room, wait on FTS5 (about 35 µs a row here, 20
/// times the row's own insert).
const SEARCH_INDEX: &str = "
    CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts
        USING fts5(text, content = 'messages', content_rowid = 'id');
    DROP TRIGGER IF EXISTS messages_fts_insert;";

/// The meta key holding the highest row ID in the search index: every row
/// up to it is indexed, none after it.
pub(super) const INDEXED_UPTO: &str = "indexed_upto";

/// Keeps the search index in step with deleted rows: only an index of
/// messages kept elsewhere deletes rows ([`super::index`]); the log never
/// does.
const SEARCH_INDEX_DELETE: &str = "
    CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;";

/// A database of the log's schema, whose rows may be deleted too: the
/// search index of messages kept elsewhere ([`super::index`]). It is
/// SQLite's private temporary database: a file in the temporary folder
/// (`$TMPDIR`, else `/var/tmp`), deleted as it is opened, so nothing is left
/// behind even after `kill -9`, and beyond SQLite's small page cache its
/// pages stay in the kernel's cache, not in the server's memory (an index of
/// 100,000 messages: 25 MB of file and 4 MB of the server's memory, where an
/// in-memory database took 28 MB).
pub(super) fn open_scratch() -> rusqlite::Result<Connection> {
    let connection = Connection::open("")?;
    create_schema(&connection)?;
    connection.execute_batch(SEARCH_INDEX_DELETE)?;
    Ok(connection)
}

/// Creates the schema, or brings a file of an older chat-server up to date.
fn create_schema(connection: &Connection) -> rusqlite::Result<()> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == 1 {
        // Version 1 had no direct messages and no search index.
        connection.execute_batch(
            "ALTER TABLE messages ADD COLUMN recipient TEXT;
             ALTER TABLE messages ADD COLUMN from_desk BLOB;
             ALTER TABLE messages ADD COLUMN to_desk BLOB;",
        )?;
        connection.execute_batch(SEARCH_INDEX)?;
        connection.execute_batch("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")?;
    }
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (
             key TEXT PRIMARY KEY,
             value TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS messages (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             time TEXT NOT NULL,
             name TEXT NOT NULL,
             color TEXT NOT NULL,
             text TEXT NOT NULL,
             -- Direct messages only: the reader's name, and the SHA-256 of
             -- each desk's secret (crate::desk).
             recipient TEXT,
             from_desk BLOB,
             to_desk BLOB,
             -- Tagged messages only (/tx): the sending desk's SHA-256 and
             -- its own ID for the message; a pair is stored once.
             tx_desk BLOB,
             tx_id TEXT,
             -- The room's name as it was made; NULL for #main (and for
             -- direct messages).
             room TEXT
         );
         -- Every room but #main.
         CREATE TABLE IF NOT EXISTS rooms (
             key TEXT PRIMARY KEY,
             name TEXT NOT NULL,
             private INTEGER NOT NULL,
             topic TEXT,
             topic_by TEXT,
             topic_time TEXT
         );
         -- Who is in each room (invited = 0) and who may enter a private
         -- one (invited = 1): an account (a:KEY) or a desk (d:SHA-256).
         CREATE TABLE IF NOT EXISTS room_holders (
             room TEXT NOT NULL,
             holder TEXT NOT NULL,
             invited INTEGER NOT NULL,
             PRIMARY KEY (room, holder, invited)
         );
         -- People who may log in (--auth token): a token's SHA-256, never
         -- the token (see store/accounts.rs).
         CREATE TABLE IF NOT EXISTS accounts (
             name_key TEXT PRIMARY KEY,
             name TEXT NOT NULL,
             token_sha256 BLOB NOT NULL,
             created TEXT NOT NULL
         );",
    )?;
    if (1..4).contains(&version) {
        // Versions 1 to 3 had no desk IDs for messages.
        connection.execute_batch(
            "ALTER TABLE messages ADD COLUMN tx_desk BLOB;
             ALTER TABLE messages ADD COLUMN tx_id TEXT;",
        )?;
    }
    if (1..5).contains(&version) {
        // Versions 1 to 4 had one room: their messages are #main's.
        connection.execute_batch("ALTER TABLE messages ADD COLUMN room TEXT;")?;
    }
    connection.execute_batch(SEARCH_INDEX)?;
    // A new file has nothing to index; an older one's trigger (or its
    // rebuild, for version 1) indexed every row it holds.
    connection.execute(
        "INSERT OR IGNORE INTO meta (key, value)
             VALUES (?1, (SELECT coalesce(max(id), 0) FROM messages))",
        params![INDEXED_UPTO],
    )?;
    connection.execute_batch(
        "CREATE UNIQUE INDEX IF NOT EXISTS messages_tx ON messages (tx_desk, tx_id)
             WHERE tx_id IS NOT NULL;
         CREATE INDEX IF NOT EXISTS messages_room ON messages (room, id);",
    )?;
    connection.pragma_update(None, "application_id", APPLICATION_ID)?;
    connection.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    connection.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?1)",
        params![crate::store::new_epoch()],
    )?;
    Ok(())
}

/// Why a file cannot be the room's log.
#[derive(Debug)]
enum OpenError {
    /// SQLite opened it, but it is not ours to use: why, for a person.
    Refused(String),
    /// SQLite could not use it.
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> OpenError {
        OpenError::Sqlite(e)
    }
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Refused(why) => f.write_str(why),
            OpenError::Sqlite(e) => f.write_str(&describe(e)),
        }
    }
}

/// One line a person can act on, for the errors that happen at start.
pub(super) fn describe(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode;
    match e {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                "is in use by another chat-server (only one server may use a log)".to_string()
            }
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                "is not a SQLite database, or is damaged; left untouched".to_string()
            }
            ErrorCode::CannotOpen => {
                "cannot be opened (does its folder exist, and may this user write there?)"
                    .to_string()
            }
            ErrorCode::ReadOnly | ErrorCode::PermissionDenied => {
                "is not writable by this user".to_string()
            }
            ErrorCode::DiskFull => "cannot be written: the disk is full".to_string(),
            _ => e.to_string(),
        },
        _ => e.to_string(),
    }
}
