//! The rooms' log as a Redis stream that several servers share
//! (`--redis URL --office NAME`): one office, many servers.
//!
//! Every server appends (`XADD ... MAXLEN ~ STREAM_MAX_ENTRIES`) and delivers
//! only what its reader reads back (`XREAD BLOCK` from the last ID it
//! delivered, never `$`), its own messages included, so every server shows
//! one order, and the stream ID is the message ID desks resume from. The
//! epoch lives in Redis (`SET ... NX`), so a desk may resume on any server.
//! Besides the stream, the office keeps in Redis who holds each name
//! (`SET NX EX`, refreshed by its server), each server's desks and a
//! heartbeat per server (see [`writer`]), the rooms, and the accounts of
//! `--auth token` ([`accounts`]).
//!
//! Searches run on each server over an index of its own, filled from the
//! stream at start and fed by the reader ([`search`]).
//!
//! # Why helper threads and not the loop's own poll
//!
//! The blocking `redis` client runs on two threads, like the SQLite log's
//! storage thread: a [`reader`] parked in `XREAD BLOCK` (a short block, so it
//! notices when to stop) and a [`writer`] for `XADD` and everything else.
//! They talk to the loop through bounded channels and the loop's one
//! `Waker`. This fits the asynchronous [`Store`] contract as it is; the
//! maintained client does RESP, URLs, `AUTH` and `SELECT` for us, where a
//! codec in the loop's poll would have us own a connection state machine;
//! and the loop never blocks on Redis.
//!
//! # Order and resumes
//!
//! The reader is the one thread that hands messages to the loop, so it also
//! answers replays (`/resume`), between two reads: a replay covers exactly
//! the messages it handed over before it, and everything later follows it.
//! The writer interrupts the reader's `XREAD BLOCK` (`CLIENT UNBLOCK`) so a
//! replay does not wait for the block to end.
//!
//! # When Redis is away
//!
//! A connection that breaks is opened again at once; only when Redis cannot
//! be reached does the reader tell the loop, once ([`Completion::LinkDown`]),
//! and retry, backing off to every 2 s. A message the writer cannot append
//! is refused ([`Completion::NotSaved`]), never held; a name it cannot claim
//! is [`ClaimOutcome::Unavailable`](super::ClaimOutcome). Back, the reader
//! resumes from its last ID ([`Completion::LinkUp`]).
//!
//! # Back-pressure
//!
//! The loop never waits: what the reader reads waits in a bounded channel,
//! and when the loop falls that far behind the reader waits too, while Redis
//! keeps the entries. A reader more than [`STREAM_MAX_ENTRIES`] behind would
//! find the oldest trimmed, and go on from the oldest left.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::Waker;
use redis::streams::StreamRangeReply;
use redis::Commands;

use chat_shared::MessageId;

use crate::config::RedisTarget;

use super::sqlite::Searcher;
use super::{
    Asker, Busy, Completion, Holder, Message, NameClaim, RemoteMember, Request, RoomState,
    SharedRoom, Store, Topic,
};

mod accounts;
pub mod entry;
mod reader;
mod search;
mod writer;

pub use accounts::RedisAccounts;

use entry::{parse_entry, parse_member, Entry, Keys};
use search::{IndexFeed, StreamIndex};

/// Entries the stream keeps (`MAXLEN ~`, so Redis keeps a few more): far
/// more than a resume replays ([`super::REPLAY_LIMIT`]), a few tens of
/// megabytes of Redis memory.
pub const STREAM_MAX_ENTRIES: usize = 100_000;

/// How long connecting to Redis may take before it counts as away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers waiting for the loop before the reader and writer wait too.
const QUEUED_ANSWERS: usize = 1024;

/// Requests waiting for the writer before the loop is told it is busy.
const QUEUED_REQUESTS: usize = 4096;

/// Replays waiting for the reader before the loop is told it is busy.
const QUEUED_REPLAYS: usize = 256;

