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
//! a checkpoint at least once a second while messages arrive, on a thread of
//! its own ([`sync`]), and at a clean shutdown, so a power cut loses at most
//! about the last second.
//!
//! # Safety of the file
//!
//! The server holds an exclusive lock on the file (flock(2), which SQLite's
//! own locks do not see) for its whole life, so a second server on the same
//! file is refused at start, while `chat-server user ...` can still change the
//! accounts table beside the running server (`accounts.rs`). A file that is
//! not a SQLite database, or is another program's database, is refused and
//! left as it is ([`schema`]).
//!
//! # Searches
//!
//! Searches never wait in front of a message: they run on a thread of their
//! own, with a read-only connection ([`search`]). The same search thread
//! serves a server on Redis, over a local index of the stream's messages
//! ([`index`]).
//!
//! # Sent twice, stored once
//!
//! A message a desk tagged with its own ID (`/tx`) is stored once per desk
//! and ID (a unique index); sent again, it is answered as a duplicate of the
//! message it was stored as.

mod accounts;
mod index;
mod rows;
mod schema;
mod search;
mod sync;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;
use rusqlite::{params, Connection, OptionalExtension};
use sync::{checkpoint, Syncer};

use chat_shared::MessageId;

use super::{
    Busy, Completion, Draft, Holder, Message, ReplayFill, Request, RoomChange, RoomState, Scope,
    SearchRefusal, Store, Topic,
};
use crate::desk::DeskId;
use crate::ids::Asker;
use rows::{count_after, for_newest_after, recent_in};
use schema::{describe, open_database, Lock, INDEXED_UPTO};
use search::{IndexProgress, LogFile};
pub(crate) use search::{IndexState, SearchIndex, Searcher};

pub use accounts::SqliteAccounts;
pub(crate) use index::MessageIndex;

/// Requests waiting for the storage thread before the loop is told it is
/// busy: at one batch per loop pass, seconds of traffic on a stalled disk.
const QUEUED_REQUESTS: usize = 4096;

/// Answers waiting for the loop before the storage and search threads wait
/// too: the loop takes them every pass, so this bounds only what a crowd of
/// replays asked at once can hold (each at most the replay budget).
const QUEUED_ANSWERS: usize = 64;

/// How far the search index may fall behind the log while messages keep
/// coming: indexing waits for a pause between batches, but no longer than
/// this many rows or [`INDEX_LAG_TIME`], well inside what a search waits.
const INDEX_LAG_ROWS: u64 = 2048;
const INDEX_LAG_TIME: Duration = Duration::from_millis(50);

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
    /// The search thread, beside it.
    searcher: Option<Searcher>,
    /// Read by the loop's thread at start-up, then handed to the storage
    /// thread by [`SqliteStore::start`].
    connection: Option<Connection>,
    /// What the thread sends its answers with, until it starts.
    done_sender: Option<SyncSender<Completion>>,
    /// Held for the server's life: no second server on this file. Last, so
    /// it is dropped after the connection (see the `Drop` impl).
    _lock: std::fs::File,
}

impl SqliteStore {
    /// The connection the loop's thread reads with at start-up, before the
    /// storage thread takes it.
    fn start_up_connection(&self) -> io::Result<&Connection> {
        self.connection
            .as_ref()
            .ok_or_else(|| io::Error::other("the storage thread owns the connection"))
    }

