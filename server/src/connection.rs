//! One client in the event loop: its transport, its line reader, its outbox,
//! its rate limit, how far it is on its way into the room (TLS, login) and
//! its lifecycle, and its registration with the poll.
//!
//! A connection does its own I/O (reads lines, flushes its outbox, keeps its
//! WRITABLE interest honest) but never touches other connections or the room:
//! the loop in [`crate::event_loop`] decides what each line causes, what to
//! queue and when to close.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use chat_shared::seed::{self, FRAME_END};
use chat_shared::{Line, LineReader};

use crate::outbox::{Frame, Outbox};
use crate::rate::TokenBucket;
use crate::transport::{FirstByte, Security, Transport};

/// Once this much (or the whole limit, if smaller) is queued, write at once
/// instead of waiting for the end of the event batch, so a burst in one batch
/// cannot push a healthy reader past its limit before it has had a chance to
/// take anything (ngIRCd's WRITEBUFFER_FLUSH_LEN idea).
const EARLY_FLUSH_BYTES: usize = 32 * 1024;

/// Most bytes read from one connection before the loop serves the others and
/// comes back to it (the epoll(7) starvation pitfall).
const READ_BUDGET_BYTES: usize = 256 * 1024;

/// How long a closing connection may take to accept its last lines.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection was closed; shown in the server's log.
#[derive(Debug)]
pub enum CloseReason {
    /// The peer closed its end.
    PeerClosed,
    /// The client sent `/quit`.
    Quit,
    /// Reading failed.
    ReadError(io::Error),
    /// Writing failed: usually the peer vanished.
    WriteError(io::Error),
    /// The peer did not take its messages fast enough.
    TooSlow {
        /// Bytes waiting when it was dropped.
        queued: usize,
        /// The `--max-queue` limit.
        limit: usize,
    },
    /// No complete line for `--idle-timeout`.
    IdleTimeout(Duration),
    /// Its last messages could not be delivered in time while closing.
    FlushTimeout,
    /// The server is stopping.
    ShuttingDown,
    /// Plain text on a server that takes TLS only.
    TlsRequired,
    /// The TLS handshake (and the login, with accounts) took too long.
    LoginTimeout(Duration),
    /// `/auth` was refused.
    LoginRefused,
    /// Its account was removed.
    Revoked,
    /// Its name could not be claimed: the room's link is down.
    RoomLinkDown,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("closed by peer"),
            CloseReason::Quit => f.write_str("quit"),
            CloseReason::ReadError(e) => write!(f, "read error: {e}"),
            CloseReason::WriteError(e) => write!(f, "write error: {e}"),
            CloseReason::TooSlow { queued, limit } => {
                write!(f, "too slow: {queued} bytes queued, limit {limit}")
            }
            CloseReason::IdleTimeout(after) => write!(f, "idle for {} s", after.as_secs()),
            CloseReason::FlushTimeout => f.write_str("did not take its last messages in time"),
            CloseReason::ShuttingDown => f.write_str("server shutting down"),
            CloseReason::TlsRequired => f.write_str("plain text on a TLS-only server"),
            CloseReason::LoginTimeout(after) => {
                write!(f, "not in the room {} s after connecting", after.as_secs())
            }
            CloseReason::LoginRefused => f.write_str("login refused"),
            CloseReason::Revoked => f.write_str("account removed"),
            CloseReason::RoomLinkDown => f.write_str("room's link down, name not claimed"),
        }
    }
}

/// How to close: after what is queued has been written (a goodbye, an error,
/// the peer's own last lines), or at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Write what is queued first (within [`CLOSE_FLUSH_TIMEOUT`]).
    AfterFlush,
    /// Drop what is queued.
    Now,
}

/// What the caller of [`Connection::read_lines`] did with a line.
#[derive(Debug)]
pub enum AfterLine {
    /// Go on reading.
    Continue,
    /// The connection ends here (the peer sent `/quit`, or its login was
    /// refused): nothing after this line, not even what came in the same
    /// read, is acted on.
    Stop(CloseReason),
    /// Keep the lines after this one until the caller reads again (the
    /// peer's name is being claimed on other servers).
    Hold,
}

/// How far a connection is on its way into the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// TLS is on and nothing has arrived: it is sent nothing, since plain
    /// lines would garble a TLS handshake.
    FirstByte,
    /// It must send `/auth NAME TOKEN` first (`--auth token`); it gets
    /// replies to its own lines and nothing else.
    Login,
    /// In the room: it gets the history and every broadcast.
    Admitted,
}