/// A room log in a Redis stream shared with other servers.
pub struct RedisStore {
    /// Where, for the start-up line (no password).
    address: String,
    office: String,
    epoch: String,
    /// This server among the others: random for each run.
    server_id: String,
    /// The newest entry's ID at start: the reader goes on from there.
    last_at_start: MessageId,
    /// The newest room messages at start, oldest first.
    recent: Vec<Message>,
    /// The rooms, read at open, until [`Store::rooms`] takes them.
    rooms: Vec<RoomState>,
    /// The desks of the other servers at start.
    roster: Vec<RemoteMember>,
    client: redis::Client,
    /// Jobs for the writer; `None` before start and once closed.
    jobs: Option<SyncSender<writer::Job>>,
    /// Replays for the reader.
    replays: Option<SyncSender<reader::Replay>>,
    /// From the reader, the writer and the search thread.
    done: Option<Receiver<Completion>>,
    /// Searches this server's index of the stream ([`search`]).
    searcher: Option<Searcher>,
    /// Tells the reader to stop.
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.address)
            .field("office", &self.office)
            .field("server_id", &self.server_id)
            .finish()
    }
}

impl RedisStore {
    /// Connects, agrees on the epoch with the other servers, and reads the
    /// newest `history` messages and who is on the other servers; blocking,
    /// once, before the loop starts. The threads start with
    /// [`RedisStore::start`].
    pub fn open(target: &RedisTarget, history: usize) -> io::Result<RedisStore> {
        let fail = |what: String| {
            io::Error::other(format!(
                "the room's link {}: {what}",
                without_password(&target.url)
            ))
        };
        let client = redis::Client::open(target.url.as_str())
            .map_err(|e| fail(format!("not a Redis URL: {e}")))?;
        let address = format!(
            "redis://{}/{} office {}",
            client.get_connection_info().addr(),
            client.get_connection_info().redis_settings().db(),
            target.office
        );
        // With read and write timeouts: a Redis that accepts and never
        // answers must not hold the start up.
        let mut connection = connect(&client).map_err(|e| fail(format!("cannot connect: {e}")))?;
        let keys = Keys::new(&target.office);
        let read = |e: redis::RedisError| fail(e.to_string());
        let _: Option<String> = redis::cmd("SET")
            .arg(keys.epoch())
            .arg(super::new_epoch())
            .arg("NX")
            .query(&mut connection)
            .map_err(read)?;
        let epoch: String = connection.get(keys.epoch()).map_err(read)?;
        let newest: StreamRangeReply = connection
            .xrevrange_count(keys.stream(), "+", "-", 1)
            .map_err(read)?;
        let last_at_start = newest
            .ids
            .first()
            .and_then(|entry| entry.id.parse().ok())
            .unwrap_or(MessageId::ZERO);
        let rooms = read_rooms(&mut connection, &keys).map_err(read)?;
        let room_names: Vec<&str> = rooms.iter().map(|room| room.name.as_str()).collect();
        let recent = recent_messages(&mut connection, &keys, last_at_start, history, &room_names)
            .map_err(read)?;
        let roster = read_roster(&mut connection, &keys).map_err(read)?;
        Ok(RedisStore {
            address,
            office: target.office.clone(),
            epoch,
            server_id: crate::desk::random_hex(8),
            last_at_start,
            recent,
            rooms,
            roster,
            client,
            jobs: None,
            replays: None,
            done: None,
            searcher: None,
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        })
    }

