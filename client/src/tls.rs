//! TLS for a desk: which server certificates to trust (`--ca` roots, a
//! `--fingerprint` pin, or the certificate first seen, kept in the
//! known-hosts file), and the handshake on a freshly connected socket.
//! The handshake runs to its end here, blocking with a deadline, so that a
//! certificate nobody trusts is a clear, final answer before the connection
//! is handed to its I/O thread (`net`). Crypto is rustls with *ring*.
//!
//! One rustls configuration is kept per server for the desk's whole run,
//! and with it the session tickets the server gave: a reconnect (after a
//! restart of the server too, which keeps its ticket key) resumes the
//! session, a handshake with a fresh key exchange but no certificate to
//! send or check.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chat_shared::{Fingerprint, FingerprintVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, OtherError, RootCertStore};

use crate::attempt::{ConnectError, Connected, CONNECT_TIMEOUT};
use crate::known_hosts::KnownHosts;
use crate::server_addr::ServerAddr;
use crate::transport::Stream;

/// How a TLS desk decides to trust the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// `--ca FILE`: certificates signed by these roots (PEM), for the
    /// server's name.
    Ca(PathBuf),
    /// `--fingerprint FP`: exactly this certificate.
    Pinned(Fingerprint),
    /// Neither: the certificate each server showed the first time, as
    /// recorded in the known-hosts file.
    FirstUse,
}

/// How this desk makes TLS connections: set up once, at start, so that a
/// bad `--ca` file is an error before anything connects.
#[derive(Debug)]
pub struct TlsClient {
    provider: Arc<CryptoProvider>,
    trust: Verification,
    /// Each server's configuration (`HOST:PORT`), made at its first
    /// handshake and kept, with the session tickets it holds.
    configs: Mutex<HashMap<String, Arc<ClientConfig>>>,
}

/// What the server's certificate is checked against.
#[derive(Debug)]
enum Verification {
    /// `--ca`: a chain to these roots, for the server's name.
    Roots(Arc<RootCertStore>),
    /// `--fingerprint`.
    Pinned(Fingerprint),
    /// Trust on first use, then the same certificate only.
    FirstUse(KnownHosts),
}

impl TlsClient {
    /// Loads what `trust` needs. Fails with a sentence for the user.
    pub fn new(trust: &Trust) -> Result<TlsClient, String> {
        let trust = match trust {
            Trust::Ca(path) => Verification::Roots(Arc::new(load_roots(path)?)),
            Trust::Pinned(fingerprint) => Verification::Pinned(*fingerprint),
            Trust::FirstUse => Verification::FirstUse(KnownHosts::default_location().ok_or(
                "neither XDG_CONFIG_HOME nor HOME is set, so there is no known-hosts file \
                 to remember servers in; give --ca FILE or --fingerprint FP",
            )?),
        };
        Ok(TlsClient {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            trust,
            configs: Mutex::default(),
        })
    }

    /// The known-hosts file, when trusting on first use.
    pub fn known_hosts(&self) -> Option<&Path> {
        match &self.trust {
            Verification::FirstUse(hosts) => Some(hosts.path()),
            _ => None,
        }
    }

