//! The server's TLS identity: its certificate and key, loaded from PEM files
//! or made once and kept beside the room's log, and the rustls configuration
//! every TLS connection shares.
//!
//! An office rarely has a certificate for its chat box, so by default the
//! server makes a self-signed one on its first start (rcgen) and keeps it, so
//! that desks which pinned it on first use (as SSH does) still trust it after
//! a restart. Its SHA-256 fingerprint is printed at start for people to
//! compare with what their desks show.
//!
//! Each connection's TLS is a [`session::TlsSession`]: rustls's unbuffered
//! connection for the handshake, then, for TLS 1.3, the small record layer
//! of [`records`], so that an idle TLS desk holds little more than its
//! keys. [`gate`] bounds how many handshakes run at once; [`tickets`]
//! lets a desk that comes back resume its session, across restarts too.

pub mod gate;
pub mod records;
pub mod session;
pub mod tickets;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

use chat_shared::Fingerprint;

use tickets::TicketKeys;

/// Where the certificate comes from (`--tls-cert`/`--tls-key`, or made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// PEM files the operator gave.
    Files {
        /// The certificate chain, leaf first.
        cert: PathBuf,
        /// Its private key.
        key: PathBuf,
    },
    /// Self-signed, kept in this folder (beside the room's log) as
    /// `tls-cert.pem` and `tls-key.pem`, made there if missing.
    KeptIn(PathBuf),
    /// Self-signed, made at every start and kept nowhere (`--db none`).
    Fresh,
}

/// What TLS connections share, and what the start-up line says about it.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    /// The rustls configuration, shared by every connection.
    pub config: Arc<ServerConfig>,
    /// The leaf certificate's fingerprint.
    pub fingerprint: Fingerprint,
    /// Where the certificate is, for people: a path, or "made for this run".
    pub location: String,
}

impl TlsIdentity {
    /// Loads or makes the certificate, and the session ticket keys (kept
    /// in `ticket_keys`, or in memory only when `None`). Every failure is
    /// one sentence naming the file.
    pub fn load(source: &CertSource, ticket_keys: Option<&Path>) -> io::Result<TlsIdentity> {
        let (chain, key, location) = match source {
            CertSource::Files { cert, key } => {
                let (chain, key) = read_pem(cert, key)?;
                (chain, key, cert.display().to_string())
            }
            CertSource::KeptIn(folder) => {
                let cert = folder.join("tls-cert.pem");
                let key = folder.join("tls-key.pem");
                if !cert.exists() && !key.exists() {
                    // With --redis nothing else makes the folder.
                    fs::create_dir_all(folder).map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!(
                                "cannot keep the TLS certificate in {}: {e}",
                                folder.display()
                            ),
                        )
                    })?;
                    make_and_keep(&cert, &key)?;
                }
                let (chain, key) = read_pem(&cert, &key)?;
                (chain, key, cert.display().to_string())
            }
            CertSource::Fresh => {
                let made = self_signed()?;
                let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
                (
                    vec![made.cert.der().clone()],
                    key.into(),
                    "made for this run only (--db none keeps nothing)".to_string(),
                )
            }
        };
        let fingerprint = Fingerprint::of_certificate(&chain[0]);
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|e| {
                io::Error::other(format!("TLS certificate {location}: cannot be used: {e}"))
            })?;
        // Our order, not the client's: browsers put AES-128 first, and a
        // connection on it keeps rustls's whole state (see `records`).
        config.ignore_client_order = true;
        // The keys of a TLS 1.3 connection go to `records` after the
        // handshake.
        config.enable_secret_extraction = true;
        config.ticketer = Arc::new(match ticket_keys {
            Some(file) => TicketKeys::kept_in(file)?,
            None => TicketKeys::in_memory()?,
        });
        // A desk makes one connection at a time, and each resumed one
        // brings a new ticket: one is enough (rustls sends two).
        config.send_tls13_tickets = 1;
        Ok(TlsIdentity {
            config: Arc::new(config),
            fingerprint,
            location,
        })
    }
}

/// rustls's ring provider, its TLS 1.3 suites with 32-byte keys first,
/// the ones [`records`] takes over: ChaCha20-Poly1305, then AES-256-GCM.
///
/// ChaCha20 first, measured here: its key needs no expanding (about 0.15
/// µs to set up against 0.4-0.8 for AES-256's schedule and GHASH table,
/// paid once per batch of records), sealing a chat line costs about the
/// same, and its suite hashes with SHA-256, which this CPU does in hardware,
/// where AES-256-GCM's SHA-384 took a quarter of the server's handshake
/// CPU.
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::CipherSuite;
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|suite| match (suite.suite(), records::can_keep(*suite)) {
            (CipherSuite::TLS13_CHACHA20_POLY1305_SHA256, _) => 0,
            (_, true) => 1,
            (_, false) => 2,
        });
    provider
}

/// Reads a PEM certificate chain and its key.
fn read_pem(
    cert: &Path,
    key: &Path,
) -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let bad = |path: &Path, what: String| {
        io::Error::other(format!("TLS file {}: {what}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, describe_pem_error(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, describe_pem_error(e)))?;
    if chain.is_empty() {
        return Err(bad(cert, "holds no PEM certificate".to_string()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, describe_pem_error(e)))?;
    Ok((chain, key))
}

fn describe_pem_error(e: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "holds no PEM item of the expected kind".to_string(),
        other => format!("is not valid PEM ({other:?})"),
    }
}

/// A self-signed certificate for the names a desk on the LAN may use.
fn self_signed() -> io::Result<rcgen::CertifiedKey<rcgen::KeyPair>> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(host) = host_name().filter(|host| !names.contains(host)) {
        names.push(host);
    }
    rcgen::generate_simple_self_signed(names)
        .map_err(|e| io::Error::other(format!("cannot make a TLS certificate: {e}")))
}

/// Makes a certificate and writes it as PEM, the key readable by its owner
/// only.
fn make_and_keep(cert_path: &Path, key_path: &Path) -> io::Result<()> {
    let made = self_signed()?;
    let fail = |path: &Path, e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("cannot keep the TLS certificate in {}: {e}", path.display()),
        )
    };
    write_private(key_path, made.signing_key.serialize_pem().as_bytes())
        .map_err(|e| fail(key_path, e))?;
    fs::write(cert_path, made.cert.pem()).map_err(|e| fail(cert_path, e))?;
    Ok(())
}

/// Writes a new file that only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// This machine's name, for the certificate's names.
fn host_name() -> Option<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_certificate_is_made_once_in_a_folder_made_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("not/yet/there");
        let first = TlsIdentity::load(&CertSource::KeptIn(folder.clone()), None).unwrap();
        assert!(folder.join("tls-cert.pem").is_file());
        let again = TlsIdentity::load(&CertSource::KeptIn(folder), None).unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);
    }
}
