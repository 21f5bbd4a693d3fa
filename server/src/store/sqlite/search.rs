//! Searches, beside the write path, never in front of it: a thread of its
//! own with a read-only connection to the log's file (WAL lets it read
//! while the storage thread commits), at a lower CPU priority than the
//! loop, fed by a short queue. A full queue is refused at once; a search
//! that runs past [`SEARCH_TIME_LIMIT`] is stopped (SQLite's progress
//! handler) and refused as too broad. What the person typed is never read as
//! query syntax: each word becomes a quoted FTS5 string, control characters
//! dropped.

use std::io;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;
use rusqlite::{named_params, Connection, OpenFlags};

use super::rows::{message_from_row, visible_params, MESSAGE_COLUMNS, VISIBLE};
use super::schema::{describe, BUSY_TIMEOUT};
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

/// The search thread, and the queue to it.
pub(super) struct Searcher {
    /// To the search thread; `None` once stopped.
    requests: Option<SyncSender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Searcher {
    /// Opens the log at `path` read-only and starts the search thread; it
    /// answers through `done` and wakes `waker`.
    pub fn start(
        path: &Path,
        done: SyncSender<Completion>,
        waker: Arc<Waker>,
    ) -> io::Result<Searcher> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|connection| {
            connection.busy_timeout(BUSY_TIMEOUT)?;
            Ok(connection)
        })
        .map_err(|e| {
            io::Error::other(format!(
                "the room's log {} cannot be opened for searching: {}",
                path.display(),
                describe(&e)
            ))
        })?;
        let (requests, incoming) = mpsc::sync_channel(QUEUED_SEARCHES);
        let thread = std::thread::Builder::new()
            .name("chat-server-search".to_string())
            .spawn(move || run(&connection, incoming, &done, &waker))?;
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

/// The search thread: answers each search in turn.
fn run(
    connection: &Connection,
    incoming: Receiver<Request>,
    done: &SyncSender<Completion>,
    waker: &Waker,
) {
    lower_priority();
    for request in incoming {
        let Request::Search {
            asker,
            words,
            desk,
            scope,
        } = request
        else {
            continue; // only searches are queued here
        };
        let completion = match search(connection, &words, desk, &scope) {
            Ok(mut messages) => {
                messages.reverse();
                Completion::Found { asker, messages }
            }
            Err(why) => Completion::SearchFailed { asker, why },
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
    connection: &Connection,
    words: &str,
    desk: Option<DeskId>,
    scope: &Scope,
) -> Result<Vec<Message>, SearchRefusal> {
    let query = fts_query(words).ok_or(SearchRefusal::BadWords)?;
    let deadline = Instant::now() + SEARCH_TIME_LIMIT;
    let stop_late = move || Instant::now() > deadline;
    let result = connection
        .progress_handler(STEPS_BETWEEN_CLOCK_CHECKS, Some(stop_late))
        .and_then(|()| matching(connection, &query, desk, scope));
    let _ = connection.progress_handler(0, None::<fn() -> bool>);
    result.map_err(|e| refusal(&e))
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
}
