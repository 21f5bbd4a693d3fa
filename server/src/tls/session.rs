//! One TLS connection in the loop: rustls's unbuffered connection for the
//! handshake, then, for TLS 1.3, the small record layer of
//! [`super::records`]; and the two buffers a connection needs only while
//! bytes are in flight.
//!
//! # Buffers
//!
//! Ciphertext is read into the loop's one shared read buffer, as a plain
//! desk's bytes are, and opened there. A connection keeps only what a read
//! left over: the start of a record still arriving (`partial`), and records
//! sealed but not yet taken by the socket (`unsent`). Both are empty, and
//! hold no memory, while the desk is idle.
//!
//! # The edge-triggered contract
//!
//! Reading pulls ciphertext until plaintext is ready or the socket says
//! `WouldBlock`. Writing seals at most one batch of plaintext, and only
//! once the records of the last batch are out, so what the connection's
//! outbox counts as written is at most one batch ahead of the socket;
//! [`TlsSession::has_pending_output`] says when records wait for the
//! socket, to keep WRITABLE interest honest.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use rustls::{AlertDescription, ServerConfig};

use super::records::{Fatal, Records};

/// Where a TLS connection is.
enum Stage {
    /// rustls makes the handshake; and keeps the whole connection when its
    /// keys cannot be taken over (TLS 1.2, or an AES-128 suite).
    Rustls(Box<UnbufferedServerConnection>),
    /// TLS 1.3 after the handshake.
    Records(Box<Records>),
    /// Failed, or said goodbye: nothing more is read or sealed.
    Ended,
}

/// One connection's TLS state and its bytes in flight.
pub struct TlsSession {
    stage: Stage,
    /// Ciphertext received that does not make a whole record yet (during
    /// the handshake, a whole handshake message).
    partial: Vec<u8>,
    /// Records sealed, from `unsent_from` on not yet taken by the socket.
    unsent: Vec<u8>,
    unsent_from: usize,
    /// close_notify arrived (or the stream ended): reads say end of stream.
    peer_closed: bool,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stage = match &self.stage {
            Stage::Rustls(connection) if connection.is_handshaking() => "handshake",
            Stage::Rustls(_) => "rustls",
            Stage::Records(_) => "records",
            Stage::Ended => "ended",
        };
        f.debug_struct("TlsSession")
            .field("stage", &stage)
            .field("partial", &self.partial.len())
            .field("unsent", &(self.unsent.len() - self.unsent_from))
            .finish()
    }
}

