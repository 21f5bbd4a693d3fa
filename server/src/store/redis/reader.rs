//! The reader thread: the one that hands the stream's entries to the loop,
//! in the stream's order, from the last ID it handed over (never `$`), and
//! answers replays between two reads so they are exact. It also offers each
//! message to this server's search index ([`super::search`]). Owns its own Redis
//! connection, since `XREAD BLOCK` occupies one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use mio::Waker;
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::Commands;

use chat_shared::MessageId;

use super::entry::{parse_entry, stream_id, Entry, Keys};
use super::search::IndexFeed;
use super::{walk_back, Walk, CONNECT_TIMEOUT};
use crate::desk::DeskId;
use crate::ids::Asker;
use crate::store::{Completion, Message, ReplayFill, Scope};

/// How long one `XREAD` waits for news: how late the reader notices it
/// should stop.
const BLOCK: Duration = Duration::from_millis(1000);

/// Entries taken per `XREAD`.
const READ_ENTRIES: usize = 500;

/// The longest wait between two tries to reach Redis again.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// A `/resume` to answer.
#[derive(Debug)]
pub struct Replay {
    /// Who asked.
    pub asker: Asker,
    /// The last message it showed.
    pub after: MessageId,
    /// The desk it proved to be.
    pub desk: Option<DeskId>,
    /// The rooms it is in.
    pub scope: Scope,
    /// Most bytes of messages to answer with.
    pub budget_bytes: usize,
}

/// See the module docs.
pub struct Reader {
    pub client: redis::Client,
    pub keys: Keys,
    /// The newest entry handed to the loop (or there at start).
    pub last: MessageId,
    pub done: SyncSender<Completion>,
    pub waker: Arc<Waker>,
    /// Set when the log closes.
    pub stop: Arc<AtomicBool>,
    pub replays: Receiver<Replay>,
    /// What the writer needs to know of this reader.
    pub signals: Arc<ReaderSignals>,
    /// This server's search index, offered every message read.
    pub feed: Arc<IndexFeed>,
}

/// What the reader tells the writer.
#[derive(Debug, Default)]
pub struct ReaderSignals {
    /// The reader's Redis client ID, for the writer's `CLIENT UNBLOCK`; 0
    /// until it connects.
    pub client_id: AtomicU64,
    /// Set when the link fails, so the writer does not try its next append
    /// on a connection to a Redis that is gone (or restarted).
    pub link_failed: AtomicBool,
}

impl Reader {
    pub fn run(mut self) {
        let mut connection: Option<redis::Connection> = None;
        let mut link_down = false;
        let mut retry = Duration::from_millis(100);
        while !self.stop.load(Ordering::SeqCst) {
            let Some(live) = connection.as_mut() else {
                match self.connect() {
                    Ok(fresh) => {
                        connection = Some(fresh);
                        retry = Duration::from_millis(100);
                        if link_down {
                            link_down = false;
                            tracing::info!(
                                after = stream_id(self.last),
                                "[*] The room's link is back; reading on."
                            );
                            self.hand_over(Completion::LinkUp);
                        }
                    }
                    Err(e) => {
                        if !link_down {
                            link_down = true;
                            tracing::error!(error = %e, "[!] The room's link is down");
                            self.hand_over(Completion::LinkDown(e.to_string()));
                        }
                        self.answer_replays_without_redis();
                        std::thread::sleep(retry);
                        retry = (retry * 2).min(RETRY_MAX);
                    }
                }
                continue;
            };
            if let Err(e) = self.serve(live) {
                // Connecting again tells whether Redis is away (then the
                // desks hear it) or this connection only broke (a signal,
                // a Redis restarted at once): reading goes on from the last
                // ID either way.
                tracing::warn!(error = %e, "[!] The room's link failed; connecting again.");
                connection = None;
                self.signals.link_failed.store(true, Ordering::SeqCst);
            }
        }
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let mut connection = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        // A dead link must not hold the reader past its block for long.
        connection.set_read_timeout(Some(BLOCK + CONNECT_TIMEOUT))?;
        connection.set_write_timeout(Some(CONNECT_TIMEOUT))?;
        let id: u64 = redis::cmd("CLIENT").arg("ID").query(&mut connection)?;
        self.signals.client_id.store(id, Ordering::SeqCst);
        Ok(connection)
    }

    /// Answers the waiting replays, then reads what is new.
    fn serve(&mut self, connection: &mut redis::Connection) -> redis::RedisResult<()> {
        while let Ok(replay) = self.replays.try_recv() {
            let answer = self.replay(connection, &replay)?;
            self.hand_over(answer);
        }
        let options = StreamReadOptions::default()
            .block(BLOCK.as_millis() as usize)
            .count(READ_ENTRIES);
        let reply: Option<StreamReadReply> =
            connection.xread_options(&[self.keys.stream()], &[stream_id(self.last)], &options)?;
        let Some(reply) = reply else {
            return Ok(()); // the block ended (or was interrupted) with nothing new
        };
        let mut messages = Vec::new();
        for item in reply.keys.iter().flat_map(|key| &key.ids) {
            if let Ok(id) = item.id.parse() {
                self.last = id;
            }
            match parse_entry(item) {
                Some(Entry::Message(message)) => messages.push(message),
                Some(other) => {
                    if !messages.is_empty() {
                        self.deliver(std::mem::take(&mut messages));
                    }
                    self.hand_over(match other {
                        Entry::Presence(note) => Completion::Presence(note),
                        Entry::Room(change) => Completion::RoomChanged(change),
                        Entry::Message(_) => unreachable!("messages are gathered above"),
                    });
                }
                None => {}
            }
        }
        if !messages.is_empty() {
            self.deliver(messages);
        }
        Ok(())
    }

    /// Hands messages to the search index, then to the loop: a message a
    /// desk was shown is found by its next search.
    fn deliver(&self, messages: Vec<Message>) {
        self.feed.offer(&messages);
        self.hand_over(Completion::Appended(messages));
    }

    /// The newest messages after `replay.after` the desk may see, up to the
    /// last one handed over, as many as fit the replay's limits, and how
    /// many more there are.
    fn replay(
        &self,
        connection: &mut redis::Connection,
        replay: &Replay,
    ) -> redis::RedisResult<Completion> {
        let mut fill = ReplayFill::new(replay.budget_bytes);
        if replay.after < self.last {
            walk_back(connection, &self.keys, self.last, replay.after, |message| {
                if message.visible_to(replay.desk, &replay.scope) {
                    fill.offer(message);
                }
                Walk::Continue
            })?;
        }
        Ok(fill.answer(replay.asker, 0))
    }

    /// While Redis is away, a resuming desk gets the recent history the loop
    /// holds instead of waiting.
    fn answer_replays_without_redis(&self) {
        while let Ok(replay) = self.replays.try_recv() {
            self.hand_over(Completion::ReplayFailed {
                asker: replay.asker,
                error: "the room's link is down".to_string(),
            });
        }
    }

    /// Hands one answer to the loop, waiting while the loop is that far
    /// behind (Redis keeps what is not read yet).
    fn hand_over(&self, completion: Completion) {
        if self.done.send(completion).is_ok() {
            let _ = self.waker.wake();
        }
    }
}
