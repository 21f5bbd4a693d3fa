//! The bytes under one connection: plain TCP, or TLS over it, driven
//! non-blocking by the connection's I/O thread (`net`). Owns the socket
//! and, with TLS, rustls's state for it: one owner for both, since a rustls
//! connection is one state machine that cannot be split between a reading
//! and a writing thread. Knows nothing of lines; `net` frames them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

use mio::net::TcpStream as MioStream;
use rustls::ClientConnection;

/// Bytes read from the socket (or from rustls's plaintext) at a time.
const READ_CHUNK_BYTES: usize = 8192;

/// A connected stream as the connect step hands it over: blocking, and
/// for TLS with the handshake already done.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS, handshake complete.
    Tls(Box<ClientConnection>, TcpStream),
}

/// Whether the peer is still there after a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Everything available was read; more may come.
    Open,
    /// The server closed its side (end of stream, or TLS `close_notify`).
    Closed,
}

/// A connected, non-blocking stream.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP.
    Plain {
        socket: MioStream,
        /// Bytes queued and not yet taken by the socket.
        unsent: Vec<u8>,
    },
    /// TLS over TCP; rustls buffers what is not yet sent.
    Tls {
        socket: MioStream,
        tls: Box<ClientConnection>,
    },
}

impl Transport {
    /// Makes `stream` non-blocking, for a mio loop.
    pub fn new(stream: Stream) -> io::Result<Transport> {
        let into_mio = |socket: TcpStream| -> io::Result<MioStream> {
            socket.set_nonblocking(true)?;
            Ok(MioStream::from_std(socket))
        };
        Ok(match stream {
            Stream::Plain(socket) => Transport::Plain {
                socket: into_mio(socket)?,
                unsent: Vec::new(),
            },
            Stream::Tls(mut tls, socket) => {
                // Chat lines are tiny and the outbox holds at most a hundred;
                // rustls's default cap would turn a burst into a write error.
                tls.set_buffer_limit(None);
                Transport::Tls {
                    socket: into_mio(socket)?,
                    tls,
                }
            }
        })
    }

    /// The socket, to register with the poll.
    pub fn socket(&mut self) -> &mut MioStream {
        match self {
            Transport::Plain { socket, .. } | Transport::Tls { socket, .. } => socket,
        }
    }

    /// Reads until the socket would block, handing every plaintext byte to
    /// `sink` in order. Edge-triggered readiness means stopping earlier
    /// could leave bytes that no event would announce again.
    pub fn read_available(&mut self, sink: &mut dyn FnMut(&[u8])) -> io::Result<ReadEnd> {
        let mut buf = [0u8; READ_CHUNK_BYTES];
        match self {
            Transport::Plain { socket, .. } => loop {
                match socket.read(&mut buf) {
                    Ok(0) => return Ok(ReadEnd::Closed),
                    Ok(n) => sink(&buf[..n]),
                    Err(err) if would_block(&err) => return Ok(ReadEnd::Open),
                    Err(err) if interrupted(&err) => {}
                    Err(err) => return Err(err),
                }
            },
            Transport::Tls { socket, tls } => loop {
                // Plaintext first: the handshake may have left some in
                // rustls's buffer, which no socket event would announce.
                // Drained after every record batch, too, so that buffer
                // never fills and refuses more.
                loop {
                    match tls.reader().read(&mut buf) {
                        Ok(0) => return Ok(ReadEnd::Closed),
                        Ok(n) => sink(&buf[..n]),
                        Err(err) if would_block(&err) => break,
                        // The peer closed without close_notify: over, all the same.
                        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                            return Ok(ReadEnd::Closed)
                        }
                        Err(err) => return Err(err),
                    }
                }
                match tls.read_tls(socket) {
                    // The reader reports the end of stream on the next turn.
                    Ok(_) => {}
                    Err(err) if would_block(&err) => return Ok(ReadEnd::Open),
                    Err(err) if interrupted(&err) => continue,
                    Err(err) => return Err(err),
                }
                tls.process_new_packets()
                    .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
            },
        }
    }

    /// Queues bytes to send; [`Transport::flush`] sends them.
    pub fn queue(&mut self, bytes: &[u8]) {
        match self {
            Transport::Plain { unsent, .. } => unsent.extend_from_slice(bytes),
            Transport::Tls { tls, .. } => {
                // Cannot fail: the buffer limit is off (see `new`).
                let _ = tls.writer().write_all(bytes);
            }
        }
    }

    /// Writes queued bytes until they are gone or the socket would block.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain { socket, unsent } => {
                while !unsent.is_empty() {
                    match socket.write(unsent) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            unsent.drain(..n);
                        }
                        Err(err) if would_block(&err) => break,
                        Err(err) if interrupted(&err) => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            Transport::Tls { socket, tls } => {
                while tls.wants_write() {
                    match tls.write_tls(socket) {
                        Ok(_) => {}
                        Err(err) if would_block(&err) => break,
                        Err(err) if interrupted(&err) => {}
                        Err(err) => return Err(err),
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether bytes wait for the socket to take them.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain { unsent, .. } => !unsent.is_empty(),
            Transport::Tls { tls, .. } => tls.wants_write(),
        }
    }

    /// Sends what is queued if the socket takes it now (a `/quit` before
    /// closing), says goodbye at the TLS level, and closes both directions.
    pub fn close(&mut self) {
        if let Transport::Tls { tls, .. } = self {
            tls.send_close_notify();
        }
        let _ = self.flush();
        let _ = self.socket().shutdown(Shutdown::Both);
    }
}

fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
}
