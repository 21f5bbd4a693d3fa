//! One connection to a server: connecting (TCP, then the TLS handshake when
//! asked for), and the one I/O thread that owns the stream from then on. That
//! thread runs a small mio loop over the socket and a `Waker`: it reads
//! lines and passes them on, writes the lines the session queues through a
//! channel (the waker says when, so there is no polling delay), pings the
//! server to keep the link alive and gives up on a server silent too long.
//! Framing comes from `chat-shared`; what the lines mean, and what to do
//! when a connection ends, is the session's business.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::ControlFlow;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use chat_shared::{ClientLine, Line, LineReader, MAX_SERVER_LINE_BYTES};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::attempt::{ConnectError, Connected, CONNECT_TIMEOUT};
use crate::server_addr::ServerAddr;
use crate::tls::TlsClient;
use crate::transport::{ReadEnd, Stream, Transport};

/// Default for `--keepalive`: how often to send `/ping`. The server drops
/// connections idle for 600 s by default; a ping every minute keeps a quiet
/// desk connected with room to spare, and finds a dead link within 90 s.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);

/// The socket's token in the I/O thread's poll.
const SOCKET: Token = Token(0);

/// The waker's token: the session queued something.
const WAKER: Token = Token(1);

/// How long the server may stay silent before the link counts as dead:
/// one keep-alive interval (a `PONG` answers each ping) and half of one
/// more for the answer to travel. A server that is up answers in
/// milliseconds; a dead link (a cable pulled, a peer gone without a word)
/// never does, and TCP alone would not notice for many minutes.
pub fn silence_limit(keepalive: Duration) -> Duration {
    keepalive + keepalive / 2
}

/// Resolves the server, connects to the first address that answers, and
/// with `tls` makes the TLS handshake, verifying the server's certificate.
pub fn connect(server: &ServerAddr, tls: Option<&TlsClient>) -> Result<Connected, ConnectError> {
    let socket = connect_tcp(server).map_err(ConnectError::Unreachable)?;
    // Chat lines are tiny and someone is waiting for each.
    let _ = socket.set_nodelay(true);
    match tls {
        None => Ok(Connected {
            stream: Stream::Plain(socket),
            first_trusted: None,
        }),
        Some(tls) => tls.handshake(server, socket),
    }
}

fn connect_tcp(server: &ServerAddr) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in (server.host.as_str(), server.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(socket) => return Ok(socket),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the host name has no addresses")
    }))
}

/// What the I/O thread passes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The complete lines of one read, in order (invalid UTF-8 made
    /// U+FFFD): the first batch is the server's greeting burst.
    Lines(Vec<Incoming>),
    /// The connection is over: end of stream, a read or write error, or
    /// silence past [`silence_limit`]. Why, for a person.
    Closed(String),
}

/// One line from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A complete line, without its ending.
    Line(String),
    /// A line past [`MAX_SERVER_LINE_BYTES`], discarded.
    TooLong,
}

/// What the session asks of the I/O thread.
#[derive(Debug)]
enum Order {
    /// Send this encoded line.
    Send(String),
    /// Send what is queued, then close.
    Close,
}

/// An open connection: the session's handle on its I/O thread. Dropping it
/// closes the connection.
#[derive(Debug)]
pub struct Connection {
    /// To the I/O thread, in order.
    orders: Sender<Order>,
    /// Wakes the I/O thread's poll after an order.
    waker: Arc<Waker>,
}

impl Connection {
    /// Starts the I/O thread on `stream`. It passes what arrives to
    /// `forward`, last of all [`Received::Closed`] (unless the session
    /// closed it), and stops early if `forward` returns false.
    pub fn start<F>(stream: Stream, keepalive: Duration, forward: F) -> io::Result<Connection>
    where
        F: FnMut(Received) -> bool + Send + 'static,
    {
        let mut transport = Transport::new(stream)?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        poll.registry()
            .register(transport.socket(), SOCKET, Interest::READABLE)?;
        let (orders, inbox) = mpsc::channel();
        let now = Instant::now();
        let io = IoThread {
            poll,
            transport,
            writable_interest: false,
            inbox,
            lines: LineReader::new(MAX_SERVER_LINE_BYTES),
            keepalive,
            next_ping: now + keepalive,
            last_heard: now,
        };
        thread::Builder::new()
            .name("server-io".into())
            .spawn(move || io.run(forward))?;
        Ok(Connection { orders, waker })
    }

