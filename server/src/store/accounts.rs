//! Accounts: who may log in when the server runs with `--auth token`. Each
//! is a name and the SHA-256 of a random token; the token itself is printed
//! once, by `chat-server user add`, and kept nowhere.
//!
//! They live where the server keeps its rooms ([`AccountBook`]): in the
//! `accounts` table of the room's log file ([`crate::store::sqlite`]), or,
//! for servers sharing an office on Redis, in that office
//! ([`crate::store::redis`]). What an account is, how a token is made (its
//! hash is [`crate::secret`]'s), and which names are one account
//! (lookalikes) is decided here, once, for both.
//!
//! The `user` commands change the accounts beside running servers. Each
//! server notices within about a second: a watcher thread asks the book
//! whether anything changed it and, if so, reads the accounts again and
//! hands the loop the new list through its waker. The loop never waits on
//! the book; while it cannot be read, the last accounts read stay in force.

use std::collections::HashMap;
use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::Waker;

use chat_shared::name::{check_name, name_key};

use crate::secret::{hash_token, TokenHash};

/// Bytes of randomness in a token: 256 bits, printed as 64 hex digits.
const TOKEN_BYTES: usize = 32;

/// How often the watcher looks for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// One person who may log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The name, as added.
    pub name: String,
    /// When it was added (RFC 3339, UTC).
    pub created: String,
    /// Its token's SHA-256.
    pub token_hash: TokenHash,
}

/// Every account, by [`name_key`] (so lookalike names are one account).
pub type Accounts = HashMap<String, Account>;

/// Where accounts are kept: the room's log file, or an office on Redis.
/// Each call may fail when the place cannot be reached; none changes
/// anything it does not say.
pub trait AccountBook: Send {
    /// Where it is, for messages ("the room's log PATH").
    fn place(&self) -> String;

    /// Adds `account` under `key`, unless an account is there already:
    /// then nothing changes and its name is returned.
    fn insert(&mut self, key: &str, account: &Account) -> io::Result<Option<String>>;

    /// Removes the account under `key`; returns its name, or `None` if
    /// there was none.
    fn delete(&mut self, key: &str) -> io::Result<Option<String>>;

    /// Every account.
    fn load(&mut self) -> io::Result<Accounts>;

    /// Whether anything may have changed the accounts since the last call;
    /// true on the first.
    fn changed(&mut self) -> io::Result<bool>;
}

/// Whether [`super::open_book`] may create the room's log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create it (`user add`, and a server, which creates it anyway).
    Create,
    /// Refuse: removing from or listing a log that is not there is a
    /// mistake in the path.
    Refuse,
}

/// Adds an account for `name` and returns its token, to be shown once.
/// Refuses a name that breaks the rules or is taken (lookalikes included).
pub fn add(book: &mut dyn AccountBook, name: &str) -> io::Result<String> {
    check_name(name).map_err(|problem| io::Error::other(format!("'{name}': {problem}")))?;
    let token = crate::desk::random_hex(TOKEN_BYTES);
    let account = Account {
        name: name.to_string(),
        created: chat_shared::message::timestamp_now(),
        token_hash: hash_token(&token),
    };
    if let Some(existing) = book.insert(&name_key(name), &account)? {
        return Err(io::Error::other(format!(
            "there is already an account for {existing}; remove it first to give a new token"
        )));
    }
    Ok(token)
}

/// Removes `name`'s account and returns its name as it was added; its desks
/// are closed by the running servers.
pub fn remove(book: &mut dyn AccountBook, name: &str) -> io::Result<String> {
    book.delete(&name_key(name))?
        .ok_or_else(|| io::Error::other(format!("there is no account for {name}")))
}

/// Every account, by name.
pub fn list(book: &mut dyn AccountBook) -> io::Result<Vec<Account>> {
    let mut accounts: Vec<Account> = book.load()?.into_values().collect();
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(accounts)
}

