//! TLS client settings for the tests: trusting a certificate file as a root
//! (as `chat-client --ca` does), or pinning one certificate by its
//! fingerprint (as a desk that trusted it on first use does). Both check the
//! handshake's signatures; only the trust decision differs.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use chat_shared::{Fingerprint, FingerprintVerifier};

use super::ServerProcess;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Trusts the certificates in the PEM file `ca` as roots.
pub fn trusting(ca: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("a readable PEM file") {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a usable root");
    }
    Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Trusts exactly the certificate whose fingerprint is `pin`.
pub fn pinning(pin: Fingerprint) -> Arc<ClientConfig> {
    let provider = provider();
    let verifier = FingerprintVerifier::new(
        provider.signature_verification_algorithms,
        move |presented| {
            if presented == pin {
                Ok(())
            } else {
                Err(rustls::Error::General("not the pinned certificate".into()))
            }
        },
    );
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth(),
    )
}

/// The fingerprint of the certificate `server` printed at start.
#[track_caller]
pub fn fingerprint_of(server: &ServerProcess) -> Fingerprint {
    let printed = server.fingerprint();
    Fingerprint::parse(&printed).unwrap_or_else(|| panic!("a fingerprint, not {printed:?}"))
}