    /// Starts the reader, the writer and the search thread; they wake
    /// `waker` whenever answers are ready.
    pub fn start(&mut self, waker: Arc<Waker>) -> io::Result<()> {
        if self.jobs.is_some() {
            return Ok(());
        }
        let (done_sender, done) = mpsc::sync_channel(QUEUED_ANSWERS);
        let (jobs, incoming_jobs) = mpsc::sync_channel(QUEUED_REQUESTS);
        let (replays, incoming_replays) = mpsc::sync_channel(QUEUED_REPLAYS);
        // Room for it: the channel is new.
        let _ = done_sender.try_send(Completion::Roster(std::mem::take(&mut self.roster)));
        let signals = Arc::new(reader::ReaderSignals::default());
        let keys = Keys::new(&self.office);
        let feed = Arc::new(IndexFeed::default());
        let index = StreamIndex::new(
            self.client.clone(),
            keys.clone(),
            self.last_at_start,
            Arc::clone(&feed),
            Arc::clone(&self.stop),
        )?;
        self.searcher = Some(Searcher::start(
            index,
            done_sender.clone(),
            Arc::clone(&waker),
        )?);
        let reader = reader::Reader {
            client: self.client.clone(),
            keys: keys.clone(),
            last: self.last_at_start,
            done: done_sender.clone(),
            waker: Arc::clone(&waker),
            stop: Arc::clone(&self.stop),
            replays: incoming_replays,
            signals: Arc::clone(&signals),
            feed,
        };
        let writer = writer::Writer::new(
            self.client.clone(),
            keys,
            self.server_id.clone(),
            self.epoch.clone(),
            done_sender,
            waker,
            signals,
        );
        self.threads.push(
            std::thread::Builder::new()
                .name("chat-redis-read".to_string())
                .spawn(move || reader.run())?,
        );
        self.threads.push(
            std::thread::Builder::new()
                .name("chat-redis-write".to_string())
                .spawn(move || writer.run(incoming_jobs))?,
        );
        self.jobs = Some(jobs);
        self.replays = Some(replays);
        self.done = Some(done);
        Ok(())
    }

    fn send_job(&self, job: writer::Job) -> Result<(), writer::Job> {
        let Some(jobs) = &self.jobs else {
            return Err(job);
        };
        jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
        })
    }
}