/// What reading a connection came to.
#[derive(Debug)]
pub enum ReadOutcome {
    /// Read until `WouldBlock`: a readiness event will come with more.
    Drained,
    /// Stopped early on purpose (rate limit, fairness); the loop must resume
    /// reading at this time, because no event will.
    Paused(Instant),
    /// Stopped because the caller said [`AfterLine::Hold`]: the caller
    /// reads again when it is ready, and the held lines come first.
    Held,
    /// End of stream, an error, or the peer quit.
    Closed(CloseReason),
}

/// Which protocol a peer speaks, known from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// It has sent nothing yet: it gets our lines, as `nc` and load tools
    /// expect from the moment they connect.
    Undecided,
    /// Our line protocol.
    Lines,
    /// The seed project's Python desk ([`chat_shared::seed`]).
    Seed,
}

/// What a connection's clock says, checked once a second by the loop.
#[derive(Debug, PartialEq, Eq)]
pub enum Overdue {
    /// Open, but no complete line for this long.
    Idle(Duration),
    /// Closing, but its peer has not taken its last lines in time.
    StuckClosing,
    /// Still in its TLS handshake, or not logged in, this long after
    /// connecting.
    LoginTimeout(Duration),
}

/// Where a connection is in its life.
#[derive(Debug)]
enum State {
    /// Reading and writing.
    Open,
    /// No more reading; removed once what is queued is written (with
    /// [`Close::AfterFlush`]) or at once.
    Closing {
        reason: CloseReason,
        how: Close,
        since: Instant,
    },
}

/// What every connection is opened with.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `--max-line`.
    pub max_line_bytes: usize,
    /// Plain, TLS or either.
    pub security: Security,
    /// Whether `/auth` must come first (`--auth token`).
    pub login_required: bool,
}

/// One client socket and everything the loop keeps for it.
#[derive(Debug)]
pub struct Connection {
    /// The stream, non-blocking, registered with the poll under `token`.
    transport: Transport,
    /// Its key in the poll (and the loop's slab).
    token: Token,
    /// Unique for the server's life, unlike `token`, which a later
    /// connection may reuse: answers that arrive later (the room's log's)
    /// check it.
    serial: u64,
    /// The peer's address, for the log.
    peer: SocketAddr,
    /// Splits what the peer sends into lines (or a seed desk's frames).
    lines: LineReader,
    /// How far it is into the room; a `Cell` so that the line handler can
    /// admit it in the middle of a read.
    admission: Cell<Admission>,
    /// When it connected: the TLS handshake and the login are timed from
    /// here.
    opened_at: Instant,
    /// The protocol it speaks; a `Cell` so that the line handler can read it
    /// while the read that decides it is under way.
    dialect: Cell<Dialect>,
    /// Frames waiting to be written.
    outbox: Outbox,
    /// Whether WRITABLE is in the registered interest; it is there only while
    /// output is pending.
    wants_writable: bool,
    /// Whether the connection is already on the loop's flush list.
    flush_scheduled: bool,
    /// Reading is paused until then (rate limit or fairness); readiness that
    /// arrives meanwhile is ignored, and the loop resumes reading at that time.
    paused_until: Option<Instant>,
    /// When the peer last completed a line. Bytes of an unfinished line do not
    /// count: a client dripping an endless line is idle, not active.
    last_line_at: Instant,
    /// Lines the peer may still send now; `None` when unlimited.
    rate: Option<TokenBucket>,
    /// Open or closing.
    state: State,
    /// `--max-line`, for a reader made once the dialect is known.
    max_line_bytes: usize,
}

impl Connection {
    /// Registers `stream` for reading under `token` and returns the open
    /// connection, admitted to the room at once unless TLS or a login must
    /// come first.
    pub fn open(
        stream: TcpStream,
        peer: SocketAddr,
        token: Token,
        serial: u64,
        registry: &Registry,
        limits: &Limits,
        rate: Option<TokenBucket>,
    ) -> io::Result<Connection> {
        let mut transport = Transport::new(stream, &limits.security);
        registry.register(&mut transport, token, Interest::READABLE)?;
        let admission = if limits.login_required {
            Admission::Login
        } else if transport.is_handshaking() {
            Admission::FirstByte
        } else {
            Admission::Admitted
        };
        let max_line_bytes = limits.max_line_bytes;
        Ok(Connection {
            transport,
            token,
            serial,
            peer,
            lines: LineReader::new(max_line_bytes),
            admission: Cell::new(admission),
            opened_at: Instant::now(),
            dialect: Cell::new(Dialect::Undecided),
            max_line_bytes,
            outbox: Outbox::default(),
            wants_writable: false,
            flush_scheduled: false,
            paused_until: None,
            last_line_at: Instant::now(),
            rate,
            state: State::Open,
        })
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Its serial number.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The protocol it speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect.get()
    }

