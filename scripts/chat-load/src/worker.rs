//! The load modes' event loop: one [`Worker`] per thread owns a mio `Poll`
//! and a slab of clients, opens their connections ([`crate::conn`], spread
//! over 127.0.0.x sources), sends marked messages on schedule and counts
//! what arrives. Closing is deferred: handlers only mark a client,
//! [`Worker::reap`] removes it after the event batch.
//!
//! Delivery accounting, per room (`#main` alone without `--rooms`): one
//! shared counter per room numbers its measured messages. A client's
//! delivery window opens when it first sees any message of its room (the
//! server has certainly registered it there by then), at its room's counter
//! at that moment; every message of the room numbered from there on was
//! written after that one was broadcast, so the server owes it to this
//! client. The window closes when the client leaves or the run stops
//! sending. Expected deliveries are the sum of window widths; only markers
//! inside a window are counted as received. A marker of this run that
//! reaches a client outside its room (another room's, or `#main`'s while
//! the run is in rooms) is counted as foreign: a leak between rooms.
//!
//! With `--named` or `--rooms`, a client takes its name as a desk coming
//! back (a secret of its own), so that its arrival is not announced to
//! every desk in `#main` (with `--newcomers` it arrives as a new desk, and
//! is announced); with `--rooms` it then enters its room, and sends with
//! `/to`.
//!
//! Phases are set by `coordinator.rs` through [`Shared`]; each worker
//! acknowledges a new phase once it has done that phase's entry work.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_shared::{ClientLine, Line, MessageId, RoomCommand};
use hdrhistogram::Histogram;
use mio::{Events, Poll, Token};
use rustls::ClientConfig;
use slab::Slab;

use crate::common::{take_turn, Rng, MAX_POLL_WAIT, PROBE_INTERVAL};
use crate::conn::{self, Conn, ConnectProgress, Dialect, CONNECT_TIMEOUT, READ_CHUNK_BYTES};
use crate::marker::{self, Delivery, Kind, Marker, Seen};
use crate::modes::{Plan, Role};
use crate::stats::new_histogram;
use crate::tls;

/// Connects in flight per worker. Past the server's accept backlog extra SYNs
/// are dropped and retried a second later, which would only show up as
/// tool-made connect latency.
pub(crate) const MAX_PENDING_CONNECTS: usize = 512;

/// Longest a churn client keeps reading after it decides to leave, waiting
/// for messages already in flight to it.
const LEAVE_LINGER: Duration = Duration::from_secs(1);

/// Timeouts, churn departures and retries are checked this often, not on
/// every loop turn: it walks every client.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(50);

/// Wait before refilling a churn slot whose connection failed or was lost,
/// so a refusing server is not hammered in a tight loop.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// A slow client whose socket stays quiet this long during the end check
/// (no data, no EOF) is asked once more ([`probe_slow`]), and after as long
/// again judged still connected.
const SLOW_QUIET: Duration = Duration::from_millis(300);

/// Upper bound on the slow-client check.
pub const SLOW_CHECK_LIMIT: Duration = Duration::from_secs(3);

/// The run's stages, in order; stored in [`Shared::phase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Opening the initial connections.
    Connecting = 0,
    /// Client 0 repeats a probe until every reader has seen a `MSG`.
    Warmup = 1,
    /// Senders send; churn clients come and go.
    Measure = 2,
    /// Client 0 sends the one measured message of hold and connect modes.
    Final = 3,
    /// No more sends; acknowledged so the total is final.
    StopSending = 4,
    /// Windows close at the final total; waiting for in-flight deliveries.
    Drain = 5,
    /// Churn in rounds: every client closes without `/quit`. The next round
    /// starts over at `Connecting`.
    Vacate = 6,
    /// Slow clients are read to see whether the server dropped them.
    SlowCheck = 7,
    /// Workers stop.
    Done = 8,
}

impl Phase {
    fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::Connecting,
            1 => Phase::Warmup,
            2 => Phase::Measure,
            3 => Phase::Final,
            4 => Phase::StopSending,
            5 => Phase::Drain,
            6 => Phase::Vacate,
            7 => Phase::SlowCheck,
            _ => Phase::Done,
        }
    }
}

/// State shared by the coordinator and all workers. Counters are updated
/// in batches, once per loop turn, to keep cache-line traffic low.
#[derive(Debug)]
pub struct Shared {
    /// Time zero for every `sent_us` and latency.
    pub epoch: Instant,
    /// No loop runs past this, whatever the phase.
    pub deadline: Instant,
    /// Short id that marks this run's messages and names.
    pub run_id: u32,
    /// Current [`Phase`].
    phase: AtomicU8,
    /// Workers that have done the current phase's entry work.
    acks: AtomicUsize,
    /// Next initial client index to open; workers claim indices from here.
    next_client: AtomicUsize,
    /// Set when the connect storm's duration ran out: claim no more.
    claiming_closed: AtomicBool,
    /// Generation of the connections opened from claims: 0, or in rounds
    /// the round's number minus one. Lifetime churn's replacements count up
    /// from 1, so a connection is a claimed (not a replacement) one exactly
    /// when its generation is this.
    claim_generation: AtomicU32,
    /// When the initial connects began, for `--connect-rate` pacing.
    connect_start: Instant,
    /// Each room's count of measured messages and order reference; one,
    /// `#main`'s, without `--rooms`.
    rooms: Vec<RoomLedger>,
    /// Claimed connection attempts that finished, either way (this round's,
    /// in rounds).
    pub attempts_done: AtomicUsize,
    /// Claimed connections that succeeded (over all rounds, in rounds).
    pub connected: AtomicUsize,
    /// All failed connects, replacements included.
    pub failures: AtomicUsize,
    /// Reading (non-slow) clients open right now.
    pub readers_open: AtomicUsize,
    /// Of those, how many have an open delivery window.
    pub readers_ready: AtomicUsize,
    /// Measured deliveries counted inside windows.
    pub received: AtomicU64,
    /// Sum of closed windows' widths.
    pub expected: AtomicU64,
}

