//! Certificate fingerprints: the SHA-256 of a certificate's DER bytes, as the
//! server prints it at start and as a desk pins it (`--fingerprint`, the
//! known-hosts file). One spelling on both sides, so a person can compare
//! them by eye.

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
