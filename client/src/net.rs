//! The connection to the server: connecting, the shared [`Writer`], the
//! reader thread that prints what arrives, and the keep-alive ping thread.
//! Framing and parsing come from `chat-shared`; what a line looks like comes
//! from `render`. The join handshake and the user's input belong to
//! `session`, which hears from the reader through [`ServerEvent`]s.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use chat_shared::{ClientLine, ErrorCode, Line, LineReader, ServerLine, MAX_SERVER_LINE_BYTES};

use crate::render::{self, ColorMode};
use crate::sound::Notifier;

/// How long to wait for the server to accept. A desk on the office LAN
/// answers in milliseconds; ten seconds covers a slow VPN without leaving
/// the user staring at "Connecting..." for the OS default of minutes.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often to send `/ping`. The server drops connections idle for 600 s by
/// default; a ping every minute keeps a quiet desk connected with room to
/// spare if the server is configured stricter.
pub const PING_INTERVAL: Duration = Duration::from_secs(60);

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 8192;

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

/// The sending half of the connection, shared by the input loop and the
/// ping thread; the mutex keeps their lines from interleaving.
#[derive(Debug, Clone)]
pub struct Writer {
    /// A clone of the connected socket, used only for writing.
    stream: Arc<Mutex<TcpStream>>,
}

impl Writer {
    /// Wraps a clone of the connected socket.
    pub fn new(stream: TcpStream) -> Writer {
        Writer {
            stream: Arc::new(Mutex::new(stream)),
        }
    }

    /// Sends one line, encoded by `chat-shared`.
    pub fn send(&self, line: &ClientLine<'_>) -> io::Result<()> {
        let bytes = line.encode();
        // A panic elsewhere while holding the lock cannot leave a half
        // line behind (write_all either finished or failed), so a poisoned
        // lock is still usable.
        let mut stream = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        stream.write_all(bytes.as_bytes())?;
        stream.flush()
    }

    /// Closes both directions, which also wakes the reader thread.
    pub fn shutdown(&self) {
        let stream = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// What the reader thread tells the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// `WELCOME`: the join went through under this name.
    Welcome {
        /// The name as the server stored it.
        name: String,
    },
    /// An `ERR` answering our `/join` (`name-taken`, `bad-name`, `bad-color`).
    JoinRefused {
        /// Which refusal.
        code: ErrorCode,
        /// The server's sentence for a person (not yet cleaned).
        detail: String,
    },
    /// The first bytes the server sent (the history replay, when there is
    /// one) have been printed.
    FirstBurstShown,
    /// The connection is over: `BYE`, end of stream or a read error.
    Closed {
        /// Why, for a person (not yet cleaned).
        reason: String,
    },
}

/// Starts the thread that reads, prints and chimes. It starts before the
/// user has a name, because the server sends history (and live broadcasts)
/// from the moment of connecting. `forward` returns false once the session
/// has stopped listening, which ends the thread.
pub fn spawn_reader<F>(
    stream: TcpStream,
    notifier: Notifier,
    mode: ColorMode,
    forward: F,
) -> io::Result<thread::JoinHandle<()>>
where
    F: FnMut(ServerEvent) -> bool + Send + 'static,
{
    let mut reader = Reader {
        notifier,
        mode,
        forward,
        my_name: None,
        history_header_shown: false,
        closed_because: None,
    };
    thread::Builder::new()
        .name("server-reader".into())
        .spawn(move || reader.run(stream))
}

/// Starts the thread that pings every [`PING_INTERVAL`]; it ends when a send
/// fails (the connection is gone, and the reader reports why).
pub fn spawn_pinger(writer: Writer) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("pinger".into())
        .spawn(move || loop {
            thread::sleep(PING_INTERVAL);
            if writer.send(&ClientLine::Ping).is_err() {
                break;
            }
        })
}

/// The reader thread's state.
struct Reader<F> {
    /// Rings for live messages from others.
    notifier: Notifier,
    /// Colour or not, decided at startup.
    mode: ColorMode,
    /// Passes events to the session.
    forward: F,
    /// Our name once `WELCOME` came; until then every `MSG` is someone
    /// else's, and join refusals go to the session instead of the screen.
    my_name: Option<String>,
    /// Whether the "Recent messages" line was printed.
    history_header_shown: bool,
    /// Set by `BYE`, or when the session stopped listening.
    closed_because: Option<String>,
}

impl<F> Reader<F>
where
    F: FnMut(ServerEvent) -> bool,
{
    fn run(&mut self, mut stream: TcpStream) {
        let mut lines = LineReader::new(MAX_SERVER_LINE_BYTES);
        let mut buf = vec![0; READ_CHUNK_BYTES];
        let mut first_burst = true;
        let reason = loop {
            match stream.read(&mut buf) {
                Ok(0) => break "the server closed the connection".to_string(),
                Ok(n) => {
                    let flow = lines.feed(&buf[..n], |line| self.handle(line));
                    if flow.is_break() {
                        break self.closed_because.take().unwrap_or_default();
                    }
                    if std::mem::take(&mut first_burst)
                        && !(self.forward)(ServerEvent::FirstBurstShown)
                    {
                        break "the client is shutting down".to_string();
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => break err.to_string(),
            }
        };
        (self.forward)(ServerEvent::Closed { reason });
    }

    fn handle(&mut self, line: Line<'_>) -> ControlFlow<()> {
        let bytes = match line {
            Line::Complete(bytes) => bytes,
            Line::TooLong => {
                print_line(&render::overlong_line());
                return ControlFlow::Continue(());
            }
        };
        // Invalid UTF-8 becomes U+FFFD here; controls are cleaned field by
        // field in `render`.
        let text = String::from_utf8_lossy(bytes);
        let Ok(parsed) = ServerLine::parse(&text) else {
            print_line(&render::unreadable_line());
            return ControlFlow::Continue(());
        };
        match &parsed {
            ServerLine::Bye { reason } => {
                self.closed_because = Some(reason.to_string());
                return ControlFlow::Break(());
            }
            ServerLine::Error { code, detail }
                if self.my_name.is_none()
                    && matches!(
                        code,
                        ErrorCode::NameTaken | ErrorCode::BadName | ErrorCode::BadColor
                    ) =>
            {
                let event = ServerEvent::JoinRefused {
                    code: *code,
                    detail: detail.to_string(),
                };
                return self.send_to_session(event);
            }
            ServerLine::History(_) if !self.history_header_shown => {
                self.history_header_shown = true;
                print_line(&render::history_header());
            }
            _ => {}
        }
        if let Some(shown) = render::render_line(&parsed, self.mode, &chrono::Local) {
            print_line(&shown);
        }
        match parsed {
            // Only live lines from others: not our own echo, not replayed
            // history (the notifier also limits bursts to one sound).
            ServerLine::Msg(chat) if self.my_name.as_deref() != Some(chat.name) => {
                self.notifier.message_arrived();
            }
            ServerLine::Welcome { name, .. } => {
                self.my_name = Some(name.to_string());
                return self.send_to_session(ServerEvent::Welcome {
                    name: name.to_string(),
                });
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn send_to_session(&mut self, event: ServerEvent) -> ControlFlow<()> {
        if (self.forward)(event) {
            ControlFlow::Continue(())
        } else {
            self.closed_because = Some("the client is shutting down".to_string());
            ControlFlow::Break(())
        }
    }
}

/// Prints one line to stdout. Write errors (a closed pipe) are ignored: the
/// session ends on its own when input or the connection does.
pub fn print_line(text: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