/// One room's share of [`Shared`]: its messages are numbered, and their
/// order checked, apart from every other room's.
#[derive(Debug)]
pub struct RoomLedger {
    /// Number of the room's measured messages queued so far; a message's
    /// `seq` is the value before its increment.
    sent: AtomicU64,
    /// The order check's reference: slot `seq` holds a digest of the ID the
    /// first receiver saw the room's measured message `seq` arrive with (0:
    /// none yet). Messages past its end are not checked (`order.unchecked`).
    order_reference: Vec<AtomicU64>,
}

impl Shared {
    /// Fresh state in the `Connecting` phase for `rooms` rooms, with room
    /// in each one's order check for `order_capacity` measured messages.
    pub fn new(
        run_id: u32,
        epoch: Instant,
        deadline: Instant,
        rooms: usize,
        order_capacity: usize,
    ) -> Shared {
        Shared {
            rooms: (0..rooms)
                .map(|_| RoomLedger {
                    sent: AtomicU64::new(0),
                    order_reference: (0..order_capacity).map(|_| AtomicU64::new(0)).collect(),
                })
                .collect(),
            epoch,
            deadline,
            run_id,
            phase: AtomicU8::new(Phase::Connecting as u8),
            acks: AtomicUsize::new(0),
            next_client: AtomicUsize::new(0),
            claiming_closed: AtomicBool::new(false),
            claim_generation: AtomicU32::new(0),
            connect_start: epoch,
            attempts_done: AtomicUsize::new(0),
            connected: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
            readers_open: AtomicUsize::new(0),
            readers_ready: AtomicUsize::new(0),
            received: AtomicU64::new(0),
            expected: AtomicU64::new(0),
        }
    }

    /// Room `room`'s ledger.
    pub fn room(&self, room: usize) -> &RoomLedger {
        &self.rooms[room]
    }

    /// Measured messages queued so far, in every room.
    pub fn sent(&self) -> u64 {
        self.rooms
            .iter()
            .map(|room| room.sent.load(Ordering::SeqCst))
            .sum()
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::SeqCst))
    }

    /// Moves to `phase`; workers acknowledge through [`Shared::acks`].
    pub fn set_phase(&self, phase: Phase) {
        self.acks.store(0, Ordering::SeqCst);
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// Workers that have acknowledged the current phase.
    pub fn acks(&self) -> usize {
        self.acks.load(Ordering::SeqCst)
    }

    /// Stops the connect storm from opening further initial clients.
    pub fn close_claiming(&self) {
        self.claiming_closed.store(true, Ordering::SeqCst);
    }

    /// Initial clients whose connect has started.
    pub fn claimed(&self) -> usize {
        self.next_client.load(Ordering::SeqCst)
    }

    /// Lets every client index be claimed again, as connections of
    /// `generation`: the next round. Called while the previous round's
    /// clients are all gone (after `Vacate`), before `Connecting`.
    pub fn start_round(&self, generation: u32) {
        self.claim_generation.store(generation, Ordering::SeqCst);
        self.attempts_done.store(0, Ordering::SeqCst);
        self.next_client.store(0, Ordering::SeqCst);
        self.claiming_closed.store(false, Ordering::SeqCst);
    }

    fn is_claimed(&self, generation: u32) -> bool {
        generation == self.claim_generation.load(Ordering::SeqCst)
    }

    fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }
}

impl RoomLedger {
    /// The room's messages queued so far.
    fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Checks that the room's measured message `seq` arrived with the same
    /// ID as it did at every other receiver so far (the first one sets the
    /// reference).
    fn same_id_as_reference(&self, seq: u64, id: MessageId) -> OrderCheck {
        let Some(slot) = self.order_reference.get(seq as usize) else {
            return OrderCheck::Unchecked;
        };
        let digest = id_digest(id);
        // A plain load first: after the first receiver, the line is only read.
        let seen = slot.load(Ordering::Relaxed);
        let seen = if seen == 0 {
            match slot.compare_exchange(0, digest, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return OrderCheck::Same,
                Err(other) => other,
            }
        } else {
            seen
        };
        if seen == digest {
            OrderCheck::Same
        } else {
            OrderCheck::Different
        }
    }
}

/// One delivery against the order check's reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderCheck {
    /// The same ID as every receiver before.
    Same,
    /// Another ID than the first receiver saw: another place in the order.
    Different,
    /// Past the reference's end.
    Unchecked,
}

/// A never-zero digest of a message ID, for the order reference.
fn id_digest(id: MessageId) -> u64 {
    let mixed = id
        .major()
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(29)
        ^ id.minor().wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed.max(1)
}

/// What one worker measured, merged by `coordinator.rs`.
#[derive(Debug)]
pub struct WorkerResult {
    /// End-to-end latency of counted deliveries, microseconds.
    pub latency: Histogram<u64>,
    /// connect() to established, microseconds (initial connections).
    pub connect_latency: Histogram<u64>,
    /// Failed connects by errno name.
    pub connect_errors: BTreeMap<String, u64>,
    /// Other things worth reporting (server `ERR`/`BYE`, read errors), with counts.
    pub notes: BTreeMap<String, u64>,
    /// Readers that received at least one measured message.
    pub alive: u64,
    /// Readers the server closed (or that failed) before the run ended.
    pub disconnected_early: u64,
    /// Slow clients this worker owned.
    pub slow_clients: u64,
    /// Of those, how many the server had dropped.
    pub slow_dropped: u64,
    /// Bytes the slow clients found waiting when read after the run: what
    /// the kernel buffers and the server's queue held for them.
    pub slow_bytes_read: u64,
    /// Successful connects, churn replacements included.
    pub connections_opened: u64,
    /// Latest counted delivery, microseconds since the epoch.
    pub last_delivery_us: u64,
    /// TLS: connect() to the end of the handshake, microseconds.
    pub tls_handshake: Histogram<u64>,
    /// Connections that received at least one measured message, whose
    /// order was therefore checked.
    pub order_checked: u64,
    /// Of those, how many saw an order that differs from the reference: a
    /// message under another ID than other receivers saw it with, or IDs not
    /// increasing.
    pub order_differed: u64,
    /// Deliveries whose ID differed from the reference's.
    pub order_id_mismatches: u64,
    /// Deliveries whose ID was not above the previous one's.
    pub order_not_increasing: u64,
    /// Deliveries past the reference's end, not checked.
    pub order_unchecked: u64,
    /// With `--rooms`: clients that entered their room (`INROOM`).
    pub in_room: u64,
    /// Markers of this run that reached a client outside its room.
    pub foreign_deliveries: u64,
}

