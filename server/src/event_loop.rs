//! The product's server: one thread, one `mio::Poll` holding the listener and
//! every client socket, connections in a `Slab`.
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
//! Poll; handle each event (read and run lines through the [`Room`], note
//! writability and the listener's readiness); resume paused reads that are
//! due; once a second, close idle connections; settle (flush every connection
//! that got output, remove the closed ones, whose LEAVE notice may queue more
//! output, until nothing changes); only then accept newcomers, so they are
//! judged against the room without the clients that just left; settle again.
//! Nothing in a pass waits on anything but the poll: the log is written by its
//! own thread ([`crate::log`]).

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

use chat_shared::{ErrorCode, Line, ServerLine};

use crate::acceptor::Acceptor;
use crate::accounts::AccountsWatcher;
use crate::auth::{Gate, Login};
use crate::config::{Auth, Config, Db};
use crate::connection::{
    Admission, AfterLine, Close, CloseReason, Connection, Dialect, Limits, Overdue, ReadOutcome,
};
use crate::log::DroppedLines;
use crate::outbox::{encode, for_seed_desk, Frame};
use crate::rate::TokenBucket;
use crate::room::{ConnId, Delivery, Effect, Room, SHUTDOWN_REASON};
use crate::store::memory::MemoryLog;
use crate::store::redis::RedisLog;
use crate::store::sqlite::SqliteLog;
use crate::store::{
    Asker, Busy, ClaimOutcome, Completion, Draft, NameClaim, PresenceKind, RemoteMember, Request,
    RoomLog,
};
use crate::tls::TlsIdentity;
use crate::transport::Security;

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// Size of the one read buffer all connections share. Reading into a shared
/// buffer, and keeping per connection only an unfinished line, is what keeps
/// an idle desk down to a few hundred bytes.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// How often idle and stuck-closing connections are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How long shutdown waits for goodbyes to be written.
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections written between two looks at the room's log's answers while
/// settling: a few hundred microseconds of writes.
const FLUSHES_BETWEEN_LOG_CHECKS: usize = 64;

/// Events taken from the kernel per poll.
const EVENTS_PER_POLL: usize = 1024;

/// Stops a running [`Server`] from another thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    /// The poll's one waker, shared with the room's log.
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

/// The event-loop server; see the module docs.
pub struct Server {
    poll: Poll,
    /// The listener, and the rules for letting newcomers in.
    acceptor: Acceptor,
    /// SIGINT and SIGTERM, when [`Server::handle_signals`] was called.
    signals: Option<Signals>,
    /// Wakes the poll, for [`ShutdownHandle`] and for the room's log when
    /// it has answers (mio allows one waker per poll).
    waker: Arc<Waker>,
    /// Set by [`ShutdownHandle`].
    shutdown_requested: Arc<AtomicBool>,
    /// Every client, keyed by its token.
    connections: Slab<Connection>,
    /// Names, colours, history.
    room: Room,
    /// Where messages are stored before anyone gets them.
    log: Box<dyn RoomLog>,
    /// Messages of this pass, handed to the log in one batch at its end.
    drafts: Vec<Draft>,
    /// The log's answers, reused to avoid allocating.
    completions: Vec<Completion>,
    /// False while the log cannot save (the desks were told).
    log_saving: bool,
    /// The next connection's serial number.
    next_serial: u64,
    config: Config,
    /// What every connection is opened with: line limit, TLS, login.
    limits: Limits,
    /// The certificate, when TLS is on.
    tls: Option<TlsIdentity>,
    /// Logins, with `--auth token`.
    gate: Option<Gate>,
    /// Tells the loop when accounts change, with `--auth token`.
    accounts_watcher: Option<AccountsWatcher>,
    /// The read buffer every connection shares.
    read_buffer: Box<[u8]>,
    /// Effects of the lines just read, reused to avoid allocating.
    effects: Vec<Effect>,
    /// Connections that got output since the last flush.
    to_flush: Vec<ConnId>,
    /// Connections ready to be removed.
    to_close: Vec<ConnId>,
    /// Connections whose reading was paused, and when to resume.
    paused_reads: Vec<(Instant, ConnId)>,
    /// When to look for idle connections next.
    next_sweep: Instant,
    /// Log lines a stalled stderr cost, reported when it flows again.
    dropped_log_lines: DroppedLines,
}

