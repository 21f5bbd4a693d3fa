//! Search for an office on Redis. A stream has no full-text index, and
//! scanning it per search would read up to [`STREAM_MAX_ENTRIES`] entries
//! from Redis each time; so each server keeps an index of its own, in
//! SQLite (the log's schema, [`MessageIndex`]), searched by the same search
//! thread, query and visibility rules as the room's log file (rooms in the
//! desk's scope; direct messages for their two desks only).
//!
//! - **Filled at start**: the messages the stream keeps up to its newest
//!   entry at open are read a page at a time (`XRANGE`, oldest first) by a
//!   fill thread of its own, which hands the pages over through a short
//!   channel; the search thread indexes a page between searches. Serving
//!   starts at once, and a search never waits on Redis: with Redis slow or
//!   frozen it is the fill thread that waits. Until the fill is done a
//!   search is refused as still indexing (`search-busy`) rather than
//!   answered over part of the office.
//! - **Fed as it goes**: the reader offers every message it reads to the
//!   index ([`IndexFeed`]) before handing it to the loop, so a message a
//!   desk has seen is found by its next search. The reader never waits on
//!   the index: the feed is a short list under a lock, taken by the search
//!   thread before each search and every [`FEED_INTERVAL`].
//! - **Bounded like the stream**: the index keeps the newest
//!   [`STREAM_MAX_ENTRIES`] messages, and so does the feed. The stream trims
//!   by entries, JOINs and LEAVEs included, so this keeps every message the
//!   stream still has (and a few it dropped) without asking Redis what it
//!   trimmed.
//! - **Local**: once filled, searching needs no Redis; with Redis away or
//!   frozen, searches go on over what was read.
//!
//! A stream ID is two numbers (milliseconds, sequence); a row is numbered by
//! one, so the ID is packed into it ([`row_of`]), which keeps the rows in
//! the stream's order.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::streams::StreamRangeReply;
use redis::Commands;
use rusqlite::Connection;

use chat_shared::MessageId;

use super::entry::{parse_entry, stream_id, Entry, Keys};
use super::{connect, PAGE_ENTRIES, STREAM_MAX_ENTRIES};
use crate::store::sqlite::{IndexState, MessageIndex, SearchIndex};
use crate::store::Message;

/// How often the search thread indexes what the reader read, when no search
/// asks sooner.
const FEED_INTERVAL: Duration = Duration::from_millis(250);

/// The longest wait between two tries to read the stream for the fill.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Pages of the fill read ahead of the index: the fill thread waits when
/// the search thread is this far behind, so the fill's memory is bounded.
const FILL_PAGES_WAITING: usize = 4;

/// How often the search thread looks for a page of the fill when none was
/// waiting (the fill thread is reading, or waiting on Redis).
const FILL_LOOK_INTERVAL: Duration = Duration::from_millis(20);

/// Bits of a row number that hold the stream ID's sequence number; the
/// rest hold its milliseconds (enough until the year 2248).
const SEQUENCE_BITS: u32 = 20;

/// The row number of stream ID `id`, in the stream's order; `None` for an
/// ID too large to pack (not one Redis gives with `XADD *`).
pub fn row_of(id: MessageId) -> Option<i64> {
    let fits = id.major() < 1 << (63 - SEQUENCE_BITS) && id.minor() < 1 << SEQUENCE_BITS;
    fits.then(|| ((id.major() << SEQUENCE_BITS) | id.minor()) as i64)
}

/// The stream ID of row number `row`.
pub fn id_of(row: u64) -> MessageId {
    MessageId::new(row >> SEQUENCE_BITS, row & ((1 << SEQUENCE_BITS) - 1))
}

/// Messages the reader read, waiting for the search thread.
#[derive(Debug, Default)]
pub struct IndexFeed {
    waiting: Mutex<VecDeque<Message>>,
}

