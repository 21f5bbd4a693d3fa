//! The product's server: one thread, one `mio::Poll` holding the listener and
//! every client socket, connections in a `Slab`. The loop only dispatches:
//! readiness to the connections, what they read to the rules
//! ([`crate::chat::Chat`]), and the rules' [`Effect`]s to the connections and
//! the store ([`StoreLink`]).
//!
//! # The edge-triggered contract
//!
//! mio registers sockets edge-triggered: after a readiness event, no other
//! comes until the operation has returned `WouldBlock`. So this loop
//!
//! - accepts until `WouldBlock` ([`Acceptor`]);
//! - reads until `WouldBlock`, or pauses deliberately (rate limit, fairness
//!   budget) and then resumes the read itself from a timer, never waiting for
//!   an event that will not come ([`Connection::read_lines`]);
//! - writes until `WouldBlock` or the queue is empty, and keeps WRITABLE in the
//!   interest only while output is pending ([`Connection::flush`]);
//! - retries on `Interrupted`, ignores events for tokens no longer in the slab
//!   and treats `read_closed`/`error` as hints that a read will tell the truth.
//!
//! Connections are never removed in the middle of a batch: they are marked
//! closing and [`Server::settle`] removes them after it, in one place.
//!
//! # One pass of the loop
//!
//! Poll; handle each event (read and run lines through the rules, note
//! writability and the listener's readiness); resume paused reads that are
//! due; once a second, close idle connections; hand the pass's messages to
//! the store and act on its answers; settle (flush every connection that got
//! output, remove the closed ones, whose LEAVE may queue more output, until
//! nothing changes); only then accept newcomers, so they are judged against
//! the room without the clients that just left; settle again. Nothing in a
//! pass waits on anything but the poll: the store and the log have threads
//! of their own.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use chat_shared::{ErrorCode, Line};

use crate::acceptor::{Acceptor, Door};
use crate::auth::Gate;
use crate::chat::{Chat, Context, Settings, SHUTDOWN_REASON};
use crate::close::{Close, CloseReason};
use crate::config::Config;
use crate::connection::{Arrival, Connection, Limits, Overdue, ReadOutcome};
use crate::effect::Effect;
use crate::frames::{self, live_frame_bytes, Frame};
use crate::framing::Renderings;
use crate::heap::HeapKeeper;
use crate::ids::{Asker, ConnId};
use crate::log::DroppedLines;
use crate::outbox::queue_slot_bytes;
use crate::room::{RoomId, MAIN};
use crate::store::link::StoreLink;
use crate::store::Completion;
use crate::tls::gate::HandshakeGate;
use crate::tls::TlsIdentity;
use crate::transport::Security;

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);
const IRC_LISTENER: Token = Token(usize::MAX - 3);

/// Size of the one read buffer all connections share. Reading into a shared
/// buffer, and keeping per connection only an unfinished line, is what keeps
/// an idle desk down to a few hundred bytes.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// How often idle and stuck-closing connections are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How long shutdown waits for goodbyes to be written.
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections written between two looks at the store's answers while
/// settling: a few hundred microseconds of writes.
const FLUSHES_BETWEEN_STORE_CHECKS: usize = 64;

/// Events taken from the kernel per poll.
const EVENTS_PER_POLL: usize = 1024;

/// How long a peer may leave output untaken before it counts as not
/// reading, when the server's queues are over their budget.
const NOT_READING_AFTER: Duration = Duration::from_secs(1);

/// Where dropping stops once the queues are over budget: a little under
/// it, so the next burst does not start it again at once.
const BUDGET_TARGET_PERCENT: usize = 90;

/// Stops a running [`Server`] from another thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    /// The poll's one waker, shared with the store.
    waker: Arc<Waker>,
    /// Tells the woken loop that the wake means "stop".
    requested: Arc<AtomicBool>,
}

impl ShutdownHandle {
    /// Asks the server to tell its clients it is going down and to stop.
    pub fn shutdown(&self) {
        self.requested.store(true, Ordering::SeqCst);
        // A failed wake means the poll is gone, so the server has stopped.
        let _ = self.waker.wake();
    }
}