impl TlsSession {
    /// A connection whose ClientHello is on its way.
    pub fn new(config: Arc<ServerConfig>) -> io::Result<TlsSession> {
        let connection = UnbufferedServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsSession {
            stage: Stage::Rustls(Box::new(connection)),
            partial: Vec::new(),
            unsent: Vec::new(),
            unsent_from: 0,
            peer_closed: false,
        })
    }

    /// True until the handshake is done.
    pub fn is_handshaking(&self) -> bool {
        match &self.stage {
            Stage::Rustls(connection) => connection.is_handshaking(),
            Stage::Records(_) | Stage::Ended => false,
        }
    }

    /// True while sealed records wait for the socket.
    pub fn has_pending_output(&self) -> bool {
        self.unsent_from < self.unsent.len()
    }

    /// Reads plaintext into the front of `buffer` (the loop's shared read
    /// buffer, which also takes the ciphertext): `Ok(0)` at the end of the
    /// stream or after close_notify, `WouldBlock` when the socket has
    /// nothing more.
    pub fn read(&mut self, stream: &mut TcpStream, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.peer_closed {
                return Ok(0);
            }
            let held = self.partial.len();
            if held == buffer.len() {
                // A handshake message that fills the loop's whole buffer.
                let too_large =
                    rustls::Error::General("a TLS message larger than the read buffer".into());
                return Err(self.fail(
                    stream,
                    Fatal::telling(AlertDescription::RecordOverflow, too_large),
                ));
            }
            buffer[..held].copy_from_slice(&self.partial);
            let fresh = loop {
                match stream.read(&mut buffer[held..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if fresh == 0 {
                self.peer_closed = true;
                return Ok(0);
            }
            let filled = held + fresh;
            let (plaintext, consumed) = match self.open(&mut buffer[..filled]) {
                Ok(opened) => opened,
                Err(fatal) => return Err(self.fail(stream, fatal)),
            };
            self.partial = buffer[consumed..filled].to_vec();
            let length = match plaintext {
                Plaintext::InPlace(length) => length,
                Plaintext::Copied(bytes) => {
                    buffer[..bytes.len()].copy_from_slice(&bytes);
                    bytes.len()
                }
            };
            if length > 0 {
                return Ok(length);
            }
            // Handshake messages, a key update, or a record still
            // arriving: read on until there is plaintext or the socket
            // would block.
        }
    }

    /// Opens what `received` holds with the current stage; returns the
    /// plaintext and how many bytes it used.
    fn open(&mut self, received: &mut [u8]) -> Result<(Plaintext, usize), Fatal> {
        match &mut self.stage {
            Stage::Records(records) => {
                let opened = records.open(received)?;
                self.peer_closed = records.peer_closed();
                Ok((Plaintext::InPlace(opened.plaintext), opened.consumed))
            }
            Stage::Rustls(connection) => {
                let mut plaintext = Vec::new();
                let driven = drive(connection, received, &mut self.unsent, &mut plaintext)
                    .map_err(|error| Fatal { alert: None, error })?;
                self.peer_closed = driven.peer_closed;
                if driven.traffic && Records::can_take_over(connection) {
                    let Stage::Rustls(connection) =
                        std::mem::replace(&mut self.stage, Stage::Ended)
                    else {
                        unreachable!("matched just above");
                    };
                    let records = Records::take_over(*connection)
                        .map_err(|error| Fatal { alert: None, error })?;
                    self.stage = Stage::Records(Box::new(records));
                }
                Ok((Plaintext::Copied(plaintext), driven.consumed))
            }
            Stage::Ended => Ok((Plaintext::InPlace(0), received.len())),
        }
    }

    /// Ends the session after `fatal`: tells the peer why (an alert, best
    /// effort) and turns it into an error for the connection.
    fn fail(&mut self, stream: &mut TcpStream, fatal: Fatal) -> io::Error {
        match &mut self.stage {
            Stage::Records(records) => {
                if let Some(alert) = fatal.alert {
                    let _ = records.seal_alert(alert, &mut self.unsent);
                }
            }
            // rustls queued its alert when it failed: the next look at the
            // connection hands it over.
            Stage::Rustls(connection) => {
                let UnbufferedStatus { state, .. } = connection.process_tls_records(&mut []);
                if let Ok(ConnectionState::EncodeTlsData(mut alert)) = state {
                    let _ = encode_into(&mut self.unsent, |out| alert.encode(out));
                }
            }
            Stage::Ended => {}
        }
        self.stage = Stage::Ended;
        self.partial = Vec::new();
        let _ = self.write_pending(stream);
        io::Error::new(io::ErrorKind::InvalidData, fatal.error)
    }

    /// Seals plaintext from several buffers and writes it; returns how much
    /// it took. Takes nothing (`WouldBlock`) while earlier records wait for
    /// the socket, or while the handshake is not done.
    pub fn write_vectored(
        &mut self,
        stream: &mut TcpStream,
        slices: &[IoSlice<'_>],
    ) -> io::Result<usize> {
        self.write_unsent(stream)?;
        let taken = match &mut self.stage {
            Stage::Records(records) => records
                .seal(slices, &mut self.unsent)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            Stage::Rustls(connection) => seal_with_rustls(connection, slices, &mut self.unsent)?,
            Stage::Ended => return Err(io::ErrorKind::BrokenPipe.into()),
        };
        match self.write_unsent(stream) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(taken),
        }
    }

    /// Writes records that wait (handshake messages, alerts, lines) until
    /// done or `WouldBlock`.
    pub fn write_pending(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        match self.write_unsent(stream) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// Says goodbye the TLS way (close_notify), best effort; nothing is
    /// sealed after it.
    pub fn send_close_notify(&mut self, stream: &mut TcpStream) {
        match &mut self.stage {
            Stage::Records(records) => {
                let _ = records.seal_alert(AlertDescription::CloseNotify, &mut self.unsent);
            }
            Stage::Rustls(connection) => {
                let UnbufferedStatus { state, .. } = connection.process_tls_records(&mut []);
                if let Ok(ConnectionState::WriteTraffic(mut traffic)) = state {
                    let _ = encode_into(&mut self.unsent, |out| traffic.queue_close_notify(out));
                }
            }
            Stage::Ended => {}
        }
        self.stage = Stage::Ended;
        let _ = self.write_pending(stream);
    }

    /// Writes `unsent` until it is all out (`Ok`) or the socket would
    /// block (`WouldBlock`); an emptied buffer gives its memory back.
    fn write_unsent(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        while self.unsent_from < self.unsent.len() {
            match stream.write(&self.unsent[self.unsent_from..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.unsent_from += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.unsent = Vec::new();
        self.unsent_from = 0;
        Ok(())
    }
}

/// Where a pass's plaintext is: at the front of the read buffer already
/// (opened in place), or in rustls's own buffers, copied out.
enum Plaintext {
    InPlace(usize),
    Copied(Vec<u8>),
}

/// What driving rustls over received bytes came to.
struct Driven {
    /// Bytes rustls is done with.
    consumed: usize,
    /// The handshake is done and nothing is left to do: application data
    /// may be sealed.
    traffic: bool,
    /// close_notify arrived.
    peer_closed: bool,
}

/// Lets rustls work through `received` until it needs more bytes or is
/// ready for application data: its handshake messages and alerts go to
/// `unsent`, in order, the plaintext it opens to `plaintext`.
fn drive(
    connection: &mut UnbufferedServerConnection,
    received: &mut [u8],
    unsent: &mut Vec<u8>,
    plaintext: &mut Vec<u8>,
) -> Result<Driven, rustls::Error> {
    let mut consumed = 0;
    let (traffic, peer_closed) = loop {
        let UnbufferedStatus { mut discard, state } =
            connection.process_tls_records(&mut received[consumed..]);
        let reached = match state? {
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    let record = record?;
                    discard += record.discard;
                    plaintext.extend_from_slice(record.payload);
                }
                None
            }
            ConnectionState::EncodeTlsData(mut message) => {
                encode_into(unsent, |out| message.encode(out))?;
                None
            }
            // What was encoded waits in `unsent`, in order; the caller
            // writes it.
            ConnectionState::TransmitTlsData(transmit) => {
                transmit.done();
                None
            }
            ConnectionState::BlockedHandshake => Some((false, false)),
            ConnectionState::WriteTraffic(_) => Some((true, false)),
            ConnectionState::PeerClosed | ConnectionState::Closed => Some((false, true)),
            // No early data is accepted (max_early_data_size is 0).
            other => {
                return Err(rustls::Error::General(format!(
                    "unexpected TLS state {other:?}"
                )))
            }
        };
        consumed += discard;
        if let Some(reached) = reached {
            break reached;
        }
    };
    Ok(Driven {
        consumed,
        traffic,
        peer_closed,
    })
}

/// Seals plaintext with rustls itself, for the connections it keeps.
fn seal_with_rustls(
    connection: &mut UnbufferedServerConnection,
    slices: &[IoSlice<'_>],
    unsent: &mut Vec<u8>,
) -> io::Result<usize> {
    let invalid = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    loop {
        let UnbufferedStatus { state, .. } = connection.process_tls_records(&mut []);
        match state.map_err(invalid)? {
            ConnectionState::WriteTraffic(mut traffic) => {
                let mut taken = 0;
                for slice in slices.iter().filter(|slice| !slice.is_empty()) {
                    encode_into(unsent, |out| traffic.encrypt(slice, out)).map_err(invalid)?;
                    taken += slice.len();
                }
                return Ok(taken);
            }
            // A key update rustls owes goes first.
            ConnectionState::EncodeTlsData(mut message) => {
                encode_into(unsent, |out| message.encode(out)).map_err(invalid)?;
            }
            ConnectionState::TransmitTlsData(transmit) => transmit.done(),
            // The handshake is not done: lines wait in the outbox.
            ConnectionState::BlockedHandshake => return Err(io::ErrorKind::WouldBlock.into()),
            _ => return Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
}

/// Something rustls writes into a buffer it is given, and says how large
/// the buffer must be when it is too small.
trait SizeHint {
    fn required_size(&self) -> Option<usize>;
}

impl SizeHint for EncodeError {
    fn required_size(&self) -> Option<usize> {
        match self {
            EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
                Some(*required_size)
            }
            _ => None,
        }
    }
}

impl SizeHint for EncryptError {
    fn required_size(&self) -> Option<usize> {
        match self {
            EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
                Some(*required_size)
            }
            _ => None,
        }
    }
}

/// Appends what `write` makes to `out`, growing `out` to the size rustls
/// asks for.
fn encode_into<E: SizeHint + std::fmt::Display>(
    out: &mut Vec<u8>,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
) -> Result<(), rustls::Error> {
    let start = out.len();
    let needed = match write(&mut []) {
        Ok(written) => {
            debug_assert_eq!(written, 0);
            return Ok(());
        }
        Err(e) => e
            .required_size()
            .ok_or_else(|| rustls::Error::General(e.to_string()))?,
    };
    out.resize(start + needed, 0);
    match write(&mut out[start..]) {
        Ok(written) => {
            out.truncate(start + written);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(rustls::Error::General(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use chat_shared::FingerprintVerifier;
    use rustls::{ClientConfig, ClientConnection, SupportedCipherSuite};

    use super::*;
    use crate::tls::{CertSource, TlsIdentity};

    /// A client config that accepts the server's certificate (the
    /// handshake's signatures are still checked), offering only
    /// `suites` and `versions`.
    fn client_config(
        suites: &[SupportedCipherSuite],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut provider = rustls::crypto::ring::default_provider();
        if !suites.is_empty() {
            provider.cipher_suites = suites.to_vec();
        }
        let verifier =
            FingerprintVerifier::new(provider.signature_verification_algorithms, |_| Ok(()));
        let config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Arc::new(config)
    }

    /// A rustls client on one end of a loopback connection, and a session
    /// on the other, in non-blocking mode, driven in turn by the test.
    struct Pair {
        client: ClientConnection,
        client_socket: std::net::TcpStream,
        session: TlsSession,
        server_socket: TcpStream,
        buffer: Vec<u8>,
        /// Plaintext the session read.
        read: Vec<u8>,
        /// Plaintext the client read.
        client_read: Vec<u8>,
        server_ended: bool,
    }

    impl Pair {
        fn new(config: Arc<ClientConfig>) -> Pair {
            let server = TlsIdentity::load(&CertSource::Fresh, None).unwrap().config;
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let client_socket =
                std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server_socket, _) = listener.accept().unwrap();
            server_socket.set_nonblocking(true).unwrap();
            client_socket.set_nonblocking(true).unwrap();
            let mut client =
                ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
            client.set_buffer_limit(None);
            Pair {
                client,
                client_socket,
                session: TlsSession::new(server).unwrap(),
                server_socket: TcpStream::from_std(server_socket),
                buffer: vec![0; 64 * 1024],
                read: Vec::new(),
                client_read: Vec::new(),
                server_ended: false,
            }
        }

        /// One turn each: the client writes and reads, the session reads
        /// and writes.
        fn turn(&mut self) {
            while self.client.wants_write() {
                match self.client.write_tls(&mut self.client_socket) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    other => {
                        other.unwrap();
                    }
                }
            }
            match self.client.read_tls(&mut self.client_socket) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => {
                    other.unwrap();
                    self.client.process_new_packets().unwrap();
                    let _ = self.client.reader().read_to_end(&mut self.client_read);
                }
            }
            if !self.server_ended {
                match self.session.read(&mut self.server_socket, &mut self.buffer) {
                    Ok(0) => self.server_ended = true,
                    Ok(n) => self.read.extend_from_slice(&self.buffer[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("the session failed: {e}"),
                }
            }
            self.session.write_pending(&mut self.server_socket).unwrap();
        }

        fn until(&mut self, what: &str, mut done: impl FnMut(&Pair) -> bool) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !done(self) {
                assert!(Instant::now() < deadline, "timed out waiting for {what}");
                self.turn();
                std::thread::sleep(Duration::from_millis(1));
            }
        }

        /// Hands `text` to the session as the outbox does, a batch at a
        /// time, as the socket takes it.
        fn server_says(&mut self, text: &[u8]) {
            let mut said = 0;
            let deadline = Instant::now() + Duration::from_secs(5);
            while said < text.len() {
                assert!(
                    Instant::now() < deadline,
                    "the session took only {said} bytes"
                );
                match self
                    .session
                    .write_vectored(&mut self.server_socket, &[IoSlice::new(&text[said..])])
                {
                    Ok(taken) => said += taken,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.turn(),
                    Err(e) => panic!("writing failed: {e}"),
                }
            }
        }

        fn stage(&self) -> String {
            format!("{:?}", self.session)
        }

        /// Both ways, once, checked.
        fn exchange(&mut self, line: &str) {
            let to_server = format!("client: {line}\n");
            self.client
                .writer()
                .write_all(to_server.as_bytes())
                .unwrap();
            let wanted = self.read.len() + to_server.len();
            self.until("the client's line", |p| p.read.len() >= wanted);
            assert!(self.read.ends_with(to_server.as_bytes()));
            let to_client = format!("server: {line}\n");
            self.server_says(to_client.as_bytes());
            let wanted = self.client_read.len() + to_client.len();
            self.until("the server's line", |p| p.client_read.len() >= wanted);
            assert!(self.client_read.ends_with(to_client.as_bytes()));
        }
    }

    #[test]
    fn tls_1_3_with_a_32_byte_key_is_taken_over_after_the_handshake() {
        let mut pair = Pair::new(client_config(&[], &[&rustls::version::TLS13]));
        pair.exchange("hello");
        assert!(pair.stage().contains("records"), "{}", pair.stage());
        assert!(!pair.session.has_pending_output());
        assert!(pair.session.partial.capacity() == 0 && pair.session.unsent.capacity() == 0);
        pair.exchange("and again");
    }

    #[test]
    fn key_updates_either_way_keep_the_conversation_going() {
        let mut pair = Pair::new(client_config(&[], &[&rustls::version::TLS13]));
        pair.exchange("before");
        // rustls asks for the server's key update too (update_requested).
        for round in 0..5 {
            pair.client.refresh_traffic_keys().unwrap();
            pair.exchange(&format!("after key update {round}"));
        }
        assert!(pair.stage().contains("records"), "{}", pair.stage());
    }

    #[test]
    fn a_line_longer_than_a_record_arrives_whole_both_ways() {
        let mut pair = Pair::new(client_config(&[], &[&rustls::version::TLS13]));
        pair.exchange("first");
        let long = "x".repeat(70_000);
        pair.exchange(&long);
    }

    #[test]
    fn close_notify_ends_the_stream_and_what_follows_is_not_read() {
        let mut pair = Pair::new(client_config(&[], &[&rustls::version::TLS13]));
        pair.exchange("hello");
        pair.client.send_close_notify();
        let mut close = Vec::new();
        pair.client.write_tls(&mut close).unwrap();
        // In the same write, a record no key opens: were it read, it would
        // fail the session.
        close.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x20]);
        close.extend_from_slice(&[0xAB; 0x20]);
        pair.client_socket.write_all(&close).unwrap();
        pair.until("the end of the stream", |p| p.server_ended);
        assert!(pair.read.ends_with(b"client: hello\n"));
    }

    #[test]
    fn suites_whose_keys_are_not_taken_over_stay_with_rustls() {
        use rustls::crypto::ring::cipher_suite::{
            TLS13_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        };
        for (suite, version) in [
            (TLS13_AES_128_GCM_SHA256, &rustls::version::TLS13),
            (
                TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                &rustls::version::TLS12,
            ),
        ] {
            let mut pair = Pair::new(client_config(&[suite], &[version]));
            pair.exchange("hello");
            assert!(
                pair.stage().contains("rustls"),
                "{suite:?}: {}",
                pair.stage()
            );
            pair.exchange(&"y".repeat(40_000));
        }
    }

    #[test]
    fn garbage_after_the_handshake_is_an_error_with_an_alert() {
        let mut pair = Pair::new(client_config(&[], &[&rustls::version::TLS13]));
        pair.exchange("hello");
        // A record header of a type that cannot come after the handshake.
        pair.client_socket
            .write_all(&[0x16, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00])
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let error = loop {
            match pair.session.read(&mut pair.server_socket, &mut pair.buffer) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => break e,
                Ok(n) => panic!("read {n} bytes of garbage"),
            }
            assert!(Instant::now() < deadline, "no error");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(pair.stage().contains("ended"));
        // The client hears why.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let _ = pair.client.read_tls(&mut pair.client_socket);
            if let Err(e) = pair.client.process_new_packets() {
                assert!(e.to_string().contains("UnexpectedMessage"), "{e}");
                break;
            }
            assert!(Instant::now() < deadline, "no alert");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