    /// Makes the TLS handshake with `server` on `socket`, within
    /// [`CONNECT_TIMEOUT`]. With trust on first use, a server the
    /// known-hosts file does not know yet is written down.
    pub fn handshake(
        &self,
        server: &ServerAddr,
        mut socket: TcpStream,
    ) -> Result<Connected, ConnectError> {
        let key = server.to_string();
        let config = self.config_for(&key).map_err(ConnectError::Unreachable)?;
        let mut tls = ClientConnection::new(config, server_name(&server.host))
            .map_err(|err| ConnectError::Unreachable(io::Error::other(err)))?;
        let unreachable = ConnectError::Unreachable;
        socket
            .set_read_timeout(Some(CONNECT_TIMEOUT))
            .and_then(|()| socket.set_write_timeout(Some(CONNECT_TIMEOUT)))
            .map_err(unreachable)?;
        while tls.is_handshaking() {
            match tls.complete_io(&mut socket) {
                Ok((0, 0)) => {
                    return Err(ConnectError::Unreachable(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection during the TLS handshake",
                    )))
                }
                Ok(_) => {}
                Err(err) => return Err(self.handshake_failed(&key, err)),
            }
        }
        socket
            .set_read_timeout(None)
            .and_then(|()| socket.set_write_timeout(None))
            .map_err(unreachable)?;
        let first_trusted = match &self.trust {
            Verification::FirstUse(hosts) => self.remember(hosts, &key, &tls)?,
            _ => None,
        };
        Ok(Connected {
            stream: Stream::Tls(Box::new(tls), socket),
            first_trusted,
        })
    }

    /// The configuration for `server`, the one kept since its first
    /// handshake if there was one: its session tickets let a reconnect
    /// resume.
    fn config_for(&self, server: &str) -> io::Result<Arc<ClientConfig>> {
        let mut configs = self
            .configs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(config) = configs.get(server) {
            return Ok(Arc::clone(config));
        }
        let config = self.make_config(server)?;
        configs.insert(server.to_string(), Arc::clone(&config));
        Ok(config)
    }

    fn make_config(&self, server: &str) -> io::Result<Arc<ClientConfig>> {
        let builder = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?;
        let pin = match &self.trust {
            Verification::Roots(roots) => {
                let config = builder
                    .with_root_certificates(Arc::clone(roots))
                    .with_no_client_auth();
                return Ok(Arc::new(config));
            }
            Verification::Pinned(fingerprint) => Pin::Given(*fingerprint),
            Verification::FirstUse(hosts) => Pin::KnownHosts(hosts.clone()),
        };
        let pinned = Pinned {
            server: server.to_string(),
            pin,
        };
        let verifier = FingerprintVerifier::new(
            self.provider.signature_verification_algorithms,
            move |presented| pinned.check(presented),
        );
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// Sorts a failed handshake: a certificate problem is final, anything
    /// else (a timeout, a reset, a server that does not speak TLS) may go
    /// away with another try or another server.
    fn handshake_failed(&self, server: &str, err: io::Error) -> ConnectError {
        let tls_error = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::InvalidMessage(_)) = tls_error {
            // What a plain server answers to a ClientHello.
            return ConnectError::Unreachable(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no TLS from the server (does it run with --tls?): {err}"),
            ));
        }
        let Some(rustls::Error::InvalidCertificate(why)) = tls_error else {
            if err.kind() == io::ErrorKind::WouldBlock || err.kind() == io::ErrorKind::TimedOut {
                return ConnectError::Unreachable(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the TLS handshake did not finish in {} s",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                ));
            }
            return ConnectError::Unreachable(err);
        };
        if let CertificateError::Other(OtherError(other)) = why {
            if let Some(changed) = other.downcast_ref::<CertificateChanged>() {
                return ConnectError::Untrusted(changed.to_string());
            }
        }
        let hint = match self.trust {
            Verification::Roots(_) => {
                " (with --ca, the certificate must be signed by one in that file and name the \
                 host as given to --host)"
            }
            _ => "",
        };
        ConnectError::Untrusted(format!(
            "the certificate of {server} is not trusted: {why}{hint}; not connecting"
        ))
    }

    /// Writes down the certificate of a server seen for the first time.
    fn remember(
        &self,
        hosts: &KnownHosts,
        server: &str,
        tls: &ClientConnection,
    ) -> Result<Option<Fingerprint>, ConnectError> {
        let Some(certificate) = tls.peer_certificates().and_then(|chain| chain.first()) else {
            return Err(ConnectError::Untrusted(format!(
                "{server} showed no certificate; not connecting"
            )));
        };
        let fingerprint = Fingerprint::of_certificate(certificate.as_ref());
        let cannot = |err: io::Error| {
            ConnectError::Untrusted(format!(
                "cannot keep the certificate of {server} in {}: {err}",
                hosts.path().display()
            ))
        };
        // The verifier accepted it, so an entry found now is this one.
        if hosts.lookup(server).map_err(cannot)?.is_some() {
            return Ok(None);
        }
        hosts.add(server, fingerprint).map_err(cannot)?;
        Ok(Some(fingerprint))
    }
}