impl WorkerResult {
    /// A result with nothing counted yet.
    pub fn empty() -> WorkerResult {
        WorkerResult {
            latency: new_histogram(),
            connect_latency: new_histogram(),
            connect_errors: BTreeMap::new(),
            notes: BTreeMap::new(),
            alive: 0,
            disconnected_early: 0,
            slow_clients: 0,
            slow_dropped: 0,
            slow_bytes_read: 0,
            connections_opened: 0,
            last_delivery_us: 0,
            tls_handshake: new_histogram(),
            order_checked: 0,
            order_differed: 0,
            order_id_mismatches: 0,
            order_not_increasing: 0,
            order_unchecked: 0,
            in_room: 0,
            foreign_deliveries: 0,
        }
    }
}

/// Where one client's socket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Non-blocking connect in flight.
    Connecting,
    /// Established.
    Open,
    /// A churn client on its way out: reading until its window is complete
    /// or until this instant.
    Leaving(Instant),
}

/// Why a client is being closed; decided once, acted on in [`Worker::reap`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum CloseReason {
    /// The connect failed, with this errno name.
    ConnectFailed(String),
    /// A churn client finished leaving. `polite` ones send `/quit` first;
    /// the others just vanish.
    Left { polite: bool },
    /// The server closed it (EOF) or the socket failed.
    Lost(String),
}

/// A delivery window: measured messages numbered `from..end` are owed.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    /// Opens at the first `MSG` seen.
    from: Option<u64>,
    /// Closes when the client leaves or sending stops.
    end: Option<u64>,
}

impl Window {
    fn covers(&self, seq: u64) -> bool {
        self.from.is_some_and(|from| seq >= from) && self.end.is_none_or(|end| seq < end)
    }

    fn width(&self) -> Option<u64> {
        Some(self.end?.saturating_sub(self.from?))
    }
}

/// One client socket and everything known about it.
#[derive(Debug)]
struct Client {
    /// Client index (0..N), fixed across churn replacements.
    index: usize,
    /// Churn replacement number; part of the name so a new connection never
    /// collides with the server's memory of the old one.
    generation: u32,
    /// What this index does.
    role: Role,
    /// Chat name, `load-<run>-<index>[-<generation>]`.
    name: String,
    /// Its room, `0..plan.room_count()` (`#main` without `--rooms`).
    room: usize,
    /// It is in its room and may speak there: at once in `#main`, on
    /// `INROOM` in a room of the run.
    in_room: bool,
    /// Its connection.
    conn: Conn,
    /// With `--tls`, until the handshake is done: when the connect began.
    handshake_since: Option<Instant>,
    /// The ID of the last measured message received, for the order check.
    last_id: Option<MessageId>,
    /// Received at least one measured message (its order was checked).
    order_checked: bool,
    /// Saw a message out of the reference order.
    order_differed: bool,
    /// Connect / open / leaving.
    state: State,
    /// Which measured messages this client is owed.
    window: Window,
    /// Deliveries counted inside the window.
    counted: u64,
    /// Has received a measured message (`hold.alive`).
    alive: bool,
    /// When a sender next sends.
    next_send: Instant,
    /// When a churn client starts leaving.
    leave_at: Option<Instant>,
    /// Set by a handler; acted on by `reap`.
    closing: Option<CloseReason>,
    /// Slow clients: the socket reported an error or hang-up while unread.
    hint_closed: bool,
}

/// One event-loop thread's state.
pub struct Worker<'a> {
    /// The coordinator's shared state.
    shared: &'a Shared,
    /// What each client does.
    plan: &'a Plan,
    /// The servers; client `index` connects to `addrs[index % len]`.
    addrs: &'a [SocketAddr],
    /// With `--rooms`, the name of each room of the run.
    room_names: Vec<String>,
    /// With `--tls`, the configuration every session is made from.
    tls: Option<Arc<ClientConfig>>,
    /// The poll instance this worker owns.
    poll: Poll,
    /// Open and connecting clients; slab key = mio token.
    clients: Slab<Client>,
    /// Slab keys of open senders, so the send sweep skips readers.
    sender_keys: Vec<usize>,
    /// Churn slots waiting to be reopened: (when, index, generation).
    reopen: Vec<(Instant, usize, u32)>,
    /// Connects in flight.
    pending_connects: usize,
    /// The last phase this worker acknowledged.
    acked: Option<Phase>,
    /// Next warm-up probe time (only the owner of client 0 sends).
    next_probe: Instant,
    /// Next housekeeping sweep.
    next_housekeeping: Instant,
    /// Cheap per-worker randomness for send jitter and churn lifetimes.
    rng: Rng,
    /// Deliveries counted since last published to `Shared::received`.
    unpublished_received: u64,
    /// What this worker measured.
    result: WorkerResult,
}

impl<'a> Worker<'a> {
    /// A worker with its own `Poll`.
    pub fn new(
        id: usize,
        shared: &'a Shared,
        plan: &'a Plan,
        addrs: &'a [SocketAddr],
    ) -> io::Result<Self> {
        let now = Instant::now();
        Ok(Worker {
            shared,
            plan,
            addrs,
            room_names: (0..plan.rooms.unwrap_or(0))
                .map(|room| marker::room_name(shared.run_id, room))
                .collect(),
            tls: plan.tls.then(tls::client_config),
            poll: Poll::new()?,
            clients: Slab::new(),
            sender_keys: Vec::new(),
            reopen: Vec::new(),
            pending_connects: 0,
            acked: None,
            next_probe: now,
            next_housekeeping: now,
            rng: Rng::new(id as u64),
            unpublished_received: 0,
            result: WorkerResult::empty(),
        })
    }