impl Store for RedisStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn describe(&self) -> String {
        match self.last_at_start {
            MessageId::ZERO => format!("{} (new), as server {}", self.address, self.server_id),
            last => format!(
                "{} (last entry {}), as server {}",
                self.address,
                entry::stream_id(last),
                self.server_id
            ),
        }
    }

    fn can_search(&self) -> bool {
        true
    }

    fn recent(&mut self, _limit: usize) -> io::Result<Vec<Message>> {
        // Read at open, `history` of each room.
        Ok(std::mem::take(&mut self.recent))
    }

    fn rooms(&mut self) -> io::Result<Vec<RoomState>> {
        Ok(std::mem::take(&mut self.rooms))
    }

    fn submit(&mut self, request: Request) -> Result<(), Busy> {
        match request {
            Request::Append(drafts) => {
                self.send_job(writer::Job::Append(drafts))
                    .map_err(|job| match job {
                        writer::Job::Append(drafts) => Busy(Request::Append(drafts)),
                        _ => unreachable!("the job sent is the job handed back"),
                    })
            }
            Request::Replay {
                asker,
                after,
                desk,
                scope,
                budget_bytes,
            } => {
                let replay = reader::Replay {
                    asker,
                    after,
                    desk,
                    scope,
                    budget_bytes,
                };
                let refused = match &self.replays {
                    Some(replays) => match replays.try_send(replay) {
                        Ok(()) => None,
                        Err(TrySendError::Full(r) | TrySendError::Disconnected(r)) => Some(r),
                    },
                    None => Some(replay),
                };
                if let Some(r) = refused {
                    return Err(Busy(Request::Replay {
                        asker: r.asker,
                        after: r.after,
                        desk: r.desk,
                        scope: r.scope,
                        budget_bytes: r.budget_bytes,
                    }));
                }
                // Best effort: without it the replay waits for the block to end.
                let _ = self.send_job(writer::Job::UnblockReader);
                Ok(())
            }
            Request::ChangeRoom { asker, change } => self
                .send_job(writer::Job::ChangeRoom { asker, change })
                .map_err(|job| match job {
                    writer::Job::ChangeRoom { asker, change } => {
                        Busy(Request::ChangeRoom { asker, change })
                    }
                    _ => unreachable!("the job sent is the job handed back"),
                }),
            Request::Search { .. } => match &self.searcher {
                Some(searcher) => searcher.submit(request).map_err(Busy),
                None => Err(Busy(request)),
            },
        }
    }

    fn completions(&mut self, out: &mut Vec<Completion>) {
        if let Some(done) = &self.done {
            out.extend(done.try_iter());
        }
    }

    fn close(&mut self) -> Vec<Completion> {
        // The writer finishes its jobs, gives back this server's names and
        // tells the others its desks left; the reader stops at its next
        // block's end (the writer's last act interrupts it); the search
        // thread answers the searches queued.
        self.jobs = None;
        self.replays = None;
        self.stop.store(true, Ordering::SeqCst);
        if let Some(searcher) = &mut self.searcher {
            searcher.close_queue();
        }
        let mut answers = Vec::new();
        // Drained while waiting: a thread may be blocked handing over an
        // answer.
        let running = |store: &RedisStore| {
            store.threads.iter().any(|t| !t.is_finished())
                || store.searcher.as_ref().is_some_and(Searcher::is_running)
        };
        while running(self) {
            if let Some(done) = &self.done {
                answers.extend(done.try_iter());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if let Some(mut searcher) = self.searcher.take() {
            searcher.stop();
        }
        if let Some(done) = self.done.take() {
            answers.extend(done.try_iter());
        }
        answers
    }

    fn shared(&mut self) -> Option<&mut dyn SharedRoom> {
        Some(self)
    }
}

impl SharedRoom for RedisStore {
    fn server_id(&self) -> &str {
        &self.server_id
    }

    fn claim(&mut self, asker: Asker, claim: NameClaim, returning: bool) -> Result<(), NameClaim> {
        self.send_job(writer::Job::Claim {
            asker,
            claim,
            returning,
        })
        .map_err(|job| match job {
            writer::Job::Claim { claim, .. } => claim,
            _ => unreachable!("the job sent is the job handed back"),
        })
    }

    fn redesk(&mut self, claim: NameClaim) {
        if let Err(writer::Job::Redesk(claim)) = self.send_job(writer::Job::Redesk(claim)) {
            tracing::warn!(
                name = %claim.name,
                "[!] The room's link is too far behind to tell the other servers a desk's new secret."
            );
        }
    }

    fn release(&mut self, claim: NameClaim) {
        if let Err(writer::Job::Release(claim)) = self.send_job(writer::Job::Release(claim)) {
            // Its name expires by itself; its LEAVE is lost.
            tracing::warn!(
                name = %claim.name,
                "[!] The room's link is too far behind to announce that a desk left."
            );
        }
    }
}

/// A connection for commands (not for a blocking read): connecting,
/// reading and writing each give up after [`CONNECT_TIMEOUT`], so a Redis
/// that is frozen fails the command instead of holding its thread.
fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let connection = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    connection.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    connection.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    Ok(connection)
}

/// `url` without a password, for messages.
fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://...@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Entries fetched per `XREVRANGE` when looking back through the stream.
const PAGE_ENTRIES: usize = 500;

/// Walks the stream from `newest` (included) back to just after `after`,
/// newest first, a page at a time, handing each message to `visit` until it
/// says stop.
fn walk_back(
    connection: &mut redis::Connection,
    keys: &Keys,
    newest: MessageId,
    after: MessageId,
    mut visit: impl FnMut(Message) -> Walk,
) -> redis::RedisResult<()> {
    let mut end = entry::stream_id(newest);
    let start = format!("({}", entry::stream_id(after));
    loop {
        let page: StreamRangeReply =
            connection.xrevrange_count(keys.stream(), &end, &start, PAGE_ENTRIES)?;
        for item in &page.ids {
            if let Some(Entry::Message(message)) = parse_entry(item) {
                if visit(message) == Walk::Stop {
                    return Ok(());
                }
            }
        }
        match page.ids.last() {
            Some(oldest) if page.ids.len() == PAGE_ENTRIES => end = format!("({}", oldest.id),
            _ => return Ok(()),
        }
    }
}

