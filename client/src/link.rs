//! The desk's link to the room's servers: the one connection open (and how
//! far its handshake got), reconnecting after a loss, each try on a thread
//! of its own so that the user can leave while one hangs, moving on to the
//! next server each time (`--host a,b`), and the wait between tries
//! (`backoff`). What is sent on the connection, and when, is the
//! session's business.

use std::io;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::attempt::Connected;
use crate::backoff::Backoff;
use crate::config::Config;
use crate::event::Event;
use crate::net::{self, Connection};
use crate::render;
use crate::server_addr::ServerAddr;
use crate::tls::TlsClient;
use crate::transport::Stream;

/// The link, and where its threads report.
pub struct Link {
    /// The servers to try, in turn; never empty.
    servers: Vec<ServerAddr>,
    /// Which of `servers` the desk is on (or last was).
    server: usize,
    /// With `--tls`: how to connect and whom to trust.
    tls: Option<Arc<TlsClient>>,
    /// How often each connection pings the server.
    keepalive: Duration,
    /// Down, connecting, or up.
    state: State,
    /// Counts connections and attempts; reports from older ones are stale.
    id: u64,
    /// The wait before each reconnect attempt.
    backoff: Backoff,
    /// When the connection was lost, until the desk is back in the room.
    lost_at: Option<Instant>,
    /// Where connect attempts and connections report.
    events: Sender<Event>,
}

/// The state of the connection.
enum State {
    /// Lost; the next try is due at `retry_at`.
    Down { retry_at: Instant },
    /// A connect attempt is under way on its own thread.
    Connecting,
    /// Connected.
    Up {
        /// The open connection.
        connection: Connection,
        /// Whether `/auth` went out on it.
        signed_in: bool,
        /// Whether the server welcomed us on it.
        joined: bool,
    },
}

impl Link {
    /// The link of a desk whose first connection, to `servers[server]`, is
    /// being opened; its threads report to `events`.
    pub fn new(
        config: &Config,
        server: usize,
        tls: Option<Arc<TlsClient>>,
        events: Sender<Event>,
    ) -> Link {
        Link {
            servers: config.servers.clone(),
            server,
            tls,
            keepalive: config.keepalive,
            state: State::Connecting,
            id: 0,
            backoff: Backoff::new(),
            lost_at: None,
            events,
        }
    }

    /// Which connection or attempt is the current one.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether a report from the connection or attempt `link_id` is about
    /// the current one; any other is stale.
    pub fn is_current(&self, link_id: u64) -> bool {
        link_id == self.id
    }

    /// `HOST:PORT` of the server the desk is on (or last was).
    pub fn server_name(&self) -> String {
        self.servers[self.server].to_string()
    }

    /// The server the desk is on, when it has several to choose from.
    pub fn failover_name(&self) -> Option<String> {
        (self.servers.len() > 1).then(|| self.server_name())
    }

    /// What to say about a connection on which TLS trusted the server's
    /// certificate for the first time, if it did.
    pub fn first_trusted(&self, connected: &Connected) -> Option<String> {
        let fingerprint = connected.first_trusted?;
        let file = self.tls.as_ref()?.known_hosts()?;
        Some(render::trusted_first_time(
            &self.server_name(),
            fingerprint,
            file,
        ))
    }

    /// A connection is open: starts its I/O thread, which reports to the
    /// session as this new connection.
    pub fn open(&mut self, stream: Stream) -> io::Result<()> {
        self.id += 1;
        let (link_id, events) = (self.id, self.events.clone());
        let connection = Connection::start(stream, self.keepalive, move |received| {
            events.send(Event::Server { link_id, received }).is_ok()
        })?;
        self.state = State::Up {
            connection,
            signed_in: false,
            joined: false,
        };
        Ok(())
    }

    /// Tries to connect on a helper thread, so that the user can still
    /// leave while a connect hangs. Each try goes to the next server: after
    /// a loss the desk moves on, and a dead server costs one try per round.
    pub fn start_connecting(&mut self) {
        self.id += 1;
        self.state = State::Connecting;
        self.server = (self.server + 1) % self.servers.len();
        let (link_id, events) = (self.id, self.events.clone());
        let server = self.servers[self.server].clone();
        let tls = self.tls.clone();
        let spawned = thread::Builder::new()
            .name("connect".into())
            .spawn(move || {
                let result = net::connect(&server, tls.as_deref());
                let _ = events.send(Event::Connected { link_id, result });
            });
        if spawned.is_err() {
            self.retry_later();
        }
    }

    /// When the next try is due, while the link is down.
    pub fn retry_at(&self) -> Option<Instant> {
        match self.state {
            State::Down { retry_at } => Some(retry_at),
            _ => None,
        }
    }