    /// Runs until the `Done` phase or the deadline, then closes every socket.
    pub fn run(mut self) -> io::Result<WorkerResult> {
        let mut events = Events::with_capacity(4096);
        let mut buf = vec![0u8; READ_CHUNK_BYTES];
        loop {
            let now = Instant::now();
            let phase = self.shared.phase();
            if phase == Phase::Done || now >= self.shared.deadline {
                break;
            }
            self.enter_phase(phase, now);
            if phase == Phase::Connecting || self.reopen_due(now) {
                self.open_initial(now);
            }
            if now >= self.next_housekeeping {
                self.housekeeping(phase, now);
                self.next_housekeeping = now + HOUSEKEEPING_INTERVAL;
            }
            let mut wait = MAX_POLL_WAIT;
            if phase == Phase::Warmup {
                self.send_probe(now);
            }
            if phase == Phase::Measure && self.plan.rate_per_sender > 0.0 {
                if let Some(next) = self.send_due(now) {
                    wait = wait.min(next.saturating_duration_since(now));
                }
            }
            self.reap(phase);
            self.publish();

            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
            let now = Instant::now();
            for event in events.iter() {
                let key = event.token().0;
                // Events for a client reaped earlier in this turn are stale.
                let Some(client) = self.clients.get_mut(key) else {
                    continue;
                };
                if client.state == State::Connecting {
                    finish_connect(client, now, self.shared, &mut self.result);
                    if client.state == State::Open {
                        // An IRC desk registered its nick on connecting.
                        if self.plan.named && client.conn.dialect() != Dialect::Irc {
                            take_name(client, self.shared.run_id, self.plan.newcomers);
                        }
                        if let Some(room) = self.room_names.get(client.room) {
                            enter_room(client, room);
                        }
                        self.pending_connects -= 1;
                        if client.role == Role::Sender {
                            self.sender_keys.push(key);
                        }
                        if client.role != Role::Slow {
                            self.shared.readers_open.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                let client = &mut self.clients[key];
                if client.closing.is_some() || client.state == State::Connecting {
                    continue;
                }
                if client.role == Role::Slow {
                    // Never read: that is the point. Errors are kept as hints
                    // for the end check.
                    if event.is_error() || event.is_read_closed() {
                        client.hint_closed = true;
                    }
                    continue;
                }
                if event.is_writable() {
                    client.conn.set_writable();
                }
                // Read on every event, not only readable ones: a hang-up or
                // error is only a hint, and read() gives the real answer.
                self.read_available(key, &mut buf, phase, now);
                let client = &mut self.clients[key];
                if client.closing.is_none() {
                    flush(client);
                }
                if let Some(since) = client.handshake_since {
                    if !client.conn.is_handshaking() {
                        client.handshake_since = None;
                        let micros = now.saturating_duration_since(since).as_micros() as u64;
                        self.result.tls_handshake.saturating_record(micros.max(1));
                    }
                }
            }
        }
        // Windows still open at the deadline are owed up to the final count.
        let keys: Vec<usize> = self.clients.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.close_window(key);
        }
        for (_, client) in self.clients.iter() {
            tally_order(client, &mut self.result);
        }
        self.publish();
        Ok(self.result)
    }

    /// Does the once-per-phase work and acknowledges the phase.
    fn enter_phase(&mut self, phase: Phase, now: Instant) {
        if self.acked == Some(phase) {
            return;
        }
        match phase {
            Phase::Measure if self.plan.rounds.is_some() => {
                // Every sender speaks once, all at the same moment.
                for key in self.sender_keys.clone() {
                    let client = &self.clients[key];
                    if client.state == State::Open && client.closing.is_none() {
                        self.send_message(key, Kind::Measured, now);
                    }
                }
            }
            Phase::Measure => {
                let interval = self.send_interval();
                let keys: Vec<usize> = self.clients.iter().map(|(key, _)| key).collect();
                for key in keys {
                    let jitter = self.rng.fraction();
                    let lifetime = self.churn_lifetime();
                    let client = &mut self.clients[key];
                    // Spread first sends over one interval so senders do not
                    // fire in lock-step.
                    client.next_send = now + interval.mul_f64(jitter);
                    client.leave_at = lifetime.map(|life| now + life);
                }
            }
            Phase::Final => {
                for key in self.first_speakers() {
                    self.send_message(key, Kind::Measured, now);
                }
            }
            Phase::Drain => {
                let keys: Vec<usize> = self.clients.iter().map(|(key, _)| key).collect();
                for key in keys {
                    self.close_window(key);
                }
            }
            Phase::Vacate => {
                for (_, client) in self.clients.iter_mut() {
                    client
                        .closing
                        .get_or_insert(CloseReason::Left { polite: false });
                }
                // Before the acknowledgement: the round is over only once
                // every socket is closed.
                self.reap(phase);
            }
            Phase::SlowCheck => self.check_slow_clients(),
            _ => {}
        }
        self.publish();
        self.acked = Some(phase);
        self.shared.acks.fetch_add(1, Ordering::SeqCst);
    }

    /// Opens initial clients as fast as pacing and the pending cap allow.
    fn open_initial(&mut self, now: Instant) {
        let shared = self.shared;
        while self.pending_connects < MAX_PENDING_CONNECTS
            && !shared.claiming_closed.load(Ordering::Relaxed)
        {
            let allowed = match self.plan.connect_rate {
                Some(rate) => {
                    let elapsed = now.saturating_duration_since(shared.connect_start);
                    ((elapsed.as_secs_f64() * rate) as usize + 1).min(self.plan.clients)
                }
                None => self.plan.clients,
            };
            let claim =
                shared
                    .next_client
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |next| {
                        (next < allowed).then_some(next + 1)
                    });
            let Ok(index) = claim else { break };
            self.open(index, shared.claim_generation.load(Ordering::SeqCst), now);
        }
        // Churn replacements whose retry time has come.
        let due: Vec<(Instant, usize, u32)> = {
            let (due, later) = self.reopen.iter().partition(|(at, _, _)| *at <= now);
            self.reopen = later;
            due
        };
        for (_, index, generation) in due {
            self.open(index, generation, now);
        }
    }

    fn reopen_due(&self, now: Instant) -> bool {
        self.reopen.iter().any(|(at, _, _)| *at <= now)
    }

    /// Starts one non-blocking connect for client `index`.
    fn open(&mut self, index: usize, generation: u32, now: Instant) {
        let role = self.plan.role(index);
        let addr = self.addrs[index % self.addrs.len()];
        let source = conn::source_address(addr, index, self.plan.source_ips);
        let rcvbuf = if role == Role::Slow {
            self.plan.slow_rcvbuf
        } else {
            None
        };
        let key = self.clients.vacant_key();
        let registry = self.poll.registry();
        let mut conn = match Conn::open(
            addr,
            source,
            rcvbuf,
            self.tls.as_ref(),
            registry,
            Token(key),
            now,
        ) {
            Ok(conn) => conn,
            Err(err) => {
                self.connect_failed(index, generation, &err, now);
                return;
            }
        };
        let name = if generation == 0 {
            format!("load-{:08x}-{index}", self.shared.run_id)
        } else {
            format!("load-{:08x}-{index}-{generation}", self.shared.run_id)
        };
        if let Err(why) = conn.introduce(self.plan.dialect(index), &name) {
            conn.deregister(registry);
            let err = io::Error::other(why);
            self.connect_failed(index, generation, &err, now);
            return;
        }
        let mut client = Client {
            index,
            generation,
            role,
            name,
            room: self.plan.room_of(index),
            in_room: self.plan.rooms.is_none(),
            handshake_since: self.tls.is_some().then_some(now),
            conn,
            last_id: None,
            order_checked: false,
            order_differed: false,
            state: State::Connecting,
            window: Window::default(),
            counted: 0,
            alive: false,
            next_send: now,
            leave_at: None,
            closing: None,
            hint_closed: false,
        };
        if !self.shared.is_claimed(generation) {
            // A lifetime-churn replacement joins mid-run: its schedule starts now.
            let interval = self.send_interval();
            client.next_send = now + interval.mul_f64(self.rng.fraction());
            client.leave_at = self.churn_lifetime().map(|life| now + life);
        }
        self.clients.insert(client);
        self.pending_connects += 1;
    }

    fn connect_failed(&mut self, index: usize, generation: u32, err: &io::Error, now: Instant) {
        *self
            .result
            .connect_errors
            .entry(conn::errno_name(err))
            .or_insert(0) += 1;
        self.shared.failures.fetch_add(1, Ordering::Relaxed);
        if self.shared.is_claimed(generation) {
            self.shared.attempts_done.fetch_add(1, Ordering::Relaxed);
        }
        self.retry_churn_slot(index, generation, now + RETRY_BACKOFF);
    }

    /// A churn slot whose connection ended is refilled at `at`, while measuring.
    fn retry_churn_slot(&mut self, index: usize, generation: u32, at: Instant) {
        if self.plan.churn_lifetime.is_some() && self.shared.phase() <= Phase::Measure {
            self.reopen.push((at, index, generation + 1));
        }
    }

    /// Connect timeouts, churn departures, linger ends.
    fn housekeeping(&mut self, phase: Phase, now: Instant) {
        for (_, client) in self.clients.iter_mut() {
            if client.closing.is_some() {
                continue;
            }
            match client.state {
                State::Connecting
                    if now.duration_since(client.conn.started()) >= CONNECT_TIMEOUT =>
                {
                    client.closing = Some(CloseReason::ConnectFailed("ETIMEDOUT".into()));
                }
                State::Open
                    if phase == Phase::Measure && client.leave_at.is_some_and(|at| now >= at) =>
                {
                    client.state = State::Leaving(now + LEAVE_LINGER);
                    close_window_of(client, self.shared);
                    if is_window_complete(client) {
                        client.closing = Some(CloseReason::Left {
                            polite: client.generation % 2 == 0,
                        });
                    }
                }
                State::Leaving(until) if now >= until || is_window_complete(client) => {
                    client.closing = Some(CloseReason::Left {
                        polite: client.generation % 2 == 0,
                    });
                }
                _ => {}
            }
        }
    }

    /// The first client of each room (client 0, without rooms) repeats a
    /// probe in its room during warm-up.
    fn send_probe(&mut self, now: Instant) {
        if now < self.next_probe {
            return;
        }
        self.next_probe = now + PROBE_INTERVAL;
        for key in self.first_speakers() {
            self.send_message(key, Kind::Probe, now);
        }
    }

    /// This worker's clients that speak first in their room and are in it.
    fn first_speakers(&self) -> Vec<usize> {
        self.clients
            .iter()
            .filter(|(_, c)| {
                self.plan.speaks_first(c.index)
                    && c.state == State::Open
                    && c.closing.is_none()
                    && c.in_room
            })
            .map(|(key, _)| key)
            .collect()
    }

    /// Sends for every due sender; returns the earliest next send time.
    fn send_due(&mut self, now: Instant) -> Option<Instant> {
        let interval = self.send_interval();
        let mut earliest: Option<Instant> = None;
        for i in 0..self.sender_keys.len() {
            let key = self.sender_keys[i];
            let Some(client) = self.clients.get_mut(key) else {
                continue;
            };
            if client.state != State::Open || client.closing.is_some() || !client.in_room {
                continue;
            }
            if take_turn(&mut client.next_send, interval, now) {
                self.send_message(key, Kind::Measured, now);
            }
            let next = self.clients[key].next_send;
            earliest = Some(earliest.map_or(next, |e| e.min(next)));
        }
        earliest
    }

    /// Queues one marked message from client `key` and tries to write it.
    fn send_message(&mut self, key: usize, kind: Kind, now: Instant) {
        let shared = self.shared;
        let client = &mut self.clients[key];
        let seq = match kind {
            Kind::Measured => shared.room(client.room).sent.fetch_add(1, Ordering::SeqCst),
            Kind::Probe => 0,
        };
        let marker = Marker {
            kind,
            run: shared.run_id,
            seq,
            sender: client.index as u32,
            sent_us: shared.micros(now),
        };
        let payload = self.plan.payload_bytes;
        match self.room_names.get(client.room) {
            Some(room) => client.conn.queue_to(room, &marker, payload),
            None => client.conn.queue_say(&client.name, &marker, payload),
        }
        flush(client);
    }

    /// Reads until `WouldBlock` or EOF and counts what arrived.
    fn read_available(&mut self, key: usize, buf: &mut [u8], phase: Phase, now: Instant) {
        let shared = self.shared;
        let plan = self.plan;
        let now_us = shared.micros(now);
        let result = &mut self.result;
        let mut received = 0;
        let Client {
            conn,
            room,
            in_room,
            window,
            counted,
            alive,
            last_id,
            order_checked,
            order_differed,
            closing,
            ..
        } = &mut self.clients[key];
        let dialect = conn.dialect();
        let room = *room;
        let ledger = shared.room(room);
        let read = conn.read_lines(buf, |line| {
            let Line::Complete(bytes) = line else {
                note(result, "line over the tool's limit".into());
                return;
            };
            let (came_in, Delivery { id, marker }) = match dialect.classify(bytes, shared.run_id) {
                Seen::Msg(delivery) => (Place::Main, delivery),
                Seen::RoomMsg { room: of, delivery } => (Place::Room(of), delivery),
                Seen::InRoom { room: of } => {
                    if of == Some(room) && !*in_room {
                        *in_room = true;
                        result.in_room += 1;
                    }
                    return;
                }
                Seen::Refused(code) => {
                    return note(result, format!("server ERR {}", code.as_str()))
                }
                Seen::IrcRefused(numeric) => return note(result, format!("server IRC {numeric}")),
                Seen::Bye(reason) => return note(result, format!("server BYE: {reason}")),
                // History, welcomes and the rest are not deliveries.
                _ => return,
            };
            let here = is_own_room(plan, room, came_in);
            if here && window.from.is_none() {
                let from = ledger.sent();
                window.from = Some(from);
                shared.readers_ready.fetch_add(1, Ordering::Relaxed);
                if phase >= Phase::Drain {
                    // Sending is over: nothing is owed.
                    window.end = Some(from);
                }
            }
            let Some(m) = marker else {
                return;
            };
            if is_foreign(plan, room, here, &m) {
                result.foreign_deliveries += 1;
                return;
            }
            if m.kind != Kind::Measured {
                return;
            }
            *order_checked = true;
            if last_id.is_some_and(|last| id <= last) {
                *order_differed = true;
                result.order_not_increasing += 1;
            }
            *last_id = Some(id);
            match ledger.same_id_as_reference(m.seq, id) {
                OrderCheck::Same => {}
                OrderCheck::Different => {
                    *order_differed = true;
                    result.order_id_mismatches += 1;
                }
                OrderCheck::Unchecked => result.order_unchecked += 1,
            }
            if !*alive {
                *alive = true;
                result.alive += 1;
            }
            if window.covers(m.seq) {
                *counted += 1;
                received += 1;
                result
                    .latency
                    .saturating_record(now_us.saturating_sub(m.sent_us).max(1));
                result.last_delivery_us = result.last_delivery_us.max(now_us);
            }
        });
        self.unpublished_received += received;
        if let Err(why) = read {
            *closing = Some(CloseReason::Lost(why));
        }
    }

    /// Removes clients marked for closing, once, after the event batch.
    fn reap(&mut self, phase: Phase) {
        let closing: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.closing.is_some())
            .map(|(key, _)| key)
            .collect();
        let now = Instant::now();
        for key in closing {
            self.close_window(key);
            let mut client = self.clients.remove(key);
            client.conn.deregister(self.poll.registry());
            tally_order(&client, &mut self.result);
            let was_open = client.state != State::Connecting;
            if !was_open {
                // A failed connect, or one a round's end cut short.
                self.pending_connects -= 1;
            }
            if was_open && client.role != Role::Slow {
                self.shared.readers_open.fetch_sub(1, Ordering::Relaxed);
                if client.window.from.is_some() {
                    self.shared.readers_ready.fetch_sub(1, Ordering::Relaxed);
                }
            }
            if client.role == Role::Sender {
                self.sender_keys.retain(|&k| k != key);
            }
            match client.closing.take().expect("filtered on closing") {
                CloseReason::ConnectFailed(name) => {
                    *self.result.connect_errors.entry(name).or_insert(0) += 1;
                    self.shared.failures.fetch_add(1, Ordering::Relaxed);
                    if self.shared.is_claimed(client.generation) {
                        self.shared.attempts_done.fetch_add(1, Ordering::Relaxed);
                    }
                    self.retry_churn_slot(client.index, client.generation, now + RETRY_BACKOFF);
                }
                CloseReason::Left { polite } => {
                    if polite {
                        client.conn.quit();
                    }
                    // A clean departure is replaced at once.
                    self.retry_churn_slot(client.index, client.generation, now);
                }
                CloseReason::Lost(why) => {
                    if phase < Phase::Done && client.role != Role::Slow {
                        self.result.disconnected_early += 1;
                        note(&mut self.result, format!("connection lost: {why}"));
                    }
                    self.retry_churn_slot(client.index, client.generation, now + RETRY_BACKOFF);
                }
            }
        }
    }

