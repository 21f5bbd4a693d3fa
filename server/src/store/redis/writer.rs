//! The writer thread: appends messages, claims and gives back names, and
//! keeps this server's place in the room: a heartbeat key with a TTL, the
//! list of its desks, and the TTL of every name it holds. It also watches the
//! other servers: when one's heartbeat has expired, one survivor (whoever
//! takes the reaping key) announces that server's desks' LEAVEs, once.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Waker;
use redis::streams::StreamMaxlen;
use redis::Commands;

use chat_shared::message::timestamp_now;
use chat_shared::MessageId;

use super::entry::{
    desk_hex, member_value, message_fields, parse_member, presence_fields, room_fields, Keys,
};
use super::reader::ReaderSignals;
use super::STREAM_MAX_ENTRIES;
use crate::ids::Asker;
use crate::store::{
    ClaimOutcome, Completion, Draft, NameClaim, PresenceKind, PresenceNote, RoomChange,
};

/// How often this server says it is alive and looks for dead servers: one
/// SET and a look at the list of servers, cheap at any number of desks.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// How often the names' TTLs and the list of desks are renewed: work in
/// proportion to the desks, so less often.
const NAMES_INTERVAL: Duration = Duration::from_secs(5);

/// How long a server counts as alive after its last heartbeat: four missed
/// heartbeats. A dead server's desks leave for the others within this plus
/// one interval (6 s), and only then may their names be taken on another
/// server, which is how long a desk that fails over waits for its name.
const SERVER_TTL_SECS: u64 = 5;

/// How long a name stays held after its server's last refresh: longer than
/// a server's TTL plus a refresh interval, so a name is never free while its
/// server counts as alive.
const NAME_TTL_SECS: u64 = 20;

/// How long the survivor that announces a dead server's LEAVEs holds the
/// right to do it.
const REAPING_TTL_SECS: u64 = 60;

/// Deletes a name only if this server holds it.
/// How long Redis remembers what a tagged message was stored as (`/tx`):
/// far longer than any desk keeps resending a line.
const TX_TTL_SECS: u64 = 24 * 60 * 60;

/// Appends a tagged message once: if its desk's ID was seen, answers the
/// stream ID it was stored as; else adds it and remembers that ID.
/// KEYS[1] the stream, KEYS[2] the tag's key; ARGV[1] MAXLEN, ARGV[2] the
/// tag's TTL, then the entry's fields and values. Returns {stored, id}.
const APPEND_ONCE: &str = "
local before = redis.call('GET', KEYS[2])
if before then return {0, before} end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[2], id, 'EX', ARGV[2])
return {1, id}
";

const RELEASE_NAME: &str = "
    if redis.call('GET', KEYS[1]) == ARGV[1] then
        return redis.call('DEL', KEYS[1])
    end
    return 0";

/// Takes a name that is free; or whose holder is dead and whose LEAVE was
/// already announced (the holder's list of desks no longer has it); or that
/// the holder keeps for this very desk (the same desk ID in its list), which
/// is a desk failing over from a server that lost it: then the name moves
/// at once, and the caller announces the old holder's LEAVE before the new
/// JOIN. KEYS[1] is the name; ARGV: this server, the TTL, the name key, the
/// prefixes of the heartbeat and desk-list keys (the holder is known only
/// inside), and the claiming desk's ID. Returns 0 (taken), 1 (granted), or
/// the holder it was taken from.
const CLAIM_NAME: &str = "
    local holder = redis.call('GET', KEYS[1])
    if holder ~= false and holder ~= ARGV[1] then
        local held = redis.call('HGET', ARGV[5] .. holder, ARGV[3])
        if held and string.match(held, '(%S+)$') == ARGV[6] then
            redis.call('HDEL', ARGV[5] .. holder, ARGV[3])
            redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
            return holder
        end
        if held or redis.call('EXISTS', ARGV[4] .. holder) == 1 then
            return 0
        end
    end
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
    return 1";

/// Renews this server's names; takes back one that expired meanwhile (a
/// long outage) if nobody took it; returns how many are someone else's now.
const REFRESH_NAMES: &str = "
    local lost = 0
    for _, key in ipairs(KEYS) do
        local holder = redis.call('GET', key)
        if holder == ARGV[1] then
            redis.call('EXPIRE', key, ARGV[2])
        elseif holder == false then
            redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
        else
            lost = lost + 1
        end
    end
    return lost";