    fn failed(&self, e: &rusqlite::Error) -> io::Error {
        io::Error::other(format!(
            "the room's log {}: {}",
            self.path.display(),
            describe(e)
        ))
    }
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
        let (done_sender, done) = mpsc::sync_channel(QUEUED_ANSWERS);
        Ok(SqliteStore {
            path: path.to_path_buf(),
            epoch,
            last_at_start: last_at_start as u64,
            requests: None,
            done,
            _lock: lock,
            thread: None,
            searcher: None,
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
        let stored = self.last_at_start;
        let indexed: i64 = connection
            .query_row(
                "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1",
                params![INDEXED_UPTO],
                |row| row.get(0),
            )
            .map_err(|e| io::Error::other(describe(&e)))?;
        let progress = Arc::new(IndexProgress::default());
        progress.stored(stored);
        progress.indexed(indexed as u64);
        self.searcher = Some(Searcher::start(
            LogFile::open(&self.path, Arc::clone(&progress))?,
            done.clone(),
            Arc::clone(&waker),
        )?);
        let syncer = Syncer::start(&self.path, Arc::clone(&progress))?;
        let (requests, incoming) = mpsc::sync_channel(QUEUED_REQUESTS);
        let thread = std::thread::Builder::new()
            .name("chat-server-store".to_string())
            .spawn(move || {
                Storage {
                    connection,
                    done,
                    waker,
                    syncer,
                    stored,
                    indexed: indexed as u64,
                    progress,
                    index_failing: false,
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
        let connection = self.start_up_connection()?;
        let read = || -> rusqlite::Result<Vec<Message>> {
            let mut messages = recent_in(connection, None, limit)?;
            for room in room_names(connection)? {
                messages.extend(recent_in(connection, Some(&room), limit)?);
            }
            messages.sort_by_key(|message| message.id);
            Ok(messages)
        };
        read().map_err(|e| self.failed(&e))
    }

    fn rooms(&mut self) -> io::Result<Vec<RoomState>> {
        let connection = self.start_up_connection()?;
        read_rooms(connection).map_err(|e| self.failed(&e))
    }

    fn submit(&mut self, request: Request) -> Result<(), Busy> {
        if let Request::Search { .. } = request {
            return match &self.searcher {
                Some(searcher) => searcher.submit(request),
                None => Err(request),
            }
            .map_err(Busy);
        }
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
        // Dropping the senders tells the threads to finish (the storage
        // thread checkpoints); their answers are taken meanwhile, so that
        // neither waits on a full channel while it is waited for.
        if let Some(searcher) = &mut self.searcher {
            searcher.close_queue();
        }
        self.requests = None;
        let mut answers = Vec::new();
        let running = |store: &SqliteStore| {
            store.thread.as_ref().is_some_and(|t| !t.is_finished())
                || store.searcher.as_ref().is_some_and(Searcher::is_running)
        };
        while running(self) {
            answers.extend(self.done.try_iter());
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(mut searcher) = self.searcher.take() {
            searcher.stop();
        }
        answers.extend(self.done.try_iter());
        answers
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

/// The storage thread: owns the connection, commits batches, indexes
/// them for search once the loop has them, answers replays.
struct Storage {
    connection: Connection,
    done: SyncSender<Completion>,
    waker: Arc<Waker>,
    /// Syncs what is committed to the disk, beside the commits.
    syncer: Syncer,
    /// The highest row ID committed.
    stored: u64,
    /// The highest row ID in the search index.
    indexed: u64,
    /// Both, for the search thread.
    progress: Arc<IndexProgress>,
    /// Whether the last try to index failed (said once in the log).
    index_failing: bool,
}

impl Storage {
    fn run(mut self, incoming: Receiver<Request>) {
        // Rows a killed server stored and had not indexed yet.
        self.index_stored();
        let mut next = None;
        let mut indexed_at = Instant::now();
        while let Some(first) = next.take().or_else(|| incoming.recv().ok()) {
            // Everything already queued goes in this round, so a busy room
            // commits many passes' batches at once.
            let batch: Vec<Request> = std::iter::once(first).chain(incoming.try_iter()).collect();
            self.serve(batch);
            let _ = self.waker.wake();
            // Indexing waits while messages wait to be committed: a commit
            // held up behind FTS5 is a message held up on its way to the
            // room. But not for long, or a search would wait for it.
            match incoming.try_recv() {
                Ok(request) => next = Some(request),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => break,
            }
            let lag = self.stored.saturating_sub(self.indexed);
            if next.is_none() || lag >= INDEX_LAG_ROWS || indexed_at.elapsed() >= INDEX_LAG_TIME {
                self.index_stored();
                indexed_at = Instant::now();
            }
        }
        self.index_stored();
        self.syncer.stop();
        checkpoint(&self.connection, "TRUNCATE");
    }

    /// Serves requests in order; runs of appends share one transaction.
    fn serve(&mut self, batch: Vec<Request>) {
        let mut drafts = Vec::new();
        for request in batch {
            match request {
                Request::Append(more) => drafts.extend(more),
                // The store hands searches to the search thread.
                Request::Search { asker, .. } => {
                    let why = SearchRefusal::Failed("a search reached the storage thread".into());
                    let _ = self.done.send(Completion::SearchFailed { asker, why });
                }
                Request::Replay {
                    asker,
                    after,
                    desk,
                    scope,
                    budget_bytes,
                } => {
                    self.commit(std::mem::take(&mut drafts));
                    let completion = self
                        .replay(asker, after, desk, &scope, budget_bytes)
                        .unwrap_or_else(|e| Completion::ReplayFailed {
                            asker,
                            error: e.to_string(),
                        });
                    let _ = self.done.send(completion);
                }
                Request::ChangeRoom { asker, change } => {
                    self.commit(std::mem::take(&mut drafts));
                    let completion = match change_room(&mut self.connection, &change) {
                        Ok(()) => Completion::RoomChanged(change),
                        Err(e) => Completion::RoomNotSaved {
                            asker,
                            error: describe(&e),
                        },
                    };
                    let _ = self.done.send(completion);
                }
            }
        }
        self.commit(drafts);
    }

    /// Stores `drafts` in one transaction, then hands them back: the
    /// messages stored, and each draft sent before under the same desk and
    /// ID as a duplicate, in their order.
    fn commit(&mut self, drafts: Vec<Draft>) {
        if drafts.is_empty() {
            return;
        }
        let stored = match self.insert(&drafts) {
            Ok(stored) => stored,
            Err(e) => {
                let error = describe(&e);
                let _ = self.done.send(Completion::NotSaved { drafts, error });
                return;
            }
        };
        // Told before the loop hears of the rows: a search asked after a
        // desk saw them waits for them to be indexed.
        for outcome in &stored {
            if let Stored::New(id) = outcome {
                self.stored = self.stored.max(id.major());
            }
        }
        self.progress.stored(self.stored);
        let mut messages = Vec::with_capacity(drafts.len());
        for (draft, outcome) in drafts.into_iter().zip(stored) {
            match outcome {
                Stored::New(id) => messages.push(Message::from_draft(draft, id)),
                Stored::Before(id) => {
                    if !messages.is_empty() {
                        let _ = self
                            .done
                            .send(Completion::Appended(std::mem::take(&mut messages)));
                    }
                    let _ = self.done.send(Completion::Duplicate { draft, id });
                }
            }
        }
        if !messages.is_empty() {
            let _ = self.done.send(Completion::Appended(messages));
        }
    }

    /// Adds the rows committed since the last time to the search index, in
    /// a transaction of their own. Run after the loop was woken for them, so
    /// a message's way to the room never waits on FTS5; a search waits for
    /// it instead ([`IndexProgress`]). On failure (a full disk) the rows
    /// stay stored and are tried again after the next commit.
    fn index_stored(&mut self) {
        if self.indexed >= self.stored {
            return;
        }
        let (after, upto) = (self.indexed as i64, self.stored as i64);
        let result = self.connection.transaction().and_then(|transaction| {
            transaction.execute(
                "INSERT INTO messages_fts (rowid, text)
                     SELECT id, text FROM messages WHERE id > ?1 AND id <= ?2",
                params![after, upto],
            )?;
            transaction.execute(
                "UPDATE meta SET value = ?2 WHERE key = ?1",
                params![INDEXED_UPTO, upto],
            )?;
            transaction.commit()
        });
        match result {
            Ok(()) => {
                self.indexed = self.stored;
                self.progress.indexed(self.indexed);
                self.index_failing = false;
            }
            Err(e) if !self.index_failing => {
                self.index_failing = true;
                tracing::warn!(
                    error = describe(&e),
                    "[!] The room's log could not index messages for search; it tries again with the next ones"
                );
            }
            Err(_) => {}
        }
    }

    /// Inserts the drafts in one transaction, each tagged one only if its
    /// desk and ID are new; says what each became.
    fn insert(&mut self, drafts: &[Draft]) -> rusqlite::Result<Vec<Stored>> {
        let transaction = self.connection.transaction()?;
        let mut stored = Vec::with_capacity(drafts.len());
        {
            let mut earlier = transaction
                .prepare_cached("SELECT id FROM messages WHERE tx_desk = ?1 AND tx_id = ?2")?;
            let mut insert = transaction.prepare_cached(
                "INSERT INTO messages
                     (time, name, color, text, recipient, from_desk, to_desk, tx_desk, tx_id, room)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for draft in drafts {
                let tx_desk = draft.tx.as_ref().map(|tx| tx.desk.0.to_vec());
                let tx_id = draft.tx.as_ref().map(|tx| tx.id.as_str());
                if tx_id.is_some() {
                    let before: Option<i64> = earlier
                        .query_row(params![tx_desk, tx_id], |row| row.get(0))
                        .optional()?;
                    if let Some(id) = before {
                        stored.push(Stored::Before(MessageId::from_sequence(id as u64)));
                        continue;
                    }
                }
                let direct = draft.direct.as_ref();
                insert.execute(params![
                    draft.time,
                    draft.name,
                    draft.color.to_string(),
                    draft.text,
                    direct.map(|d| &d.to),
                    direct.map(|d| d.from_desk.0.to_vec()),
                    direct.map(|d| d.to_desk.0.to_vec()),
                    tx_desk,
                    tx_id,
                    draft.room,
                ])?;
                let id = transaction.last_insert_rowid() as u64;
                stored.push(Stored::New(MessageId::from_sequence(id)));
            }
        }
        transaction.commit()?;
        Ok(stored)
    }

    /// The newest messages after `after` that a desk sees (`desk`,
    /// `scope`), as many as fit `budget_bytes`; rows past that are not read,
    /// only counted.
    fn replay(
        &self,
        asker: Asker,
        after: MessageId,
        desk: Option<DeskId>,
        scope: &Scope,
        budget_bytes: usize,
    ) -> rusqlite::Result<Completion> {
        let mut fill = ReplayFill::new(budget_bytes);
        for_newest_after(&self.connection, after, desk, scope, |message| {
            fill.offer(message)
        })?;
        if !fill.is_full() {
            return Ok(fill.answer(asker, 0));
        }
        let missed = count_after(&self.connection, after, desk, scope)?;
        Ok(fill.answer_out_of(asker, missed))
    }
}

/// What a draft became in the log.
enum Stored {
    /// A new message, with its ID.
    New(MessageId),
    /// The message it was stored as before (the same desk and ID).
    Before(MessageId),
}

/// The names of every room but `#main`.
fn room_names(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare("SELECT name FROM rooms ORDER BY key")?;
    let keys = statement.query_map([], |row| row.get(0))?;
    keys.collect()
}

/// Every room but `#main`, with who is in it and who was invited.
fn read_rooms(connection: &Connection) -> rusqlite::Result<Vec<RoomState>> {
    let mut rooms = Vec::new();
    let mut statement =
        connection.prepare("SELECT key, name, private, topic, topic_by, topic_time FROM rooms")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let text: Option<String> = row.get(3)?;
        let topic = match text {
            Some(text) => Some(Topic {
                text,
                by: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
                time: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
            }),
            None => None,
        };
        rooms.push(RoomState {
            key: row.get(0)?,
            name: row.get(1)?,
            private: row.get(2)?,
            topic,
            holders: Vec::new(),
            invited: Vec::new(),
        });
    }
    let mut holders =
        connection.prepare("SELECT holder, invited FROM room_holders WHERE room = ?1")?;
    for room in &mut rooms {
        let rows = holders.query_map([&room.key], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?))
        })?;
        for row in rows {
            let (holder, invited) = row?;
            let Some(holder) = Holder::decode(&holder) else {
                continue; // written by a newer server
            };
            if invited {
                room.invited.push(holder);
            } else {
                room.holders.push(holder);
            }
        }
    }
    Ok(rooms)
}

/// Keeps one change to the rooms, in one transaction.
fn change_room(connection: &mut Connection, change: &RoomChange) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    match change {
        RoomChange::Enter {
            key,
            name,
            private,
            holder,
        } => {
            transaction.execute(
                "INSERT OR IGNORE INTO rooms (key, name, private) VALUES (?1, ?2, ?3)",
                params![key, name, private],
            )?;
            transaction.execute(
                "INSERT OR IGNORE INTO room_holders (room, holder, invited) VALUES (?1, ?2, 0)",
                params![key, holder.encode()],
            )?;
        }
        RoomChange::Part { key, holder, .. } => {
            transaction.execute(
                "DELETE FROM room_holders WHERE room = ?1 AND holder = ?2 AND invited = 0",
                params![key, holder.encode()],
            )?;
        }
        // Modes are not kept.
        RoomChange::Modes(_) => {}
        RoomChange::Kick(kick) => {
            transaction.execute(
                "DELETE FROM room_holders WHERE room = ?1 AND holder = ?2 AND invited = 0",
                params![kick.key, kick.holder.encode()],
            )?;
        }
        RoomChange::Topic { key, topic } => {
            transaction.execute(
                "UPDATE rooms SET topic = ?2, topic_by = ?3, topic_time = ?4 WHERE key = ?1",
                params![key, topic.text, topic.by, topic.time],
            )?;
        }
        RoomChange::Invite { key, holder, .. } => {
            transaction.execute(
                "INSERT OR IGNORE INTO room_holders (room, holder, invited) VALUES (?1, ?2, 1)",
                params![key, holder.encode()],
            )?;
        }
    }
    transaction.commit()
}