impl Server {
    /// Takes over a bound listener and opens the room's log (`config.db`);
    /// nothing is accepted until [`Server::run`]. Fails, with a sentence a
    /// person can act on, when the log cannot be used.
    pub fn new(listener: std::net::TcpListener, config: Config) -> io::Result<Server> {
        let poll = Poll::new()?;
        let acceptor = Acceptor::new(listener, LISTENER, poll.registry(), config.max_clients)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (mut log, recent) = open_log(&config.db, config.history, &waker)?;
        let mut room = Room::new(config.history, log.epoch());
        if log.shared().is_some() {
            room.share();
        }
        for message in &recent {
            room.record(message);
        }
        let tls = config
            .tls
            .as_ref()
            .map(|tls| TlsIdentity::load(&tls.cert_source(&config.db)))
            .transpose()?;
        let security = match (&tls, &config.tls) {
            (Some(identity), Some(settings)) if settings.required => {
                Security::TlsOnly(Arc::clone(&identity.config))
            }
            (Some(identity), _) => Security::Either(Arc::clone(&identity.config)),
            _ => Security::Plain,
        };
        let (gate, accounts_watcher) = match (&config.auth, &config.db) {
            (Auth::Token, Db::Path(path)) => {
                let (accounts, watcher) = AccountsWatcher::start(path, Arc::clone(&waker))?;
                (Some(Gate::new(accounts)), Some(watcher))
            }
            _ => (None, None),
        };
        let limits = Limits {
            max_line_bytes: config.max_line_bytes,
            security,
            login_required: gate.is_some(),
        };
        Ok(Server {
            poll,
            acceptor,
            signals: None,
            waker,
            shutdown_requested: Arc::new(AtomicBool::new(false)),
            connections: Slab::new(),
            room,
            log,
            drafts: Vec::new(),
            completions: Vec::new(),
            log_saving: true,
            next_serial: 0,
            config,
            limits,
            tls,
            gate,
            accounts_watcher,
            read_buffer: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            effects: Vec::new(),
            to_flush: Vec::new(),
            to_close: Vec::new(),
            paused_reads: Vec::new(),
            next_sweep: Instant::now() + SWEEP_INTERVAL,
            dropped_log_lines: DroppedLines::default(),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.acceptor.local_addr()
    }

    /// The most clients it will hold at once.
    pub fn max_clients(&self) -> usize {
        self.acceptor.max_clients()
    }

    /// A handle that stops the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            waker: Arc::clone(&self.waker),
            requested: Arc::clone(&self.shutdown_requested),
        }
    }

    /// Where the room's log is, for the start-up line.
    pub fn log_description(&self) -> String {
        self.log.describe()
    }

    /// What the start-up line says about TLS: where the certificate is and
    /// its fingerprint, for people to compare with what their desks show.
    pub fn tls_description(&self) -> Option<String> {
        let identity = self.tls.as_ref()?;
        let only = match self.limits.security {
            Security::TlsOnly(_) => " (TLS only)",
            _ => " (TLS and plain on one port)",
        };
        Some(format!(
            "TLS certificate {}{only}, fingerprint {}",
            identity.location, identity.fingerprint
        ))
    }

