//! How a connection's reading goes on or ends: why a connection closes
//! ([`CloseReason`], shown in the server's log), how ([`Close`]), and what
//! the rules tell the reader after each line ([`AfterLine`]). Plain data,
//! shared by the loop, the connection and the rules.

use std::fmt;
use std::io;
use std::time::Duration;

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
    /// The server's queues together held more than `--queue-budget`, and
    /// this peer held the most of what it was not taking.
    OverBudget {
        /// Bytes queued for it.
        queued: usize,
        /// Bytes the server held for every desk.
        held: usize,
        /// `--queue-budget`.
        budget: usize,
    },
    /// The TLS handshake (and the login, with accounts) took too long.
    LoginTimeout(Duration),
    /// `/auth` was refused.
    LoginRefused,
    /// Its account was removed.
    Revoked,
    /// Its name could not be claimed: the room's link is down.
    RoomLinkDown,
    /// An IRC operator (this name) ended it with `KILL`.
    Killed(String),
    /// A browser's HTTP request was answered with this status.
    Answered(u16),
    /// A browser desk's WebSocket ended: closed by the desk, or refused
    /// for breaking a rule.
    Socket(SocketEnd),
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
            CloseReason::OverBudget {
                queued,
                held,
                budget,
            } => write!(
                f,
                "not reading while the server's queues were over budget: {queued} bytes \
                 queued for it, {held} held for every desk, budget {budget}"
            ),
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
            CloseReason::Killed(by) => write!(f, "killed by IRC operator {by}"),
            CloseReason::Answered(status) => write!(f, "HTTP request answered ({status})"),
            CloseReason::Socket(SocketEnd::Closed) => f.write_str("WebSocket closed by peer"),
            CloseReason::Socket(SocketEnd::Refused { code, reason }) => {
                write!(f, "WebSocket refused ({code}: {reason})")
            }
        }
    }
}

/// How to close: after what is queued has been written (a goodbye, an error,
/// the peer's own last lines), or at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Write what is queued first (within the connection's flush timeout).
    AfterFlush,
    /// Drop what is queued.
    Now,
}

/// What the handler of a line tells the connection's reader
/// ([`crate::connection::Connection::read_lines`]) to do next.
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

/// Why a browser desk's socket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEnd {
    /// The desk closed it (its close frame was answered).
    Closed,
    /// It broke a rule: the close frame sent says which (`code`, `reason`).
    Refused {
        /// The RFC 6455 status code sent.
        code: u16,
        /// The reason sent with it.
        reason: &'static str,
    },
}