    /// Queues one line for sending. Fails only if the connection is over
    /// (the I/O thread reports why); a write that fails later is reported
    /// the same way.
    pub fn send(&self, line: &ClientLine<'_>) -> io::Result<()> {
        self.order(Order::Send(line.encode()))
    }

    /// Sends what is queued and closes both directions.
    pub fn close(&self) {
        let _ = self.order(Order::Close);
    }

    fn order(&self, order: Order) -> io::Result<()> {
        self.orders
            .send(order)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the connection is closed"))?;
        self.waker.wake()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // An explicit order rather than the channel's end: the thread only
        // looks at the channel when woken, and the sender goes after this.
        self.close();
    }
}

/// The I/O thread's state: the one owner of the stream.
struct IoThread {
    poll: Poll,
    transport: Transport,
    /// Whether the poll watches for WRITABLE: only while bytes wait.
    writable_interest: bool,
    /// The session's orders.
    inbox: Receiver<Order>,
    /// Splits what arrives into lines.
    lines: LineReader,
    keepalive: Duration,
    /// When the next `/ping` is due.
    next_ping: Instant,
    /// When the server last sent anything.
    last_heard: Instant,
}

impl IoThread {
    fn run<F>(mut self, mut forward: F)
    where
        F: FnMut(Received) -> bool,
    {
        let mut events = Events::with_capacity(8);
        // The TLS handshake may have left the server's first lines in
        // rustls's buffers, where no socket event will announce them: read
        // once before waiting for any.
        let mut flow = self.read(&mut forward);
        while flow.is_continue() {
            flow = self.pass(&mut events, &mut forward);
        }
        self.transport.close();
        // `None`: closed by the session, or the session is gone; nobody to tell.
        if let ControlFlow::Break(Some(reason)) = flow {
            forward(Received::Closed(reason));
        }
    }

    /// One turn: keep-alive and silence, writing, waiting, reading, orders.
    /// Breaks with why the connection is over, or `None` when the session
    /// ended it.
    fn pass<F>(&mut self, events: &mut Events, forward: &mut F) -> ControlFlow<Option<String>>
    where
        F: FnMut(Received) -> bool,
    {
        let now = Instant::now();
        let silent_until = self.last_heard + silence_limit(self.keepalive);
        if now >= silent_until {
            return ControlFlow::Break(Some(format!(
                "no answer from the server in {} s",
                silence_limit(self.keepalive).as_secs_f32()
            )));
        }
        if now >= self.next_ping {
            self.transport.queue(ClientLine::Ping.encode().as_bytes());
            self.next_ping = now + self.keepalive;
        }
        if let Err(err) = self.transport.flush() {
            return ControlFlow::Break(Some(err.to_string()));
        }
        if let Err(err) = self.watch_writable(self.transport.wants_write()) {
            return ControlFlow::Break(Some(err.to_string()));
        }
        let wait = self
            .next_ping
            .min(silent_until)
            .saturating_duration_since(now);
        match self.poll.poll(events, Some(wait)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return ControlFlow::Break(Some(err.to_string())),
        }
        // Readiness is a hint: reading until WouldBlock on any event on the
        // socket is always right, and costs nothing when there is nothing.
        if events.iter().any(|event| event.token() == SOCKET) {
            self.read(forward)?;
        }
        loop {
            match self.inbox.try_recv() {
                Ok(Order::Send(line)) => self.transport.queue(line.as_bytes()),
                Ok(Order::Close) | Err(TryRecvError::Disconnected) => {
                    return ControlFlow::Break(None)
                }
                Err(TryRecvError::Empty) => return ControlFlow::Continue(()),
            }
        }
    }

    /// Reads what arrived and passes on its complete lines as one batch.
    fn read<F>(&mut self, forward: &mut F) -> ControlFlow<Option<String>>
    where
        F: FnMut(Received) -> bool,
    {
        let mut batch = Vec::new();
        let mut heard = false;
        let lines = &mut self.lines;
        let end = self.transport.read_available(&mut |bytes| {
            heard = true;
            let _ = lines.feed(bytes, |line| {
                batch.push(match line {
                    Line::Complete(bytes) => {
                        Incoming::Line(String::from_utf8_lossy(bytes).into_owned())
                    }
                    Line::TooLong => Incoming::TooLong,
                });
                ControlFlow::Continue(())
            });
        });
        if heard {
            // Any byte counts: a long line arriving slowly is not silence.
            self.last_heard = Instant::now();
        }
        if !batch.is_empty() && !forward(Received::Lines(batch)) {
            return ControlFlow::Break(None);
        }
        match end {
            Ok(ReadEnd::Open) => ControlFlow::Continue(()),
            Ok(ReadEnd::Closed) => {
                ControlFlow::Break(Some("the server closed the connection".to_string()))
            }
            Err(err) => ControlFlow::Break(Some(err.to_string())),
        }
    }

