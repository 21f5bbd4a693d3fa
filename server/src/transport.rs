//! The byte stream under a [`crate::connection::Connection`]: plaintext in,
//! plaintext out, non-blocking, registered with the poll; plain TCP or TLS
//! (rustls), decided by the peer's first byte when the server takes both.
//!
//! TLS itself, and how it keeps the edge-triggered contract with the bytes
//! it holds in flight, is [`crate::tls::session`]: a TLS stream reads its
//! ciphertext into the same shared read buffer as a plain one.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ServerConfig;

use crate::tls::session::TlsSession;

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
    /// A TLS handshake is asked for and may not begin yet: the layer stays
    /// undecided, its ClientHello unread.
    TlsMustWait,
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
    Tls(Box<TlsSession>),
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

    /// Looks at the first byte, without taking it, to settle plain or TLS;
    /// a TLS handshake begins only if `may_begin_tls`. A plain stream
    /// stays plain, and a TLS one TLS, whatever comes later.
    pub fn settle_layer(&mut self, may_begin_tls: bool) -> io::Result<FirstByte> {
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
            if !may_begin_tls {
                return Ok(FirstByte::TlsMustWait);
            }
            let session = TlsSession::new(Arc::clone(config))?;
            self.layer = Layer::Tls(Box::new(session));
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
            Layer::Tls(session) => session.is_handshaking(),
        }
    }

    /// True while a TLS handshake runs (begun, not done, not failed).
    pub fn is_tls_handshaking(&self) -> bool {
        matches!(&self.layer, Layer::Tls(session) if session.is_handshaking())
    }

    /// Reads plaintext into the front of `buffer` (the loop's shared read
    /// buffer); `Ok(0)` at the end of the stream (or after TLS's
    /// close_notify), `WouldBlock` when nothing more is there now.
    pub fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match &mut self.layer {
            Layer::Tls(session) => session.read(&mut self.stream, buffer),
            _ => self.stream.read(buffer),
        }
    }

    /// Writes plaintext from several buffers; returns how much it took. A
    /// TLS stream takes nothing (`WouldBlock`) while earlier records are
    /// still waiting for the socket, or its handshake is not done.
    pub fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match &mut self.layer {
            Layer::Tls(session) => session.write_vectored(&mut self.stream, slices),
            _ => self.stream.write_vectored(slices),
        }
    }

    /// Writes TLS records that are waiting (handshake messages, alerts,
    /// encrypted lines) until done or `WouldBlock`.
    pub fn write_pending(&mut self) -> io::Result<()> {
        match &mut self.layer {
            Layer::Tls(session) => session.write_pending(&mut self.stream),
            _ => Ok(()),
        }
    }

    /// True while TLS records wait for the socket.
    pub fn has_pending_output(&self) -> bool {
        match &self.layer {
            Layer::Tls(session) => session.has_pending_output(),
            _ => false,
        }
    }

    /// Says goodbye the TLS way (close_notify), best effort, just before the
    /// socket is closed.
    pub fn send_close_notify(&mut self) {
        if let Layer::Tls(session) = &mut self.layer {
            session.send_close_notify(&mut self.stream);
        }
    }
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