/// Connections the loop must come back to at a time of its own, since no
/// readiness event will come for them.
#[derive(Debug, Default)]
struct Due {
    /// Whose reading was paused (rate limit, fairness), and when to read on.
    reads: Vec<(Instant, ConnId)>,
    /// Who has not said what it speaks, and when to count it as one of our
    /// desks.
    silent: Vec<(Instant, ConnId)>,
}

impl Due {
    /// Takes the connections of `list` due by `now`.
    fn take(list: &mut Vec<(Instant, ConnId)>, now: Instant) -> Vec<ConnId> {
        if list.iter().all(|(at, _)| *at > now) {
            return Vec::new();
        }
        let (due, waiting) = std::mem::take(list)
            .into_iter()
            .partition::<Vec<_>, _>(|(at, _)| *at <= now);
        *list = waiting;
        due.into_iter().map(|(_, id)| id).collect()
    }
}

/// Who in a room does not get a broadcast.
#[derive(Debug, Clone, Copy)]
enum Skip {
    /// Everyone who hears the room gets it.
    Nobody,
    /// Everyone in the room gets it, even a client that does not hear
    /// `#main` (news about the server).
    OutOfMainToo,
    /// This connection is told its own way.
    Always(ConnId),
    /// This connection said it, and gets it only if its dialect wants its
    /// own copy.
    UnlessCopyWanted(ConnId),
}

/// What wakes the loop besides sockets: the store's threads and shutdown
/// requests (through the waker), and signals.
struct Wakeups {
    /// Wakes the poll, for [`ShutdownHandle`] and for the store when it
    /// has answers (mio allows one waker per poll).
    waker: Arc<Waker>,
    /// Set by [`ShutdownHandle`].
    shutdown_requested: Arc<AtomicBool>,
    /// SIGINT and SIGTERM, when [`Server::handle_signals`] was called.
    signals: Option<Signals>,
}

/// What the loop does once a second.
struct Sweep {
    /// When to look for idle connections next.
    next: Instant,
    /// Log lines a stalled stderr cost, reported when it flows again.
    dropped_log_lines: DroppedLines,
    /// Hands freed memory back after a burst.
    heap: HeapKeeper,
}

/// The event-loop server; see the module docs.
pub struct Server {
    poll: Poll,
    /// The listener, and the rules for letting newcomers in.
    acceptor: Acceptor,
    wakeups: Wakeups,
    /// Every client, keyed by its token.
    connections: Slab<Connection>,
    /// The rules: names, rooms, logins, what each line causes.
    chat: Chat,
    /// Where messages are stored before anyone gets them.
    store: StoreLink,
    config: Config,
    /// What every connection is opened with: line limit, TLS.
    limits: Limits,
    /// What the start-up line says about TLS, when it is on.
    tls_description: Option<String>,
    /// The read buffer every connection shares.
    read_buffer: Box<[u8]>,
    /// Effects the rules decided and the loop has not carried out yet,
    /// reused to avoid allocating.
    effects: Vec<Effect>,
    /// Connections that got output since the last flush.
    to_flush: Vec<ConnId>,
    /// Connections ready to be removed.
    to_close: Vec<ConnId>,
    /// Connections the loop comes back to at a time of its own.
    due: Due,
    /// How many TLS handshakes run, and who waits to begin one.
    handshakes: HandshakeGate,
    sweep: Sweep,
    /// The next connection's serial number.
    next_serial: u64,
}

