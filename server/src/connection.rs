//! One client in the event loop: its transport, its framing, its outbox,
//! its rate limit and its lifecycle, and its registration with the poll.
//!
//! A connection does its own I/O (looks at the first byte, reads lines,
//! flushes its outbox, keeps its WRITABLE interest honest) but never touches
//! other connections or the rules: the loop in [`crate::event_loop`] decides
//! what each line causes, what to queue and when to close.

use std::io;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use chat_shared::Line;

use crate::acceptor::Door;
use crate::close::{AfterLine, Close, CloseReason};
use crate::frames::Frame;
use crate::framing::{Dialect, Framing, DECIDE_AFTER};
use crate::outbox::Outbox;
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

/// Where a connection is on its way in, as its first byte tells.
#[derive(Debug)]
pub enum Arrival {
    /// Nothing has arrived yet on a server that takes TLS: it is sent
    /// nothing, since plain lines would garble a TLS handshake.
    Waiting,
    /// Its ClientHello arrived, and its handshake may not begin yet (see
    /// [`crate::tls::gate`]); nothing was read.
    HandshakeWaits,
    /// Its first byte settled plain or TLS just now: it may enter the room.
    JustArrived,
    /// It arrived earlier (or on a plain server, at once).
    Arrived,
    /// It must go: plain text on a TLS-only server (its input was taken, so
    /// that closing does not reset the connection before the refusal is
    /// read), an end of stream or an error before anything arrived.
    Refused(CloseReason),
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
    /// `--rate-limit`: lines a second; `None` is unlimited.
    pub rate_limit: Option<u32>,
    /// Plain, TLS or either.
    pub security: Security,
    /// What an IRC client's session is made with.
    pub irc: Arc<crate::irc::Settings>,
}

/// One client socket and everything the loop keeps for it.
#[derive(Debug)]
pub struct Connection {
    /// The stream, non-blocking, registered with the poll under `token`.
    transport: Transport,
    /// Its key in the poll (and the loop's slab).
    token: Token,
    /// Unique for the server's life, unlike `token`, which a later
    /// connection may reuse: answers that arrive later (the store's) check
    /// it.
    serial: u64,
    /// The peer's address, for the log.
    peer: SocketAddr,
    /// How its bytes become lines, and our lines become its bytes.
    framing: Framing,
    /// When it connected: the TLS handshake and the login are timed from
    /// here.
    opened_at: Instant,
    /// Frames waiting to be written.
    outbox: Outbox,
    /// Whether WRITABLE is in the registered interest; it is there only while
    /// output is pending.
    wants_writable: bool,
    /// Since when its peer has not taken everything queued (a flush left
    /// output over); `None` while it keeps up.
    blocked_since: Option<Instant>,
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
}

