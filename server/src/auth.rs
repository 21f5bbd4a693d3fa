//! Logins, on a server run with `--auth token`: checking `/auth NAME TOKEN`
//! against the accounts ([`crate::accounts`]), slowing down addresses that
//! fail, and knowing which connection logged in with which account, so that
//! removing an account closes its desks.
//!
//! Every refusal looks the same to the peer (`ERR auth-failed`), whether the
//! name has no account, the token is wrong, or the address must still wait
//! after earlier failures; and an address that is waiting is refused
//! without its guess being checked at all. With 256-bit tokens guessing is
//! hopeless anyway; the wait keeps a scanner from costing the room anything.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use chat_shared::name::name_key;
use chat_shared::ClientLine;

use crate::accounts::{hash_token, Accounts, TokenHash};
use crate::room::ConnId;

/// How long an address waits after its first failure; each further failure
/// doubles it, up to [`MAX_PENALTY`].
const FIRST_PENALTY: Duration = Duration::from_secs(1);

/// The longest wait.
const MAX_PENALTY: Duration = Duration::from_secs(60);

/// Addresses whose failures are remembered at once; past it, those whose
/// wait is over are forgotten first, so memory stays bounded.
const MAX_REMEMBERED_ADDRESSES: usize = 10_000;

/// What a line from a connection that has not logged in comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Login {
    /// The right token for this account: the connection is NAME now.
    Accepted {
        /// The account's name, as it was added.
        name: String,
    },
    /// Refused; the connection is closed after the answer.
    Refused,
    /// Not `/auth`: it must log in first.
    NotALogin,
}

/// An address's failures.
#[derive(Debug, Clone, Copy)]
struct Penalty {
    failures: u32,
    until: Instant,
}

/// The logins of a running server.
#[derive(Debug)]
pub struct Gate {
    accounts: Accounts,
    penalties: HashMap<IpAddr, Penalty>,
    /// Which account each logged-in connection used, and with which token.
    logged_in: HashMap<ConnId, (String, TokenHash)>,
}

impl Gate {
    /// A gate for these accounts.
    pub fn new(accounts: Accounts) -> Gate {
        Gate {
            accounts,
            penalties: HashMap::new(),
            logged_in: HashMap::new(),
        }
    }

    /// Checks one line from connection `conn`, which has not logged in, from
    /// address `peer`.
    pub fn check(&mut self, conn: ConnId, peer: IpAddr, line: &[u8], now: Instant) -> Login {
        let text = String::from_utf8_lossy(line);
        let Ok(ClientLine::Auth { name, token }) = ClientLine::parse(&text) else {
            return Login::NotALogin;
        };
        if self.penalties.get(&peer).is_some_and(|p| p.until > now) {
            return Login::Refused;
        }
        // Hashed whatever the name, so a missing account takes as long.
        let offered = hash_token(token);
        let key = name_key(name);
        match self.accounts.get(&key) {
            Some(account) if same_hash(&account.token_hash, &offered) => {
                self.penalties.remove(&peer);
                self.logged_in.insert(conn, (key, offered));
                Login::Accepted {
                    name: account.name.clone(),
                }
            }
            _ => {
                self.penalise(peer, now);
                Login::Refused
            }
        }
    }

    /// Forgets a connection that is gone.
    pub fn forget(&mut self, conn: ConnId) {
        self.logged_in.remove(&conn);
    }

    /// Takes a new list of accounts; returns the logged-in connections whose
    /// account is gone or has a new token, to be closed.
    pub fn replace_accounts(&mut self, accounts: Accounts) -> Vec<ConnId> {
        self.accounts = accounts;
        let revoked: Vec<ConnId> = self
            .logged_in
            .iter()
            .filter(|(_, (key, token))| {
                self.accounts
                    .get(key)
                    .is_none_or(|account| account.token_hash != *token)
            })
            .map(|(conn, _)| *conn)
            .collect();
        for conn in &revoked {
            self.logged_in.remove(conn);
        }
        revoked
    }

