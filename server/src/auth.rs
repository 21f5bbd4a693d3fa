//! Logins, on a server run with `--auth token`: checking `/auth NAME TOKEN`
//! against the accounts ([`crate::store::accounts`]), slowing down addresses that
//! fail, and knowing which connection logged in with which account, so that
//! removing an account closes its desks.
//!
//! Every refusal looks the same to the peer (`ERR auth-failed`), whether the
//! name has no account, the token is wrong, or the address must still wait
//! after earlier failures; and an address that is waiting is refused
//! without its guess being checked at all. With 256-bit tokens guessing is
//! hopeless anyway; the wait keeps a scanner from costing the room anything.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use chat_shared::name::name_key;
use chat_shared::{ClientLine, ErrorCode};

use crate::effect::Effect;
use crate::frames::{self, Frame};
use crate::ids::ConnId;
use crate::secret::{hash_token, same_hash, TokenHash};
use crate::store::accounts::Accounts;

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
    /// The right token for this account: the connection is NAME now, and
    /// may be let in.
    Accepted {
        /// The account's name, as it was added.
        name: String,
    },
    /// Refused (`ERR auth-failed` is queued); the connection is closed after
    /// the answer.
    Refused,
    /// Not `/auth`: it must log in first (`ERR auth-required` is queued).
    NotALogin,
}

/// An address's failures.
#[derive(Debug, Clone, Copy)]
struct Penalty {
    failures: u32,
    until: Instant,
}

/// A connection that logged in: with which account and which token.
#[derive(Debug)]
struct LoggedIn {
    /// The account's name, as it was added.
    name: String,
    /// Its [`name_key`].
    key: String,
    /// The token it used: a new token for the account revokes it.
    token: TokenHash,
}

/// The logins of a running server.
#[derive(Debug)]
pub struct Gate {
    accounts: Accounts,
    penalties: HashMap<IpAddr, Penalty>,
    /// Which account each logged-in connection used, and with which token.
    logged_in: HashMap<ConnId, LoggedIn>,
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

    /// Handles one line from connection `conn` at `peer`, which has not
    /// logged in (`line` is `None` when it is not a line of our protocol):
    /// lets it in as its account, or queues the refusal into `effects`.
    pub fn login(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        line: Option<&ClientLine<'_>>,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) -> Login {
        let login = self.check(conn, peer.ip(), line, now);
        match &login {
            // The name, never with the token; the token never.
            Login::Accepted { name } => tracing::info!(%peer, %name, "[+] logged in"),
            Login::NotALogin => effects.push(Effect::Send(conn, refusal(ErrorCode::AuthRequired))),
            Login::Refused => {
                tracing::warn!(%peer, "[!] login refused");
                effects.push(Effect::Send(conn, refusal(ErrorCode::AuthFailed)));
            }
        }
        login
    }

