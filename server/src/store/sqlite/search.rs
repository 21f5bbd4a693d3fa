//! Searches, beside the write path, never in front of it: a thread of its
//! own, at a lower CPU priority than the loop, fed by a short queue. A full
//! queue is refused at once; a search that runs past [`SEARCH_TIME_LIMIT`]
//! is stopped (SQLite's progress handler) and refused as too broad. What the
//! person typed is never read as query syntax: each word becomes a quoted
//! FTS5 string, control characters dropped.
//!
//! The thread searches a [`SearchIndex`]: a SQLite database with the log's
//! `messages` table and its FTS5 index, so the same query and the same
//! visibility rules serve both stores. The room's log file is one
//! ([`LogFile`], read-only beside the storage thread; WAL lets it read while
//! the storage thread commits, and a search waits the moment the storage
//! thread takes to index what it stored before it); a server on Redis keeps another, filled
//! from the stream (`crate::store::redis`), which the thread also keeps up
//! to date between searches.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;
use rusqlite::{named_params, Connection, OpenFlags};

use chat_shared::MessageId;

use super::rows::{message_from_row, visible_params, MESSAGE_COLUMNS, VISIBLE};
use super::schema::{describe, open_beside};
use crate::desk::DeskId;
use crate::store::{Completion, Message, Request, Scope, SearchRefusal, SEARCH_LIMIT};

/// Searches waiting for the search thread before the next is refused as
/// busy: a few seconds of a busy office's searching, and no more memory
/// than a few hundred words.
const QUEUED_SEARCHES: usize = 32;

/// How long one search may run. An ordinary search of a log of 160,000
/// messages takes about 10 ms here; one that runs this long is scanning
/// most of the index for a word nearly every message holds.
const SEARCH_TIME_LIMIT: Duration = Duration::from_millis(250);

/// SQLite virtual-machine steps between two looks at the clock: a few
/// microseconds of work.
const STEPS_BETWEEN_CLOCK_CHECKS: i32 = 1000;

/// How much nicer than the loop the search thread runs (`nice` levels):
/// when the cores are busy, messages go first.
const SEARCH_NICENESS: libc::c_int = 10;

/// Most words a search looks for.
const MAX_SEARCH_WORDS: usize = 16;

/// What the search thread searches: a database with the log's `messages`
/// and `messages_fts` tables, and how it is kept up to date.
pub(crate) trait SearchIndex: Send + 'static {
    /// The database.
    fn connection(&self) -> &Connection;

    /// Brings the index up to date, a bounded step at a time (called
    /// before each search, and whenever the thread comes back to it).
    fn catch_up(&mut self) -> IndexState;

    /// The ID of the message in row `row_id`.
    fn message_id(&self, row_id: u64) -> MessageId;
}

/// Whether an index can be searched yet, and when the thread comes back to
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexState {
    /// Complete. The thread waits at most this long for a search before
    /// catching up again; `None`: only a search wakes it.
    Ready(Option<Duration>),
    /// Still being filled: searches are refused as
    /// [`SearchRefusal::Indexing`]. The thread comes back to fill it after
    /// this long at most (zero: at once).
    Filling(Duration),
}

/// Longest a search waits for the storage thread to index the messages
/// stored before it was asked; past it (an index that cannot be written)
/// the search runs on what is indexed.
const INDEX_WAIT: Duration = Duration::from_millis(250);

/// How far the storage thread has stored and indexed the log's rows: it
/// indexes each commit's rows after the commit, so that no message waits
/// for FTS5 on its way to the room; a search waits until what was stored
/// before it is indexed.
#[derive(Debug, Default)]
pub(super) struct IndexProgress {
    /// The highest row ID committed.
    stored: AtomicU64,
    /// The highest row ID in the search index.
    indexed: AtomicU64,
}

impl IndexProgress {
    /// Rows up to `row` are committed.
    pub(super) fn stored(&self, row: u64) {
        self.stored.store(row, Ordering::Release);
    }

    /// The highest row ID committed.
    pub(super) fn stored_upto(&self) -> u64 {
        self.stored.load(Ordering::Acquire)
    }

    /// Rows up to `row` are indexed.
    pub(super) fn indexed(&self, row: u64) {
        self.indexed.store(row, Ordering::Release);
    }