/// Whether [`walk_back`] goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    Continue,
    Stop,
}

/// Most entries looked at, going back, for the rooms' recent messages: a
/// room quiet for that long starts with less history.
const RECENT_LOOK_BACK_ENTRIES: usize = 20 * PAGE_ENTRIES;

/// The newest `limit` messages of `#main` and of each room of `rooms`, up
/// to `newest`, oldest first, looking back at most
/// [`RECENT_LOOK_BACK_ENTRIES`] entries.
fn recent_messages(
    connection: &mut redis::Connection,
    keys: &Keys,
    newest: MessageId,
    limit: usize,
    rooms: &[&str],
) -> redis::RedisResult<Vec<Message>> {
    let mut messages = Vec::new();
    if limit > 0 && newest != MessageId::ZERO {
        let mut kept: HashMap<Option<String>, usize> = HashMap::new();
        let mut seen = 0;
        walk_back(connection, keys, newest, MessageId::ZERO, |message| {
            seen += 1;
            let count = kept.entry(message.room.clone()).or_default();
            if message.direct.is_none() && *count < limit {
                *count += 1;
                messages.push(message);
            }
            let all_full = kept.get(&None).is_some_and(|n| *n >= limit)
                && rooms.iter().all(|room| {
                    kept.get(&Some(room.to_string()))
                        .is_some_and(|n| *n >= limit)
                });
            if all_full || seen >= RECENT_LOOK_BACK_ENTRIES {
                Walk::Stop
            } else {
                Walk::Continue
            }
        })?;
    }
    messages.reverse();
    Ok(messages)
}

/// Every room but `#main`, with who is in it and who was invited.
fn read_rooms(
    connection: &mut redis::Connection,
    keys: &Keys,
) -> redis::RedisResult<Vec<RoomState>> {
    let mut room_keys: Vec<String> = connection.smembers(keys.rooms())?;
    room_keys.sort();
    let mut rooms = Vec::with_capacity(room_keys.len());
    for key in room_keys {
        let fields: HashMap<String, String> = connection.hgetall(keys.room(&key))?;
        let holders: Vec<String> = connection.smembers(keys.room_holders(&key))?;
        let invited: Vec<String> = connection.smembers(keys.room_invited(&key))?;
        let Some(name) = fields.get("name") else {
            continue;
        };
        let topic = fields.get("topic").map(|text| Topic {
            text: text.clone(),
            by: fields.get("topic_by").cloned().unwrap_or_default(),
            time: fields.get("topic_time").cloned().unwrap_or_default(),
        });
        rooms.push(RoomState {
            key,
            name: name.clone(),
            private: fields.get("private").is_some_and(|p| p == "1"),
            topic,
            holders: holders.iter().filter_map(|h| Holder::decode(h)).collect(),
            invited: invited.iter().filter_map(|h| Holder::decode(h)).collect(),
        });
    }
    Ok(rooms)
}

/// The desks of every server that is alive.
fn read_roster(
    connection: &mut redis::Connection,
    keys: &Keys,
) -> redis::RedisResult<Vec<RemoteMember>> {
    let servers: Vec<String> = connection.smembers(keys.servers())?;
    let mut roster = Vec::new();
    for server in servers {
        if !connection.exists::<_, bool>(keys.alive(&server))? {
            continue; // dead: a survivor announces its LEAVEs
        }
        let members: Vec<(String, String)> = connection.hgetall(keys.members(&server))?;
        roster.extend(members.iter().filter_map(|(_, value)| {
            let (color, name, desk) = parse_member(value)?;
            Some(RemoteMember {
                name,
                color,
                server: server.clone(),
                desk,
            })
        }));
    }
    Ok(roster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            without_password("redis://:secret@db.example:6380/2"),
            "redis://...@db.example:6380/2"
        );
        assert_eq!(without_password("redis://h:1"), "redis://h:1");
    }
}