    fn check(
        &mut self,
        conn: ConnId,
        peer: IpAddr,
        line: Option<&ClientLine<'_>>,
        now: Instant,
    ) -> Login {
        let Some(ClientLine::Auth { name, token }) = line else {
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
                let name = account.name.clone();
                self.logged_in.insert(
                    conn,
                    LoggedIn {
                        name: name.clone(),
                        key,
                        token: offered,
                    },
                );
                Login::Accepted { name }
            }
            _ => {
                self.penalise(peer, now);
                Login::Refused
            }
        }
    }

    /// The account connection `conn` logged in to, as it was added.
    pub fn account_of(&self, conn: ConnId) -> Option<&str> {
        self.logged_in.get(&conn).map(|login| login.name.as_str())
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
            .filter(|(_, login)| {
                self.accounts
                    .get(&login.key)
                    .is_none_or(|account| account.token_hash != login.token)
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

/// The refusals that end a login, and the reminder that a login comes
/// first.
pub fn refusal(code: ErrorCode) -> Frame {
    let detail = match code {
        ErrorCode::AuthRequired => {
            "this server has accounts: send /auth NAME TOKEN first (chat-client --token-file)"
        }
        ErrorCode::AuthFailed => {
            "login refused: wrong name or token, or too many tries; wait and try again"
        }
        ErrorCode::Revoked => "your account was removed; ask the server's admin",
        _ => "refused",
    };
    frames::error(code, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::accounts::Account;

    const HERE: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5000);
    const THERE: SocketAddr =
        SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)), 5000);

    fn account(name: &str, token: &str) -> (String, Account) {
        (
            name_key(name),
            Account {
                name: name.to_string(),
                created: String::new(),
                token_hash: hash_token(token),
            },
        )
    }

    fn gate_with(name: &str, token: &str) -> Gate {
        Gate::new(Accounts::from([account(name, token)]))
    }

    /// Runs one line through the gate: what it came to, and the replies,
    /// as text.
    fn login(
        gate: &mut Gate,
        conn: ConnId,
        peer: SocketAddr,
        line: &str,
        now: Instant,
    ) -> (Login, Vec<String>) {
        let mut effects = Vec::new();
        let parsed = ClientLine::parse(line).ok();
        let login = gate.login(conn, peer, parsed.as_ref(), now, &mut effects);
        let replies = effects
            .into_iter()
            .map(|effect| match effect {
                Effect::Send(to, frame) => format!("to {to} {}", String::from_utf8_lossy(&frame)),
                other => format!("{other:?}"),
            })
            .collect();
        (login, replies)
    }

    fn accepted(name: &str) -> Login {
        Login::Accepted {
            name: name.to_string(),
        }
    }

    #[test]
    fn the_right_token_logs_in_as_the_account_name() {
        let mut gate = gate_with("alice", "t0ken");
        let (outcome, replies) = login(&mut gate, 1, HERE, "/auth ALICE t0ken", Instant::now());
        assert_eq!(outcome, accepted("alice"));
        assert!(replies.is_empty(), "{replies:?}");
        assert_eq!(gate.account_of(1), Some("alice"));
    }

    #[test]
    fn anything_but_auth_must_wait() {
        let mut gate = gate_with("alice", "t0ken");
        let now = Instant::now();
        for line in ["alice<SEP>hi", "/who", "not a line"] {
            let (outcome, replies) = login(&mut gate, 1, HERE, line, now);
            assert_eq!(outcome, Login::NotALogin);
            assert!(
                matches!(&replies[..], [reply] if reply.starts_with("to 1 ERR<SEP>auth-required<SEP>")),
                "{replies:?}"
            );
        }
        assert_eq!(gate.account_of(1), None);
    }

    #[test]
    fn a_refusal_says_auth_failed() {
        let mut gate = gate_with("alice", "t0ken");
        let (outcome, replies) = login(&mut gate, 1, HERE, "/auth alice wrong", Instant::now());
        assert_eq!(outcome, Login::Refused);
        assert!(
            matches!(&replies[..], [reply] if reply.starts_with("to 1 ERR<SEP>auth-failed<SEP>")),
            "{replies:?}"
        );
    }

    #[test]
    fn a_failure_makes_the_address_wait_even_with_the_right_token() {
        let mut gate = gate_with("alice", "t0ken");
        let now = Instant::now();
        assert_eq!(
            login(&mut gate, 1, HERE, "/auth alice wrong", now).0,
            Login::Refused
        );
        assert_eq!(
            login(&mut gate, 2, HERE, "/auth alice t0ken", now).0,
            Login::Refused
        );
        assert_eq!(
            login(&mut gate, 3, THERE, "/auth alice t0ken", now).0,
            accepted("alice")
        );
        let later = now + FIRST_PENALTY + Duration::from_millis(1);
        assert_eq!(
            login(&mut gate, 4, HERE, "/auth alice t0ken", later).0,
            accepted("alice")
        );
    }

    #[test]
    fn waits_double_up_to_a_minute() {
        let mut gate = gate_with("alice", "t0ken");
        let mut now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..8 {
            assert_eq!(
                login(&mut gate, 1, HERE, "/auth bob x", now).0,
                Login::Refused
            );
            let until = gate.penalties[&HERE.ip()].until;
            waits.push((until - now).as_secs());
            now = until;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn removing_an_account_revokes_its_connections_only() {
        let mut accounts = Accounts::from([account("alice", "a"), account("bob", "b")]);
        let mut gate = Gate::new(accounts.clone());
        let now = Instant::now();
        assert_eq!(
            login(&mut gate, 1, HERE, "/auth alice a", now).0,
            accepted("alice")
        );
        assert_eq!(
            login(&mut gate, 2, HERE, "/auth bob b", now).0,
            accepted("bob")
        );
        accounts.remove(&name_key("alice"));
        assert_eq!(gate.replace_accounts(accounts.clone()), vec![1]);
        assert_eq!(gate.replace_accounts(accounts), Vec::<ConnId>::new());
        assert_eq!(gate.account_of(1), None);
        assert_eq!(gate.account_of(2), Some("bob"));
    }

    #[test]
    fn a_new_token_revokes_the_old_ones_connections() {
        let mut gate = gate_with("alice", "old");
        assert_eq!(
            login(&mut gate, 1, HERE, "/auth alice old", Instant::now()).0,
            accepted("alice")
        );
        assert_eq!(
            gate.replace_accounts(Accounts::from([account("alice", "new")])),
            vec![1]
        );
    }
}
