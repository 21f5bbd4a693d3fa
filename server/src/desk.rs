//! Desk identities. In an open room a name is not an identity: whoever takes
//! `bob` after bob left must not read bob's direct messages. So each desk is
//! given a random secret when it joins (in its `WELCOME`, to it alone); it
//! presents the secret again with `/resume` after a reconnect or a restart.
//! The log keeps only the secret's SHA-256, the [`DeskId`], beside each direct
//! message, and replays a direct message only to a desk whose secret hashes
//! to its writer's or reader's ID.

use sha2::{Digest, Sha256};

/// Bytes of randomness in a desk secret: 128 bits, not guessable.
const SECRET_BYTES: usize = 16;

/// What the log stores for a desk: the SHA-256 of its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeskId(pub [u8; 32]);

impl DeskId {
    /// The ID of the desk holding `secret`.
    pub fn of(secret: &str) -> DeskId {
        DeskId(Sha256::digest(secret.as_bytes()).into())
    }
}

/// A fresh desk secret, as lowercase hex.
pub fn new_secret() -> String {
    random_hex(SECRET_BYTES)
}

/// `bytes` random bytes from the operating system, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    // If even the operating system's randomness fails, there is no safe
    // secret to hand out, and nothing sensible to go on with.
    getrandom::fill(&mut buffer).expect("the operating system gives random bytes");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 2 * SECRET_BYTES);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn an_id_is_the_secrets_hash() {
        assert_eq!(DeskId::of("x"), DeskId::of("x"));
        assert_ne!(DeskId::of("x"), DeskId::of("y"));
    }
}
