//! One client socket in the event loop: its line reader, its bounded queue of
//! outgoing frames, its rate limit and its lifecycle state.
//!
//! The connection never touches other connections or the room; the event loop
//! in [`crate::event_loop`] decides what to queue and when to close.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use chat_shared::LineReader;

use crate::rate::TokenBucket;
use crate::room::Frame;

/// Most frames handed to one `writev`. Linux accepts 1024; 64 frames of chat
/// lines already fill a typical socket buffer, and the array lives on the
/// stack.
const MAX_FRAMES_PER_WRITE: usize = 64;

/// Once this much (or the whole limit, if smaller) is queued, write at once
/// instead of waiting for the end of the event batch, so a burst in one batch
/// cannot push a healthy reader past its limit before it has had a chance to
/// take anything (ngIRCd's WRITEBUFFER_FLUSH_LEN idea).
const EARLY_FLUSH_BYTES: usize = 32 * 1024;

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
    /// Nothing heard for `--idle-timeout`.
    IdleTimeout(Duration),
    /// Its last messages could not be delivered in time while closing.
    FlushTimeout,
    /// The server is stopping.
    ShuttingDown,
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
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug)]
pub enum State {
    /// Reading and writing.
    Open,
    /// Closing: no more reading; once `flush_first` output is written (or at
    /// once, without it) the event loop removes it.
    Closing {
        /// Why, for the log.
        reason: CloseReason,
        /// Whether queued output is still worth sending.
        flush_first: bool,
        /// When closing began, to give up on a flush that never ends.
        since: Instant,
    },
}

/// One client socket and everything the loop keeps for it.
#[derive(Debug)]
pub struct Connection {
    /// The socket, non-blocking, registered with the poll.
    pub stream: TcpStream,
    /// The peer's address, for the log.
    pub peer: SocketAddr,
    /// Splits what the peer sends into lines.
    pub lines: LineReader,
    /// Frames waiting to be written, oldest first. Frames are shared with
    /// every other recipient of the same broadcast.
    outbox: VecDeque<Frame>,
    /// Bytes of the front frame already written.
    front_written: usize,
    /// Bytes in `outbox` not yet written.
    queued_bytes: usize,
    /// Whether WRITABLE is in the registered interest; it is there only while
    /// output is pending.
    pub wants_writable: bool,
    /// Whether the connection is already on the loop's flush list.
    pub flush_scheduled: bool,
    /// Reading is paused until then (rate limit or fairness); readiness that
    /// arrives meanwhile is ignored, and the loop resumes reading at that time.
    pub paused_until: Option<Instant>,
    /// When the peer last sent anything.
    pub last_heard: Instant,
    /// Lines the peer may still send now; `None` when unlimited.
    pub rate: Option<TokenBucket>,
    /// Open or closing.
    pub state: State,
}

impl Connection {
    /// A fresh, open connection.
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        max_line_bytes: usize,
        rate: Option<TokenBucket>,
    ) -> Connection {
        Connection {
            stream,
            peer,
            lines: LineReader::new(max_line_bytes),
            outbox: VecDeque::new(),
            front_written: 0,
            queued_bytes: 0,
            wants_writable: false,
            flush_scheduled: false,
            paused_until: None,
            last_heard: Instant::now(),
            rate,
            state: State::Open,
        }
    }

    /// True until the loop starts closing it.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// True while output waits to be written.
    pub fn has_pending_output(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Queues a frame. Fails when the queue passes `limit`, or when an early
    /// write (see [`EARLY_FLUSH_BYTES`]) fails.
    pub fn queue(&mut self, frame: Frame, limit: usize) -> Result<(), CloseReason> {
        self.queued_bytes += frame.len();
        self.outbox.push_back(frame);
        // Never judge a reader too slow before it was offered what is queued.
        if self.queued_bytes > EARLY_FLUSH_BYTES.min(limit) {
            self.flush().map_err(CloseReason::WriteError)?;
        }
        if self.queued_bytes > limit {
            return Err(CloseReason::TooSlow {
                queued: self.queued_bytes,
                limit,
            });
        }
        Ok(())
    }

    /// Writes queued frames, many per system call, until the queue is empty
    /// or the socket would block.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.outbox.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_FRAMES_PER_WRITE];
            let mut count = 0;
            for (slot, frame) in slices.iter_mut().zip(&self.outbox) {
                let skip = if count == 0 { self.front_written } else { 0 };
                *slot = IoSlice::new(&frame[skip..]);
                count += 1;
            }
            match (&self.stream).write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.consume(written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        // A burst (say, the history replay) can leave a large ring behind;
        // an idle desk should not keep it.
        if self.outbox.capacity() > 16 {
            self.outbox = VecDeque::new();
        }
        Ok(())
    }

    /// Drops `written` bytes from the front of the queue.
    fn consume(&mut self, mut written: usize) {
        self.queued_bytes -= written;
        while written > 0 {
            let front_left = self.outbox[0].len() - self.front_written;
            if written >= front_left {
                self.outbox.pop_front();
                self.front_written = 0;
                written -= front_left;
            } else {
                self.front_written += written;
                written = 0;
            }
        }
    }
}
