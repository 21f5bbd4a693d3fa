//! The product's server: one thread, one `mio::Poll` holding the listener and
//! every client socket, connections in a `Slab`.
//!
//! # The edge-triggered contract
//!
//! mio registers sockets edge-triggered: after a readiness event, no other
//! comes until the operation has returned `WouldBlock`. So this loop
//!
//! - accepts until `WouldBlock`;
//! - reads until `WouldBlock`, or pauses deliberately (rate limit, fairness
//!   budget) and then resumes the read itself from a timer, never waiting for
//!   an event that will not come;
//! - writes until `WouldBlock` or the queue is empty, and keeps WRITABLE in the
//!   interest only while output is pending;
//! - retries on `Interrupted`, ignores events for tokens no longer in the slab
//!   and treats `read_closed`/`error` as hints that a read will tell the truth.
//!
//! Connections are never removed in the middle of a batch: they are marked
//! closing and [`Server::settle`] removes them after it, in one place.
//!
//! # One pass of the loop
//!
//! Poll; handle each event (accept, read and run lines through the [`Room`],
//! write); resume paused reads that are due; retry accepting if it was paused;
//! once a second, close idle connections; then settle: flush every connection
//! that got output, remove the closed ones (whose LEAVE notice may queue more
//! output), until nothing changes.

use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use chat_shared::{Line, ServerLine};

use crate::config::Config;
use crate::connection::{CloseReason, Connection, State};
use crate::listener;
use crate::rate::TokenBucket;
use crate::room::{encode, ConnId, Effect, Frame, Room, SHUTDOWN_REASON};

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// Size of the one read buffer all connections share. Reading into a shared
/// buffer, and keeping per connection only an unfinished line, is what keeps
/// an idle desk down to a few hundred bytes.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Most bytes read from one connection before the loop serves the others and
/// comes back to it (the epoll(7) starvation pitfall).
const READ_BUDGET_BYTES: usize = 256 * 1024;

/// How often idle and stuck-closing connections are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How long a closing connection may take to accept its last lines.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long shutdown waits for goodbyes to be written.
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// How long to wait before accepting again when the system is out of file
/// descriptors or memory and nothing can be freed here.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Descriptors kept free for the listener, the poll, signals, the spare and
/// whatever else the process opens, when `--max-clients` is derived from the
/// fd limit (Redis keeps 32).
const RESERVED_FDS: u64 = 64;

/// Events taken from the kernel per poll.
const EVENTS_PER_POLL: usize = 1024;

/// Stops a running [`Server`] from another thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<Waker>);

impl ShutdownHandle {
    /// Asks the server to tell its clients it is going down and to stop.
    pub fn shutdown(&self) {
        // A failed wake means the poll is gone, so the server has stopped.
        let _ = self.0.wake();
    }
}

/// The event-loop server; see the module docs.
pub struct Server {
    poll: Poll,
    /// The listening socket; deregistered once shutdown begins.
    listener: TcpListener,
    /// SIGINT and SIGTERM, when [`Server::handle_signals`] was called.
    signals: Option<Signals>,
    /// Wakes the poll for [`ShutdownHandle`].
    waker: Arc<Waker>,
    /// Every client, keyed by its token.
    connections: Slab<Connection>,
    /// Names, colours, history.
    room: Room,
    config: Config,
    /// `--max-clients`, or what the fd limit allows.
    max_clients: usize,
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
    /// An open /dev/null, given up on EMFILE to accept and refuse a client
    /// (the libuv trick), so that a full process neither spins on accept nor
    /// leaves newcomers hanging in the backlog.
    spare_fd: Option<File>,
    /// While set, accepting waits until then (or until a client leaves).
    accept_paused_until: Option<Instant>,
    /// Whether the fd exhaustion was logged already, to log it once.
    fd_exhaustion_logged: bool,
    /// When to look for idle connections next.
    next_sweep: Instant,
}