/// Reads `--ca`: every certificate in the PEM file becomes a root.
fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let bad = |why: String| format!("--ca {}: {why}", path.display());
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|err| bad(err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad(err.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(bad("no usable certificate in it".to_string()));
    }
    Ok(roots)
}

/// The name the certificate is checked against with `--ca` (and sent as
/// SNI): the host as given. A pinned certificate is its own identity, so
/// with a pin a host that is no valid name still connects.
fn server_name(host: &str) -> ServerName<'static> {
    ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| ServerName::try_from("localhost").expect("a valid DNS name"))
}

/// Where a pin comes from.
#[derive(Debug)]
enum Pin {
    /// `--fingerprint`.
    Given(Fingerprint),
    /// The known-hosts file; a server not in it is trusted this once
    /// and then written down (by [`TlsClient::handshake`]).
    KnownHosts(KnownHosts),
}

/// Trusts one certificate by its fingerprint, as SSH trusts a host key
/// (the handshake's signatures are checked by [`FingerprintVerifier`]).
#[derive(Debug)]
struct Pinned {
    /// `HOST:PORT`, the known-hosts key.
    server: String,
    pin: Pin,
}

impl Pinned {
    /// Whether the certificate with fingerprint `presented` is the one
    /// trusted; a server not yet in the known-hosts file is trusted.
    fn check(&self, presented: Fingerprint) -> Result<(), rustls::Error> {
        let (trusted, recorded_at) = match &self.pin {
            Pin::Given(fingerprint) => (*fingerprint, None),
            Pin::KnownHosts(hosts) => match hosts.lookup(&self.server) {
                Ok(Some(entry)) => (
                    entry.fingerprint,
                    Some((hosts.path().to_path_buf(), entry.line)),
                ),
                Ok(None) => return Ok(()),
                Err(err) => return Err(certificate_error(err)),
            },
        };
        if presented == trusted {
            return Ok(());
        }
        Err(certificate_error(CertificateChanged {
            server: self.server.clone(),
            trusted,
            presented,
            recorded_at,
        }))
    }
}

fn certificate_error(err: impl StdError + Send + Sync + 'static) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(err))))
}

/// The server showed another certificate than the one pinned.
#[derive(Debug)]
struct CertificateChanged {
    server: String,
    trusted: Fingerprint,
    presented: Fingerprint,
    /// The known-hosts file and line, or `None` for `--fingerprint`.
    recorded_at: Option<(PathBuf, usize)>,
}

/// Loud on purpose, as SSH is: this is the one message a person must not
/// skim past.
impl fmt::Display for CertificateChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let CertificateChanged {
            server,
            trusted,
            presented,
            recorded_at,
        } = self;
        match recorded_at {
            Some(_) => writeln!(
                f,
                "WARNING: THE CERTIFICATE OF {server} HAS CHANGED. NOT CONNECTING."
            )?,
            None => writeln!(
                f,
                "WARNING: THE CERTIFICATE OF {server} DOES NOT MATCH --fingerprint. NOT CONNECTING."
            )?,
        }
        writeln!(f, "  trusted:   {trusted}")?;
        writeln!(f, "  presented: {presented}")?;
        writeln!(
            f,
            "Someone may be intercepting the connection, or the server has a new certificate."
        )?;
        match recorded_at {
            Some((file, line)) => write!(
                f,
                "If its operator confirms the new fingerprint (the server prints it at start), \
                 delete line {line} of {} and connect again.",
                file.display()
            ),
            None => write!(
                f,
                "If its operator confirms the new fingerprint (the server prints it at start), \
                 give that to --fingerprint."
            ),
        }
    }
}

