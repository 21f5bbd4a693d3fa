//! The event loop's doors: the listening socket (and, with `--irc-port`, a
//! second one for IRC alone), the spare descriptor that keeps fd exhaustion
//! from becoming a busy loop, the accept pause, and the refusals (room full,
//! out of descriptors).
//!
//! The loop asks for newcomers one at a time with [`Acceptor::next`], telling
//! it how many clients are connected, so every newcomer is judged against the
//! room as it is at that moment.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::listener;

/// How long to wait before accepting again when the system is out of file
/// descriptors or memory and nothing can be freed here.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Descriptors kept free for the listener, the poll, signals, the spare and
/// whatever else the process opens, when `--max-clients` is derived from the
/// fd limit (Redis keeps 32).
const RESERVED_FDS: u64 = 64;

/// Which listener a newcomer came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The main port: our desks, IRC clients, told apart by what they send.
    Any,
    /// `--irc-port`: IRC alone.
    IrcOnly,
}

/// The listener and what accepting needs besides it.
#[derive(Debug)]
pub struct Acceptor {
    /// The listening socket; `None` once shutdown has begun.
    listener: Option<TcpListener>,
    /// The `--irc-port` listener, if any; `None` too once shutdown has begun.
    irc: Option<TcpListener>,
    /// `--max-clients`, or what the fd limit allows.
    max_clients: usize,
    /// An open /dev/null, given up on EMFILE to accept and refuse a client
    /// (the libuv trick), so that a full process neither spins on accept nor
    /// leaves newcomers hanging in the backlog.
    spare_fd: Option<File>,
    /// While set, accepting waits until then (or until a client leaves).
    paused_until: Option<Instant>,
    /// Whether the fd exhaustion was logged already, to log it once.
    exhaustion_logged: bool,
    /// Set by a readiness event: the backlog may hold newcomers.
    ready: bool,
}

/// What accepting through one door came to.
enum Next {
    /// A newcomer to admit.
    Newcomer(TcpStream, SocketAddr),
    /// Its backlog is empty (or it has no listener).
    Empty,
    /// Accepting must pause.
    Paused,
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

impl Acceptor {
    /// Registers `listener` (non-blocking) under `token`, and the IRC
    /// listener, if any, under its own.
    pub fn new(
        listener: std::net::TcpListener,
        token: Token,
        irc: Option<(std::net::TcpListener, Token)>,
        registry: &Registry,
        max_clients: Option<usize>,
    ) -> io::Result<Acceptor> {
        let register = |listener: std::net::TcpListener, token| -> io::Result<TcpListener> {
            listener.set_nonblocking(true)?;
            let mut listener = TcpListener::from_std(listener);
            registry.register(&mut listener, token, Interest::READABLE)?;
            Ok(listener)
        };
        let listener = register(listener, token)?;
        let irc = irc
            .map(|(listener, token)| register(listener, token))
            .transpose()?;
        Ok(Acceptor {
            listener: Some(listener),
            irc,
            max_clients: max_clients.unwrap_or_else(max_clients_for_fd_limit),
            spare_fd: File::open("/dev/null").ok(),
            paused_until: None,
            exhaustion_logged: false,
            ready: true,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Some(listener) => listener.local_addr(),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the server no longer listens",
            )),
        }
    }

    /// The address the IRC listener listens on, if there is one.
    pub fn irc_addr(&self) -> Option<SocketAddr> {
        self.irc.as_ref()?.local_addr().ok()
    }

    /// Notes a readiness event; the loop accepts once the pass's departures
    /// are settled, so newcomers see the slots they freed.
    pub fn mark_ready(&mut self) {
        self.ready = true;
    }

    /// A client left: a pause for lack of descriptors may end now.
    pub fn client_left(&mut self) {
        if self.paused_until.is_some() {
            self.ready = true;
        }
    }

    /// True when [`Acceptor::next`] has work: an event came, or a pause ended.
    pub fn is_due(&self, now: Instant) -> bool {
        self.listener.is_some() && (self.ready || self.paused_until.is_some_and(|at| at <= now))
    }

    /// When a pause ends, for the poll's timeout.
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// The next newcomer to admit, and the door it came through, refusing
    /// those that do not fit (`open` clients are connected now), until both
    /// backlogs are empty (`WouldBlock`) or accepting must pause.
    pub fn next(&mut self, open: usize) -> Option<(TcpStream, SocketAddr, Door)> {
        self.paused_until = None;
        for door in [Door::Any, Door::IrcOnly] {
            match self.next_through(door, open) {
                Next::Newcomer(stream, peer) => return Some((stream, peer, door)),
                Next::Empty => {}
                Next::Paused => return None,
            }
        }
        self.ready = false;
        None
    }

    fn next_through(&mut self, door: Door, open: usize) -> Next {
        loop {
            let listener = match door {
                Door::Any => self.listener.as_ref(),
                Door::IrcOnly => self.irc.as_ref(),
            };
            let Some(listener) = listener else {
                return Next::Empty;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    self.exhaustion_logged = false;
                    if open >= self.max_clients {
                        listener::refuse(stream, peer, &listener::full_reason(self.max_clients));
                        continue;
                    }
                    return Next::Newcomer(stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Empty,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_fd_exhaustion(&e) => {
                    if !self.exhaustion_logged {
                        tracing::warn!(
                            error = %e,
                            "[!] Out of file descriptors; refusing newcomers until clients leave."
                        );
                        self.exhaustion_logged = true;
                    }
                    match self.refuse_with_spare_fd(door) {
                        SpareFd::Refused => {}
                        // Linux fails accept with EMFILE before it looks at
                        // the backlog, so an empty backlog only shows here.
                        SpareFd::BacklogEmpty => return Next::Empty,
                        SpareFd::Unavailable => {
                            // Nothing can be freed here: neither spin on
                            // accept nor wait for an event that will not
                            // come; try again shortly, or when a client leaves.
                            self.pause();
                            return Next::Paused;
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
                    tracing::warn!(error = %e, "[!] accept failed");
                    self.pause();
                    return Next::Paused;
                }
            }
        }
    }

    fn pause(&mut self) {
        self.ready = false;
        self.paused_until = Some(Instant::now() + ACCEPT_RETRY_DELAY);
    }

    /// Frees the spare descriptor to accept one pending client and refuse it
    /// at once, then takes the spare back.
    fn refuse_with_spare_fd(&mut self, door: Door) -> SpareFd {
        let listener = match door {
            Door::Any => self.listener.as_ref(),
            Door::IrcOnly => self.irc.as_ref(),
        };
        let Some(listener) = listener else {
            return SpareFd::Unavailable;
        };
        if self.spare_fd.take().is_none() {
            return SpareFd::Unavailable;
        }
        let outcome = match listener.accept() {
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

    /// Stops accepting for good and closes the listening socket, so that
    /// newcomers are refused by the system instead of waiting on a server
    /// that is going away.
    pub fn close(&mut self, registry: &Registry) {
        for mut listener in [self.listener.take(), self.irc.take()]
            .into_iter()
            .flatten()
        {
            let _ = registry.deregister(&mut listener);
        }
        self.ready = false;
        self.paused_until = None;
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