    /// Shuts down cleanly on SIGINT (Ctrl-C) and SIGTERM.
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, mio::Interest::READABLE)?;
        self.signals = Some(signals);
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
                    LISTENER => self.acceptor.mark_ready(),
                    // The log's answers are collected below, every pass.
                    WAKER => stop |= self.shutdown_requested.load(Ordering::SeqCst),
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
            self.resume_paused_reads(now);
            if now >= self.next_sweep {
                self.sweep(now);
            }
            self.submit_drafts();
            self.apply_completions();
            self.apply_account_changes();
            self.settle();
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
        if self.acceptor.is_due(now) {
            return Some(Duration::ZERO);
        }
        let earliest = self
            .paused_reads
            .iter()
            .map(|(at, _)| *at)
            .chain(self.acceptor.paused_until())
            .fold(self.next_sweep, Instant::min);
        Some(earliest.saturating_duration_since(now))
    }

    fn signal_received(&mut self) -> bool {
        let Some(signals) = self.signals.as_mut() else {
            return false;
        };
        let mut received = false;
        for signal in signals.pending() {
            tracing::info!("[*] Received signal {signal}; shutting down.");
            received = true;
        }
        received
    }

    /// Admits newcomers until the backlog is empty or accepting must pause.
    fn accept_pending(&mut self) {
        while let Some((stream, peer)) = self.acceptor.next(self.connections.len()) {
            self.admit(stream, peer);
        }
    }

    /// Registers a newcomer and queues the history for it.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        if let Err(e) = crate::listener::configure_client_socket(&stream) {
            tracing::warn!("[!] {peer}: could not set socket options: {e}");
        }
        let entry = self.connections.vacant_entry();
        let id = entry.key();
        let rate = self
            .config
            .rate_limit
            .map(|n| TokenBucket::new(n, Instant::now()));
        self.next_serial += 1;
        let connection = match Connection::open(
            stream,
            peer,
            Token(id),
            self.next_serial,
            self.poll.registry(),
            &self.limits,
            rate,
        ) {
            Ok(connection) => entry.insert(connection),
            Err(e) => {
                tracing::warn!("[!] {peer}: could not register: {e}");
                return;
            }
        };
        tracing::info!("[+] {peer} connected.");
        if connection.is_admitted() {
            self.welcome(id);
        }
    }

    /// Queues the room's history for a connection just admitted to the
    /// room: at once for a plain server, after the first byte with TLS,
    /// after the login with accounts.
    fn welcome(&mut self, id: ConnId) {
        let Some(connection) = self.connections.get_mut(id) else {
            return;
        };
        // History goes first, so a newcomer sees it before anything live;
        // only as much as fits in half its queue, newest kept.
        let budget = self.config.max_queue_bytes / 2;
        let mut total = 0;
        let fitting = self
            .room
            .history()
            .rev()
            .take_while(|frame| {
                total += frame.len();
                total <= budget
            })
            .count();
        let skip = self.room.history().len() - fitting;
        for frame in self.room.history().skip(skip) {
            // Within half the limit by construction, so this cannot fail.
            let _ = connection.queue(Arc::clone(frame), self.config.max_queue_bytes);
        }
        self.schedule_flush(id);
    }

    /// Reads what connection `id` has sent and runs its lines through the
    /// room.
    fn read_ready(&mut self, id: ConnId) {
        let Some(connection) = self.connections.get_mut(id) else {
            return; // a stale event for a connection already gone
        };
        let now = Instant::now();
        if !connection.is_open() || connection.is_paused(now) || self.room.is_claiming(id) {
            // A claim's answer reads on (`claim_answered`).
            return;
        }
        let room = &mut self.room;
        let effects = &mut self.effects;
        let gate = &mut self.gate;
        let max_line_bytes = self.config.max_line_bytes;
        let peer = connection.peer();
        let was_admitted = connection.is_admitted();
        let from = Asker {
            conn: id,
            serial: connection.serial(),
        };
        let outcome =
            connection.read_lines(&mut self.read_buffer, now, |dialect, admission, line| {
                match line {
                    Line::Complete(bytes) if admission.get() == Admission::Login => {
                        match gate
                            .as_mut()
                            .map(|gate| gate.check(id, peer.ip(), bytes, now))
                        {
                            Some(Login::Accepted { name }) => {
                                // The name, never with the token; the token never.
                                tracing::info!("[+] {peer} logged in as {name}.");
                                room.log_in(id, &name);
                                admission.set(Admission::Admitted);
                            }
                            Some(Login::NotALogin) | None => {
                                effects.push(Effect::Reply(refusal(ErrorCode::AuthRequired)))
                            }
                            Some(Login::Refused) => {
                                tracing::warn!("[!] {peer}: login refused.");
                                effects.push(Effect::Reply(refusal(ErrorCode::AuthFailed)));
                                return AfterLine::Stop(CloseReason::LoginRefused);
                            }
                        }
                    }
                    Line::Complete(bytes) if dialect == Dialect::Seed => {
                        room.handle_seed_frame(from, bytes, effects)
                    }
                    Line::Complete(bytes) => room.handle_line(from, bytes, effects),
                    Line::TooLong => {
                        effects.push(Effect::Reply(Room::line_too_long(max_line_bytes)))
                    }
                }
                if effects.last() == Some(&Effect::Quit) {
                    AfterLine::Stop(CloseReason::Quit)
                } else if room.is_claiming(from.conn) {
                    AfterLine::Hold
                } else {
                    AfterLine::Continue
                }
            });
        let admitted_now = !was_admitted && connection.is_admitted();
        // A TLS handshake answers what was read, before any line.
        let handshake_output = connection.has_pending_output();
        if let ReadOutcome::Paused(until) = outcome {
            self.paused_reads.push((until, id));
        }
        if admitted_now {
            self.welcome(id);
        }
        if handshake_output {
            self.schedule_flush(id);
        }
        // Lines read before an end of stream still count, the sender's own
        // echo included: deliver them while the connection is open.
        self.apply_effects(id);
        if let ReadOutcome::Closed(reason) = outcome {
            if matches!(reason, CloseReason::TlsRequired) {
                self.send(id, refusal(ErrorCode::TlsRequired));
            }
            self.close(id, reason, Close::AfterFlush);
        }
    }

    /// Closes the desks of accounts that were removed (or given a new
    /// token) since the last look.
    fn apply_account_changes(&mut self) {
        let (Some(watcher), Some(gate)) = (&self.accounts_watcher, &mut self.gate) else {
            return;
        };
        let Some(accounts) = watcher.changed() else {
            return;
        };
        tracing::info!("[*] Accounts changed: {} now.", accounts.len());
        for id in gate.replace_accounts(accounts) {
            self.send(id, refusal(ErrorCode::Revoked));
            self.close(id, CloseReason::Revoked, Close::AfterFlush);
        }
    }

    fn resume_paused_reads(&mut self, now: Instant) {
        if self.paused_reads.iter().all(|(at, _)| *at > now) {
            return;
        }
        let (due, waiting) = std::mem::take(&mut self.paused_reads)
            .into_iter()
            .partition::<Vec<_>, _>(|(at, _)| *at <= now);
        self.paused_reads = waiting;
        for (_, id) in due {
            self.read_ready(id);
        }
    }

    /// Delivers what the room decided about connection `id`'s lines.
    fn apply_effects(&mut self, id: ConnId) {
        let mut effects = std::mem::take(&mut self.effects);
        for effect in effects.drain(..) {
            match effect {
                Effect::Reply(frame) => self.send(id, frame),
                Effect::Broadcast(frame) => self.broadcast(&frame),
                Effect::Publish(draft) => self.drafts.push(draft),
                Effect::Resume { epoch, after, desk } => self.resume(id, &epoch, after, desk),
                Effect::Search { words, desk } => self.search(id, words, desk),
                // Closed by the read that saw it, once its replies are out.
                Effect::Quit => {}
                Effect::Claim(claim) => self.claim(id, claim),
                Effect::Release(claim) => self.release(claim),
                Effect::Redesk(claim) => {
                    if let Some(shared) = self.log.shared() {
                        shared.redesk(claim);
                    }
                }
            }
        }
        self.effects = effects;
    }

    /// Asks the servers sharing the room for connection `id`'s name.
    fn claim(&mut self, id: ConnId, claim: NameClaim) {
        let Some(asker) = self.asker(id) else {
            return;
        };
        let refused = match self.log.shared() {
            Some(shared) => shared.claim(asker, claim).err(),
            None => Some(claim),
        };
        if refused.is_some() {
            let outcome = ClaimOutcome::Unavailable("the room's link is too busy".to_string());
            self.claim_answered(asker, &outcome);
        }
    }

    /// Gives a name back to the servers sharing the room.
    fn release(&mut self, claim: NameClaim) {
        if let Some(shared) = self.log.shared() {
            shared.release(claim);
        }
    }

    /// Delivers the answer to a claim, and reads on the lines the
    /// connection sent meanwhile; a connection whose name could not be
    /// claimed at all is closed after its goodbye.
    fn claim_answered(&mut self, asker: Asker, outcome: &ClaimOutcome) {
        let waiting =
            self.is_current(asker) && self.room.claim_answered(asker, outcome, &mut self.effects);
        if !waiting {
            return;
        }
        self.apply_effects(asker.conn);
        if let ClaimOutcome::Unavailable(_) = outcome {
            self.close(asker.conn, CloseReason::RoomLinkDown, Close::AfterFlush);
            return;
        }
        self.read_ready(asker.conn);
        // What it said with its name goes now, not at the next pass.
        self.submit_drafts();
    }

    /// Who connection `id` is, to the log's later answers.
    fn asker(&self, id: ConnId) -> Option<Asker> {
        self.connections.get(id).map(|connection| Asker {
            conn: id,
            serial: connection.serial(),
        })
    }

    /// Answers a `/resume`: the log replays what came after `after` (and the
    /// desk's direct messages); about another log, the recent history has
    /// to do.
    fn resume(
        &mut self,
        id: ConnId,
        epoch: &str,
        after: chat_shared::MessageId,
        desk: Option<crate::desk::DeskId>,
    ) {
        let Some(asker) = self.asker(id) else {
            return;
        };
        if epoch == self.log.epoch() {
            // This pass's drafts are not in the log yet; they reach this
            // desk after the replay, as live messages, in order.
            match self.log.submit(Request::Replay { asker, after, desk }) {
                Ok(()) => return,
                Err(Busy(_)) => {
                    tracing::warn!("[!] The room's log is too busy to replay for a resuming desk.")
                }
            }
        }
        for frame in self.room.replay_history() {
            self.send(id, frame);
        }
    }

    /// Asks the log for what `words` find; its answer comes later, off the
    /// loop's thread. A log in memory cannot search.
    fn search(&mut self, id: ConnId, words: String, desk: Option<crate::desk::DeskId>) {
        let Some(asker) = self.asker(id) else {
            return;
        };
        let refusal = if !self.log.can_search() {
            "search needs the room's log; this server keeps the room in memory (--db none)"
        } else if self
            .log
            .submit(Request::Search { asker, words, desk })
            .is_err()
        {
            "the room's log is too busy to search now; try again"
        } else {
            return;
        };
        let frame = encode(&ServerLine::Error {
            code: ErrorCode::NeedsLog,
            detail: refusal,
        });
        self.send(id, frame);
    }

    /// Hands this pass's messages to the log, as one batch.
    fn submit_drafts(&mut self) {
        if self.drafts.is_empty() {
            return;
        }
        let drafts = std::mem::take(&mut self.drafts);
        if let Err(Busy(Request::Append(drafts))) = self.log.submit(Request::Append(drafts)) {
            self.not_saved(
                drafts,
                "the room's log is behind (a slow disk, or a slow link to Redis)",
            );
        }
    }

    /// Acts on what the log has answered: delivers what it stored, tells the
    /// senders of what it could not store, hands replays to resuming desks.
    fn apply_completions(&mut self) {
        let mut completions = std::mem::take(&mut self.completions);
        self.log.completions(&mut completions);
        for completion in completions.drain(..) {
            self.apply_completion(completion);
        }
        self.completions = completions;
    }

    fn apply_completion(&mut self, completion: Completion) {
        match completion {
            Completion::Appended(messages) => {
                self.log_saves_again();
                for message in messages {
                    match self.room.record(&message) {
                        Delivery::Everyone(frame) => self.broadcast(&frame),
                        Delivery::Desks(frame, [writer, reader]) => {
                            self.send(writer, Arc::clone(&frame));
                            if reader != writer {
                                self.send(reader, frame);
                            }
                        }
                        Delivery::Nobody => {}
                    }
                }
            }
            Completion::NotSaved { drafts, error } => self.not_saved(drafts, &error),
            Completion::Replay {
                asker,
                messages,
                skipped,
            } => {
                if self.is_current(asker) {
                    let budget = self.config.max_queue_bytes / 2;
                    for frame in self.room.replay(&messages, skipped, budget) {
                        self.send(asker.conn, frame);
                    }
                }
            }
            Completion::Found { asker, messages } => {
                if self.is_current(asker) {
                    for frame in Room::search_results(&messages) {
                        self.send(asker.conn, frame);
                    }
                }
            }
            Completion::SearchFailed { asker, error } => {
                tracing::warn!("[!] The room's log could not search: {error}");
                if self.is_current(asker) {
                    let detail = format!("the search failed: {error}");
                    let frame = encode(&ServerLine::Error {
                        code: ErrorCode::NeedsLog,
                        detail: &detail,
                    });
                    self.send(asker.conn, frame);
                }
            }
            Completion::Claimed {
                asker,
                claim,
                outcome,
            } => {
                let granted = outcome == ClaimOutcome::Granted;
                if !self.is_current(asker) || !self.room.is_claiming(asker.conn) {
                    if granted {
                        self.release(claim);
                    }
                    return;
                }
                self.claim_answered(asker, &outcome);
            }
            Completion::Presence(note) => {
                let own = self
                    .log
                    .shared()
                    .is_some_and(|shared| shared.server_id() == note.server);
                if !own {
                    match note.kind {
                        PresenceKind::Join => self.room.remote_joined(RemoteMember {
                            name: note.name.clone(),
                            color: note.color,
                            server: note.server.clone(),
                            desk: note.desk,
                        }),
                        PresenceKind::Leave => self.room.remote_left(&note.name, &note.server),
                        PresenceKind::Desk => {
                            self.room.remote_desk(&note.name, &note.server, note.desk)
                        }
                    }
                }
                let presence = chat_shared::message::Presence {
                    time: &note.time,
                    name: &note.name,
                    color: note.color,
                };
                match note.kind {
                    PresenceKind::Join => self.broadcast(&encode(&ServerLine::Join(presence))),
                    PresenceKind::Leave => self.broadcast(&encode(&ServerLine::Leave(presence))),
                    PresenceKind::Desk => {}
                }
            }
            Completion::Roster(members) => self.room.set_remote(members),
            Completion::LinkDown(error) => {
                self.log_cannot_save(&format!("the room's link is down: {error}"))
            }
            Completion::LinkUp => self.log_saves_again(),
            Completion::ReplayFailed { asker, error } => {
                tracing::warn!("[!] The room's log could not replay for a resuming desk: {error}");
                if self.is_current(asker) {
                    for frame in self.room.replay_history() {
                        self.send(asker.conn, frame);
                    }
                }
            }
        }
    }

    /// Tells each sender that its message was not saved (so nobody got it),
    /// and every desk, once, that the log cannot save.
    fn not_saved(&mut self, drafts: Vec<Draft>, error: &str) {
        self.log_cannot_save(error);
        let detail =
            format!("your message was not saved, so nobody got it ({error}); send it again later");
        let refusal = encode(&ServerLine::Error {
            code: ErrorCode::NotSaved,
            detail: &detail,
        });
        for draft in drafts {
            if self.is_current(draft.from) {
                self.send(draft.from.conn, Arc::clone(&refusal));
            }
        }
    }

    /// Tells every desk, once, that the log cannot save.
    fn log_cannot_save(&mut self, error: &str) {
        if self.log_saving {
            self.log_saving = false;
            tracing::error!(
                "[!] The room's log cannot save messages: {error}. They are refused until it can."
            );
            let text = format!(
                "the server cannot save messages ({error}); they are refused, not delivered, until it can"
            );
            self.broadcast(&encode(&ServerLine::Notice { text: &text }));
        }
    }

    /// Tells every desk, once, that the log saves again after it could not.
    fn log_saves_again(&mut self) {
        if !self.log_saving {
            self.log_saving = true;
            tracing::info!("[*] The room's log saves messages again.");
            self.broadcast(&encode(&ServerLine::Notice {
                text: "messages are saved and delivered again",
            }));
        }
    }

    /// True while the connection that asked is still here and open.
    fn is_current(&self, asker: Asker) -> bool {
        self.connections
            .get(asker.conn)
            .is_some_and(|c| c.serial() == asker.serial && c.is_open())
    }

    fn send(&mut self, id: ConnId, frame: Frame) {
        let Some(connection) = self.connections.get_mut(id) else {
            return;
        };
        let frame = match connection.dialect() {
            Dialect::Seed => match for_seed_desk(&frame) {
                Some(rendered) => rendered,
                None => return,
            },
            Dialect::Undecided | Dialect::Lines => frame,
        };
        if let Err(reason) = connection.queue(frame, self.config.max_queue_bytes) {
            self.close(id, reason, Close::Now);
            return;
        }
        self.schedule_flush(id);
    }

    /// Queues one frame, shared, for every open connection; a reader whose
    /// queue overflows is dropped, and nobody waits for it.
    fn broadcast(&mut self, frame: &Frame) {
        let limit = self.config.max_queue_bytes;
        let mut overflowed = Vec::new();
        // Rendered once, for the first seed desk, if there is one.
        let mut for_seed: Option<Option<Frame>> = None;
        for (id, connection) in self.connections.iter_mut() {
            if !connection.is_open() || !connection.is_admitted() {
                continue;
            }
            let frame = match connection.dialect() {
                Dialect::Seed => match for_seed.get_or_insert_with(|| for_seed_desk(frame)) {
                    Some(rendered) => rendered,
                    None => continue,
                },
                Dialect::Undecided | Dialect::Lines => frame,
            };
            if let Err(reason) = connection.queue(Arc::clone(frame), limit) {
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
    /// write per desk), so the log's answers are looked at between batches
    /// of writes too: a message stored meanwhile goes out in this pass, not
    /// the next.
    fn settle(&mut self) {
        loop {
            let to_flush = std::mem::take(&mut self.to_flush);
            for batch in to_flush.chunks(FLUSHES_BETWEEN_LOG_CHECKS) {
                for &id in batch {
                    self.flush(id);
                }
                self.apply_completions();
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
            connection.deregister(self.poll.registry());
            let reason = connection
                .close_reason()
                .map_or_else(String::new, ToString::to_string);
            match self.room.name_of(id) {
                Some(name) => tracing::info!(
                    "[-] {} ({name}) disconnected ({reason}).",
                    connection.peer()
                ),
                None => tracing::info!("[-] {} disconnected ({reason}).", connection.peer()),
            }
            self.room.leave(id, &mut self.effects);
            if let Some(gate) = &mut self.gate {
                gate.forget(id);
            }
            self.apply_effects(id);
            self.acceptor.client_left();
        }
    }

    /// Closes connections silent past `--idle-timeout`, and closing ones whose
    /// peer never took their last lines.
    fn sweep(&mut self, now: Instant) {
        self.next_sweep = now + SWEEP_INTERVAL;
        self.dropped_log_lines.check();
        let overdue: Vec<(ConnId, Overdue)> = self
            .connections
            .iter()
            .filter_map(|(id, connection)| {
                connection
                    .overdue(now, self.config.idle_timeout, self.config.login_timeout)
                    .map(|overdue| (id, overdue))
            })
            .collect();
        for (id, overdue) in overdue {
            match overdue {
                Overdue::Idle(timeout) => {
                    let reason = format!("idle for {} s", timeout.as_secs());
                    self.send(id, encode(&ServerLine::Bye { reason: &reason }));
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
                        Close::AfterFlush
                    };
                    if how == Close::AfterFlush {
                        let reason = format!("not logged in within {} s", timeout.as_secs());
                        self.send(id, encode(&ServerLine::Bye { reason: &reason }));
                    }
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
        for completion in self.log.close() {
            self.apply_completion(completion);
        }
        tracing::info!(
            "[*] Shutting down: telling {} clients.",
            self.connections.len()
        );
        let bye = encode(&ServerLine::Bye {
            reason: SHUTDOWN_REASON,
        });
        let ids: Vec<ConnId> = self.connections.iter().map(|(id, _)| id).collect();
        for id in ids {
            if let Some(connection) = self.connections.get_mut(id) {
                if connection.is_open() {
                    // Unbounded on purpose: one short line more, then close.
                    let _ = connection.queue(Arc::clone(&bye), usize::MAX);
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

/// Opens the room's log `db` and reads what newcomers will be shown; only
/// that is read, so start-up does not grow with the log.
fn open_log(
    db: &Db,
    history: usize,
    waker: &Arc<Waker>,
) -> io::Result<(Box<dyn RoomLog>, Vec<crate::store::Message>)> {
    let path = match db {
        Db::None => return Ok((Box::new(MemoryLog::new()), Vec::new())),
        Db::Redis(target) => {
            let mut log = RedisLog::open(target, history)?;
            let recent = log.recent(history)?;
            log.start(Arc::clone(waker))?;
            return Ok((Box::new(log), recent));
        }
        Db::Path(path) => path,
    };
    let mut log = SqliteLog::open(path)?;
    let recent = log.recent(history)?;
    log.start(Arc::clone(waker))?;
    Ok((Box::new(log), recent))
}

/// The refusals that end a login or a plain connection to a TLS-only
/// server, and the reminder that a login comes first.
fn refusal(code: ErrorCode) -> Frame {
    let detail = match code {
        ErrorCode::AuthRequired => {
            "this server has accounts: send /auth NAME TOKEN first (chat-client --token-file)"
        }
        ErrorCode::AuthFailed => {
            "login refused: wrong name or token, or too many tries; wait and try again"
        }
        ErrorCode::Revoked => "your account was removed; ask the server's admin",
        ErrorCode::TlsRequired => "this server takes TLS only (chat-client --tls)",
        _ => "refused",
    };
    encode(&ServerLine::Error { code, detail })
}