    fn penalise(&mut self, peer: IpAddr, now: Instant) {
        if self.penalties.len() >= MAX_REMEMBERED_ADDRESSES && !self.penalties.contains_key(&peer) {
            self.penalties.retain(|_, penalty| penalty.until > now);
            if self.penalties.len() >= MAX_REMEMBERED_ADDRESSES {
                return;
            }
        }
        let penalty = self.penalties.entry(peer).or_insert(Penalty {
            failures: 0,
            until: now,
        });
        penalty.failures = penalty.failures.saturating_add(1);
        let wait = FIRST_PENALTY
            .saturating_mul(1 << (penalty.failures - 1).min(16))
            .min(MAX_PENALTY);
        penalty.until = now + wait;
    }
}

/// Compares two hashes without stopping at the first difference.
fn same_hash(a: &TokenHash, b: &TokenHash) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Account;

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn gate_with(name: &str, token: &str) -> Gate {
        let mut accounts = Accounts::new();
        accounts.insert(
            name_key(name),
            Account {
                name: name.to_string(),
                created: String::new(),
                token_hash: hash_token(token),
            },
        );
        Gate::new(accounts)
    }

    #[test]
    fn the_right_token_logs_in_as_the_account_name() {
        let mut gate = gate_with("alice", "t0ken");
        let now = Instant::now();
        assert_eq!(
            gate.check(1, HERE, b"/auth ALICE t0ken", now),
            Login::Accepted {
                name: "alice".to_string()
            }
        );
    }

    #[test]
    fn anything_but_auth_must_wait() {
        let mut gate = gate_with("alice", "t0ken");
        let now = Instant::now();
        assert_eq!(gate.check(1, HERE, b"alice<SEP>hi", now), Login::NotALogin);
        assert_eq!(gate.check(1, HERE, b"/who", now), Login::NotALogin);
    }

    #[test]
    fn a_failure_makes_the_address_wait_even_with_the_right_token() {
        let mut gate = gate_with("alice", "t0ken");
        let now = Instant::now();
        assert_eq!(
            gate.check(1, HERE, b"/auth alice wrong", now),
            Login::Refused
        );
        assert_eq!(
            gate.check(2, HERE, b"/auth alice t0ken", now),
            Login::Refused
        );
        let other = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
        assert!(matches!(
            gate.check(3, other, b"/auth alice t0ken", now),
            Login::Accepted { .. }
        ));
        let later = now + FIRST_PENALTY + Duration::from_millis(1);
        assert!(matches!(
            gate.check(4, HERE, b"/auth alice t0ken", later),
            Login::Accepted { .. }
        ));
    }

    #[test]
    fn waits_double_up_to_a_minute() {
        let mut gate = gate_with("alice", "t0ken");
        let mut now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..8 {
            assert_eq!(gate.check(1, HERE, b"/auth bob x", now), Login::Refused);
            let until = gate.penalties[&HERE].until;
            waits.push((until - now).as_secs());
            now = until;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn removing_an_account_revokes_its_connections_only() {
        let mut gate = gate_with("alice", "a");
        let mut accounts = gate.accounts.clone();
        accounts.insert(
            name_key("bob"),
            Account {
                name: "bob".to_string(),
                created: String::new(),
                token_hash: hash_token("b"),
            },
        );
        gate.replace_accounts(accounts.clone());
        let now = Instant::now();
        assert!(matches!(
            gate.check(1, HERE, b"/auth alice a", now),
            Login::Accepted { .. }
        ));
        assert!(matches!(
            gate.check(2, HERE, b"/auth bob b", now),
            Login::Accepted { .. }
        ));
        accounts.remove(&name_key("alice"));
        assert_eq!(gate.replace_accounts(accounts.clone()), vec![1]);
        assert_eq!(gate.replace_accounts(accounts), Vec::<ConnId>::new());
    }
}
