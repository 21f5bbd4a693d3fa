//! `--tls`: the load clients speak TLS (rustls 0.23, ring) over the same
//! non-blocking sockets, driven by the same readiness events as plain ones.
//!
//! This module owns the client configuration and makes each connection's
//! session; `conn.rs` reads and writes through it. Plain clients never come
//! here, so `--tls` costs a plain run nothing.
//!
//! Trust: the targets are loopback servers with a self-signed certificate
//! made at their start, so any certificate is accepted, but the handshake's
//! signatures are still checked against it (rustls's `verify_tls1x_signature`
//! helpers), so the server does hold the certificate's key and the TLS work
//! is the real one. Session resumption is off: every load client pays a full
//! handshake, as a desk does when it first connects; storm mode gives each
//! client a configuration of its own that keeps its tickets
//! ([`resuming_config`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use chat_shared::FingerprintVerifier;
use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

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
/// until the connection's first write.
pub fn session(config: &Arc<ClientConfig>, addr: SocketAddr) -> io::Result<ClientConnection> {
    ClientConnection::new(config.clone(), ServerName::from(addr.ip()))
        .map_err(|err| io::Error::other(err.to_string()))
}
