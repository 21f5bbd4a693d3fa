//! The default room log: one SQLite file (bundled SQLite, WAL), owned by a
//! storage thread so the event loop never waits on the disk.
//!
//! # Durability
//!
//! The loop hands each pass's messages over as one batch; the storage thread
//! commits the batch in one transaction and only then hands the messages back
//! to be delivered. A commit in WAL mode with `synchronous=NORMAL` is in the
//! operating system's hands when it returns, so killing the server (even with
//! `kill -9`) loses nothing any desk has seen. The WAL is synced to the disk by
//! a checkpoint at least once a second while messages arrive (and at a clean
//! shutdown), so a power cut loses at most about the last second.
//!
//! # Safety of the file
//!
//! The server holds an exclusive lock on the file (flock(2), which SQLite's
//! own locks do not see) for its whole life, so a second server on the same
//! file is refused at start, while `chat-server user ...` can still change the
//! accounts table beside the running server ([`crate::store::accounts`]). A file that
//! is not a SQLite database, or is another program's database, is refused and
//! left as it is.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use chat_shared::{Color, MessageId};

use super::{
    Busy, Completion, DirectTo, Draft, Message, Request, Store, REPLAY_LIMIT, SEARCH_LIMIT,
};
use crate::desk::DeskId;

/// Marks our files (`PRAGMA application_id`): "CHAT".
const APPLICATION_ID: i64 = 0x4348_4154;

/// The schema's version (`PRAGMA user_version`): 2 added direct messages
/// and search, 3 accounts.
const SCHEMA_VERSION: i64 = 3;

/// How long a write waits for another connection's (the `user` commands')
/// transaction; they are a few rows, so this is generous.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Requests waiting for the storage thread before the loop is told it is
/// busy: at one batch per loop pass, seconds of traffic on a stalled disk.
const QUEUED_REQUESTS: usize = 4096;

/// How often the WAL is synced to the disk while messages arrive: the most a
/// power cut can lose.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// A room log in a SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    epoch: String,
    /// The newest message's number at start (0: none yet).
    last_at_start: u64,
    /// To the storage thread; `None` once closed.
    requests: Option<SyncSender<Request>>,
    /// From the storage thread.
    done: Receiver<Completion>,
    /// The storage thread, joined on close.
    thread: Option<JoinHandle<()>>,
    /// Read by the loop's thread at start-up, then handed to the storage
    /// thread by [`SqliteStore::start`].
    connection: Option<Connection>,
    /// What the thread sends its answers with, until it starts.
    done_sender: Option<Sender<Completion>>,
    /// Held for the server's life: no second server on this file. Last, so
    /// it is dropped after the connection (see the `Drop` impl).
    _lock: std::fs::File,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (or creates) the log at `path` and checks it is ours and free.
    /// The storage thread starts with [`SqliteStore::start`].
    pub fn open(path: &Path) -> io::Result<SqliteStore> {
        let fail =
            |what: String| io::Error::other(format!("the room's log {}: {what}", path.display()));
        let (connection, lock) = open_database(path, Lock::Exclusive)?;
        let lock = lock.ok_or_else(|| fail("could not be locked".to_string()))?;
        let epoch: String = connection
            .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |row| {
                row.get(0)
            })
            .map_err(|e| fail(describe(&e)))?;
        // Not count(*): that reads the whole table, and start-up must not
        // grow with the log.
        let last_at_start: i64 = connection
            .query_row("SELECT coalesce(max(id), 0) FROM messages", [], |row| {
                row.get(0)
            })
            .map_err(|e| fail(describe(&e)))?;
        let (done_sender, done) = mpsc::channel();
        Ok(SqliteStore {
            path: path.to_path_buf(),
            epoch,
            last_at_start: last_at_start as u64,
            requests: None,
            done,
            _lock: lock,
            thread: None,
            connection: Some(connection),
            done_sender: Some(done_sender),
        })
    }

    /// Starts the storage thread; it wakes `waker` whenever answers are ready.
    pub fn start(&mut self, waker: Arc<Waker>) -> io::Result<()> {
        let (Some(connection), Some(done)) = (self.connection.take(), self.done_sender.take())
        else {
            return Ok(());
        };
        let (requests, incoming) = mpsc::sync_channel(QUEUED_REQUESTS);
        let thread = std::thread::Builder::new()
            .name("chat-server-store".to_string())
            .spawn(move || {
                Storage {
                    connection,
                    done,
                    waker,
                    dirty: false,
                }
                .run(incoming)
            })?;
        self.requests = Some(requests);
        self.thread = Some(thread);
        Ok(())
    }
}

