//! One load client's connection, the engine both the load worker
//! (`worker.rs`) and the restart scenario (`restart.rs`) drive their
//! clients through: a non-blocking mio socket (from a chosen 127.0.0.x
//! source, with a small receive buffer for slow clients), the connect in
//! flight, TLS over it with `--tls`, the lines it receives and the bytes it
//! queues for the server, in the client's [`Dialect`]: our lines, IRC
//! (`irc.rs`) or our lines in WebSocket frames (`web.rs`). A dialect sits
//! above TLS, as on the server.
//!
//! Edge-triggered contract (mio registers with EPOLLET): reads go until
//! `WouldBlock` or EOF, writes until `WouldBlock` or an empty queue; a
//! `writable` flag remembers the last WRITABLE edge instead of
//! re-registering. What a connection is for, and what its lines mean, is
//! the driver's business.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_shared::{ClientLine, Line, LineReader, DEFAULT_MAX_LINE_BYTES};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::{ClientConfig, ClientConnection, HandshakeKind};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::irc::{self, IrcDesk};
use crate::marker::{self, Marker, Seen};
use crate::tls;
use crate::web::WebDesk;

/// A connect that has not completed by then counts as `ETIMEDOUT`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Read buffer a loop shares among all its sockets.
pub(crate) const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Lines may be longer than the server's own limit: the load tool must not
/// be the one that refuses a line.
pub(crate) const MAX_LINE_BYTES: usize = 4 * DEFAULT_MAX_LINE_BYTES;

/// The language a load client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Our lines, as `chat-client` sends them.
    Ours,
    /// IRC (`--irc`), as irssi or a bot would.
    Irc,
    /// Our lines in WebSocket text frames (`--ws`), as the browser desk.
    Web,
}

impl Dialect {
    /// What one received line (already out of its frames) means to the
    /// load generator.
    pub fn classify(self, line: &[u8], run: u32) -> Seen {
        match self {
            Dialect::Ours | Dialect::Web => marker::classify(line, run),
            Dialect::Irc => irc::classify(line, run),
        }
    }

    /// Its name in the report and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Ours => "ours",
            Dialect::Irc => "irc",
            Dialect::Web => "ws",
        }
    }
}

/// A connection's dialect and what it keeps.
#[derive(Debug)]
enum Talk {
    Ours,
    Irc(IrcDesk),
    Web(Box<WebDesk>),
}

/// One client socket: connecting, then open.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    stream: TcpStream,
    /// The server it connects to.
    server: SocketAddr,
    /// With `--tls`: the session over `stream`; all reads and writes go
    /// through it.
    tls: Option<Box<ClientConnection>>,
    /// When the connect started.
    started: Instant,
    /// The connect has finished.
    open: bool,
    /// Its dialect ([`Conn::introduce`]), ours until told otherwise.
    talk: Talk,
    /// Frames the incoming bytes (the text of WebSocket messages) into lines.
    lines: LineReader,
    /// Bytes queued for the server, not yet written.
    out: Vec<u8>,
    /// The last WRITABLE edge has not been used up by a `WouldBlock`.
    writable: bool,
    /// Bytes read from the socket so far.
    bytes_read: u64,
}

/// Where a non-blocking connect stands after an event on its socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectProgress {
    /// Not yet: the event was spurious.
    Pending,
    /// Connected.
    Established,
    /// Failed, with the errno name.
    Failed(String),
}

