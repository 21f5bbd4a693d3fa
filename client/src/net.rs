//! One connection to the server: connecting, the [`Writer`], the reader
//! thread that passes on every line the server sends, and the keep-alive
//! ping that also finds a silent dead link. Framing comes from
//! `chat-shared`; what the lines mean, and what to do when a connection
//! ends, is the session's business.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use chat_shared::{ClientLine, Line, LineReader, MAX_SERVER_LINE_BYTES};

/// How long to wait for the server to accept. A desk on the office LAN
/// answers in milliseconds; ten seconds covers a slow VPN without leaving
/// the user staring at "Connecting..." for the OS default of minutes.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default for `--keepalive`: how often to send `/ping`. The server drops
/// connections idle for 600 s by default; a ping every minute keeps a quiet
/// desk connected with room to spare, and finds a dead link within 90 s.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);

/// How long a line may take to leave. Chat lines are tiny, so a send that
/// waits this long is writing into a link that no longer carries anything.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 8192;

/// How long the server may stay silent before the link counts as dead:
/// one keep-alive interval (a `PONG` answers each ping) and half of one
/// more for the answer to travel. A server that is up answers in
/// milliseconds; a dead link (a cable pulled, a peer gone without a word)
/// never does, and TCP alone would not notice for many minutes.
pub fn silence_limit(keepalive: Duration) -> Duration {
    keepalive + keepalive / 2
}

/// Resolves `host` and connects to the first address that answers.
pub fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                // Chat lines are tiny and someone is waiting for each.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the host name has no addresses")
    }))
}

/// What the reader thread passes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The complete lines of one read, in order (invalid UTF-8 made
    /// U+FFFD): the first batch is the server's greeting burst.
    Lines(Vec<Incoming>),
    /// The connection is over: end of stream, a read error, or silence
    /// past [`silence_limit`]. Why, for a person.
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

/// An open connection: its writer, its reader and pinger threads. Dropping
/// it stops the pinger; [`Connection::close`] also wakes the reader.
#[derive(Debug)]
pub struct Connection {
    writer: Writer,
    /// Dropped with the connection, which ends the pinger's wait.
    _stop_pinger: Sender<()>,
}

impl Connection {
    /// Starts the reader and pinger threads on `stream`. The reader passes
    /// what arrives to `forward`, last of all [`Received::Closed`], and
    /// stops early if `forward` returns false.
    pub fn start<F>(stream: TcpStream, keepalive: Duration, forward: F) -> io::Result<Connection>
    where
        F: FnMut(Received) -> bool + Send + 'static,
    {
        stream.set_read_timeout(Some(silence_limit(keepalive)))?;
        stream.set_write_timeout(Some(SEND_TIMEOUT))?;
        let writer = Writer::new(stream.try_clone()?);
        let (stop_pinger, stopped) = mpsc::channel::<()>();
        let pinger = writer.clone();
        thread::Builder::new()
            .name("pinger".into())
            .spawn(move || {
                // Ends when the connection is dropped (the sender goes) or
                // a ping cannot be sent (the reader reports why).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(keepalive) {
                    if pinger.send(&ClientLine::Ping).is_err() {
                        break;
                    }
                }
            })?;
        thread::Builder::new()
            .name("server-reader".into())
            .spawn(move || read_lines(stream, keepalive, forward))?;
        Ok(Connection {
            writer,
            _stop_pinger: stop_pinger,
        })
    }

    /// Sends one line.
    pub fn send(&self, line: &ClientLine<'_>) -> io::Result<()> {
        self.writer.send(line)
    }

    /// Closes both directions, which ends the reader thread.
    pub fn close(&self) {
        self.writer.shutdown();
    }
}

/// The sending half of the connection, shared by the session and the
/// pinger; the mutex keeps their lines from interleaving.
#[derive(Debug, Clone)]
struct Writer {
    /// A clone of the connected socket, used only for writing.
    stream: Arc<Mutex<TcpStream>>,
}

impl Writer {
    fn new(stream: TcpStream) -> Writer {
        Writer {
            stream: Arc::new(Mutex::new(stream)),
        }
    }

    fn send(&self, line: &ClientLine<'_>) -> io::Result<()> {
        let bytes = line.encode();
        // A panic elsewhere while holding the lock cannot leave a half
        // line behind (write_all either finished or failed), so a poisoned
        // lock is still usable.
        let mut stream = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        stream.write_all(bytes.as_bytes())?;
        stream.flush()
    }

    fn shutdown(&self) {
        let stream = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// The reader thread: splits what arrives into lines and passes them on.
fn read_lines<F>(mut stream: TcpStream, keepalive: Duration, mut forward: F)
where
    F: FnMut(Received) -> bool,
{
    let mut lines = LineReader::new(MAX_SERVER_LINE_BYTES);
    let mut buf = vec![0; READ_CHUNK_BYTES];
    let reason = loop {
        match stream.read(&mut buf) {
            Ok(0) => break "the server closed the connection".to_string(),
            Ok(n) => {
                let mut batch = Vec::new();
                let _ = lines.feed(&buf[..n], |line| {
                    batch.push(match line {
                        Line::Complete(bytes) => {
                            Incoming::Line(String::from_utf8_lossy(bytes).into_owned())
                        }
                        Line::TooLong => Incoming::TooLong,
                    });
                    std::ops::ControlFlow::Continue(())
                });
                if !batch.is_empty() && !forward(Received::Lines(batch)) {
                    return;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break format!(
                    "no answer from the server in {} s",
                    silence_limit(keepalive).as_secs_f32()
                )
            }
            Err(err) => break err.to_string(),
        }
    };
    forward(Received::Closed(reason));
}
