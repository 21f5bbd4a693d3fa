//! Certificate fingerprints: the SHA-256 of a certificate's DER bytes, as the
//! server prints it at start and as a desk pins it (`--fingerprint`, the
//! known-hosts file). One spelling on both sides, so a person can compare
//! them by eye. And [`FingerprintVerifier`], the one rustls verifier every
//! client that trusts a certificate by its fingerprint uses (the desk, the
//! load tool, the tests).

use std::fmt;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// A certificate's SHA-256, as 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate given as DER bytes.
    pub fn of_certificate(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Reads a fingerprint as people copy it: 64 hex digits, upper or lower
    /// case, with or without `:` between pairs, optionally after `SHA256:`.
    pub fn parse(text: &str) -> Option<Fingerprint> {
        let text = text.trim();
        let text = text
            .strip_prefix("SHA256:")
            .or_else(|| text.strip_prefix("sha256:"))
            .unwrap_or(text);
        let digits: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
        if digits.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Fingerprint(bytes))
    }
}

/// `SHA256:AB:CD:...`: 32 upper-case hex pairs, as `openssl x509
/// -fingerprint -sha256` prints them.
impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SHA256:")?;
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

/// Whether a presented certificate's fingerprint is trusted.
type Decide = dyn Fn(Fingerprint) -> Result<(), rustls::Error> + Send + Sync;

/// Trusts a server's certificate by its fingerprint, as SSH trusts a host
/// key: `decide` judges the fingerprint, and the name, the issuer and the
/// dates do not matter, since this exact certificate is what was trusted.
/// The handshake's signatures are still checked against the certificate
/// (with the provider's algorithms), so the server must hold its key: a
/// replayed certificate is not enough.
pub struct FingerprintVerifier {
    decide: Box<Decide>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl FingerprintVerifier {
    /// A verifier that checks signatures with `algorithms` (a provider's
    /// `signature_verification_algorithms`) and asks `decide` about each
    /// certificate.
    pub fn new(
        algorithms: WebPkiSupportedAlgorithms,
        decide: impl Fn(Fingerprint) -> Result<(), rustls::Error> + Send + Sync + 'static,
    ) -> FingerprintVerifier {
        FingerprintVerifier {
            decide: Box::new(decide),
            algorithms,
        }
    }
}

impl fmt::Debug for FingerprintVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FingerprintVerifier")
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        (self.decide)(Fingerprint::of_certificate(end_entity))?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_form_parses_back_in_every_spelling() {
        let print = Fingerprint::of_certificate(b"not really DER");
        let shown = print.to_string();
        assert!(shown.starts_with("SHA256:"));
        assert_eq!(shown.len(), "SHA256:".len() + 32 * 3 - 1);
        assert_eq!(Fingerprint::parse(&shown), Some(print));
        let bare: String = shown["SHA256:".len()..].replace(':', "").to_lowercase();
        assert_eq!(Fingerprint::parse(&bare), Some(print));
        assert_eq!(Fingerprint::parse(&format!("  {bare}\n")), Some(print));
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(Fingerprint::parse(""), None);
        assert_eq!(Fingerprint::parse("SHA256:AB"), None);
        assert_eq!(Fingerprint::parse(&"zz".repeat(32)), None);
        assert_eq!(Fingerprint::parse(&"ab".repeat(33)), None);
    }
}