    /// Closes client `key`'s window at its room's count if it is still
    /// open, adding its width to the expected deliveries.
    fn close_window(&mut self, key: usize) {
        if let Some(client) = self.clients.get_mut(key) {
            close_window_of(client, self.shared);
        }
    }

    /// Moves this turn's counts to the shared counters.
    fn publish(&mut self) {
        let received = std::mem::take(&mut self.unpublished_received);
        if received > 0 {
            self.shared.received.fetch_add(received, Ordering::Relaxed);
        }
    }

    /// Reads every slow client (which never read during the run) to find out
    /// whether the server dropped it: EOF, a reset or a `BYE` means dropped;
    /// a socket that goes quiet without EOF is probed once, and if it stays
    /// quiet it is still connected.
    fn check_slow_clients(&mut self) {
        let deadline = (Instant::now() + SLOW_CHECK_LIMIT).min(self.shared.deadline);
        let mut buf = vec![0u8; READ_CHUNK_BYTES];
        let keys: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.role == Role::Slow && c.state == State::Open)
            .map(|(key, _)| key)
            .collect();
        // (key, last time data arrived or it was probed, probed yet)
        let mut pending: Vec<(usize, Instant, bool)> =
            keys.iter().map(|&k| (k, Instant::now(), false)).collect();
        self.result.slow_clients += keys.len() as u64;
        while !pending.is_empty() && Instant::now() < deadline {
            pending.retain_mut(|(key, last_data, probed)| {
                let client = &mut self.clients[*key];
                let verdict = drain_slow(
                    client,
                    &mut buf,
                    self.shared.run_id,
                    &mut self.result.slow_bytes_read,
                );
                match verdict {
                    SlowVerdict::Dropped(why) => {
                        self.result.slow_dropped += 1;
                        note(&mut self.result, format!("slow client dropped: {why}"));
                        false
                    }
                    SlowVerdict::GotData => {
                        *last_data = Instant::now();
                        true
                    }
                    SlowVerdict::Quiet if last_data.elapsed() < SLOW_QUIET => true,
                    SlowVerdict::Quiet if !*probed => {
                        *probed = true;
                        *last_data = Instant::now();
                        probe_slow(client);
                        true
                    }
                    SlowVerdict::Quiet => false,
                }
            });
            std::thread::sleep(Duration::from_millis(10));
        }
        if !pending.is_empty() {
            note(
                &mut self.result,
                format!(
                    "{} slow client(s) still sending data at the check's end",
                    pending.len()
                ),
            );
        }
    }

    fn send_interval(&self) -> Duration {
        if self.plan.rate_per_sender > 0.0 {
            Duration::from_secs_f64(1.0 / self.plan.rate_per_sender)
        } else {
            Duration::from_secs(1)
        }
    }

    fn churn_lifetime(&mut self) -> Option<Duration> {
        let mean = self.plan.churn_lifetime?;
        Some(mean.mul_f64(0.5 + self.rng.fraction()))
    }
}