impl Store for SqliteStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn can_search(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        match self.last_at_start {
            0 => format!("{} (new)", self.path.display()),
            last => format!("{} (last message #{last})", self.path.display()),
        }
    }

    fn recent(&mut self, limit: usize) -> io::Result<Vec<Message>> {
        let connection = self
            .connection
            .as_ref()
            .ok_or_else(|| io::Error::other("the storage thread owns the connection"))?;
        let mut messages = newest_after(connection, MessageId::ZERO, limit, None).map_err(|e| {
            io::Error::other(format!(
                "the room's log {}: {}",
                self.path.display(),
                describe(&e)
            ))
        })?;
        messages.reverse();
        Ok(messages)
    }

    fn submit(&mut self, request: Request) -> Result<(), Busy> {
        let Some(requests) = &self.requests else {
            return Err(Busy(request));
        };
        requests.try_send(request).map_err(|e| match e {
            TrySendError::Full(request) | TrySendError::Disconnected(request) => Busy(request),
        })
    }

    fn completions(&mut self, out: &mut Vec<Completion>) {
        out.extend(self.done.try_iter());
    }

    fn close(&mut self) -> Vec<Completion> {
        // Dropping the sender tells the thread to finish and checkpoint.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.done.try_iter().collect()
    }
}

impl Drop for SqliteStore {
    /// The storage thread's connection is closed before the file lock goes:
    /// closing any descriptor of the file drops this process's SQLite
    /// (POSIX) locks on it, which must not happen under a live connection.
    fn drop(&mut self) {
        self.close();
    }
}

/// Whether [`open_database`] takes the file for this process alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// The server's: refused if another server holds the file.
    Exclusive,
    /// The `user` commands': beside a running server.
    Shared,
}

/// Opens (or creates, with its folder) a room's log file, checks it is
/// ours and brings its schema up to date. With [`Lock::Exclusive`], also returns the lock that
/// keeps a second server away, held until the file handle is dropped.
pub(crate) fn open_database(
    path: &Path,
    lock: Lock,
) -> io::Result<(Connection, Option<std::fs::File>)> {
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

/// The search index: SQLite's FTS5 over the messages' text, kept up to date
/// by a trigger on every insert.
const SEARCH_INDEX: &str = "
    CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts
        USING fts5(text, content = 'messages', content_rowid = 'id');
    CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
    END;";

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
             to_desk BLOB
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
    connection.execute_batch(SEARCH_INDEX)?;
    connection.pragma_update(None, "application_id", APPLICATION_ID)?;
    connection.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    connection.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?1)",
        params![super::new_epoch()],
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
fn describe(e: &rusqlite::Error) -> String {
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

/// The columns [`message_from_row`] reads, in its order.
const MESSAGE_COLUMNS: &str =
    "m.id, m.time, m.name, m.color, m.text, m.recipient, m.from_desk, m.to_desk";

/// Which messages `?3`, a desk ID or NULL, may see: the room's, and the
/// direct messages it wrote or received.
const VISIBLE: &str = "(m.recipient IS NULL OR m.from_desk = ?3 OR m.to_desk = ?3)";

/// The newest `limit` messages after `after` that `desk` may see, newest
/// first.
fn newest_after(
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

/// The newest [`SEARCH_LIMIT`] messages `desk` may see whose text holds
/// every word of `words`, newest first.
fn search(
    connection: &Connection,
    words: &str,
    desk: Option<DeskId>,
) -> rusqlite::Result<Vec<Message>> {
    let Some(query) = fts_query(words) else {
        return Ok(Vec::new());
    };
    // FTS5 walks its index newest first, so a common word costs no sort.
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages_fts f JOIN messages m ON m.id = f.rowid
         WHERE messages_fts MATCH ?1 AND {VISIBLE} ORDER BY f.rowid DESC LIMIT ?2"
    ))?;
    let desk = desk.map(|d| d.0.to_vec());
    let rows = statement.query_map(params![query, SEARCH_LIMIT as i64, desk], message_from_row)?;
    rows.collect()
}

/// Most words a search looks for.
const MAX_SEARCH_WORDS: usize = 16;

/// `words` as an FTS5 query that means "all of these words": each one a
/// quoted string, so nothing a person types is read as query syntax.
fn fts_query(words: &str) -> Option<String> {
    let terms: Vec<String> = words
        .split_whitespace()
        .take(MAX_SEARCH_WORDS)
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

fn message_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
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
    Ok(Message {
        id: MessageId::from_sequence(id as u64),
        time: row.get(1)?,
        color: color.parse().unwrap_or_else(|_| Color::for_name(&name)),
        name,
        text: row.get(4)?,
        direct,
    })
}

/// The row number an ID stands for. IDs of another log's kind (two numbers)
/// are not ours: they sort after everything we have.
fn sequence_of(id: MessageId) -> i64 {
    if id.minor() != 0 {
        return i64::MAX;
    }
    i64::try_from(id.major()).unwrap_or(i64::MAX)
}

