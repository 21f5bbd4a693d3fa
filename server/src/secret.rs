//! Secrets the server keeps only as their SHA-256: login tokens (the
//! accounts of `--auth token`) and IRC operators' passwords (`--irc-oper`),
//! compared without stopping at the first difference. A leaf: the flags,
//! the accounts and the rules all read it, and it reads none of them.

use sha2::{Digest, Sha256};

/// A token's SHA-256: what the book keeps.
pub type TokenHash = [u8; 32];

/// The SHA-256 of `token`, as stored.
pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two hashes without stopping at the first difference.
pub fn same_hash(a: &TokenHash, b: &TokenHash) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// One operator's name and password (`--irc-oper NAME:PASSWORD`), the
/// password kept only as its hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Oper {
    /// The name `OPER` gives.
    pub name: String,
    password: TokenHash,
}

impl std::fmt::Debug for Oper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password's hash stays out of logs and test output.
        f.debug_struct("Oper").field("name", &self.name).finish()
    }
}

impl Oper {
    /// `NAME:PASSWORD`, both non-empty, the name without spaces.
    pub fn parse(text: &str) -> Result<Oper, String> {
        match text.split_once(':') {
            Some((name, password))
                if !name.is_empty() && !password.is_empty() && !name.contains(' ') =>
            {
                Ok(Oper {
                    name: name.to_string(),
                    password: hash_token(password),
                })
            }
            _ => Err(format!(
                "--irc-oper is NAME:PASSWORD, both non-empty, the name without spaces, \
                 not '{}'",
                text.split(':').next().unwrap_or("")
            )),
        }
    }

    /// Whether `name` and `password` are this operator's.
    pub(crate) fn admits(&self, name: &str, password: &str) -> bool {
        // Every password is compared, the name's match or not, in the same
        // time.
        same_hash(&self.password, &hash_token(password)) && self.name == name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_only_its_own_token() {
        let hash = hash_token("t0ken");
        assert!(same_hash(&hash, &hash_token("t0ken")));
        assert!(!same_hash(&hash, &hash_token("t0kem")));
    }

    #[test]
    fn an_operator_is_a_name_and_a_password() {
        let oper = Oper::parse("root:se:same").unwrap();
        assert_eq!(oper.name, "root");
        assert!(oper.admits("root", "se:same"));
    }

    #[test]
    fn an_operator_needs_both_the_name_and_the_password() {
        let oper = Oper::parse("root:sesame").unwrap();
        assert!(!oper.admits("root", "sesam"));
        assert!(!oper.admits("rooT", "sesame"));
    }

    #[test]
    fn an_operator_without_a_name_or_a_password_is_refused() {
        for bad in ["root", ":sesame", "root:", "ro ot:sesame", ""] {
            let err = Oper::parse(bad).unwrap_err();
            assert!(
                err.starts_with("--irc-oper is NAME:PASSWORD"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_operator_shows_its_name_and_never_its_password() {
        let shown = format!("{:?}", Oper::parse("root:sesame").unwrap());
        assert_eq!(shown, r#"Oper { name: "root" }"#);
    }
}