impl IndexFeed {
    /// Adds `messages`; past [`STREAM_MAX_ENTRIES`] the oldest waiting are
    /// dropped, as the index would drop them anyway (every message offered
    /// is newer than those it holds). Never waits longer than a push.
    pub fn offer(&self, messages: &[Message]) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        waiting.extend(messages.iter().cloned());
        let over = waiting.len().saturating_sub(STREAM_MAX_ENTRIES);
        waiting.drain(..over);
    }

    /// Takes everything waiting.
    fn take(&self) -> VecDeque<Message> {
        std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The search index of one office on this server.
pub struct StreamIndex {
    index: MessageIndex,
    feed: Arc<IndexFeed>,
    /// Pages from the fill thread, while it is not done.
    fill: Option<Receiver<Vec<Message>>>,
    /// Whether the log was told the index is ready.
    told_ready: bool,
}

impl StreamIndex {
    /// An empty index of the stream `keys` name, fed from `feed`, and the
    /// fill thread that reads the stream's entries up to `newest` (the
    /// newest at open; the reader reads on from there) for it, until done
    /// or `stop`.
    pub fn new(
        client: redis::Client,
        keys: Keys,
        newest: MessageId,
        feed: Arc<IndexFeed>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<StreamIndex> {
        let index = MessageIndex::open(STREAM_MAX_ENTRIES)?;
        let fill = if newest == MessageId::ZERO {
            None
        } else {
            let (pages, taken) = mpsc::sync_channel(FILL_PAGES_WAITING);
            let fill = Fill {
                client,
                keys,
                connection: None,
                after: None,
                newest,
            };
            // Not joined at close: the loop needs nothing from it, and it
            // ends by itself (done, the index gone, or `stop`), at worst
            // after one wait on Redis.
            std::thread::Builder::new()
                .name("chat-redis-fill".to_string())
                .spawn(move || fill.run(&pages, &stop))?;
            Some(taken)
        };
        Ok(StreamIndex {
            index,
            feed,
            fill,
            told_ready: false,
        })
    }

    /// Takes one page of the fill, if one is waiting; says whether the fill
    /// is done.
    fn fill_step(&mut self, rows: &mut Vec<(i64, Message)>) -> IndexState {
        let Some(pages) = &self.fill else {
            return IndexState::Ready(Some(FEED_INTERVAL));
        };
        match pages.try_recv() {
            Ok(page) => {
                rows.extend(with_rows(page));
                IndexState::Filling(Duration::ZERO)
            }
            Err(TryRecvError::Empty) => IndexState::Filling(FILL_LOOK_INTERVAL),
            Err(TryRecvError::Disconnected) => {
                self.fill = None;
                IndexState::Ready(Some(FEED_INTERVAL))
            }
        }
    }
}

impl SearchIndex for StreamIndex {
    fn connection(&self) -> &Connection {
        self.index.connection()
    }

    fn catch_up(&mut self) -> IndexState {
        let mut rows = Vec::new();
        let state = self.fill_step(&mut rows);
        rows.extend(with_rows(self.feed.take()));
        if let Err(e) = self.index.add(&rows) {
            tracing::warn!(error = %e, "[!] Messages could not be indexed for search");
        }
        if matches!(state, IndexState::Ready(_)) && !self.told_ready {
            self.told_ready = true;
            tracing::info!(messages = self.index.len(), "[*] Search index ready");
        }
        state
    }

    fn message_id(&self, row_id: u64) -> MessageId {
        id_of(row_id)
    }
}

/// Each message with its row number (one whose ID cannot be packed is left
/// out).
fn with_rows(messages: impl IntoIterator<Item = Message>) -> impl Iterator<Item = (i64, Message)> {
    messages
        .into_iter()
        .filter_map(|message| Some((row_of(message.id)?, message)))
}

/// The fill thread's place in the stream.
struct Fill {
    client: redis::Client,
    keys: Keys,
    /// `None` before the first page and after a failure.
    connection: Option<redis::Connection>,
    /// The last entry read: the next page starts after it.
    after: Option<String>,
    /// The newest entry at open: the fill stops there.
    newest: MessageId,
}

/// One page of the fill.
enum Page {
    More(Vec<Message>),
    Last(Vec<Message>),
}

impl Fill {
    /// Reads the stream up to [`Fill::newest`] into `pages`, trying again
    /// (backing off to [`RETRY_MAX`]) while Redis cannot be read; ends when
    /// done (dropping `pages` says so), when the index is gone, or at
    /// `stop`.
    fn run(mut self, pages: &SyncSender<Vec<Message>>, stop: &AtomicBool) {
        let mut retry = Duration::ZERO;
        while !stop.load(Ordering::SeqCst) {
            match self.next_page() {
                Ok(Page::More(messages)) => {
                    retry = Duration::ZERO;
                    if pages.send(messages).is_err() {
                        return;
                    }
                }
                Ok(Page::Last(messages)) => {
                    let _ = pages.send(messages);
                    return;
                }
                Err(e) => {
                    if retry.is_zero() {
                        tracing::warn!(error = %e, "[!] The search index cannot read the stream yet; retrying");
                    }
                    self.connection = None;
                    retry = (retry * 2).clamp(Duration::from_millis(100), RETRY_MAX);
                    std::thread::sleep(retry);
                }
            }
        }
    }

    fn next_page(&mut self) -> redis::RedisResult<Page> {
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => connect(&self.client)?,
        };
        let start = self
            .after
            .as_ref()
            .map_or_else(|| "-".to_string(), |id| format!("({id}"));
        let page: StreamRangeReply = connection.xrange_count(
            self.keys.stream(),
            start,
            stream_id(self.newest),
            PAGE_ENTRIES,
        )?;
        self.connection = Some(connection);
        let messages = page
            .ids
            .iter()
            .filter_map(|item| match parse_entry(item) {
                Some(Entry::Message(message)) => Some(message),
                _ => None,
            })
            .collect();
        self.after = page
            .ids
            .last()
            .map(|item| item.id.clone())
            .or(self.after.take());
        Ok(if page.ids.len() < PAGE_ENTRIES {
            Page::Last(messages)
        } else {
            Page::More(messages)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_the_streams_order_and_give_back_its_ids() {
        let ids = [
            MessageId::new(1_795_636_128_377, 0),
            MessageId::new(1_795_636_128_377, 1),
            MessageId::new(1_795_636_128_377, (1 << SEQUENCE_BITS) - 1),
            MessageId::new(1_795_636_128_378, 0),
        ];
        let rows: Vec<i64> = ids.iter().map(|id| row_of(*id).unwrap()).collect();
        assert!(rows.windows(2).all(|pair| pair[0] < pair[1]), "{rows:?}");
        for (id, row) in ids.iter().zip(&rows) {
            assert_eq!(id_of(*row as u64), *id);
        }
    }

    #[test]
    fn an_id_too_large_has_no_row() {
        assert_eq!(row_of(MessageId::new(1, 1 << SEQUENCE_BITS)), None);
        assert_eq!(row_of(MessageId::new(1 << 43, 0)), None);
        assert!(row_of(MessageId::new((1 << 43) - 1, 0)).is_some());
    }

    fn message(n: u64) -> Message {
        Message::from_alice(MessageId::new(n, 0), "hello", None)
    }

    #[test]
    fn the_feed_keeps_the_newest_it_can_hold() {
        let feed = IndexFeed::default();
        let many: Vec<Message> = (1..=STREAM_MAX_ENTRIES as u64 + 3).map(message).collect();
        feed.offer(&many[..10]);
        feed.offer(&many[10..]);
        let waiting = feed.take();
        assert_eq!(waiting.len(), STREAM_MAX_ENTRIES);
        assert_eq!(waiting.front().unwrap().id, MessageId::new(4, 0));
        assert!(feed.take().is_empty());
    }
}