    /// Watches for WRITABLE only while bytes wait: under edge triggers an
    /// idle interest costs nothing, but an honest one says what we wait for.
    fn watch_writable(&mut self, wanted: bool) -> io::Result<()> {
        if wanted == self.writable_interest {
            return Ok(());
        }
        let interest = if wanted {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.poll
            .registry()
            .reregister(self.transport.socket(), SOCKET, interest)?;
        self.writable_interest = wanted;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Generous: these only bound a failure, they are never waited out.
    const DEADLINE: Duration = Duration::from_secs(10);

    /// A connection to a peer on loopback, its reports on a channel.
    fn connected(keepalive: Duration) -> (Connection, TcpStream, Receiver<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(DEADLINE)).unwrap();
        let (reports, received) = mpsc::channel();
        let connection = Connection::start(Stream::Plain(socket), keepalive, move |report| {
            reports.send(report).is_ok()
        })
        .unwrap();
        (connection, peer, received)
    }

    fn lines(text: &[&str]) -> Received {
        Received::Lines(text.iter().map(|t| Incoming::Line(t.to_string())).collect())
    }

    #[test]
    fn lines_pass_on_in_order_and_queued_lines_leave_at_once() {
        let (connection, mut peer, received) = connected(DEFAULT_KEEPALIVE);
        peer.write_all(b"PONG\nNOTE<SEP>hi\n").unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            match received.recv_timeout(DEADLINE).unwrap() {
                Received::Lines(batch) => got.extend(batch),
                other => panic!("expected lines, got {other:?}"),
            }
        }
        assert_eq!(Received::Lines(got), lines(&["PONG", "NOTE<SEP>hi"]));

        // Woken, not polled: the line is out long before any ping is due.
        connection.send(&ClientLine::Who).unwrap();
        let mut line = String::new();
        BufReader::new(&peer).read_line(&mut line).unwrap();
        assert_eq!(line, "/who\n");
    }

    #[test]
    fn a_quiet_link_is_pinged_and_a_silent_server_counts_as_lost() {
        let keepalive = Duration::from_millis(200);
        let (_connection, peer, received) = connected(keepalive);
        let mut line = String::new();
        BufReader::new(&peer).read_line(&mut line).unwrap();
        assert_eq!(line, "/ping\n");
        // No answer: lost after one and a half intervals.
        match received.recv_timeout(DEADLINE).unwrap() {
            Received::Closed(why) => {
                assert_eq!(why, "no answer from the server in 0.3 s")
            }
            other => panic!("expected Closed, got {other:?}"),
        }
    }

    #[test]
    fn the_server_closing_is_reported_once() {
        let (connection, peer, received) = connected(DEFAULT_KEEPALIVE);
        drop(peer);
        assert_eq!(
            received.recv_timeout(DEADLINE).unwrap(),
            Received::Closed("the server closed the connection".to_string())
        );
        // The thread is gone, and a send says so.
        let gone = Instant::now() + DEADLINE;
        while connection.send(&ClientLine::Who).is_ok() {
            assert!(Instant::now() < gone, "the I/O thread outlived its stream");
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn closing_sends_what_was_queued_then_ends_without_a_report() {
        let (connection, peer, received) = connected(DEFAULT_KEEPALIVE);
        connection.send(&ClientLine::Quit).unwrap();
        connection.close();
        let mut text = String::new();
        let mut reader = BufReader::new(&peer);
        while reader.read_line(&mut text).unwrap() > 0 {}
        assert_eq!(text, "/quit\n");
        assert!(matches!(
            received.recv_timeout(Duration::from_millis(200)),
            Err(mpsc::RecvTimeoutError::Disconnected | mpsc::RecvTimeoutError::Timeout)
        ));
    }
}