/// Keeps a running server's accounts up to date. Dropping it stops the
/// thread.
pub struct AccountsWatcher {
    updates: Receiver<Accounts>,
    /// Dropped to stop the thread; `None` once stopped.
    stop: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl AccountsWatcher {
    /// Reads the accounts now, and starts watching `book` for changes; each
    /// change wakes `waker`.
    pub fn start(
        mut book: Box<dyn AccountBook>,
        waker: Arc<Waker>,
    ) -> io::Result<(Accounts, AccountsWatcher)> {
        book.changed()?;
        let accounts = book.load()?;
        let (updates_sender, updates) = mpsc::sync_channel(1);
        let (stop, stopped) = mpsc::sync_channel::<()>(0);
        let seen = accounts.clone();
        let thread = std::thread::Builder::new()
            .name("chat-server-accounts".to_string())
            .spawn(move || watch(book.as_mut(), seen, &stopped, &updates_sender, &waker))?;
        Ok((
            accounts,
            AccountsWatcher {
                updates,
                stop: Some(stop),
                thread: Some(thread),
            },
        ))
    }

    /// The newest accounts, if they changed since the last call.
    pub fn changed(&self) -> Option<Accounts> {
        self.updates.try_iter().last()
    }
}

impl Drop for AccountsWatcher {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The watcher thread: every [`WATCH_INTERVAL`] until stopped, reads the
/// accounts again if the book changed, and hands a list that differs from
/// the last to the loop. A book it cannot read is said once, and the last
/// list stays in force.
fn watch(
    book: &mut dyn AccountBook,
    mut seen: Accounts,
    stopped: &Receiver<()>,
    updates: &SyncSender<Accounts>,
    waker: &Waker,
) {
    let mut unsent: Option<Accounts> = None;
    let mut failing = false;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(WATCH_INTERVAL) {
        let read = book
            .changed()
            .and_then(|changed| changed.then(|| book.load()).transpose());
        match read {
            Ok(fresh) => {
                if failing {
                    failing = false;
                    tracing::info!(place = book.place(), "[*] The accounts can be read again");
                }
                if let Some(accounts) = fresh.filter(|accounts| *accounts != seen) {
                    seen = accounts.clone();
                    unsent = Some(accounts);
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "[!] Could not read the accounts; the last ones read stay in force");
            }
            Err(_) => {}
        }
        // The loop takes one list at a time; a newer one waits here,
        // replacing any older one not yet taken.
        if let Some(accounts) = unsent.take() {
            match updates.try_send(accounts) {
                Ok(()) => {
                    let _ = waker.wake();
                }
                Err(TrySendError::Full(accounts)) => unsent = Some(accounts),
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A book in memory, to try the rules without a file or Redis.
    #[derive(Default)]
    struct Book(Accounts);

    impl AccountBook for Book {
        fn place(&self) -> String {
            "a test book".to_string()
        }

        fn insert(&mut self, key: &str, account: &Account) -> io::Result<Option<String>> {
            if let Some(existing) = self.0.get(key) {
                return Ok(Some(existing.name.clone()));
            }
            self.0.insert(key.to_string(), account.clone());
            Ok(None)
        }

        fn delete(&mut self, key: &str) -> io::Result<Option<String>> {
            Ok(self.0.remove(key).map(|account| account.name))
        }

        fn load(&mut self) -> io::Result<Accounts> {
            Ok(self.0.clone())
        }

        fn changed(&mut self) -> io::Result<bool> {
            Ok(true)
        }
    }

    #[test]
    fn a_token_is_shown_once_and_only_its_hash_is_kept() {
        let mut book = Book::default();
        let token = add(&mut book, "alice").unwrap();
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        let accounts = list(&mut book).unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].name, "alice");
        assert_eq!(accounts[0].token_hash, hash_token(&token));
    }

    #[test]
    fn a_lookalike_of_an_account_is_the_same_account() {
        let mut book = Book::default();
        add(&mut book, "alice").unwrap();
        let error = add(&mut book, "ALICE").unwrap_err().to_string();
        assert!(error.contains("already an account for alice"), "{error}");
        assert_eq!(remove(&mut book, "Alice").unwrap(), "alice");
        assert!(list(&mut book).unwrap().is_empty());
        let error = remove(&mut book, "alice").unwrap_err().to_string();
        assert!(error.contains("no account for alice"), "{error}");
    }

    #[test]
    fn a_bad_name_is_refused() {
        let mut book = Book::default();
        assert!(add(&mut book, "a<SEP>b").is_err());
        assert!(add(&mut book, "").is_err());
        assert!(add(&mut book, "two words").is_err());
        assert!(book.0.is_empty());
    }
}