impl Server {
    /// Takes over a bound listener and opens the store (`config.db`);
    /// nothing is accepted until [`Server::run`]. Fails, with a sentence a
    /// person can act on, when the store cannot be used.
    pub fn new(listener: std::net::TcpListener, config: Config) -> io::Result<Server> {
        let poll = Poll::new()?;
        let irc_listener = config
            .irc
            .port
            .map(|port| crate::listener::bind(&config.host, port).map(|l| (l, IRC_LISTENER)))
            .transpose()?;
        let acceptor = Acceptor::new(
            listener,
            LISTENER,
            irc_listener,
            poll.registry(),
            config.max_clients,
        )?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let opened = StoreLink::open(&config, &waker)?;
        let mut store = opened.link;
        let settings = Settings {
            history_limit: config.history,
            replay_budget_bytes: config.max_queue_bytes / 2,
            max_line_bytes: config.max_line_bytes,
            epoch: store.epoch().to_string(),
            can_search: store.can_search(),
            shared_as: store.shared_as(),
        };
        let mut chat = Chat::new(settings, opened.accounts.map(Gate::new));
        chat.restore(opened.rooms, &opened.recent);
        let tls = config
            .tls
            .as_ref()
            .map(|tls| {
                let tickets = crate::config::Tls::ticket_key_file(&config.db);
                TlsIdentity::load(&tls.cert_source(&config.db), tickets.as_deref())
            })
            .transpose()?;
        let security = match (&tls, &config.tls) {
            (Some(identity), Some(settings)) if settings.required => {
                Security::TlsOnly(Arc::clone(&identity.config))
            }
            (Some(identity), _) => Security::Either(Arc::clone(&identity.config)),
            _ => Security::Plain,
        };
        let tls_description = tls.map(|identity| {
            let only = match security {
                Security::TlsOnly(_) => " (TLS only)",
                _ => " (TLS and plain on one port)",
            };
            format!(
                "TLS certificate {}{only}, fingerprint {}",
                identity.location, identity.fingerprint
            )
        });
        let irc = Arc::new(crate::irc::Settings::new(
            &config.irc.server_name,
            config.irc.join_main,
            config.irc.opers.clone(),
        ));
        chat.read_irc_users(Arc::clone(&irc) as Arc<dyn crate::chat::IrcUsers>);
        let limits = Limits {
            max_line_bytes: config.max_line_bytes,
            rate_limit: config.rate_limit,
            security,
            irc,
        };
        Ok(Server {
            poll,
            acceptor,
            wakeups: Wakeups {
                waker,
                shutdown_requested: Arc::new(AtomicBool::new(false)),
                signals: None,
            },
            connections: Slab::new(),
            chat,
            store,
            config,
            limits,
            tls_description,
            read_buffer: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            effects: Vec::new(),
            to_flush: Vec::new(),
            to_close: Vec::new(),
            due: Due::default(),
            handshakes: HandshakeGate::default(),
            sweep: Sweep {
                next: Instant::now() + SWEEP_INTERVAL,
                dropped_log_lines: DroppedLines::default(),
                heap: HeapKeeper::default(),
            },
            next_serial: 0,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.acceptor.local_addr()
    }

    /// The address it listens on for IRC alone (`--irc-port`), if it does.
    pub fn irc_addr(&self) -> Option<SocketAddr> {
        self.acceptor.irc_addr()
    }

    /// A handle that stops the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            waker: Arc::clone(&self.wakeups.waker),
            requested: Arc::clone(&self.wakeups.shutdown_requested),
        }
    }

    /// Where the store is, for the start-up line.
    pub fn store_description(&self) -> String {
        self.store.describe()
    }

    /// What the start-up line says about TLS: where the certificate is and
    /// its fingerprint, for people to compare with what their desks show.
    pub fn tls_description(&self) -> Option<&str> {
        self.tls_description.as_deref()
    }