impl Conn {
    /// Starts a non-blocking connect to `addr`, from `source` if given,
    /// with a receive buffer of `rcvbuf` bytes if given, speaking TLS made
    /// from `tls` if given, and registers it for both readiness kinds under
    /// `token`. The TLS ClientHello waits in the session until the first
    /// [`Conn::flush`] after the connect.
    pub fn open(
        addr: SocketAddr,
        source: Option<IpAddr>,
        rcvbuf: Option<usize>,
        tls: Option<&Arc<ClientConfig>>,
        registry: &Registry,
        token: Token,
        now: Instant,
    ) -> io::Result<Conn> {
        let session = match tls {
            Some(config) => Some(Box::new(tls::session(config, addr)?)),
            None => None,
        };
        let mut stream = start_connect(addr, source, rcvbuf)?;
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Conn {
            stream,
            server: addr,
            tls: session,
            started: now,
            open: false,
            talk: Talk::Ours,
            lines: LineReader::new(MAX_LINE_BYTES),
            out: Vec::new(),
            writable: false,
            bytes_read: 0,
        })
    }

    /// Makes this a client of `dialect` called `name` and queues what it
    /// says first: IRC registers its nick (it must), a WebSocket asks for
    /// its upgrade; our desks say nothing yet. Taking a name in our
    /// dialect (`--named`) is the worker's, once connected.
    pub fn introduce(&mut self, dialect: Dialect, name: &str) -> Result<(), String> {
        match dialect {
            Dialect::Ours => self.talk = Talk::Ours,
            Dialect::Irc => {
                self.talk = Talk::Irc(IrcDesk::new());
                self.out.extend_from_slice(&irc::registration(name));
            }
            Dialect::Web => {
                let mut desk = WebDesk::start(self.server)?;
                desk.take_output(&mut self.out);
                self.talk = Talk::Web(Box::new(desk));
            }
        }
        Ok(())
    }

    /// The dialect this connection speaks.
    pub fn dialect(&self) -> Dialect {
        match self.talk {
            Talk::Ours => Dialect::Ours,
            Talk::Irc(_) => Dialect::Irc,
            Talk::Web(_) => Dialect::Web,
        }
    }

    /// When the connect started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The connect has finished.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Bytes read from the socket so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// With TLS, until the handshake is done.
    pub fn is_handshaking(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|session| session.is_handshaking())
    }

    /// With TLS, once the handshake is done: whether it was a full one or
    /// resumed a session.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.tls.as_ref()?.handshake_kind()
    }

    /// Checks a connecting socket after an event; once established, the
    /// connection is open and may write.
    pub fn finish_connect(&mut self) -> ConnectProgress {
        let progress = connect_progress(&self.stream);
        if progress == ConnectProgress::Established {
            self.open = true;
            self.writable = true;
        }
        progress
    }

    /// A WRITABLE edge arrived.
    pub fn set_writable(&mut self) {
        self.writable = true;
    }

    /// Reads until `WouldBlock`, handing every framed line to `on_line`
    /// (out of its WebSocket frames, for a browser desk). What the dialect
    /// answers on its own (an IRC `PONG`, messages held until the IRC
    /// welcome or the upgrade, a WebSocket pong) is queued for the next
    /// [`Conn::flush`]. `Err` names why the connection is over: `eof`, an
    /// errno name, or the TLS session's or the WebSocket's own error.
    pub fn read_lines(
        &mut self,
        buf: &mut [u8],
        mut on_line: impl FnMut(Line<'_>),
    ) -> Result<(), String> {
        loop {
            let read = match self.tls.as_deref_mut() {
                Some(session) => read_tls(&mut self.stream, session, buf),
                None => self.stream.read(buf),
            };
            match read {
                Ok(0) => return Err("eof".into()),
                Ok(n) => {
                    self.bytes_read += n as u64;
                    self.take_bytes(&buf[..n], &mut on_line)?;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // TLS: the session's own error says more than its kind.
                Err(err) if err.raw_os_error().is_none() => return Err(format!("tls: {err}")),
                Err(err) => return Err(errno_name(&err)),
            }
        }
    }

    /// Frames bytes just read into lines, through the dialect.
    fn take_bytes(
        &mut self,
        bytes: &[u8],
        on_line: &mut impl FnMut(Line<'_>),
    ) -> Result<(), String> {
        let Conn {
            talk, lines, out, ..
        } = self;
        // Our lines (and a browser desk's frames' text) and IRC lines alike
        // are split by the one line reader.
        let mut split = |text: &[u8], to: &mut dyn FnMut(Line<'_>)| {
            let _ = lines.feed(text, |line| {
                to(line);
                ControlFlow::Continue(())
            });
        };
        match talk {
            Talk::Ours => split(bytes, on_line),
            Talk::Irc(desk) => split(bytes, &mut |line| {
                if let Line::Complete(text) = &line {
                    desk.heard(text, out);
                }
                on_line(line);
            }),
            Talk::Web(desk) => {
                let fed = desk.feed(bytes, |text| split(text, on_line));
                desk.take_output(out);
                fed?;
            }
        }
        Ok(())
    }

    /// Queues `NAME<SEP>TEXT` (a message in `#main`) with `marker` in a
    /// text of `payload_bytes` (an IRC desk: `PRIVMSG #main :TEXT`, under
    /// the nick it registered).
    pub fn queue_say(&mut self, name: &str, marker: &Marker, payload_bytes: usize) {
        let text = marked_text(marker, payload_bytes);
        if let Talk::Irc(desk) = &mut self.talk {
            desk.say(&text, &mut self.out);
            return;
        }
        self.queue_line(&ClientLine::Say { name, text: &text });
    }

    /// Queues `/to ROOM TEXT` (a message in ROOM, a room this connection
    /// is in) with `marker` in a text of `payload_bytes`. Our desks only:
    /// `--rooms` is refused with `--irc` and `--ws`.
    pub fn queue_to(&mut self, room: &str, marker: &Marker, payload_bytes: usize) {
        let text = marked_text(marker, payload_bytes);
        self.queue_line(&ClientLine::To { room, text: &text });
    }

    /// Queues one line of our protocol (in a frame, for a browser desk).
    pub fn queue_line(&mut self, line: &ClientLine<'_>) {
        let line = line.encode();
        match &mut self.talk {
            Talk::Web(desk) => {
                // A line is UTF-8, so a frame never fails to be made.
                let _ = desk.send(line.as_bytes());
                desk.take_output(&mut self.out);
            }
            _ => self.out.extend_from_slice(line.as_bytes()),
        }
    }

    /// Writes what is queued until done or `WouldBlock`; nothing before
    /// the connect has finished. `Err` names why the socket is no longer
    /// usable.
    pub fn flush(&mut self) -> Result<(), String> {
        if !self.open {
            return Ok(());
        }
        match self.tls.as_deref_mut() {
            Some(session) => {
                write_queued_tls(&mut self.stream, session, &mut self.out, &mut self.writable)
            }
            None => write_queued(&mut self.stream, &mut self.out, &mut self.writable),
        }
    }

    /// Writes `/quit` (IRC: `QUIT`), best effort: the socket is about to
    /// be dropped.
    pub fn quit(&mut self) {
        let quit = match &mut self.talk {
            Talk::Ours => ClientLine::Quit.encode().into_bytes(),
            Talk::Irc(_) => irc::quit(),
            Talk::Web(desk) => {
                let _ = desk.send(ClientLine::Quit.encode().as_bytes());
                let mut frame = Vec::new();
                desk.take_output(&mut frame);
                frame
            }
        };
        match self.tls.as_deref_mut() {
            Some(session) => {
                let _ = session.writer().write_all(&quit);
                let _ = session.write_tls(&mut self.stream);
            }
            None => {
                let _ = self.stream.write(&quit);
            }
        }
    }

    /// Leaves `registry`; the socket closes when the connection is dropped.
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }
}

/// A message TEXT of `payload_bytes` carrying `marker`.
fn marked_text(marker: &Marker, payload_bytes: usize) -> String {
    let mut text = String::with_capacity(payload_bytes + 64);
    marker.write_text(payload_bytes, &mut text);
    text
}

/// mio's rule for a connect in flight: `take_error` first, then `peer_addr`,
/// where `NotConnected` means not yet.
fn connect_progress(stream: &TcpStream) -> ConnectProgress {
    match stream.take_error() {
        Ok(Some(err)) | Err(err) => return ConnectProgress::Failed(errno_name(&err)),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => ConnectProgress::Established,
        Err(err) if err.kind() == io::ErrorKind::NotConnected => ConnectProgress::Pending,
        Err(err) => ConnectProgress::Failed(errno_name(&err)),
    }
}

/// Writes `out` until it is empty or the socket would block, which clears
/// `writable` until the next WRITABLE edge.
fn write_queued(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    writable: &mut bool,
) -> Result<(), String> {
    while *writable && !out.is_empty() {
        match stream.write(out) {
            Ok(0) => return Err("write returned 0".into()),
            Ok(n) => {
                out.drain(..n);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => *writable = false,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(errno_name(&err)),
        }
    }
    Ok(())
}

/// Like `read` on a non-blocking socket, but plaintext out of TLS: `Ok(0)`
/// at the end (TCP EOF or the server's close_notify), `WouldBlock` when the
/// socket has nothing more. Handshake replies this produces are left in the
/// session for the next write.
fn read_tls(
    stream: &mut TcpStream,
    tls: &mut ClientConnection,
    buf: &mut [u8],
) -> io::Result<usize> {
    loop {
        match tls.reader().read(buf) {
            Ok(n) => return Ok(n),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
        if tls.read_tls(stream)? == 0 {
            return Ok(0);
        }
        if let Err(err) = tls.process_new_packets() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, err));
        }
    }
}