fn close_window_of(client: &mut Client, shared: &Shared) {
    if client.window.from.is_some() && client.window.end.is_none() {
        let end = shared.room(client.room).sent();
        client.window.end = Some(end.max(client.window.from.unwrap_or(0)));
        if let Some(width) = client.window.width() {
            shared.expected.fetch_add(width, Ordering::Relaxed);
        }
    }
}

/// The room a message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// `#main` (an `MSG`).
    Main,
    /// Another room (an `RMSG`): which of this run's, if one.
    Room(Option<usize>),
}

/// Whether a message that came in `place` is in the room of a client in
/// `room`: `#main` without `--rooms`, the run's room `room` with it.
fn is_own_room(plan: &Plan, room: usize, place: Place) -> bool {
    match place {
        Place::Main => plan.rooms.is_none(),
        Place::Room(of) => plan.rooms.is_some() && of == Some(room),
    }
}

/// Whether this run's message `marker`, received by a client in `room`
/// (`here`: in that room), is out of its room: it came elsewhere, or its
/// sender is in another room. Either is a leak between rooms.
fn is_foreign(plan: &Plan, room: usize, here: bool, marker: &Marker) -> bool {
    !here || plan.room_of(marker.sender as usize) != room
}

/// Client `client`, just connected, takes its name as a desk coming back
/// (a secret of its own, so nobody is told it arrived), or as a newcomer
/// (no secret: its `JOIN` is told to everyone in `#main`).
fn take_name(client: &mut Client, run_id: u32, newcomer: bool) {
    let desk = (!newcomer).then(|| desk_secret(run_id, client.index));
    client.conn.queue_line(&ClientLine::Join {
        name: &client.name,
        color: None,
        desk: desk.as_deref(),
    });
}