    /// Starts the next try if it is due at `now`.
    pub fn reconnect_if_due(&mut self, now: Instant) {
        if self.retry_at().is_some_and(|at| at <= now) {
            self.start_connecting();
        }
    }

    /// A try failed: the next one after the next wait.
    pub fn retry_later(&mut self) {
        self.state = State::Down {
            retry_at: Instant::now() + self.backoff.next_delay(),
        };
    }

    /// The connection is gone: closes what is left of it, makes whatever
    /// it still reports stale, and tries again after the next wait. True
    /// when this starts an outage, false while one goes on: a loss is told
    /// once, however many tries it takes to get back.
    pub fn lost(&mut self) -> bool {
        self.close();
        self.id += 1;
        let outage_starts = self.lost_at.is_none();
        if outage_starts {
            self.lost_at = Some(Instant::now());
        }
        self.retry_later();
        outage_starts
    }

    /// Whether the desk lost the room and is not back yet.
    pub fn was_lost(&self) -> bool {
        self.lost_at.is_some()
    }

    /// The server welcomed the desk on this connection: the link is whole
    /// again. Returns how long the desk was away, if it had lost the room.
    pub fn welcomed(&mut self) -> Option<Duration> {
        if let State::Up { joined, .. } = &mut self.state {
            *joined = true;
        }
        self.backoff.reset();
        self.lost_at.take().map(|at| at.elapsed())
    }

    /// The open connection, if there is one.
    pub fn connection(&self) -> Option<&Connection> {
        match &self.state {
            State::Up { connection, .. } => Some(connection),
            _ => None,
        }
    }

    /// Sends what is queued on the open connection, if any, and closes it.
    pub fn close(&self) {
        if let Some(connection) = self.connection() {
            connection.close();
        }
    }

    /// Whether a connection is open (the desk may not be in the room yet).
    pub fn is_up(&self) -> bool {
        matches!(self.state, State::Up { .. })
    }

    /// Whether `/auth` went out on the open connection.
    pub fn signed_in(&self) -> bool {
        matches!(
            self.state,
            State::Up {
                signed_in: true,
                ..
            }
        )
    }

    /// `/auth` went out on the open connection.
    pub fn set_signed_in(&mut self) {
        if let State::Up { signed_in, .. } = &mut self.state {
            *signed_in = true;
        }
    }

    /// Whether the desk is in the room: welcomed on the open connection.
    pub fn joined(&self) -> bool {
        matches!(self.state, State::Up { joined: true, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::FIRST_RETRY;
    use crate::config::{parse_args, Command};
    use std::sync::mpsc;

    /// A link to `hosts` whose first connection is being opened; nothing
    /// here connects.
    fn link_to(hosts: &str) -> Link {
        let Ok(Command::Run(config)) = parse_args(&["--host", hosts]) else {
            panic!("bad hosts {hosts}");
        };
        let (events, _) = mpsc::channel();
        Link::new(&config, 0, None, events)
    }

    #[test]
    fn a_loss_starts_an_outage() {
        assert!(link_to("a").lost());
    }

    #[test]
    fn a_loss_during_an_outage_is_not_told_again() {
        let mut link = link_to("a");
        link.lost();
        assert!(!link.lost());
    }

    #[test]
    fn a_welcome_ends_the_outage() {
        let mut link = link_to("a");
        link.lost();
        assert!(link.welcomed().is_some());
        assert!(!link.was_lost());
    }

    #[test]
    fn a_welcome_without_a_loss_was_never_away() {
        assert_eq!(link_to("a").welcomed(), None);
    }

    #[test]
    fn a_loss_makes_the_old_connection_stale() {
        let mut link = link_to("a");
        let old = link.id();
        link.lost();
        assert!(!link.is_current(old));
    }

    #[test]
    fn the_first_retry_after_a_loss_is_within_a_second() {
        let mut link = link_to("a");
        let before = Instant::now();
        link.lost();
        let wait = link.retry_at().unwrap() - before;
        assert!(wait >= FIRST_RETRY / 2, "{wait:?}");
        assert!(wait < Duration::from_secs(1), "{wait:?}");
    }

    #[test]
    fn nothing_is_due_while_connecting() {
        assert_eq!(link_to("a").retry_at(), None);
    }

    #[test]
    fn one_server_is_not_named_on_return() {
        assert_eq!(link_to("a:1").failover_name(), None);
    }

    #[test]
    fn one_of_several_servers_is_named_on_return() {
        assert_eq!(link_to("a:1,b:2").failover_name(), Some("a:1".to_string()));
    }

    #[test]
    fn a_link_that_is_not_up_is_neither_signed_in_nor_joined() {
        let mut link = link_to("a");
        link.set_signed_in();
        link.welcomed();
        assert!(!link.is_up());
        assert!(!link.signed_in());
        assert!(!link.joined());
    }
}