impl Connection {
    /// Registers `stream` for reading under `token` and returns the open
    /// connection.
    pub fn open(
        stream: TcpStream,
        peer: SocketAddr,
        token: Token,
        serial: u64,
        registry: &Registry,
        limits: &Limits,
        door: Door,
    ) -> io::Result<Connection> {
        let mut transport = Transport::new(stream, &limits.security);
        registry.register(&mut transport, token, Interest::READABLE)?;
        Ok(Connection {
            transport,
            token,
            serial,
            peer,
            framing: match door {
                Door::Any => Framing::new(limits.max_line_bytes, Arc::clone(&limits.irc)),
                Door::IrcOnly => Framing::irc(Arc::clone(&limits.irc)),
            },
            opened_at: Instant::now(),
            outbox: Outbox::default(),
            wants_writable: false,
            blocked_since: None,
            flush_scheduled: false,
            paused_until: None,
            last_line_at: Instant::now(),
            rate: limits
                .rate_limit
                .map(|n| TokenBucket::new(n, Instant::now())),
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
    pub fn dialect(&self) -> &Dialect {
        self.framing.dialect()
    }

    /// When it will count as one of our desks if it says nothing, while it
    /// has not said what it speaks.
    pub fn silent_deadline(&self) -> Option<Instant> {
        self.framing
            .dialect()
            .holds_output()
            .then(|| self.opened_at + DECIDE_AFTER)
    }

    /// Whether the peer's own bytes said what it speaks.
    pub fn dialect_said(&self) -> bool {
        self.framing.dialect_said()
    }

    /// It said nothing in time: it is one of our desks, and what waited for
    /// it may go.
    pub fn decide_silent(&mut self) {
        self.framing.decide_silent();
    }

    /// True until its first byte has settled plain or TLS.
    pub fn is_waiting(&self) -> bool {
        self.transport.is_undecided()
    }

    /// True until its first byte is known and, for TLS, its handshake is
    /// done.
    pub fn is_handshaking(&self) -> bool {
        self.transport.is_handshaking()
    }

    /// True while its TLS handshake runs: from the first byte of its
    /// ClientHello taken to the handshake's end.
    pub fn is_in_tls_handshake(&self) -> bool {
        self.transport.is_tls_handshaking()
    }

    /// True until the loop starts closing it.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// True while its reading is paused past `now`.
    pub fn is_paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|at| at > now)
    }

    /// Looks at the first byte, if it has not been seen yet, to settle
    /// plain or TLS; a TLS handshake begins only if `may_begin_tls`.
    /// `buffer` is the loop's shared read buffer, used to take the input of
    /// a peer that is refused.
    pub fn arrive(&mut self, buffer: &mut [u8], may_begin_tls: bool) -> Arrival {
        let waiting = self.transport.is_undecided();
        match self.transport.settle_layer(may_begin_tls) {
            Ok(FirstByte::NotYet) => Arrival::Waiting,
            Ok(FirstByte::TlsMustWait) => Arrival::HandshakeWaits,
            Ok(FirstByte::Closed) => Arrival::Refused(CloseReason::PeerClosed),
            Ok(FirstByte::PlainRefused) => {
                let mut budget = READ_BUDGET_BYTES;
                while budget > 0 {
                    match self.transport.read(buffer) {
                        Ok(n) if n > 0 => budget = budget.saturating_sub(n),
                        _ => break,
                    }
                }
                Arrival::Refused(CloseReason::TlsRequired)
            }
            Ok(FirstByte::Plain | FirstByte::Tls) if waiting => Arrival::JustArrived,
            Ok(FirstByte::Plain | FirstByte::Tls) => Arrival::Arrived,
            Err(e) => Arrival::Refused(CloseReason::ReadError(e)),
        }
    }

    /// Reads until `WouldBlock`, the rate limit, the read budget, the end of
    /// the stream, or `handle` saying [`AfterLine::Stop`] or
    /// [`AfterLine::Hold`], handing `handle` each line in order, with the
    /// dialect to decode it in. `buffer` is the loop's shared read buffer.
    pub fn read_lines(
        &mut self,
        buffer: &mut [u8],
        now: Instant,
        mut handle: impl FnMut(&mut Dialect, Line<'_>) -> AfterLine,
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
        handle: &mut impl FnMut(&mut Dialect, Line<'_>) -> AfterLine,
    ) -> ReadOutcome {
        if let Some(bucket) = &mut self.rate {
            if !bucket.has_token(now) {
                return ReadOutcome::Paused(bucket.next_token_at());
            }
        }
        let Connection {
            transport,
            framing,
            outbox,
            rate,
            last_line_at,
            ..
        } = self;
        let mut reader = LineHandler {
            handle,
            rate,
            now,
            last_line_at,
            stopped: None,
        };
        // Lines held back by an earlier pause go first.
        let flow = framing.resume(|dialect, line| reader.on_line(dialect, line));
        if let Some(ended) = framing_replies(framing, outbox) {
            return ReadOutcome::Closed(ended);
        }
        if flow.is_break() {
            return reader.outcome();
        }
        let mut budget = READ_BUDGET_BYTES;
        loop {
            match transport.read(buffer) {
                Ok(0) => return ReadOutcome::Closed(CloseReason::PeerClosed),
                Ok(n) => {
                    let flow =
                        framing.feed(&buffer[..n], |dialect, line| reader.on_line(dialect, line));
                    if let Some(ended) = framing_replies(framing, outbox) {
                        return ReadOutcome::Closed(ended);
                    }
                    if flow.is_break() {
                        return reader.outcome();
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        // Fairness: others get their turn; come back at once.
                        return ReadOutcome::Paused(now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    framing.shrink();
                    return ReadOutcome::Drained;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return ReadOutcome::Closed(CloseReason::ReadError(e)),
            }
        }
    }

    /// What its peer has not taken: the bytes queued for it, and since when
    /// it has not kept up; `None` while it keeps up.
    pub fn backlog(&self) -> Option<(usize, Instant)> {
        self.blocked_since
            .map(|since| (self.outbox.queued_bytes(), since))
    }

    /// True while output waits to be written: queued lines (unless they
    /// wait for the peer to say what it speaks, or for its TLS handshake),
    /// or TLS records (a handshake's too).
    pub fn has_pending_output(&self) -> bool {
        (!self.outbox.is_empty() && self.may_write_lines()) || self.transport.has_pending_output()
    }

    /// Whether queued lines may be written: the peer said what it speaks,
    /// and its TLS handshake (if any) is done. Until then they wait in the
    /// outbox, and WRITABLE is not asked for on their account.
    fn may_write_lines(&self) -> bool {
        !self.framing.dialect().holds_output() && !self.transport.is_handshaking()
    }

    /// Drops what is queued: it was meant for one of our desks, and the
    /// peer turned out to speak another protocol.
    pub fn discard_output(&mut self) {
        self.outbox = Outbox::default();
    }

    /// Queues a frame. Fails when the queue passes `limit`, or when an early
    /// write (see [`EARLY_FLUSH_BYTES`]) fails.
    pub fn queue(&mut self, frame: Frame, limit: usize) -> Result<(), CloseReason> {
        self.outbox.push(frame);
        // Never judge a reader too slow before it was offered what is queued.
        if self.outbox.queued_bytes() > EARLY_FLUSH_BYTES.min(limit) && self.may_write_lines() {
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
        if self.may_write_lines() {
            self.write_outbox()?;
        }
        let pending = self.has_pending_output();
        if !pending {
            self.blocked_since = None;
        } else if self.blocked_since.is_none() {
            self.blocked_since = Some(Instant::now());
        }
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
        // What is queued for it (a goodbye) goes, whatever it speaks.
        self.framing.decide_silent();
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
    /// logged in: `in_room` says) `login_timeout` after connecting, no
    /// complete line for `idle_timeout` while open, or too long spent
    /// closing.
    pub fn overdue(
        &self,
        now: Instant,
        idle_timeout: Option<Duration>,
        login_timeout: Duration,
        in_room: bool,
    ) -> Option<Overdue> {
        match &self.state {
            State::Open
                if (!in_room || self.transport.is_handshaking())
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

/// Queues what the framing itself answered (a WebSocket's pongs and close
/// frame), and says why the peer's stream is over, if the framing says it
/// is.
fn framing_replies(framing: &mut Framing, outbox: &mut Outbox) -> Option<CloseReason> {
    if let Some(replies) = framing.take_replies() {
        outbox.push(replies);
    }
    framing.ended()
}

/// Hands a connection's lines to the loop's handler one by one, stopping
/// where the handler says, or where the rate limit runs out; and says why it
/// stopped.
struct LineHandler<'a, H> {
    handle: &'a mut H,
    rate: &'a mut Option<TokenBucket>,
    now: Instant,
    last_line_at: &'a mut Instant,
    /// Why the last `Break` was asked for: `Stop` or `Hold` from the
    /// handler; `None` when the rate limit ran out.
    stopped: Option<AfterLine>,
}

impl<H: FnMut(&mut Dialect, Line<'_>) -> AfterLine> LineHandler<'_, H> {
    fn on_line(&mut self, dialect: &mut Dialect, line: Line<'_>) -> ControlFlow<()> {
        if matches!(line, Line::Complete(_)) {
            *self.last_line_at = self.now;
        }
        match (self.handle)(dialect, line) {
            AfterLine::Continue => {}
            other => {
                self.stopped = Some(other);
                return ControlFlow::Break(());
            }
        }
        let Some(bucket) = self.rate.as_mut() else {
            return ControlFlow::Continue(());
        };
        bucket.take();
        if bucket.has_token(self.now) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    /// Why reading stopped at a `Break`.
    fn outcome(&mut self) -> ReadOutcome {
        match self.stopped.take() {
            Some(AfterLine::Stop(reason)) => ReadOutcome::Closed(reason),
            Some(AfterLine::Hold) => ReadOutcome::Held,
            Some(AfterLine::Continue) | None => ReadOutcome::Paused(
                self.rate
                    .as_ref()
                    .map_or(self.now, TokenBucket::next_token_at),
            ),
        }
    }
}