/// What the loop asks of the writer.
#[derive(Debug)]
pub enum Job {
    /// Append these messages.
    Append(Vec<Draft>),
    /// Claim a name for a desk.
    Claim {
        /// Who asked.
        asker: Asker,
        /// The name.
        claim: NameClaim,
        /// Whether the desk is coming back (with its secret).
        returning: bool,
    },
    /// Give back a name; its desk left.
    Release(NameClaim),
    /// The desk holding a name changed.
    Redesk(NameClaim),
    /// Interrupt the reader's `XREAD BLOCK`: a replay waits for it.
    UnblockReader,
    /// Change the rooms: kept in the rooms' keys, told in the stream.
    ChangeRoom {
        /// Who asked.
        asker: Asker,
        /// The change.
        change: RoomChange,
    },
}

/// See the module docs.
pub struct Writer {
    client: redis::Client,
    keys: Keys,
    server_id: String,
    /// The room's epoch, put back if Redis lost it.
    epoch: String,
    done: SyncSender<Completion>,
    waker: Arc<Waker>,
    /// The reader's client ID, and whether it saw the link fail (then this
    /// writer connects afresh too).
    reader: Arc<ReaderSignals>,
    /// `None` while Redis is away.
    connection: Option<redis::Connection>,
    /// The names this server holds: name key -> the claim.
    names: HashMap<String, NameClaim>,
    /// Desks that left while Redis was away, announced when it is back.
    unannounced_leaves: Vec<NameClaim>,
    release_name: redis::Script,
    refresh_names: redis::Script,
    claim_name: redis::Script,
    /// When the names and the list of desks are renewed next.
    next_names_refresh: Instant,
}

impl Writer {
    pub fn new(
        client: redis::Client,
        keys: Keys,
        server_id: String,
        epoch: String,
        done: SyncSender<Completion>,
        waker: Arc<Waker>,
        reader: Arc<ReaderSignals>,
    ) -> Writer {
        Writer {
            client,
            keys,
            server_id,
            epoch,
            done,
            waker,
            reader,
            connection: None,
            names: HashMap::new(),
            unannounced_leaves: Vec::new(),
            release_name: redis::Script::new(RELEASE_NAME),
            refresh_names: redis::Script::new(REFRESH_NAMES),
            claim_name: redis::Script::new(CLAIM_NAME),
            next_names_refresh: Instant::now(),
        }
    }

