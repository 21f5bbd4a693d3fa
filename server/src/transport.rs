//! The byte stream under a [`crate::connection::Connection`]: plaintext in,
//! plaintext out, non-blocking, registered with the poll; plain TCP or TLS
//! (rustls), decided by the peer's first byte when the server takes both.
//!
//! # TLS under the edge-triggered contract
//!
//! rustls is a state machine without I/O of its own: ciphertext is moved
//! between it and the socket here. Reading pulls records until the socket
//! says `WouldBlock` (one `read_tls` per readiness event would strand records
//! under edge triggers, the pitfall of rustls's own mio example). Writing
//! hands plaintext to rustls only once earlier records are out, so what the
//! connection's outbox counts as written is at most one batch ahead of the
//! socket, and [`Transport::has_pending_output`] keeps WRITABLE interest
//! honest while a handshake or records wait.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::{ServerConfig, ServerConnection};

/// The first byte of every TLS record that starts a handshake.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Which streams the server takes.
#[derive(Debug, Clone)]
pub enum Security {
    /// Plain TCP only (no `--tls`).
    Plain,
    /// TLS and plain TCP on the same port, told apart by the first byte.
    Either(Arc<ServerConfig>),
    /// TLS only (`--require-tls`): a plain peer is refused with a line.
    TlsOnly(Arc<ServerConfig>),
}

/// What the peer's first byte said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstByte {
    /// Nothing has arrived yet.
    NotYet,
    /// The stream is plain (or was decided earlier).
    Plain,
    /// A TLS handshake began; the stream is TLS from now on.
    Tls,
    /// Plain text on a TLS-only server.
    PlainRefused,
    /// The peer closed before sending anything.
    Closed,
}

/// Where a stream is between plain and TLS.
enum Layer {
    /// Plain TCP.
    Plain,
    /// Nothing has arrived yet; the first byte decides.
    Undecided {
        config: Arc<ServerConfig>,
        tls_only: bool,
    },
    /// TLS.
    Tls(Box<ServerConnection>),
}

/// A client's stream.
pub struct Transport {
    stream: TcpStream,
    layer: Layer,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layer = match &self.layer {
            Layer::Plain => "plain",
            Layer::Undecided { .. } => "undecided",
            Layer::Tls(_) => "tls",
        };
        f.debug_struct("Transport")
            .field("stream", &self.stream)
            .field("layer", &layer)
            .finish()
    }
}

impl Transport {
    /// A stream the server accepted under `security`.
    pub fn new(stream: TcpStream, security: &Security) -> Transport {
        let layer = match security {
            Security::Plain => Layer::Plain,
            Security::Either(config) => Layer::Undecided {
                config: Arc::clone(config),
                tls_only: false,
            },
            Security::TlsOnly(config) => Layer::Undecided {
                config: Arc::clone(config),
                tls_only: true,
            },
        };
        Transport { stream, layer }
    }

    /// Looks at the first byte, without taking it, to settle plain or TLS.
    /// A plain stream stays plain, and a TLS one TLS, whatever comes later.
    pub fn settle_layer(&mut self) -> io::Result<FirstByte> {
        let Layer::Undecided { config, tls_only } = &self.layer else {
            return Ok(match self.layer {
                Layer::Tls(_) => FirstByte::Tls,
                _ => FirstByte::Plain,
            });
        };
        let mut first = [0u8; 1];
        let peeked = loop {
            match self.stream.peek(&mut first) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(FirstByte::NotYet),
                other => break other?,
            }
        };
        if peeked == 0 {
            return Ok(FirstByte::Closed);
        }
        if first[0] == TLS_HANDSHAKE_RECORD {
            let connection = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
            self.layer = Layer::Tls(Box::new(connection));
            return Ok(FirstByte::Tls);
        }
        let refused = *tls_only;
        self.layer = Layer::Plain;
        Ok(if refused {
            FirstByte::PlainRefused
        } else {
            FirstByte::Plain
        })
    }

    /// True until the first byte has settled plain or TLS.
    pub fn is_undecided(&self) -> bool {
        matches!(self.layer, Layer::Undecided { .. })
    }

    /// True while a TLS handshake is unfinished (or the layer undecided).
    pub fn is_handshaking(&self) -> bool {
        match &self.layer {
            Layer::Plain => false,
            Layer::Undecided { .. } => true,
            Layer::Tls(connection) => connection.is_handshaking(),
        }
    }

    /// Reads plaintext; `Ok(0)` at the end of the stream, `WouldBlock` when
    /// nothing more is there now. For TLS, pulls records from the socket
    /// until a plaintext byte is ready or the socket has nothing more.
    pub fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let Transport { stream, layer } = self;
        let Layer::Tls(tls) = layer else {
            return stream.read(buffer);
        };
        loop {
            match tls.reader().read(buffer) {
                // Ok(0): the peer said close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match tls.read_tls(stream) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // Tell the peer why (an alert), best effort.
                        let _ = tls.write_tls(stream);
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes plaintext from several buffers; returns how much it took. A
    /// TLS stream takes nothing (`WouldBlock`) while earlier records are
    /// still waiting for the socket.
    pub fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        let Transport { stream, layer } = self;
        let Layer::Tls(tls) = layer else {
            return stream.write_vectored(slices);
        };
        write_records(tls, stream)?;
        if tls.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let taken = tls.writer().write_vectored(slices)?;
        if taken == 0 && slices.iter().any(|slice| !slice.is_empty()) {
            // rustls's own buffer is full (the handshake is not done).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match write_records(tls, stream) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(taken),
        }
    }

    /// Writes TLS records that are waiting (handshake messages, alerts,
    /// encrypted lines) until done or `WouldBlock`.
    pub fn write_pending(&mut self) -> io::Result<()> {
        let Transport { stream, layer } = self;
        match layer {
            Layer::Tls(tls) => match write_records(tls, stream) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                other => other,
            },
            _ => Ok(()),
        }
    }

    /// True while TLS records wait for the socket.
    pub fn has_pending_output(&self) -> bool {
        match &self.layer {
            Layer::Tls(tls) => tls.wants_write(),
            _ => false,
        }
    }

    /// Says goodbye the TLS way (close_notify), best effort, just before the
    /// socket is closed.
    pub fn send_close_notify(&mut self) {
        if let Layer::Tls(tls) = &mut self.layer {
            tls.send_close_notify();
            let _ = self.write_pending();
        }
    }
}

/// Moves rustls's waiting records to the socket until none is left or the
/// socket would block.
fn write_records(tls: &mut ServerConnection, stream: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Source for Transport {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.stream.register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.stream.reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.stream.deregister(registry)
    }
}