impl Server {
    /// Takes over a bound listener; nothing is accepted until [`Server::run`].
    pub fn new(listener: std::net::TcpListener, config: Config) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let max_clients = config.max_clients.unwrap_or_else(max_clients_for_fd_limit);
        Ok(Server {
            poll,
            listener,
            signals: None,
            waker,
            connections: Slab::new(),
            room: Room::new(config.history),
            config,
            max_clients,
            read_buffer: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            effects: Vec::new(),
            to_flush: Vec::new(),
            to_close: Vec::new(),
            paused_reads: Vec::new(),
            spare_fd: File::open("/dev/null").ok(),
            accept_paused_until: None,
            fd_exhaustion_logged: false,
            next_sweep: Instant::now() + SWEEP_INTERVAL,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The most clients it will hold at once.
    pub fn max_clients(&self) -> usize {
        self.max_clients
    }

    /// A handle that stops the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(Arc::clone(&self.waker))
    }

    /// Shuts down cleanly on SIGINT (Ctrl-C) and SIGTERM.
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
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
                    LISTENER => self.accept_pending(),
                    WAKER => stop = true,
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
            let now = Instant::now();
            self.resume_paused_reads(now);
            if self.accept_paused_until.is_some_and(|at| at <= now) {
                self.accept_pending();
            }
            if now >= self.next_sweep {
                self.sweep(now);
            }
            self.settle();
            if stop {
                return self.shut_down(&mut events);
            }
        }
    }

    /// How long the next poll may sleep: until the earliest timer.
    fn poll_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let earliest = self
            .paused_reads
            .iter()
            .map(|(at, _)| *at)
            .chain(self.accept_paused_until)
            .fold(self.next_sweep, Instant::min);
        Some(earliest.saturating_duration_since(now))
    }

    fn signal_received(&mut self) -> bool {
        let Some(signals) = self.signals.as_mut() else {
            return false;
        };
        let mut received = false;
        for signal in signals.pending() {
            eprintln!("[*] Received signal {signal}; shutting down.");
            received = true;
        }
        received
    }

    /// Accepts until the backlog is empty (`WouldBlock`).
    fn accept_pending(&mut self) {
        self.accept_paused_until = None;
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.fd_exhaustion_logged = false;
                    self.admit(stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_fd_exhaustion(&e) => {
                    if !self.fd_exhaustion_logged {
                        eprintln!("[!] Out of file descriptors ({e}); refusing newcomers until clients leave.");
                        self.fd_exhaustion_logged = true;
                    }
                    match self.refuse_with_spare_fd() {
                        SpareFd::Refused => {}
                        // Linux fails accept with EMFILE before it looks at
                        // the backlog, so an empty backlog only shows here.
                        SpareFd::BacklogEmpty => return,
                        SpareFd::Unavailable => {
                            // Nothing can be freed here: neither spin on
                            // accept nor wait for an event that will not
                            // come; try again shortly, or when a client leaves.
                            self.accept_paused_until = Some(Instant::now() + ACCEPT_RETRY_DELAY);
                            return;
                        }
                    }
                }
                // The peer gave up before we accepted: nothing to do.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    eprintln!("[!] accept failed: {e}");
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_RETRY_DELAY);
                    return;
                }
            }
        }
    }

    /// Frees the spare descriptor to accept one pending client and refuse it
    /// at once, then takes the spare back.
    fn refuse_with_spare_fd(&mut self) -> SpareFd {
        if self.spare_fd.take().is_none() {
            return SpareFd::Unavailable;
        }
        let outcome = match self.listener.accept() {
            Ok((stream, peer)) => {
                listener::refuse(
                    stream,
                    peer,
                    "the server is out of file descriptors; try again later",
                );
                SpareFd::Refused
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => SpareFd::BacklogEmpty,
            Err(_) => SpareFd::Unavailable,
        };
        self.spare_fd = File::open("/dev/null").ok();
        if self.spare_fd.is_none() {
            return SpareFd::Unavailable;
        }
        outcome
    }

    /// Registers a new client, or refuses it when the room is full.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        if self.connections.len() >= self.max_clients {
            listener::refuse(stream, peer, &listener::full_reason(self.max_clients));
            return;
        }
        if let Err(e) = listener::configure_client_socket(&stream) {
            eprintln!("[!] {peer}: could not set socket options: {e}");
        }
        let entry = self.connections.vacant_entry();
        let id = entry.key();
        let mut stream = stream;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(id), Interest::READABLE)
        {
            eprintln!("[!] {peer}: could not register: {e}");
            return;
        }
        let rate = self
            .config
            .rate_limit
            .map(|n| TokenBucket::new(n, Instant::now()));
        let connection = entry.insert(Connection::new(
            stream,
            peer,
            self.config.max_line_bytes,
            rate,
        ));
        eprintln!("[+] {peer} connected.");
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
        if !connection.is_open() || connection.paused_until.is_some_and(|at| at > now) {
            return;
        }
        connection.paused_until = None;
        let outcome = read_lines(
            id,
            connection,
            &mut self.read_buffer,
            &mut self.room,
            &mut self.effects,
            self.config.max_line_bytes,
        );
        if let ReadOutcome::Paused(until) = outcome {
            connection.paused_until = Some(until);
            self.paused_reads.push((until, id));
        }
        // Lines read before an end of stream still count, the sender's own
        // echo included: deliver them while the connection is open.
        self.apply_effects(id);
        if let ReadOutcome::Closed(reason) = outcome {
            self.start_closing(id, reason, true);
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
                Effect::Quit => self.start_closing(id, CloseReason::Quit, true),
            }
        }
        self.effects = effects;
    }

    fn send(&mut self, id: ConnId, frame: Frame) {
        let Some(connection) = self.connections.get_mut(id) else {
            return;
        };
        if let Err(reason) = connection.queue(frame, self.config.max_queue_bytes) {
            self.start_closing(id, reason, false);
            return;
        }
        self.schedule_flush(id);
    }

    /// Queues one frame, shared, for every open connection; a reader whose
    /// queue overflows is dropped, and nobody waits for it.
    fn broadcast(&mut self, frame: &Frame) {
        let limit = self.config.max_queue_bytes;
        let mut overflowed = Vec::new();
        for (id, connection) in self.connections.iter_mut() {
            if !connection.is_open() {
                continue;
            }
            if let Err(reason) = connection.queue(Arc::clone(frame), limit) {
                overflowed.push((id, reason));
                continue;
            }
            mark_for_flush(id, connection, &mut self.to_flush);
        }
        for (id, reason) in overflowed {
            self.start_closing(id, reason, false);
        }
    }

    fn schedule_flush(&mut self, id: ConnId) {
        if let Some(connection) = self.connections.get_mut(id) {
            mark_for_flush(id, connection, &mut self.to_flush);
        }
    }

    /// Marks a connection closing. With `flush_first`, what is queued is
    /// still written (a goodbye, an error) before it goes.
    fn start_closing(&mut self, id: ConnId, reason: CloseReason, flush_first: bool) {
        let Some(connection) = self.connections.get_mut(id) else {
            return;
        };
        if let State::Closing {
            flush_first: already_flushing,
            ..
        } = &mut connection.state
        {
            // Already closing: a hard close may cut a graceful one short.
            if !flush_first && *already_flushing {
                *already_flushing = false;
                self.to_close.push(id);
            }
            return;
        }
        connection.state = State::Closing {
            reason,
            flush_first,
            since: Instant::now(),
        };
        if flush_first && connection.has_pending_output() {
            self.schedule_flush(id);
        } else {
            self.to_close.push(id);
        }
    }

    /// Writes out every scheduled connection, then removes the closed ones,
    /// until neither leaves work for the other.
    fn settle(&mut self) {
        loop {
            for id in std::mem::take(&mut self.to_flush) {
                self.flush(id);
            }
            if self.to_close.is_empty() {
                return;
            }
            self.remove_closed();
        }
    }

    /// Writes what connection `id` has queued and keeps its WRITABLE
    /// interest honest: registered only while output is left over.
    fn flush(&mut self, id: ConnId) {
        let Some(connection) = self.connections.get_mut(id) else {
            return;
        };
        connection.flush_scheduled = false;
        if let Err(e) = connection.flush() {
            self.start_closing(id, CloseReason::WriteError(e), false);
            return;
        }
        let pending = connection.has_pending_output();
        if pending != connection.wants_writable {
            let interest = if pending {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) =
                self.poll
                    .registry()
                    .reregister(&mut connection.stream, Token(id), interest)
            {
                self.start_closing(id, CloseReason::WriteError(e), false);
                return;
            }
            connection.wants_writable = pending;
        }
        if !pending && matches!(connection.state, State::Closing { .. }) {
            self.to_close.push(id);
        }
    }

    /// Removes the connections marked closed: the one place a connection
    /// leaves the slab.
    fn remove_closed(&mut self) {
        for id in std::mem::take(&mut self.to_close) {
            let Some(connection) = self.connections.get(id) else {
                continue; // listed twice
            };
            let State::Closing { flush_first, .. } = connection.state else {
                continue;
            };
            if flush_first && connection.has_pending_output() {
                continue; // still writing its goodbye
            }
            let mut connection = self.connections.remove(id);
            let _ = self.poll.registry().deregister(&mut connection.stream);
            if let State::Closing { reason, .. } = &connection.state {
                eprintln!("[-] {} disconnected ({reason}).", connection.peer);
            }
            self.room.leave(id, &mut self.effects);
            self.apply_effects(id);
        }
        // A descriptor was freed: a paused accept may go on now.
        if self.accept_paused_until.is_some() {
            self.accept_pending();
        }
    }

    /// Closes connections silent past `--idle-timeout`, and closing ones whose
    /// peer never took their last lines.
    fn sweep(&mut self, now: Instant) {
        self.next_sweep = now + SWEEP_INTERVAL;
        let mut idle = Vec::new();
        let mut stuck = Vec::new();
        for (id, connection) in &self.connections {
            match &connection.state {
                State::Open => {
                    if let Some(timeout) = self.config.idle_timeout {
                        if now.duration_since(connection.last_heard) > timeout {
                            idle.push((id, timeout));
                        }
                    }
                }
                State::Closing { since, .. } => {
                    if now.duration_since(*since) > CLOSE_FLUSH_TIMEOUT {
                        stuck.push(id);
                    }
                }
            }
        }
        for (id, timeout) in idle {
            let reason = format!("idle for {} s", timeout.as_secs());
            self.send(id, encode(&ServerLine::Bye { reason: &reason }));
            self.start_closing(id, CloseReason::IdleTimeout(timeout), true);
        }
        for id in stuck {
            if let Some(connection) = self.connections.get_mut(id) {
                connection.state = State::Closing {
                    reason: CloseReason::FlushTimeout,
                    flush_first: false,
                    since: now,
                };
                self.to_close.push(id);
            }
        }
    }

    /// Tells every client the server is going down, gives the goodbyes a
    /// short while to be written, and returns.
    fn shut_down(mut self, events: &mut Events) -> io::Result<()> {
        let _ = self.poll.registry().deregister(&mut self.listener);
        eprintln!(
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
            self.start_closing(id, CloseReason::ShuttingDown, true);
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
        eprintln!("[*] Server stopped.");
        Ok(())
    }
}