/// Client `client`, named, enters `room`.
fn enter_room(client: &mut Client, room: &str) {
    client.conn.queue_line(&ClientLine::Room(RoomCommand::Join {
        room,
        private: false,
        key: None,
    }));
}

/// Client `index`'s desk secret in run `run_id`: the shape of one
/// ([`chat_shared::message::DESK_SECRET_DIGITS`] hex digits), its own.
fn desk_secret(run_id: u32, index: usize) -> String {
    format!("{run_id:08x}{index:024x}")
}

fn is_window_complete(client: &Client) -> bool {
    client.window.width().is_none_or(|w| client.counted >= w)
}

/// Adds a closing connection's order verdict to the worker's counts.
fn tally_order(client: &Client, result: &mut WorkerResult) {
    if client.order_checked {
        result.order_checked += 1;
        if client.order_differed {
            result.order_differed += 1;
        }
    }
}

fn note(result: &mut WorkerResult, what: String) {
    *result.notes.entry(what).or_insert(0) += 1;
}

/// Checks a connecting client after an event on its socket.
fn finish_connect(client: &mut Client, now: Instant, shared: &Shared, result: &mut WorkerResult) {
    match client.conn.finish_connect() {
        ConnectProgress::Pending => {}
        ConnectProgress::Failed(name) => client.closing = Some(CloseReason::ConnectFailed(name)),
        ConnectProgress::Established => {
            client.state = State::Open;
            result.connections_opened += 1;
            if shared.is_claimed(client.generation) {
                let since = client.conn.started();
                let micros = now.saturating_duration_since(since).as_micros() as u64;
                result.connect_latency.saturating_record(micros.max(1));
                shared.connected.fetch_add(1, Ordering::Relaxed);
                shared.attempts_done.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Writes what the client has queued; a failure marks it lost.
fn flush(client: &mut Client) {
    if let Err(why) = client.conn.flush() {
        client.closing = Some(CloseReason::Lost(why));
    }
}

/// What one pass over a slow client's socket found.
enum SlowVerdict {
    /// EOF, a socket error or a `BYE`: the server dropped it.
    Dropped(String),
    /// Data arrived; keep reading.
    GotData,
    /// Nothing to read right now.
    Quiet,
}

/// Sends a quiet slow client's server a `/ping`. A server that dropped the
/// client has closed its socket, and its FIN may still wait behind the
/// lines it had queued there, which a 4 KiB window lets through only
/// slowly: the quiet would pass for a live connection. Data sent to a
/// closed socket is answered with a reset, which the next read sees; a
/// server still serving the client just queues a `PONG`.
fn probe_slow(client: &mut Client) {
    client.conn.queue_line(&ClientLine::Ping);
    // A write that fails already says the socket is gone; the read says so too.
    let _ = client.conn.flush();
}

/// Reads what a slow client has buffered, watching for EOF, errors and `BYE`.
fn drain_slow(
    client: &mut Client,
    buf: &mut [u8],
    run_id: u32,
    bytes_read: &mut u64,
) -> SlowVerdict {
    let before = client.conn.bytes_read();
    let mut bye = None;
    let dialect = client.conn.dialect();
    let read = client.conn.read_lines(buf, |line| {
        if let Line::Complete(bytes) = line {
            if let Seen::Bye(reason) = dialect.classify(bytes, run_id) {
                bye.get_or_insert(reason);
            }
        }
    });
    let got = client.conn.bytes_read() - before;
    *bytes_read += got;
    match (bye, read) {
        (Some(reason), _) => SlowVerdict::Dropped(format!("BYE {reason}")),
        (None, Err(why)) => SlowVerdict::Dropped(why),
        (None, Ok(())) if got > 0 => SlowVerdict::GotData,
        (None, Ok(())) => SlowVerdict::Quiet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_covers_from_inclusive_to_end_exclusive() {
        let open = Window {
            from: Some(10),
            end: None,
        };
        assert!(!open.covers(9));
        assert!(open.covers(10));
        assert!(open.covers(1_000));
        let closed = Window {
            from: Some(10),
            end: Some(20),
        };
        assert!(closed.covers(19));
        assert!(!closed.covers(20));
        assert_eq!(closed.width(), Some(10));
        assert!(!Window::default().covers(0));
    }

    #[test]
    fn order_reference_is_set_by_the_first_receiver() {
        let now = Instant::now();
        let shared = Shared::new(1, now, now, 1, 4);
        let room = shared.room(0);
        let id = MessageId::new(1_732_540_028_123, 0);
        assert_eq!(room.same_id_as_reference(2, id), OrderCheck::Same);
        assert_eq!(room.same_id_as_reference(2, id), OrderCheck::Same);
        assert_eq!(
            room.same_id_as_reference(2, MessageId::new(1_732_540_028_123, 1)),
            OrderCheck::Different
        );
        assert_eq!(room.same_id_as_reference(4, id), OrderCheck::Unchecked);
    }

    #[test]
    fn each_room_numbers_and_orders_its_own_messages() {
        let now = Instant::now();
        let shared = Shared::new(1, now, now, 2, 4);
        shared.room(0).sent.fetch_add(3, Ordering::SeqCst);
        shared.room(1).sent.fetch_add(1, Ordering::SeqCst);
        assert_eq!(shared.sent(), 4);
        // The same seq in two rooms is two messages, with two IDs.
        let first = MessageId::from_sequence(7);
        let second = MessageId::from_sequence(8);
        assert_eq!(
            shared.room(0).same_id_as_reference(0, first),
            OrderCheck::Same
        );
        assert_eq!(
            shared.room(1).same_id_as_reference(0, second),
            OrderCheck::Same
        );
        assert_eq!(
            shared.room(1).same_id_as_reference(0, first),
            OrderCheck::Different
        );
    }

    fn marker_from(sender: u32) -> Marker {
        Marker {
            kind: Kind::Measured,
            run: 1,
            seq: 0,
            sender,
            sent_us: 0,
        }
    }

    #[test]
    fn a_client_in_a_room_takes_its_room_s_messages_only() {
        let plan = Plan::new(&crate::parse_args(&["fanout", "-n", "20", "--rooms", "4"]).unwrap());
        // Client 6 is in room 2, with senders 2, 6, 10...
        let room = plan.room_of(6);
        assert!(is_own_room(&plan, room, Place::Room(Some(2))));
        assert!(!is_own_room(&plan, room, Place::Room(Some(3))));
        assert!(!is_own_room(&plan, room, Place::Room(None)));
        assert!(!is_own_room(&plan, room, Place::Main));
        assert!(!is_foreign(&plan, room, true, &marker_from(10)));
        // Another room's sender, even in the right room; or any message of
        // the run in #main or another room.
        assert!(is_foreign(&plan, room, true, &marker_from(3)));
        assert!(is_foreign(&plan, room, false, &marker_from(2)));
    }

    #[test]
    fn without_rooms_main_is_everyone_s_room() {
        let plan = Plan::new(&crate::parse_args(&["fanout", "-n", "20"]).unwrap());
        assert!(is_own_room(&plan, 0, Place::Main));
        assert!(!is_own_room(&plan, 0, Place::Room(Some(0))));
        assert!(!is_foreign(&plan, 0, true, &marker_from(19)));
        assert!(is_foreign(&plan, 0, false, &marker_from(19)));
    }

    #[test]
    fn desk_secrets_have_a_secret_s_shape_and_differ() {
        let secret = desk_secret(0xabc123, 17);
        assert!(chat_shared::message::is_desk_secret(&secret), "{secret}");
        assert_ne!(secret, desk_secret(0xabc123, 18));
        assert_ne!(secret, desk_secret(0xabc124, 17));
    }

    #[test]
    fn id_digests_differ_and_are_never_zero() {
        assert_ne!(id_digest(MessageId::ZERO), 0);
        assert_ne!(
            id_digest(MessageId::new(5, 0)),
            id_digest(MessageId::new(0, 5))
        );
        assert_ne!(
            id_digest(MessageId::from_sequence(41)),
            id_digest(MessageId::from_sequence(42))
        );
    }
}
