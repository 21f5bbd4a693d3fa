//! Search for an office on Redis. A stream has no full-text index, and
//! scanning it per search would read up to [`STREAM_MAX_ENTRIES`] entries
//! from Redis each time; so each server keeps an index of its own, in
//! SQLite (the log's schema, [`MessageIndex`]), searched by the same search
//! thread, query and visibility rules as the room's log file (rooms in the
//! desk's scope; direct messages for their two desks only).
//!
//! - **Filled at start, on the search thread**: the messages the stream
//!   keeps up to its newest entry at open are read a page at a time
//!   (`XRANGE`, oldest first) between searches, so serving starts at once.
//!   Until the fill is done a search is refused as still indexing
//!   (`search-busy`) rather than answered over part of the office.
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
    /// The fill from the stream, while it is not done.
    fill: Option<Fill>,
    /// Whether the log was told the index is ready.
    told_ready: bool,
}

impl StreamIndex {
    /// An empty index of the stream `keys` name, to be filled with its
    /// entries up to `newest` (the newest at open; the reader reads on from
    /// there) and fed from `feed`.
    pub fn new(
        client: redis::Client,
        keys: Keys,
        newest: MessageId,
        feed: Arc<IndexFeed>,
    ) -> io::Result<StreamIndex> {
        let fill = (newest != MessageId::ZERO).then(|| Fill {
            client,
            keys,
            connection: None,
            after: None,
            newest,
            retry: Duration::ZERO,
        });
        Ok(StreamIndex {
            index: MessageIndex::open(STREAM_MAX_ENTRIES)?,
            feed,
            fill,
            told_ready: false,
        })
    }

    /// Takes one page of the fill; says whether the fill is done.
    fn fill_step(&mut self, rows: &mut Vec<(i64, Message)>) -> IndexState {
        let Some(fill) = &mut self.fill else {
            return IndexState::Ready(Some(FEED_INTERVAL));
        };
        match fill.next_page() {
            Ok(Page::More(messages)) => {
                rows.extend(with_rows(messages));
                IndexState::Filling(Duration::ZERO)
            }
            Ok(Page::Last(messages)) => {
                rows.extend(with_rows(messages));
                self.fill = None;
                IndexState::Ready(Some(FEED_INTERVAL))
            }
            Err(e) => {
                if fill.retry.is_zero() {
                    tracing::warn!(error = %e, "[!] The search index cannot read the stream yet; retrying");
                }
                fill.connection = None;
                fill.retry = (fill.retry * 2).clamp(Duration::from_millis(100), RETRY_MAX);
                IndexState::Filling(fill.retry)
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

/// Where the fill is in the stream.
struct Fill {
    client: redis::Client,
    keys: Keys,
    /// `None` before the first page and after a failure.
    connection: Option<redis::Connection>,
    /// The last entry read: the next page starts after it.
    after: Option<String>,
    /// The newest entry at open: the fill stops there.
    newest: MessageId,
    /// The wait before the next try; zero while the stream answers.
    retry: Duration,
}

/// One page of the fill.
enum Page {
    More(Vec<Message>),
    Last(Vec<Message>),
}

impl Fill {
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
        self.retry = Duration::ZERO;
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