/// What giving up the spare descriptor achieved.
enum SpareFd {
    /// A pending client was accepted and refused; there may be more.
    Refused,
    /// Nobody was waiting: accepting is done until the next event.
    BacklogEmpty,
    /// No descriptor could be had, even with the spare given up.
    Unavailable,
}

/// What reading a connection came to.
enum ReadOutcome {
    /// Read until `WouldBlock`: a readiness event will come with more.
    Drained,
    /// Stopped early on purpose; the loop must resume reading at this time,
    /// because no event will.
    Paused(Instant),
    /// End of stream or an error.
    Closed(CloseReason),
}

/// Reads from `connection` until `WouldBlock`, its rate limit, or its share
/// of the loop's time, handing each complete line to the room.
fn read_lines(
    id: ConnId,
    connection: &mut Connection,
    buffer: &mut [u8],
    room: &mut Room,
    effects: &mut Vec<Effect>,
    max_line_bytes: usize,
) -> ReadOutcome {
    let now = Instant::now();
    let Connection {
        stream,
        lines,
        rate,
        last_heard,
        ..
    } = connection;
    if rate.as_mut().is_some_and(|bucket| !bucket.has_token(now)) {
        return ReadOutcome::Paused(rate.as_ref().map_or(now, TokenBucket::next_token_at));
    }
    let mut handle = |line: Line<'_>| {
        match line {
            Line::Complete(bytes) => room.handle_line(id, bytes, effects),
            Line::TooLong => effects.push(Effect::Reply(Room::line_too_long(max_line_bytes))),
        }
        match rate.as_mut() {
            Some(bucket) => {
                bucket.take();
                if bucket.has_token(now) {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            }
            None => ControlFlow::Continue(()),
        }
    };
    let mut step = || -> Option<ReadOutcome> {
        // Lines held back by an earlier pause go first.
        if lines.buffered_bytes() > 0 && lines.feed(&[], &mut handle).is_break() {
            return None;
        }
        let mut budget = READ_BUDGET_BYTES;
        loop {
            match (&*stream).read(buffer) {
                Ok(0) => return Some(ReadOutcome::Closed(CloseReason::PeerClosed)),
                Ok(n) => {
                    *last_heard = now;
                    if lines.feed(&buffer[..n], &mut handle).is_break() {
                        return None;
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        // Fairness: others get their turn; come back at once.
                        return Some(ReadOutcome::Paused(now));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    lines.shrink();
                    return Some(ReadOutcome::Drained);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(ReadOutcome::Closed(CloseReason::ReadError(e))),
            }
        }
    };
    // `None`: the rate limit ran out; resume when the next token is due.
    step().unwrap_or_else(|| {
        ReadOutcome::Paused(rate.as_ref().map_or(now, TokenBucket::next_token_at))
    })
}

/// Puts connection `id` on the flush list, once. A free function so that
/// [`Server::broadcast`] can call it while it iterates the slab.
fn mark_for_flush(id: ConnId, connection: &mut Connection, to_flush: &mut Vec<ConnId>) {
    if !connection.flush_scheduled {
        connection.flush_scheduled = true;
        to_flush.push(id);
    }
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Clients the fd limit allows, leaving [`RESERVED_FDS`] for everything else.
fn max_clients_for_fd_limit() -> usize {
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
    soft.saturating_sub(RESERVED_FDS).max(1) as usize
}