    /// Waits, at most `limit`, until every row committed now is indexed.
    fn wait_indexed(&self, limit: Duration) {
        let wanted = self.stored.load(Ordering::Acquire);
        let deadline = Instant::now() + limit;
        while self.indexed.load(Ordering::Acquire) < wanted && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The room's log file, read-only; the storage thread indexes it.
pub(super) struct LogFile {
    connection: Connection,
    progress: Arc<IndexProgress>,
}

impl LogFile {
    /// Opens the log at `path` read-only; `progress` is the storage
    /// thread's.
    pub(super) fn open(path: &Path, progress: Arc<IndexProgress>) -> io::Result<LogFile> {
        let connection = open_beside(path, OpenFlags::SQLITE_OPEN_READ_ONLY, "searching")?;
        Ok(LogFile {
            connection,
            progress,
        })
    }
}

impl SearchIndex for LogFile {
    fn connection(&self) -> &Connection {
        &self.connection
    }

    fn catch_up(&mut self) -> IndexState {
        self.progress.wait_indexed(INDEX_WAIT);
        IndexState::Ready(None)
    }

    fn message_id(&self, row_id: u64) -> MessageId {
        MessageId::from_sequence(row_id)
    }
}

/// The search thread, and the queue to it.
pub(crate) struct Searcher {
    /// To the search thread; `None` once stopped.
    requests: Option<SyncSender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Searcher {
    /// Starts the search thread over `index`; it answers through `done` and
    /// wakes `waker`.
    pub fn start(
        index: impl SearchIndex,
        done: SyncSender<Completion>,
        waker: Arc<Waker>,
    ) -> io::Result<Searcher> {
        let (requests, incoming) = mpsc::sync_channel(QUEUED_SEARCHES);
        let thread = std::thread::Builder::new()
            .name("chat-server-search".to_string())
            .spawn(move || run(index, incoming, &done, &waker))?;
        Ok(Searcher {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Queues a search ([`Request::Search`]); hands it back when the queue
    /// is full (or the thread is gone).
    pub fn submit(&self, request: Request) -> Result<(), Request> {
        let Some(requests) = &self.requests else {
            return Err(request);
        };
        requests.try_send(request).map_err(|e| match e {
            TrySendError::Full(request) | TrySendError::Disconnected(request) => request,
        })
    }

    /// Takes no more searches: the thread ends once those queued are
    /// answered.
    pub fn close_queue(&mut self) {
        self.requests = None;
    }

    /// True until the thread has ended.
    pub fn is_running(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(|thread| !thread.is_finished())
    }

    /// Stops the thread once the searches queued are answered.
    pub fn stop(&mut self) {
        self.close_queue();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Searcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The search thread: keeps the index up to date and answers each search
/// in turn, until the queue is closed.
fn run(
    mut index: impl SearchIndex,
    incoming: Receiver<Request>,
    done: &SyncSender<Completion>,
    waker: &Waker,
) {
    lower_priority();
    let mut state = index.catch_up();
    loop {
        let wait = match state {
            IndexState::Ready(wait) => wait,
            IndexState::Filling(wait) => Some(wait),
        };
        let received = match wait {
            None => incoming.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(wait) => incoming.recv_timeout(wait),
        };
        let request = match received {
            Ok(request) => request,
            Err(RecvTimeoutError::Timeout) => {
                state = index.catch_up();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let Request::Search {
            asker,
            words,
            desk,
            scope,
        } = request
        else {
            continue; // only searches are queued here
        };
        // What was read before the search was asked is in it.
        state = index.catch_up();
        let completion = match state {
            IndexState::Filling(_) => Completion::SearchFailed {
                asker,
                why: SearchRefusal::Indexing,
            },
            IndexState::Ready(_) => match search(&index, &words, desk, &scope) {
                Ok(mut messages) => {
                    messages.reverse();
                    Completion::Found { asker, messages }
                }
                Err(why) => Completion::SearchFailed { asker, why },
            },
        };
        if done.send(completion).is_err() {
            return;
        }
        let _ = waker.wake();
    }
}

/// Makes the calling thread nicer than the loop: on Linux the nice value is
/// each thread's own.
fn lower_priority() {
    // SAFETY: gettid and setpriority only read their arguments; a failure
    // (no permission) leaves the thread at the loop's priority, which is
    // merely what it was before.
    unsafe {
        let thread = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, SEARCH_NICENESS);
    }
}

/// The newest [`SEARCH_LIMIT`] messages `desk` may see whose text holds
/// every word of `words`, newest first; stopped after
/// [`SEARCH_TIME_LIMIT`].
fn search(
    index: &impl SearchIndex,
    words: &str,
    desk: Option<DeskId>,
    scope: &Scope,
) -> Result<Vec<Message>, SearchRefusal> {
    let query = fts_query(words).ok_or(SearchRefusal::BadWords)?;
    let connection = index.connection();
    let deadline = Instant::now() + SEARCH_TIME_LIMIT;
    let stop_late = move || Instant::now() > deadline;
    let result = connection
        .progress_handler(STEPS_BETWEEN_CLOCK_CHECKS, Some(stop_late))
        .and_then(|()| matching(connection, &query, desk, scope));
    let _ = connection.progress_handler(0, None::<fn() -> bool>);
    let mut messages = result.map_err(|e| refusal(&e))?;
    for message in &mut messages {
        message.id = index.message_id(message.id.major());
    }
    Ok(messages)
}

fn matching(
    connection: &Connection,
    query: &str,
    desk: Option<DeskId>,
    scope: &Scope,
) -> rusqlite::Result<Vec<Message>> {
    // FTS5 walks its index newest first, so a common word costs no sort.
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages_fts f JOIN messages m ON m.id = f.rowid
         WHERE messages_fts MATCH :query AND {VISIBLE} ORDER BY f.rowid DESC LIMIT :limit"
    ))?;
    let (desk, main, rooms) = visible_params(desk, scope);
    let rows = statement.query_map(
        named_params! {
            ":query": query, ":limit": SEARCH_LIMIT as i64,
            ":desk": desk, ":main": main, ":rooms": rooms,
        },
        message_from_row,
    )?;
    rows.collect()
}

/// What a failed search tells the desk: stopped for taking too long, words
/// FTS5 could not take, or the log failing (said in the server's log only).
fn refusal(e: &rusqlite::Error) -> SearchRefusal {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::OperationInterrupted) => SearchRefusal::TooBroad,
        // A query FTS5 cannot parse is a plain error, not an I/O one.
        Some(rusqlite::ErrorCode::Unknown) => SearchRefusal::BadWords,
        _ => SearchRefusal::Failed(describe(e)),
    }
}

/// `words` as an FTS5 query that means "all of these words": each one a
/// quoted string, so nothing a person types is read as query syntax, and
/// without control characters, which FTS5's parser would stop at.
fn fts_query(words: &str) -> Option<String> {
    let terms: Vec<String> = words
        .split_whitespace()
        .map(|word| word.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .take(MAX_SEARCH_WORDS)
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_quoted_strings() {
        assert_eq!(
            fts_query("lunch AND \"soon\"").as_deref(),
            Some("\"lunch\" \"AND\" \"\"\"soon\"\"\"")
        );
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(fts_query("a\0b").as_deref(), Some("\"ab\""));
    }

    #[test]
    fn nothing_to_search_for() {
        assert_eq!(fts_query("   "), None);
        assert_eq!(fts_query("*** ?? \0"), None);
    }

    #[test]
    fn at_most_sixteen_words() {
        let many = (0..40)
            .map(|n| format!("w{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            fts_query(&many).unwrap().matches('"').count(),
            2 * MAX_SEARCH_WORDS
        );
    }

    #[test]
    fn a_search_waits_until_what_was_stored_before_it_is_indexed() {
        let progress = Arc::new(IndexProgress::default());
        progress.stored(5);
        progress.indexed(3);
        let indexer = {
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                progress.indexed(5);
            })
        };
        progress.wait_indexed(Duration::from_secs(10));
        assert_eq!(progress.indexed.load(Ordering::Acquire), 5);
        indexer.join().unwrap();
    }

    #[test]
    fn a_search_waits_no_longer_than_its_limit_for_an_index_that_is_stuck() {
        let progress = IndexProgress::default();
        progress.stored(5);
        let started = Instant::now();
        progress.wait_indexed(Duration::from_millis(20));
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(progress.indexed.load(Ordering::Acquire), 0);
    }
}

#[cfg(test)]
mod index_tests {
    //! The search over an index of messages kept elsewhere: the same
    //! visibility as over the log, a bounded index, and searches refused
    //! while the index fills.

    use super::*;
    use crate::ids::Asker;
    use crate::store::sqlite::MessageIndex;
    use crate::store::DirectTo;

    /// An index whose fill takes `steps_left` more steps, each taken only
    /// when a search comes (its thread would wait an hour for the next).
    struct Filling {
        index: MessageIndex,
        steps_left: usize,
    }

    impl SearchIndex for Filling {
        fn connection(&self) -> &Connection {
            self.index.connection()
        }

        fn catch_up(&mut self) -> IndexState {
            if self.steps_left == 0 {
                return IndexState::Ready(None);
            }
            self.steps_left -= 1;
            IndexState::Filling(Duration::from_secs(3600))
        }

        fn message_id(&self, row_id: u64) -> MessageId {
            MessageId::new(row_id, 7)
        }
    }

    fn ready(index: MessageIndex) -> Filling {
        Filling {
            index,
            steps_left: 0,
        }
    }

    fn message(n: i64, room: Option<&str>, text: &str) -> (i64, Message) {
        (n, Message::from_alice(MessageId::ZERO, text, room))
    }

    fn texts(messages: &[Message]) -> Vec<&str> {
        messages.iter().map(|m| m.text.as_str()).collect()
    }

    #[test]
    fn an_index_shows_each_desk_what_the_log_would() {
        let (alice, bob, carol) = (DeskId::of("a"), DeskId::of("b"), DeskId::of("c"));
        let mut index = MessageIndex::open(100).unwrap();
        let mut direct = message(4, None, "lunch secret");
        direct.1.direct = Some(DirectTo {
            to: "bob".to_string(),
            from_desk: alice,
            to_desk: bob,
        });
        index
            .add(&[
                message(1, None, "lunch plans"),
                message(2, Some("#dev"), "lunch deploy"),
                message(3, Some("#hr"), "lunch salaries"),
                direct,
            ])
            .unwrap();
        let index = ready(index);
        let dev = Scope {
            main: true,
            rooms: vec!["#dev".to_string()],
        };
        let found = search(&index, "LUNCH", Some(carol), &dev).unwrap();
        assert_eq!(texts(&found), ["lunch deploy", "lunch plans"]);
        assert_eq!(found[0].id, MessageId::new(2, 7), "the index names the ID");
        for desk in [alice, bob] {
            let found = search(&index, "lunch", Some(desk), &Scope::main()).unwrap();
            assert_eq!(texts(&found), ["lunch secret", "lunch plans"]);
        }
        let hr = Scope {
            main: false,
            rooms: vec!["#hr".to_string()],
        };
        let found = search(&index, "lunch", Some(bob), &hr).unwrap();
        assert_eq!(texts(&found), ["lunch salaries"]);
    }

    #[test]
    fn an_index_forgets_its_oldest_past_its_bound() {
        let mut index = MessageIndex::open(3).unwrap();
        index
            .add(&[message(1, None, "x first"), message(2, None, "x")])
            .unwrap();
        index
            .add(&[
                message(3, None, "x"),
                message(2, None, "x again, not twice"),
                message(4, None, "x"),
                message(5, None, "x last"),
            ])
            .unwrap();
        assert_eq!(index.len(), 3);
        let index = ready(index);
        let found = search(&index, "x", None, &Scope::main()).unwrap();
        assert_eq!(texts(&found), ["x last", "x", "x"]);
        assert!(search(&index, "first", None, &Scope::main())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_search_while_the_index_fills_is_refused_then_answered() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let mut index = MessageIndex::open(10).unwrap();
        index.add(&[message(1, None, "hello there")]).unwrap();
        let index = Filling {
            index,
            steps_left: 3,
        };
        let (done, answers) = mpsc::sync_channel(4);
        let mut searcher = Searcher::start(index, done, waker).unwrap();
        let ask = |serial| Request::Search {
            asker: Asker { conn: 1, serial },
            words: "hello".to_string(),
            desk: None,
            scope: Scope::main(),
        };
        // The fill takes a step at start, and one before each search.
        let answer = |serial| {
            searcher.submit(ask(serial)).unwrap();
            answers.recv_timeout(Duration::from_secs(10)).unwrap()
        };
        for serial in 1..=2 {
            assert!(
                matches!(
                    answer(serial),
                    Completion::SearchFailed {
                        why: SearchRefusal::Indexing,
                        ..
                    }
                ),
                "search {serial}"
            );
        }
        let found = answer(3);
        assert!(
            matches!(&found, Completion::Found { messages, .. } if texts(messages) == ["hello there"]),
            "{found:?}"
        );
        let mut events = mio::Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        assert!(!events.is_empty(), "the loop is woken");
        searcher.stop();
    }
}