impl StdError for CertificateChanged {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_certificate_names_both_fingerprints_and_the_line_to_delete() {
        let changed = CertificateChanged {
            server: "chat:5002".into(),
            trusted: Fingerprint::of_certificate(b"old"),
            presented: Fingerprint::of_certificate(b"new"),
            recorded_at: Some((PathBuf::from("/home/a/.config/chat-client/known_hosts"), 3)),
        };
        let text = changed.to_string();
        assert!(
            text.contains("CERTIFICATE OF chat:5002 HAS CHANGED"),
            "{text}"
        );
        assert!(text.contains(&changed.trusted.to_string()), "{text}");
        assert!(text.contains(&changed.presented.to_string()), "{text}");
        assert!(
            text.contains("delete line 3 of /home/a/.config/chat-client/known_hosts"),
            "{text}"
        );
    }

    #[test]
    fn a_certificate_error_carries_the_change_through_rustls() {
        let err = certificate_error(CertificateChanged {
            server: "a:1".into(),
            trusted: Fingerprint::of_certificate(b"old"),
            presented: Fingerprint::of_certificate(b"new"),
            recorded_at: None,
        });
        let io_err = io::Error::new(io::ErrorKind::InvalidData, err);
        let client = TlsClient {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            trust: Verification::Pinned(Fingerprint::of_certificate(b"old")),
            configs: Mutex::default(),
        };
        match client.handshake_failed("a:1", io_err) {
            ConnectError::Untrusted(text) => {
                assert!(text.contains("DOES NOT MATCH --fingerprint"), "{text}")
            }
            other => panic!("expected Untrusted, got {other:?}"),
        }
    }

    /// Against the real server (TLS, its certificate and ticket key kept
    /// in a folder): the second connection resumes the first's session.
    #[test]
    fn a_reconnect_resumes_the_session() {
        use std::io::{Read, Write};

        use chat_server::config::{Db, Tls};
        use chat_server::{Config, RunningServer};
        use rustls::HandshakeKind;

        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let server = RunningServer::start(Config {
            db: Db::Path(dir.join("room.db")),
            tls: Some(Tls {
                files: None,
                required: false,
            }),
            ..Config::default()
        })
        .expect("a TLS server");
        let client = TlsClient::new(&Trust::Ca(dir.join("tls-cert.pem"))).unwrap();
        let addr = ServerAddr {
            host: "127.0.0.1".to_string(),
            port: server.addr().port(),
        };
        for expected in [HandshakeKind::Full, HandshakeKind::Resumed] {
            let connected = crate::net::connect(&addr, Some(&client)).unwrap();
            let Stream::Tls(mut tls, mut socket) = connected.stream else {
                panic!("expected a TLS stream");
            };
            assert_eq!(tls.handshake_kind(), Some(expected));
            // The tickets come after the handshake: read until the answer
            // to a ping, which follows them.
            tls.writer().write_all(b"/ping\n").unwrap();
            let mut seen = Vec::new();
            while !String::from_utf8_lossy(&seen).contains("PONG") {
                while tls.wants_write() {
                    tls.write_tls(&mut socket).unwrap();
                }
                assert!(tls.read_tls(&mut socket).unwrap() > 0, "the server closed");
                tls.process_new_packets().unwrap();
                let _ = tls.reader().read_to_end(&mut seen);
            }
        }
        server.stop().unwrap();
    }

    #[test]
    fn a_missing_ca_file_is_one_sentence() {
        let err = TlsClient::new(&Trust::Ca(PathBuf::from("/nonexistent/ca.pem"))).unwrap_err();
        assert!(err.starts_with("--ca /nonexistent/ca.pem: "), "{err}");
    }

    #[test]
    fn names_and_addresses_are_server_names() {
        assert!(matches!(server_name("127.0.0.1"), ServerName::IpAddress(_)));
        assert!(matches!(server_name("chat.local"), ServerName::DnsName(_)));
        assert!(matches!(server_name("not a name"), ServerName::DnsName(_)));
    }
}