/// Hands `out` to the session and writes what the session has (records and
/// handshake messages) until done or `WouldBlock`, which clears `writable`.
fn write_queued_tls(
    stream: &mut TcpStream,
    tls: &mut ClientConnection,
    out: &mut Vec<u8>,
    writable: &mut bool,
) -> Result<(), String> {
    loop {
        if !out.is_empty() {
            // Buffered in the session; before the handshake ends it waits there.
            let taken = tls.writer().write(out).map_err(|err| errno_name(&err))?;
            out.drain(..taken);
        }
        if !*writable || !tls.wants_write() {
            return Ok(());
        }
        while *writable && tls.wants_write() {
            match tls.write_tls(stream) {
                Ok(0) => return Err("write returned 0".into()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => *writable = false,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(errno_name(&err)),
            }
        }
        if out.is_empty() {
            return Ok(());
        }
    }
}

/// The source address for client `index`: `127.0.0.(1 + index % K)` when
/// spreading over K > 1 addresses, else none (the kernel picks).
pub fn source_address(target: SocketAddr, index: usize, source_ips: usize) -> Option<IpAddr> {
    if source_ips <= 1 || !target.is_ipv4() {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        1 + (index % source_ips) as u8,
    )))
}

/// Creates a non-blocking TCP socket, optionally bound to `source`, and
/// starts connecting it to `addr`.
fn start_connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
    rcvbuf: Option<usize>,
) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(bytes) = rcvbuf {
        // Before connect, so the window advertised in the handshake is small.
        socket.set_recv_buffer_size(bytes)?;
    }
    if let Some(ip) = source {
        defer_port_choice(&socket);
        socket.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// IP_BIND_ADDRESS_NO_PORT: bind() with port 0 would otherwise reserve a
/// port for the address alone; deferring the choice to connect() lets ports
/// be shared across destinations. Failure only costs that optimisation.
#[cfg(target_os = "linux")]
fn defer_port_choice(socket: &Socket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid fd and a pointer to a c_int that outlives the call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn defer_port_choice(_socket: &Socket) {}

/// The errno name of a socket error, for the report's `connect_errors`.
pub fn errno_name(err: &io::Error) -> String {
    let Some(code) = err.raw_os_error() else {
        return format!("{:?}", err.kind());
    };
    let name = match code {
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::EPIPE => "EPIPE",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EAGAIN => "EAGAIN",
        _ => return format!("errno {code}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_spread_over_loopback_addresses() {
        let target: SocketAddr = "127.0.0.1:5002".parse().unwrap();
        assert_eq!(source_address(target, 5, 1), None);
        assert_eq!(
            source_address(target, 0, 3),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            source_address(target, 4, 3),
            Some("127.0.0.2".parse().unwrap())
        );
        let v6: SocketAddr = "[::1]:5002".parse().unwrap();
        assert_eq!(source_address(v6, 4, 3), None);
    }

    #[test]
    fn errno_names() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(errno_name(&refused), "ECONNREFUSED");
        assert_eq!(
            errno_name(&io::Error::from_raw_os_error(9999)),
            "errno 9999"
        );
    }
}
