//! `--tls`: the load clients speak TLS (rustls 0.23, ring) over the same
//! non-blocking sockets, driven by the same readiness events as plain ones.
//!
//! This module owns the client configuration and the two I/O steps a TLS
//! socket needs instead of `read`/`write`; `net.rs` decides when to call
//! them. Plain clients never come here, so `--tls` costs a plain run nothing.
//!
//! Trust: the targets are loopback servers with a self-signed certificate
//! made at their start, so any certificate is accepted, but the handshake's
//! signatures are still checked against it (rustls's `verify_tls1x_signature`
//! helpers), so the server does hold the certificate's key and the TLS work
//! is the real one. Session resumption is off: every load client pays a full
//! handshake, as a desk does when it first connects; storm mode gives each
//! client a configuration of its own that keeps its tickets
//! ([`resuming_config`]).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use chat_shared::FingerprintVerifier;
use mio::net::TcpStream;
use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::net::errno_name;

/// The configuration every TLS load client shares.
pub fn client_config() -> Arc<ClientConfig> {
    let provider = rustls::crypto::ring::default_provider();
    // A loopback load tool against a certificate made at the server's start:
    // any fingerprint will do.
    let verifier = FingerprintVerifier::new(provider.signature_verification_algorithms, |_| Ok(()));
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("ring's default provider supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Arc::new(config)
}

/// `base` with a ticket store of its own, for one client that comes back
/// as the same desk: a store shared by many clients would hand each
/// ticket to whichever client asks first, and hold only a few.
pub fn resuming_config(base: &Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut config = ClientConfig::clone(base);
    config.resumption = Resumption::store(Arc::new(ClientSessionMemoryCache::new(1)));
    Arc::new(config)
}

/// A client session for the server at `addr`; its ClientHello waits in it
/// until the first [`write_queued`].
pub fn session(config: &Arc<ClientConfig>, addr: SocketAddr) -> io::Result<ClientConnection> {
    ClientConnection::new(config.clone(), ServerName::from(addr.ip()))
        .map_err(|err| io::Error::other(err.to_string()))
}

/// Like `read` on a non-blocking socket, but plaintext out of TLS: `Ok(0)`
/// at the end (TCP EOF or the server's close_notify), `WouldBlock` when the
/// socket has nothing more. Handshake replies this produces are left in the
/// session for the next [`write_queued`].
pub fn read(
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
/// `Err` names why the connection is no longer usable.
pub fn write_queued(
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