    pub fn run(mut self, jobs: Receiver<Job>) {
        self.heartbeat();
        let mut next_heartbeat = Instant::now() + HEARTBEAT_INTERVAL;
        loop {
            let wait = next_heartbeat.saturating_duration_since(Instant::now());
            match jobs.recv_timeout(wait) {
                Ok(job) => self.serve(job),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_heartbeat {
                self.heartbeat();
                next_heartbeat = Instant::now() + HEARTBEAT_INTERVAL;
            }
        }
        self.leave_the_room();
        self.unblock_reader();
    }

    fn serve(&mut self, job: Job) {
        match job {
            Job::Append(drafts) => self.append_all(drafts),
            Job::Claim {
                asker,
                claim,
                returning,
            } => self.claim(asker, claim, returning),
            Job::Release(claim) => {
                self.names.remove(&claim.key);
                if self.with_redis(|w, c| w.release(c, &claim)).is_err() {
                    self.unannounced_leaves.push(claim);
                }
            }
            Job::Redesk(claim) => {
                if !self.names.contains_key(&claim.key) {
                    return; // it left meanwhile
                }
                let server = self.server_id.clone();
                let result = self.with_redis(|w, c| {
                    let () = c.hset(
                        w.keys.members(&w.server_id),
                        &claim.key,
                        member_value(claim.color, &claim.name, claim.desk),
                    )?;
                    w.announce(c, PresenceKind::Desk, &claim, &server)
                });
                if result.is_err() {
                    tracing::warn!(
                        name = %claim.name,
                        "[!] The room's link failed telling the other servers a desk's new secret."
                    );
                }
                self.names.insert(claim.key.clone(), claim);
            }
            Job::UnblockReader => self.unblock_reader(),
            Job::ChangeRoom { asker, change } => {
                if let Err(e) = self.with_redis(|w, c| w.change_room(c, &change)) {
                    self.hand_over(Completion::RoomNotSaved {
                        asker,
                        error: format!("the room's link failed: {e}"),
                    });
                }
            }
        }
    }

    /// Keeps a change to the rooms in their keys and tells it in the
    /// stream, in one transaction; the reader hands it to every server.
    fn change_room(
        &self,
        connection: &mut redis::Connection,
        change: &RoomChange,
    ) -> redis::RedisResult<()> {
        let keys = &self.keys;
        let key = change.key();
        let mut pipe = redis::pipe();
        pipe.atomic();
        match change {
            RoomChange::Enter {
                name,
                private,
                holder,
                ..
            } => {
                pipe.sadd(keys.rooms(), key).ignore();
                pipe.hset_nx(keys.room(key), "name", name).ignore();
                pipe.hset_nx(keys.room(key), "private", u8::from(*private))
                    .ignore();
                pipe.sadd(keys.room_holders(key), holder.encode()).ignore();
            }
            RoomChange::Part { holder, .. } => {
                pipe.srem(keys.room_holders(key), holder.encode()).ignore();
            }
            RoomChange::Kick(kick) => {
                pipe.srem(keys.room_holders(key), kick.holder.encode())
                    .ignore();
            }
            // Modes are not kept: the stream's entry tells every server.
            RoomChange::Modes(_) => {}
            RoomChange::Topic { topic, .. } => {
                pipe.hset_multiple(
                    keys.room(key),
                    &[
                        ("topic", &topic.text),
                        ("topic_by", &topic.by),
                        ("topic_time", &topic.time),
                    ],
                )
                .ignore();
            }
            RoomChange::Invite { holder, .. } => {
                pipe.sadd(keys.room_invited(key), holder.encode()).ignore();
            }
        }
        pipe.xadd_maxlen(
            keys.stream(),
            StreamMaxlen::Approx(STREAM_MAX_ENTRIES),
            "*",
            &room_fields(change),
        )
        .ignore();
        pipe.query(connection)
    }

    /// Runs `work` on the connection, connecting first if needed; a failure
    /// drops the connection, so the next job connects again.
    fn with_redis<T>(
        &mut self,
        work: impl FnOnce(&mut Writer, &mut redis::Connection) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        let mut connection = self.connect()?;
        let result = work(self, &mut connection);
        if result.is_ok() {
            self.connection = Some(connection);
        }
        result
    }

    /// The connection, opened afresh if there is none (or the reader saw
    /// the link fail).
    fn connect(&mut self) -> redis::RedisResult<redis::Connection> {
        if self.reader.link_failed.swap(false, Ordering::SeqCst) {
            self.connection = None;
        }
        if let Some(connection) = self.connection.take() {
            return Ok(connection);
        }
        super::connect(&self.client)
    }

    /// Appends a batch. The reader delivers what is appended; here only
    /// what went wrong is told, and the tagged messages that were appended
    /// before. Not connected means not appended; a command sent and not
    /// answered may or may not have been carried out, and is said to be so.
    fn append_all(&mut self, drafts: Vec<Draft>) {
        let mut connection = match self.connect() {
            Ok(connection) => connection,
            Err(e) => {
                let error = format!("the room's link is down: {e}");
                self.hand_over(Completion::NotSaved { drafts, error });
                return;
            }
        };
        match self.append(&mut connection, &drafts) {
            Ok(outcomes) => {
                self.connection = Some(connection);
                for (draft, outcome) in drafts.into_iter().zip(outcomes) {
                    if let Appended::Before(id) = outcome {
                        self.hand_over(Completion::Duplicate { draft, id });
                    }
                }
            }
            Err(e) => {
                let error = format!("the room's link did not answer: {e}");
                self.hand_over(Completion::Unsure { drafts, error });
            }
        }
    }

    /// One pipeline for the batch: a plain `XADD` for an untagged message,
    /// [`APPEND_ONCE`] for a tagged one.
    fn append(
        &self,
        connection: &mut redis::Connection,
        drafts: &[Draft],
    ) -> redis::RedisResult<Vec<Appended>> {
        let mut pipe = redis::pipe();
        for draft in drafts {
            let fields = message_fields(draft, &self.server_id);
            match &draft.tx {
                None => {
                    pipe.xadd_maxlen(
                        self.keys.stream(),
                        StreamMaxlen::Approx(STREAM_MAX_ENTRIES),
                        "*",
                        &fields,
                    );
                }
                Some(tx) => {
                    let command = pipe
                        .cmd("EVAL")
                        .arg(APPEND_ONCE)
                        .arg(2)
                        .arg(self.keys.stream())
                        .arg(self.keys.tx(tx.desk, &tx.id))
                        .arg(STREAM_MAX_ENTRIES)
                        .arg(TX_TTL_SECS);
                    for (field, value) in &fields {
                        command.arg(*field).arg(value);
                    }
                }
            }
        }
        let replies: Vec<redis::Value> = pipe.query(connection)?;
        Ok(replies.iter().map(appended).collect())
    }

    fn announce(
        &self,
        connection: &mut redis::Connection,
        kind: PresenceKind,
        claim: &NameClaim,
        server: &str,
    ) -> redis::RedisResult<()> {
        let fields = presence_fields(&PresenceNote {
            kind,
            time: timestamp_now(),
            name: claim.name.clone(),
            color: claim.color,
            server: server.to_string(),
            desk: claim.desk,
        });
        connection.xadd_maxlen(
            self.keys.stream(),
            StreamMaxlen::Approx(STREAM_MAX_ENTRIES),
            "*",
            &fields,
        )
    }

    /// Takes the name if nobody holds it. The desk hears first, then the
    /// JOIN goes into the stream, so its `WELCOME` comes before its `JOIN`.
    fn claim(&mut self, asker: Asker, claim: NameClaim, returning: bool) {
        let name_key = self.keys.name(&claim.key);
        let taken = self.with_redis(|w, c| {
            let answer: redis::Value = w
                .claim_name
                .key(&name_key)
                .arg(&w.server_id)
                .arg(NAME_TTL_SECS)
                .arg(&claim.key)
                .arg(w.keys.alive(""))
                .arg(w.keys.members(""))
                .arg(desk_hex(claim.desk))
                .invoke(c)?;
            let set = match answer {
                redis::Value::Int(1) => Some(()),
                redis::Value::BulkString(holder) => {
                    // The desk left that server; the room hears it before
                    // the desk's JOIN here.
                    let holder = String::from_utf8_lossy(&holder).into_owned();
                    w.announce(c, PresenceKind::Leave, &claim, &holder)?;
                    Some(())
                }
                _ => None,
            };
            if set.is_some() {
                let () = c.hset(
                    w.keys.members(&w.server_id),
                    &claim.key,
                    member_value(claim.color, &claim.name, claim.desk),
                )?;
            }
            Ok(set.is_some())
        });
        let outcome = match taken {
            Ok(true) => ClaimOutcome::Granted,
            Ok(false) => ClaimOutcome::Taken,
            Err(e) => ClaimOutcome::Unavailable(format!("the room's link is down: {e}")),
        };
        let granted = outcome == ClaimOutcome::Granted;
        self.hand_over(Completion::Claimed {
            asker,
            claim: claim.clone(),
            outcome,
        });
        if granted {
            let server = self.server_id.clone();
            let arrival = if returning {
                PresenceKind::Return
            } else {
                PresenceKind::Join
            };
            if self
                .with_redis(|w, c| w.announce(c, arrival, &claim, &server))
                .is_err()
            {
                tracing::warn!(name = %claim.name, "[!] The room's link failed announcing a desk");
            }
            self.names.insert(claim.key.clone(), claim);
        }
    }

    fn release(
        &self,
        connection: &mut redis::Connection,
        claim: &NameClaim,
    ) -> redis::RedisResult<()> {
        let () = self
            .release_name
            .key(self.keys.name(&claim.key))
            .arg(&self.server_id)
            .invoke(connection)?;
        let () = connection.hdel(self.keys.members(&self.server_id), &claim.key)?;
        self.announce(connection, PresenceKind::Leave, claim, &self.server_id)
    }

    /// Says this server is alive, every [`NAMES_INTERVAL`] renews its names
    /// and its list of desks, announces leaves Redis missed, and looks for
    /// dead servers. If the others counted this server dead meanwhile (a
    /// long pause: a survivor said its desks left, and deleted their list),
    /// its desks join again.
    fn heartbeat(&mut self) {
        let result = self.with_redis(|w, c| {
            let () = redis::cmd("SET")
                .arg(w.keys.alive(&w.server_id))
                .arg(1)
                .arg("EX")
                .arg(SERVER_TTL_SECS)
                .query(c)?;
            let () = c.sadd(w.keys.servers(), &w.server_id)?;
            // Put back if Redis lost its data (no append-only file), so a
            // server started later agrees with this one.
            let _: Option<String> = redis::cmd("SET")
                .arg(w.keys.epoch())
                .arg(&w.epoch)
                .arg("NX")
                .query(c)?;
            let names_due = Instant::now() >= w.next_names_refresh;
            if names_due {
                w.next_names_refresh = Instant::now() + NAMES_INTERVAL;
            }
            if names_due && !w.names.is_empty() {
                let mut refresh = w.refresh_names.prepare_invoke();
                for key in w.names.keys() {
                    refresh.key(w.keys.name(key));
                }
                let lost: u64 = refresh.arg(&w.server_id).arg(NAME_TTL_SECS).invoke(c)?;
                if lost > 0 {
                    tracing::warn!(
                        names = lost,
                        "[!] Names of this server's desks were taken on another server while \
                         the room's link was down."
                    );
                }
                let counted_dead = !c.exists::<_, bool>(w.keys.members(&w.server_id))?;
                let members: Vec<(String, String)> = w
                    .names
                    .values()
                    .map(|claim| {
                        let value = member_value(claim.color, &claim.name, claim.desk);
                        (claim.key.clone(), value)
                    })
                    .collect();
                let () = c.hset_multiple(w.keys.members(&w.server_id), &members)?;
                if counted_dead {
                    tracing::warn!(
                        "[!] The other servers counted this one dead; its desks join again."
                    );
                    for claim in w.names.values() {
                        w.announce(c, PresenceKind::Return, claim, &w.server_id)?;
                    }
                }
            }
            while let Some(claim) = w.unannounced_leaves.pop() {
                if let Err(e) = w.release(c, &claim) {
                    w.unannounced_leaves.push(claim);
                    return Err(e);
                }
            }
            w.reap_dead_servers(c)
        });
        if let Err(e) = result {
            tracing::debug!(error = %e, "[!] The room's heartbeat failed");
        }
    }

    /// Announces the LEAVEs of every server whose heartbeat expired, if no
    /// other survivor is doing it.
    fn reap_dead_servers(&self, connection: &mut redis::Connection) -> redis::RedisResult<()> {
        let servers: Vec<String> = connection.smembers(self.keys.servers())?;
        for server in servers.iter().filter(|s| **s != self.server_id) {
            if connection.exists::<_, bool>(self.keys.alive(server))? {
                continue;
            }
            let won: Option<String> = redis::cmd("SET")
                .arg(self.keys.reaping(server))
                .arg(&self.server_id)
                .arg("NX")
                .arg("EX")
                .arg(REAPING_TTL_SECS)
                .query(connection)?;
            if won.is_none() {
                continue;
            }
            let members: Vec<(String, String)> = connection.hgetall(self.keys.members(server))?;
            tracing::info!(
                %server,
                desks = members.len(),
                "[*] A server stopped answering; its desks leave the room."
            );
            for (key, value) in &members {
                if let Some((color, name, desk)) = parse_member(value) {
                    let claim = NameClaim {
                        name,
                        key: key.clone(),
                        color,
                        desk,
                    };
                    self.announce(connection, PresenceKind::Leave, &claim, server)?;
                }
            }
            let () = connection.del(self.keys.members(server))?;
            let () = connection.srem(self.keys.servers(), server)?;
        }
        Ok(())
    }

    /// At a clean shutdown: gives back every name, says every desk left, and
    /// leaves the list of servers.
    fn leave_the_room(&mut self) {
        let names: Vec<NameClaim> = self.names.drain().map(|(_, claim)| claim).collect();
        let result = self.with_redis(|w, c| {
            for claim in &names {
                w.release(c, claim)?;
            }
            let () = c.del(w.keys.members(&w.server_id))?;
            let () = c.del(w.keys.alive(&w.server_id))?;
            let () = c.srem(w.keys.servers(), &w.server_id)?;
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "[!] Could not leave the shared room cleanly");
        }
    }

    fn unblock_reader(&mut self) {
        let id = self.reader.client_id.load(Ordering::SeqCst);
        if id == 0 {
            return;
        }
        let _ = self.with_redis(|_, c| {
            redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(id)
                .query::<i64>(c)
                .map(drop)
        });
    }

    fn hand_over(&self, completion: Completion) {
        if self.done.send(completion).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// What one message of a batch came to in Redis.
enum Appended {
    /// Added to the stream (the reader delivers it).
    New,
    /// Its desk's ID was seen: it was stored before, as this.
    Before(MessageId),
}

/// Reads one reply of [`Writer::append`]'s pipeline: a plain `XADD`'s
/// stream ID, or [`APPEND_ONCE`]'s `{stored, id}`.
fn appended(reply: &redis::Value) -> Appended {
    let redis::Value::Array(parts) = reply else {
        return Appended::New;
    };
    let (Some(stored), Some(id)) = (parts.first(), parts.get(1)) else {
        return Appended::New;
    };
    let stored: i64 = redis::from_redis_value_ref(stored).unwrap_or(1);
    let id: Option<MessageId> = redis::from_redis_value_ref::<String>(id)
        .ok()
        .and_then(|id| id.parse().ok());
    match (stored, id) {
        (0, Some(id)) => Appended::Before(id),
        _ => Appended::New,
    }
}