    /// Shuts down cleanly on SIGINT (Ctrl-C) and SIGTERM.
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, mio::Interest::READABLE)?;
        self.wakeups.signals = Some(signals);
        Ok(())
    }

    /// Serves until shut down. Errors of one connection close only that one;
    /// only a failing poll ends the loop with an error.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            if let Err(e) = self.poll.poll(&mut events, self.poll_timeout()) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut stop = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER | IRC_LISTENER => self.acceptor.mark_ready(),
                    // The store's answers are collected below, every pass.
                    WAKER => stop |= self.wakeups.shutdown_requested.load(Ordering::SeqCst),
                    SIGNALS => stop |= self.signal_received(),
                    Token(id) => {
                        // Read first: a line may produce a reply that the
                        // write below can send in the same pass.
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read_ready(id);
                        }
                        if event.is_writable() {
                            self.schedule_flush(id);
                        }
                    }
                }
            }
            if stop {
                // Nobody new gets in once shutdown has begun.
                self.acceptor.close(self.poll.registry());
            }
            let now = Instant::now();
            self.begin_waiting_handshakes();
            self.resume_paused_reads(now);
            self.decide_silent_peers(now);
            if now >= self.sweep.next {
                self.sweep(now);
            }
            self.submit_drafts();
            self.apply_answers();
            self.apply_account_changes();
            self.settle();
            self.keep_within_budget();
            if self.acceptor.is_due(now) {
                self.accept_pending();
                self.settle();
            }
            if stop {
                return self.shut_down(&mut events);
            }
        }
    }

    /// How long the next poll may sleep: until the earliest timer.
    fn poll_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        if self.acceptor.is_due(now) || self.handshakes.may_begin_one_waiting() {
            return Some(Duration::ZERO);
        }
        let earliest = self
            .due
            .reads
            .iter()
            .chain(&self.due.silent)
            .map(|(at, _)| *at)
            .chain(self.acceptor.paused_until())
            .fold(self.sweep.next, Instant::min);
        Some(earliest.saturating_duration_since(now))
    }

    fn signal_received(&mut self) -> bool {
        let Some(signals) = self.wakeups.signals.as_mut() else {
            return false;
        };
        let mut received = false;
        for signal in signals.pending() {
            tracing::info!(signal, "[*] Received a signal; shutting down.");
            received = true;
        }
        received
    }

    /// Admits newcomers until the backlog is empty or accepting must pause.
    fn accept_pending(&mut self) {
        while let Some((stream, peer, door)) = self.acceptor.next(self.connections.len()) {
            self.admit(stream, peer, door);
        }
    }

    /// Registers a newcomer; on a plain server it enters the room at once
    /// (and gets its history), on a TLS one once its first byte arrives.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, door: Door) {
        if !crate::listener::CLIENT_OPTIONS_INHERITED {
            if let Err(e) = crate::listener::configure_client_socket(&stream) {
                tracing::warn!(%peer, error = %e, "[!] could not set socket options");
            }
        }
        let entry = self.connections.vacant_entry();
        let id = entry.key();
        self.next_serial += 1;
        let connection = match Connection::open(
            stream,
            peer,
            Token(id),
            self.next_serial,
            self.poll.registry(),
            &self.limits,
            door,
        ) {
            Ok(connection) => entry.insert(connection),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "[!] could not register");
                return;
            }
        };
        tracing::info!(%peer, "[+] connected");
        if let Some(deadline) = connection.silent_deadline() {
            self.due.silent.push((deadline, id));
        }
        // An IRC client is put in `#main` when it registers.
        if !connection.is_waiting() && connection.dialect().in_rooms_at_once() {
            self.chat.connected(id, &mut self.effects);
            self.apply_effects();
        }
    }

    /// Reads what connection `id` has sent and runs its lines through the
    /// rules.
    fn read_ready(&mut self, id: ConnId) {
        let may_begin_tls = self.handshakes.has_room_for_newcomer();
        self.read_counting_handshakes(id, may_begin_tls);
    }

    /// Begins the handshakes that waited, oldest first, while places are
    /// free.
    fn begin_waiting_handshakes(&mut self) {
        while self.handshakes.has_free_place() {
            let connections = &self.connections;
            let Some(id) = self.handshakes.next_waiting(|id, serial| {
                connections
                    .get(id)
                    .is_some_and(|c| c.serial() == serial && c.is_waiting() && c.is_open())
            }) else {
                return;
            };
            self.read_counting_handshakes(id, true);
        }
    }

    /// Reads connection `id`, keeping count of the TLS handshakes that
    /// begin and end meanwhile.
    fn read_counting_handshakes(&mut self, id: ConnId, may_begin_tls: bool) {
        let in_handshake = |server: &Server| {
            server
                .connections
                .get(id)
                .is_some_and(Connection::is_in_tls_handshake)
        };
        let before = in_handshake(self);
        self.read_connection(id, may_begin_tls);
        match (before, in_handshake(self)) {
            (false, true) => self.handshakes.started(),
            (true, false) => self.handshakes.ended(),
            _ => {}
        }
    }

    fn read_connection(&mut self, id: ConnId, may_begin_tls: bool) {
        let Some(connection) = self.connections.get_mut(id) else {
            return; // a stale event for a connection already gone
        };
        let now = Instant::now();
        if !connection.is_open() || connection.is_paused(now) || self.chat.holds_lines(id) {
            // A claim's answer reads on (`Effect::ReadOn`).
            return;
        }
        match connection.arrive(&mut self.read_buffer, may_begin_tls) {
            Arrival::Waiting => return,
            Arrival::HandshakeWaits => {
                self.handshakes.wait(id, connection.serial());
                return;
            }
            Arrival::Refused(reason) => {
                if matches!(reason, CloseReason::TlsRequired) {
                    let refusal = frames::error(
                        ErrorCode::TlsRequired,
                        "this server takes TLS only (chat-client --tls)",
                    );
                    self.send(id, refusal);
                }
                self.close(id, reason, Close::AfterFlush);
                return;
            }
            Arrival::JustArrived if connection.dialect().in_rooms_at_once() => {
                // What arrival brings (the history) is queued before any
                // line is read, so that it waits, in our dialect, for the
                // peer to say what it speaks.
                self.chat.connected(id, &mut self.effects);
                self.apply_effects();
            }
            Arrival::JustArrived => {}
            Arrival::Arrived => {}
        }
        let Some(connection) = self.connections.get_mut(id) else {
            return;
        };
        let from = Asker {
            conn: id,
            serial: connection.serial(),
        };
        let peer = connection.peer();
        let had_said = connection.dialect_said();
        // Until the line that says what the peer speaks is read.
        let mut deciding = !had_said;
        let mut stepped_out = false;
        let mut cx = Context {
            chat: &mut self.chat,
            from,
            peer,
            now,
            effects: &mut self.effects,
        };
        let outcome = connection.read_lines(&mut self.read_buffer, now, |dialect, line| {
            if deciding && matches!(line, Line::Complete(_)) {
                // This line said what the peer speaks (the framing decides
                // on the first whole line). One that is not ours leaves the
                // rooms it was put in on arrival before its line is handled,
                // which may put it back (a browser's upgrade).
                deciding = false;
                if !dialect.in_rooms_at_once() {
                    cx.chat.step_out(from.conn);
                    stepped_out = true;
                }
            }
            dialect.handle(line, &mut cx)
        });
        if stepped_out {
            // What waited for it was meant for one of our desks (a peer
            // taken for a desk while silent may have been sent some).
            connection.discard_output();
        }
        if !had_said && connection.dialect_said() {
            // It said what it speaks: what waited for it goes.
            self.schedule_flush(id);
        }
        let Some(connection) = self.connections.get_mut(id) else {
            return;
        };
        // A TLS handshake answers what was read, before any line.
        let handshake_output = connection.has_pending_output();
        if let ReadOutcome::Paused(until) = outcome {
            self.due.reads.push((until, id));
        }
        if handshake_output {
            self.schedule_flush(id);
        }
        // Lines read before an end of stream still count, the sender's own
        // echo included: deliver them while the connection is open.
        self.apply_effects();
        if let ReadOutcome::Closed(reason) = outcome {
            self.close(id, reason, Close::AfterFlush);
        }
    }

    fn resume_paused_reads(&mut self, now: Instant) {
        for id in Due::take(&mut self.due.reads, now) {
            self.read_ready(id);
        }
    }

    /// Peers that said nothing in time are our desks: what waited for them
    /// goes.
    fn decide_silent_peers(&mut self, now: Instant) {
        for id in Due::take(&mut self.due.silent, now) {
            if let Some(connection) = self.connections.get_mut(id) {
                connection.decide_silent();
                self.schedule_flush(id);
            }
        }
    }

    /// Carries out what the rules decided, in order.
    fn apply_effects(&mut self) {
        let mut effects = std::mem::take(&mut self.effects);
        for effect in effects.drain(..) {
            self.apply(effect);
        }
        // Whatever an effect pushed was carried out by the call that
        // pushed it; keep the emptied vector's allocation.
        self.effects = effects;
    }

    fn apply(&mut self, effect: Effect) {
        // What the rules say when the store cannot take a request: carried
        // out at once, in place of the request, so its order holds.
        let mut instead = Vec::new();
        match effect {
            Effect::Send(id, frame) => self.send(id, frame),
            Effect::Answer(asker, frame) => {
                if self.is_current(asker) {
                    self.send(asker.conn, frame);
                }
            }
            Effect::Broadcast(room, frame) => self.broadcast(room, Skip::Nobody, &frame),
            Effect::BroadcastOthers(room, except, frame) => {
                self.broadcast(room, Skip::Always(except), &frame)
            }
            Effect::Message {
                room,
                frame,
                sender,
            } => {
                let skip = sender.map_or(Skip::Nobody, Skip::UnlessCopyWanted);
                self.broadcast(room, skip, &frame)
            }
            Effect::Copy(id, frame) => {
                if self
                    .connections
                    .get(id)
                    .is_some_and(|c| c.dialect().takes_own_copy())
                {
                    self.send(id, frame);
                }
            }
            Effect::SendRaw(id, frame) => self.queue(id, frame),
            Effect::Departure(id, frame) => {
                if self
                    .connections
                    .get(id)
                    .is_some_and(|c| !c.dialect().hears_main())
                {
                    self.send(id, frame);
                }
            }
            // Everyone is in the main room, and hears of the server.
            Effect::NoticeAll(frame) => self.broadcast(MAIN, Skip::OutOfMainToo, &frame),
            Effect::Publish(draft) => self.store.publish(draft),
            Effect::Ask(request) => {
                if let Err(request) = self.store.ask(request) {
                    self.chat.unavailable(request, &mut instead);
                }
            }
            Effect::Claim {
                asker,
                claim,
                returning,
            } => {
                if !self.store.claim(asker, claim.clone(), returning) {
                    let outcome = crate::store::ClaimOutcome::Unavailable(
                        "the room's link is too busy".to_string(),
                    );
                    let answer = Completion::Claimed {
                        asker,
                        claim,
                        outcome,
                    };
                    self.chat.answer(answer, &mut instead);
                }
            }
            Effect::Release(claim) => self.store.release(claim),
            Effect::Redesk(claim) => self.store.redesk(claim),
            Effect::ReadOn(id) => {
                self.read_ready(id);
                // What it said with its name goes now, not at the next pass.
                self.submit_drafts();
            }
            Effect::Close(id, reason) => self.close(id, reason, Close::AfterFlush),
        }
        for effect in instead {
            self.apply(effect);
        }
    }

    /// Closes the desks of accounts that were removed (or given a new
    /// token) since the last look.
    fn apply_account_changes(&mut self) {
        if let Some(accounts) = self.store.accounts_changed() {
            self.chat.accounts_changed(accounts, &mut self.effects);
            self.apply_effects();
        }
    }

    /// Hands this pass's messages to the store, as one batch; if it is too
    /// far behind to take them, their senders are told.
    fn submit_drafts(&mut self) {
        if let Err(refused) = self.store.submit_drafts() {
            self.chat.unavailable(refused, &mut self.effects);
            self.apply_effects();
        }
    }

    /// Acts on what the store has answered, in order: delivers what it
    /// stored, tells the senders of what it could not store, hands replays
    /// to resuming desks, settles name claims.
    fn apply_answers(&mut self) {
        let mut answers = Vec::new();
        self.store.answers(&mut answers);
        for answer in answers {
            self.chat.answer(answer, &mut self.effects);
            self.apply_effects();
        }
    }

    /// True while the connection that asked is still here and open.
    fn is_current(&self, asker: Asker) -> bool {
        self.connections
            .get(asker.conn)
            .is_some_and(|c| c.serial() == asker.serial && c.is_open())
    }

    /// Sends one of our lines to connection `id`, rendered for its
    /// dialect.
    fn send(&mut self, id: ConnId, frame: Frame) {
        let Some(connection) = self.connections.get(id) else {
            return;
        };
        if let Some(frame) = connection.dialect().render(&frame, &self.chat) {
            self.queue(id, frame);
        }
    }

    /// Queues bytes for connection `id` as they are.
    fn queue(&mut self, id: ConnId, frame: Frame) {
        let Some(connection) = self.connections.get_mut(id) else {
            return;
        };
        if let Err(reason) = connection.queue(frame, self.config.max_queue_bytes) {
            self.close(id, reason, Close::Now);
            return;
        }
        self.schedule_flush(id);
    }

    /// Queues one frame, shared, for every open connection in `room` (but
    /// the one `skip` names), rendered once per dialect; a reader whose
    /// queue overflows is dropped, and nobody waits for it.
    fn broadcast(&mut self, room: RoomId, skip: Skip, frame: &Frame) {
        let limit = self.config.max_queue_bytes;
        let mut overflowed = Vec::new();
        let mut renderings = Renderings::new(frame);
        for id in self.chat.members(room) {
            let Some(connection) = self.connections.get_mut(id) else {
                continue;
            };
            // `#main`'s lines are not for an IRC client out of it.
            let deaf = room == MAIN && !connection.dialect().hears_main();
            let skipped = match skip {
                Skip::Always(other) => id == other || deaf,
                Skip::UnlessCopyWanted(sender) => {
                    (id == sender && !connection.dialect().takes_own_copy()) || deaf
                }
                Skip::Nobody => deaf,
                Skip::OutOfMainToo => false,
            };
            if skipped || !connection.is_open() {
                continue;
            }
            let Some(frame) = renderings.get(connection.dialect(), &self.chat) else {
                continue;
            };
            if let Err(reason) = connection.queue(frame.clone(), limit) {
                overflowed.push((id, reason));
                continue;
            }
            if connection.mark_for_flush() {
                self.to_flush.push(id);
            }
        }
        for (id, reason) in overflowed {
            self.close(id, reason, Close::Now);
        }
    }

    fn schedule_flush(&mut self, id: ConnId) {
        if let Some(connection) = self.connections.get_mut(id) {
            if connection.mark_for_flush() {
                self.to_flush.push(id);
            }
        }
    }

    /// Starts closing connection `id`; it leaves the slab in [`Server::settle`].
    fn close(&mut self, id: ConnId, reason: CloseReason, how: Close) {
        let Some(connection) = self.connections.get_mut(id) else {
            return;
        };
        if connection.close(reason, how, Instant::now()) {
            self.to_close.push(id);
        } else if how == Close::AfterFlush {
            self.schedule_flush(id);
        }
    }

    /// Writes out every scheduled connection, then removes the closed ones,
    /// until neither leaves work for the other.
    ///
    /// Writing out a busy pass can take milliseconds (a broadcast is one
    /// write per desk), so the store's answers are looked at between batches
    /// of writes too: a message stored meanwhile goes out in this pass, not
    /// the next.
    fn settle(&mut self) {
        loop {
            let to_flush = std::mem::take(&mut self.to_flush);
            for batch in to_flush.chunks(FLUSHES_BETWEEN_STORE_CHECKS) {
                for &id in batch {
                    self.flush(id);
                }
                self.apply_answers();
            }
            if self.to_flush.is_empty() && self.to_close.is_empty() {
                return;
            }
            self.remove_closed();
        }
    }

    fn flush(&mut self, id: ConnId) {
        let Some(connection) = self.connections.get_mut(id) else {
            return;
        };
        if let Err(e) = connection.flush(self.poll.registry()) {
            self.close(id, CloseReason::WriteError(e), Close::Now);
            return;
        }
        if connection.is_done() {
            self.to_close.push(id);
        }
    }

    /// Removes the connections that are done: the one place a connection
    /// leaves the slab.
    fn remove_closed(&mut self) {
        for id in std::mem::take(&mut self.to_close) {
            if !self.connections.get(id).is_some_and(Connection::is_done) {
                continue; // listed twice, or still writing its goodbye
            }
            let mut connection = self.connections.remove(id);
            if connection.is_in_tls_handshake() {
                self.handshakes.ended();
            }
            connection.deregister(self.poll.registry());
            let reason = connection
                .close_reason()
                .map_or_else(String::new, ToString::to_string);
            let peer = connection.peer();
            match self.chat.name_of(id) {
                Some(name) => tracing::info!(%peer, %name, %reason, "[-] disconnected"),
                None => tracing::info!(%peer, %reason, "[-] disconnected"),
            }
            self.chat.leave(id, &mut self.effects);
            self.apply_effects();
            self.acceptor.client_left();
        }
    }

    /// Past `--queue-budget`, drops the peers that hold the most of what
    /// they are not taking, those that stopped reading a while ago first,
    /// until the rest is a little under budget. Peers that keep up are
    /// never dropped: they hold nothing for long.
    fn keep_within_budget(&mut self) {
        let held = live_frame_bytes() + queue_slot_bytes();
        let budget = self.config.queue_budget_bytes;
        if held <= budget {
            return;
        }
        let now = Instant::now();
        let mut behind: Vec<(bool, usize, ConnId)> = self
            .connections
            .iter()
            .filter(|(_, connection)| connection.is_open())
            .filter_map(|(id, connection)| {
                let (queued, since) = connection.backlog()?;
                let stalled = now.duration_since(since) >= NOT_READING_AFTER;
                Some((stalled, queued, id))
            })
            .collect();
        behind.sort_unstable_by(|a, b| b.cmp(a));
        let mut excess = held - budget * BUDGET_TARGET_PERCENT / 100;
        for (_, queued, id) in behind {
            if excess == 0 {
                break;
            }
            let reason = CloseReason::OverBudget {
                queued,
                held,
                budget,
            };
            self.close(id, reason, Close::Now);
            excess = excess.saturating_sub(queued);
        }
        self.settle();
    }

    /// Closes connections silent past `--idle-timeout`, not in the room
    /// past `--login-timeout`, and closing ones whose peer never took their
    /// last lines.
    fn sweep(&mut self, now: Instant) {
        self.sweep.next = now + SWEEP_INTERVAL;
        self.sweep.dropped_log_lines.check();
        self.sweep.heap.hand_back();
        let (idle, login) = (self.config.idle_timeout, self.config.login_timeout);
        let overdue: Vec<(ConnId, Overdue)> = self
            .connections
            .iter()
            .filter_map(|(id, connection)| {
                connection
                    .overdue(now, idle, login, self.chat.is_in(id))
                    .map(|overdue| (id, overdue))
            })
            .collect();
        for (id, overdue) in overdue {
            match overdue {
                Overdue::Idle(timeout) => {
                    let reason = format!("idle for {} s", timeout.as_secs());
                    self.send(id, frames::bye(&reason));
                    self.close(id, CloseReason::IdleTimeout(timeout), Close::AfterFlush);
                }
                Overdue::LoginTimeout(timeout) => {
                    // Mid-handshake, a line could not be read anyway.
                    let handshaking = self
                        .connections
                        .get(id)
                        .is_some_and(Connection::is_handshaking);
                    let how = if handshaking {
                        Close::Now
                    } else {
                        let reason = format!("not logged in within {} s", timeout.as_secs());
                        self.send(id, frames::bye(&reason));
                        Close::AfterFlush
                    };
                    self.close(id, CloseReason::LoginTimeout(timeout), how);
                }
                Overdue::StuckClosing => {
                    if let Some(connection) = self.connections.get_mut(id) {
                        connection.abandon(CloseReason::FlushTimeout, now);
                        self.to_close.push(id);
                    }
                }
            }
        }
    }

    /// Tells every client the server is going down, gives the goodbyes a
    /// short while to be written, and returns.
    fn shut_down(mut self, events: &mut Events) -> io::Result<()> {
        // What was said before the signal is stored and delivered first.
        self.submit_drafts();
        for answer in self.store.close() {
            self.chat.answer(answer, &mut self.effects);
            self.apply_effects();
        }
        tracing::info!(
            clients = self.connections.len(),
            "[*] Shutting down: telling every client."
        );
        let bye = frames::bye(SHUTDOWN_REASON);
        let ids: Vec<ConnId> = self.connections.iter().map(|(id, _)| id).collect();
        for id in ids {
            if let Some(connection) = self.connections.get_mut(id) {
                if connection.is_open() {
                    // Unbounded on purpose: one short line more, then close.
                    if let Some(bye) = connection.dialect().render(&bye, &self.chat) {
                        let _ = connection.queue(bye, usize::MAX);
                    }
                }
            }
            self.close(id, CloseReason::ShuttingDown, Close::AfterFlush);
        }
        let deadline = Instant::now() + SHUTDOWN_FLUSH_TIMEOUT;
        loop {
            self.settle();
            let now = Instant::now();
            if self.connections.is_empty() || now >= deadline {
                break;
            }
            match self.poll.poll(events, Some(deadline - now)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                let Token(id) = event.token();
                if id < SIGNALS.0 && (event.is_writable() || event.is_error()) {
                    self.schedule_flush(id);
                }
            }
        }
        tracing::info!("[*] Server stopped.");
        Ok(())
    }
}