/// The storage thread: owns the connection, commits batches, answers
/// replays, checkpoints.
struct Storage {
    connection: Connection,
    done: Sender<Completion>,
    waker: Arc<Waker>,
    /// Whether anything was committed since the last checkpoint.
    dirty: bool,
}

impl Storage {
    fn run(mut self, incoming: Receiver<Request>) {
        let mut last_checkpoint = Instant::now();
        loop {
            match incoming.recv_timeout(CHECKPOINT_INTERVAL) {
                Ok(first) => {
                    // Everything already queued goes in this round, so a busy
                    // room commits many passes' batches at once.
                    let batch: Vec<Request> =
                        std::iter::once(first).chain(incoming.try_iter()).collect();
                    self.serve(batch);
                    let _ = self.waker.wake();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.dirty && last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
                self.checkpoint("PASSIVE");
                last_checkpoint = Instant::now();
            }
        }
        self.checkpoint("TRUNCATE");
    }

    /// Serves requests in order; runs of appends share one transaction.
    fn serve(&mut self, batch: Vec<Request>) {
        let mut drafts = Vec::new();
        for request in batch {
            match request {
                Request::Append(more) => drafts.extend(more),
                Request::Search { asker, words, desk } => {
                    self.commit(std::mem::take(&mut drafts));
                    let completion = match search(&self.connection, &words, desk) {
                        Ok(mut messages) => {
                            messages.reverse();
                            Completion::Found { asker, messages }
                        }
                        Err(e) => Completion::SearchFailed {
                            asker,
                            error: e.to_string(),
                        },
                    };
                    let _ = self.done.send(completion);
                }
                Request::Replay { asker, after, desk } => {
                    self.commit(std::mem::take(&mut drafts));
                    let completion = match self.replay(after, desk) {
                        Ok((messages, skipped)) => Completion::Replay {
                            asker,
                            messages,
                            skipped,
                        },
                        Err(e) => Completion::ReplayFailed {
                            asker,
                            error: e.to_string(),
                        },
                    };
                    let _ = self.done.send(completion);
                }
            }
        }
        self.commit(drafts);
    }

    fn commit(&mut self, drafts: Vec<Draft>) {
        if drafts.is_empty() {
            return;
        }
        let completion = match self.insert(&drafts) {
            Ok(ids) => {
                self.dirty = true;
                let messages = drafts
                    .into_iter()
                    .zip(ids)
                    .map(|(draft, id)| Message::from_draft(draft, MessageId::from_sequence(id)))
                    .collect();
                Completion::Appended(messages)
            }
            Err(e) => Completion::NotSaved {
                drafts,
                error: describe(&e),
            },
        };
        let _ = self.done.send(completion);
    }

    /// Inserts the drafts in one transaction; returns their IDs.
    fn insert(&mut self, drafts: &[Draft]) -> rusqlite::Result<Vec<u64>> {
        let transaction = self.connection.transaction()?;
        let mut ids = Vec::with_capacity(drafts.len());
        {
            let mut statement = transaction.prepare_cached(
                "INSERT INTO messages (time, name, color, text, recipient, from_desk, to_desk)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for draft in drafts {
                let direct = draft.direct.as_ref();
                statement.execute(params![
                    draft.time,
                    draft.name,
                    draft.color.to_string(),
                    draft.text,
                    direct.map(|d| &d.to),
                    direct.map(|d| d.from_desk.0.to_vec()),
                    direct.map(|d| d.to_desk.0.to_vec()),
                ])?;
                ids.push(transaction.last_insert_rowid() as u64);
            }
        }
        transaction.commit()?;
        Ok(ids)
    }

    fn replay(
        &self,
        after: MessageId,
        desk: Option<DeskId>,
    ) -> rusqlite::Result<(Vec<Message>, u64)> {
        let mut messages = newest_after(&self.connection, after, REPLAY_LIMIT, desk)?;
        messages.reverse();
        let skipped = if messages.len() == REPLAY_LIMIT {
            let total: i64 = self.connection.query_row(
                &format!("SELECT count(*) FROM messages m WHERE m.id > ?1 AND {VISIBLE}"),
                params![
                    sequence_of(after),
                    REPLAY_LIMIT as i64,
                    desk.map(|d| d.0.to_vec())
                ],
                |row| row.get(0),
            )?;
            (total as u64).saturating_sub(REPLAY_LIMIT as u64)
        } else {
            0
        };
        Ok((messages, skipped))
    }

    fn checkpoint(&mut self, mode: &str) {
        let result = self
            .connection
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
            .optional();
        match result {
            Ok(_) => self.dirty = false,
            Err(e) => tracing::warn!(
                error = describe(&e),
                "[!] The room's log could not be synced to disk"
            ),
        }
    }
}