    /// How far it is into the room.
    pub fn admission(&self) -> Admission {
        self.admission.get()
    }

    /// True once it gets the room's history and broadcasts.
    pub fn is_admitted(&self) -> bool {
        self.admission.get() == Admission::Admitted
    }

    /// True until its first byte is known and, for TLS, its handshake is
    /// done.
    pub fn is_handshaking(&self) -> bool {
        self.transport.is_handshaking()
    }

    /// True until the loop starts closing it.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// True while its reading is paused past `now`.
    pub fn is_paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|at| at > now)
    }

    /// Reads until `WouldBlock`, the rate limit, the read budget, the end of
    /// the stream, or `handle` saying [`AfterLine::Stop`], handing `handle`
    /// each line in order, with the dialect it is in and its admission (which
    /// `handle` may change: a login). `buffer` is the loop's shared read
    /// buffer.
    pub fn read_lines(
        &mut self,
        buffer: &mut [u8],
        now: Instant,
        mut handle: impl FnMut(Dialect, &Cell<Admission>, Line<'_>) -> AfterLine,
    ) -> ReadOutcome {
        self.paused_until = None;
        let outcome = self.read_until_done(buffer, now, &mut handle);
        if let ReadOutcome::Paused(until) = outcome {
            self.paused_until = Some(until);
        }
        outcome
    }

    fn read_until_done(
        &mut self,
        buffer: &mut [u8],
        now: Instant,
        handle: &mut impl FnMut(Dialect, &Cell<Admission>, Line<'_>) -> AfterLine,
    ) -> ReadOutcome {
        let Connection {
            transport,
            lines,
            dialect,
            admission,
            rate,
            last_line_at,
            max_line_bytes,
            ..
        } = self;
        match transport.settle_layer() {
            Ok(FirstByte::NotYet) => return ReadOutcome::Drained,
            Ok(FirstByte::Closed) => return ReadOutcome::Closed(CloseReason::PeerClosed),
            Ok(FirstByte::PlainRefused) => {
                // Take what it sent, so that closing does not reset the
                // connection before the refusal is read.
                let mut budget = READ_BUDGET_BYTES;
                while budget > 0 {
                    match transport.read(buffer) {
                        Ok(n) if n > 0 => budget = budget.saturating_sub(n),
                        _ => break,
                    }
                }
                return ReadOutcome::Closed(CloseReason::TlsRequired);
            }
            Ok(FirstByte::Plain | FirstByte::Tls) => {
                if admission.get() == Admission::FirstByte {
                    admission.set(Admission::Admitted);
                }
            }
            Err(e) => return ReadOutcome::Closed(CloseReason::ReadError(e)),
        }
        if let Some(bucket) = rate.as_mut() {
            if !bucket.has_token(now) {
                return ReadOutcome::Paused(bucket.next_token_at());
            }
        }
        let mut stop_reason = None;
        let mut held = false;
        let mut on_line = |line: Line<'_>| {
            if matches!(line, Line::Complete(_)) {
                *last_line_at = now;
            }
            match handle(dialect.get(), admission, line) {
                AfterLine::Stop(reason) => {
                    stop_reason = Some(reason);
                    return ControlFlow::Break(());
                }
                AfterLine::Hold => {
                    held = true;
                    return ControlFlow::Break(());
                }
                AfterLine::Continue => {}
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
        // Why a `Break` from the line handler stopped reading.
        let stopped = |stop_reason: Option<CloseReason>, held: bool, rate: &Option<TokenBucket>| {
            match stop_reason {
                Some(reason) => ReadOutcome::Closed(reason),
                None if held => ReadOutcome::Held,
                None => ReadOutcome::Paused(rate.as_ref().map_or(now, TokenBucket::next_token_at)),
            }
        };
        // Lines held back by an earlier pause go first.
        if lines.buffered_bytes() > 0 && lines.feed(&[], &mut on_line).is_break() {
            return stopped(stop_reason, held, rate);
        }
        let mut budget = READ_BUDGET_BYTES;
        loop {
            match transport.read(buffer) {
                Ok(0) => return ReadOutcome::Closed(CloseReason::PeerClosed),
                Ok(n) => {
                    if dialect.get() == Dialect::Undecided {
                        dialect.set(if seed::is_seed_desk(buffer[0]) {
                            *lines = LineReader::ending_with(FRAME_END, *max_line_bytes);
                            Dialect::Seed
                        } else {
                            Dialect::Lines
                        });
                    }
                    if lines.feed(&buffer[..n], &mut on_line).is_break() {
                        return stopped(stop_reason, held, rate);
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        // Fairness: others get their turn; come back at once.
                        return ReadOutcome::Paused(now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    lines.shrink();
                    return ReadOutcome::Drained;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return ReadOutcome::Closed(CloseReason::ReadError(e)),
            }
        }
    }

    /// True while output waits to be written: queued lines, or TLS records
    /// (a handshake's too).
    pub fn has_pending_output(&self) -> bool {
        !self.outbox.is_empty() || self.transport.has_pending_output()
    }

    /// Queues a frame. Fails when the queue passes `limit`, or when an early
    /// write (see [`EARLY_FLUSH_BYTES`]) fails.
    pub fn queue(&mut self, frame: Frame, limit: usize) -> Result<(), CloseReason> {
        self.outbox.push(frame);
        // Never judge a reader too slow before it was offered what is queued.
        if self.outbox.queued_bytes() > EARLY_FLUSH_BYTES.min(limit) {
            self.write_outbox().map_err(CloseReason::WriteError)?;
        }
        let queued = self.outbox.queued_bytes();
        if queued > limit {
            return Err(CloseReason::TooSlow { queued, limit });
        }
        Ok(())
    }

    /// Marks the connection for the loop's flush list; true if it was not on
    /// it yet (so the caller adds it, once).
    pub fn mark_for_flush(&mut self) -> bool {
        !std::mem::replace(&mut self.flush_scheduled, true)
    }

    /// Writes what is queued until done or `WouldBlock`, and keeps WRITABLE
    /// in the interest exactly while output is left over.
    pub fn flush(&mut self, registry: &Registry) -> io::Result<()> {
        self.flush_scheduled = false;
        self.transport.write_pending()?;
        self.write_outbox()?;
        let pending = self.has_pending_output();
        if pending != self.wants_writable {
            let interest = if pending {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(&mut self.transport, self.token, interest)?;
            self.wants_writable = pending;
        }
        Ok(())
    }

    fn write_outbox(&mut self) -> io::Result<()> {
        let transport = &mut self.transport;
        self.outbox
            .write_to(|slices| transport.write_vectored(slices))
    }

    /// Starts closing. Returns true when the connection can be removed now
    /// (nothing worth writing is left); otherwise the loop flushes it first.
    /// Closing again may only make a graceful close abrupt.
    pub fn close(&mut self, reason: CloseReason, how: Close, now: Instant) -> bool {
        match &mut self.state {
            State::Closing { how: current, .. } => {
                if how == Close::Now && *current == Close::AfterFlush {
                    *current = Close::Now;
                    return true;
                }
                false
            }
            State::Open => {
                self.state = State::Closing {
                    reason,
                    how,
                    since: now,
                };
                how == Close::Now || !self.has_pending_output()
            }
        }
    }

    /// True once it is closing and nothing it still owes is unwritten.
    pub fn is_done(&self) -> bool {
        match self.state {
            State::Open => false,
            State::Closing { how, .. } => how == Close::Now || !self.has_pending_output(),
        }
    }

    /// Why it is closing, once it is.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        match &self.state {
            State::Open => None,
            State::Closing { reason, .. } => Some(reason),
        }
    }

    /// Whether its clock has run out: not in the room (TLS handshake done,
    /// logged in) `login_timeout` after connecting, no complete line for
    /// `idle_timeout` while open, or too long spent closing.
    pub fn overdue(
        &self,
        now: Instant,
        idle_timeout: Option<Duration>,
        login_timeout: Duration,
    ) -> Option<Overdue> {
        match &self.state {
            State::Open
                if (!self.is_admitted() || self.transport.is_handshaking())
                    && now.duration_since(self.opened_at) > login_timeout =>
            {
                Some(Overdue::LoginTimeout(login_timeout))
            }
            State::Open => idle_timeout
                .filter(|timeout| now.duration_since(self.last_line_at) > *timeout)
                .map(Overdue::Idle),
            State::Closing { since, .. } => {
                (now.duration_since(*since) > CLOSE_FLUSH_TIMEOUT).then_some(Overdue::StuckClosing)
            }
        }
    }

    /// Gives up on a closing connection's last lines: it goes at once, for
    /// `reason`.
    pub fn abandon(&mut self, reason: CloseReason, now: Instant) {
        self.state = State::Closing {
            reason,
            how: Close::Now,
            since: now,
        };
    }

    /// Takes it out of the poll, saying goodbye the TLS way if it speaks
    /// TLS; the socket closes when it is dropped.
    pub fn deregister(&mut self, registry: &Registry) {
        if matches!(
            self.state,
            State::Closing {
                how: Close::AfterFlush,
                ..
            }
        ) {
            self.transport.send_close_notify();
        }
        // Failing means it is not registered: nothing to undo.
        let _ = registry.deregister(&mut self.transport);
    }
}
