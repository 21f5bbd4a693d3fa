//! Accounts: who may log in when the server runs with `--auth token`. They
//! live in the `accounts` table of the room's log file, as a name and the
//! SHA-256 of a random token; the token itself is printed once, by
//! `chat-server user add`, and kept nowhere.
//!
//! The `user` commands change the table beside a running server (the server
//! locks the file against a second server, not against them). A running
//! server notices within about a second: a watcher thread asks SQLite whether
//! anything else changed the file (`PRAGMA data_version`) and, if so, reads
//! the table again and hands the loop the new list through its waker.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::Waker;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use chat_shared::name::{check_name, name_key};

use super::sqlite::{open_database, Lock};

/// Bytes of randomness in a token: 256 bits, printed as 64 hex digits.
const TOKEN_BYTES: usize = 32;

/// How often the watcher looks for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// A token's SHA-256: what the table keeps.
pub type TokenHash = [u8; 32];

/// The SHA-256 of `token`, as stored.
pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

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

/// Adds an account for `name` and returns its token, to be shown once.
/// Refuses a name that breaks the rules or is taken (lookalikes included).
pub fn add(db: &Path, name: &str) -> io::Result<String> {
    check_name(name).map_err(|problem| io::Error::other(format!("'{name}': {problem}")))?;
    let connection = open(db)?;
    let token = crate::desk::random_hex(TOKEN_BYTES);
    let inserted = connection
        .execute(
            "INSERT OR IGNORE INTO accounts (name_key, name, token_sha256, created)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                name_key(name),
                name,
                hash_token(&token).to_vec(),
                chat_shared::message::timestamp_now()
            ],
        )
        .map_err(|e| failed(db, e))?;
    if inserted == 0 {
        let existing = name_of(&connection, &name_key(name))
            .map_err(|e| failed(db, e))?
            .unwrap_or_else(|| name.to_string());
        return Err(io::Error::other(format!(
            "there is already an account for {existing}; remove it first to give a new token"
        )));
    }
    Ok(token)
}

/// Removes `name`'s account; its desks are closed by a running server.
pub fn remove(db: &Path, name: &str) -> io::Result<String> {
    let connection = open_existing(db)?;
    let key = name_key(name);
    let existing = name_of(&connection, &key)
        .map_err(|e| failed(db, e))?
        .ok_or_else(|| io::Error::other(format!("there is no account for {name}")))?;
    connection
        .execute("DELETE FROM accounts WHERE name_key = ?1", params![key])
        .map_err(|e| failed(db, e))?;
    Ok(existing)
}

/// The name, as added, of the account whose key is `key`.
fn name_of(connection: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    connection
        .query_row(
            "SELECT name FROM accounts WHERE name_key = ?1",
            params![key],
            |row| row.get(0),
        )
        .optional()
}

/// Every account, by name.
pub fn list(db: &Path) -> io::Result<Vec<Account>> {
    let connection = open_existing(db)?;
    let mut accounts: Vec<Account> = load_from(&connection)
        .map_err(|e| failed(db, e))?
        .into_values()
        .collect();
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(accounts)
}

/// Opens the log that holds the accounts; `add` may create it, the other
/// commands need it to exist.
fn open(db: &Path) -> io::Result<Connection> {
    open_database(db, Lock::Shared).map(|(connection, _)| connection)
}

fn open_existing(db: &Path) -> io::Result<Connection> {
    if !db.exists() {
        return Err(io::Error::other(format!(
            "there is no room's log at {} (give its path with --db)",
            db.display()
        )));
    }
    open(db)
}

fn failed(db: &Path, e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("the room's log {}: {e}", db.display()))
}

fn load_from(connection: &Connection) -> rusqlite::Result<Accounts> {
    let mut statement =
        connection.prepare_cached("SELECT name_key, name, token_sha256, created FROM accounts")?;
    let rows = statement.query_map([], |row| {
        let hash: Vec<u8> = row.get(2)?;
        let mut token_hash = [0u8; 32];
        if hash.len() == token_hash.len() {
            token_hash.copy_from_slice(&hash);
        }
        Ok((
            row.get::<_, String>(0)?,
            Account {
                name: row.get(1)?,
                token_hash,
                created: row.get(3)?,
            },
        ))
    })?;
    rows.collect()
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
    /// Reads the accounts now, and starts watching for changes; each change
    /// wakes `waker`.
    pub fn start(db: &Path, waker: Arc<Waker>) -> io::Result<(Accounts, AccountsWatcher)> {
        let connection = open(db)?;
        let accounts = load_from(&connection).map_err(|e| failed(db, e))?;
        let (updates_sender, updates) = mpsc::sync_channel(1);
        let (stop, stopped) = mpsc::sync_channel::<()>(0);
        let mut seen = accounts.clone();
        let thread = std::thread::Builder::new()
            .name("chat-server-accounts".to_string())
            .spawn(move || {
                let mut version = data_version(&connection);
                let mut unsent: Option<Accounts> = None;
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(WATCH_INTERVAL)
                {
                    let now = data_version(&connection);
                    if now != version {
                        version = now;
                        match load_from(&connection) {
                            Ok(accounts) if accounts != seen => {
                                seen = accounts.clone();
                                unsent = Some(accounts);
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "[!] Could not read the accounts"),
                        }
                    }
                    // The loop takes one list at a time; a newer one waits
                    // here, replacing any older one not yet taken.
                    if let Some(accounts) = unsent.take() {
                        match updates_sender.try_send(accounts) {
                            Ok(()) => {
                                let _ = waker.wake();
                            }
                            Err(TrySendError::Full(accounts)) => unsent = Some(accounts),
                            Err(TrySendError::Disconnected(_)) => return,
                        }
                    }
                }
            })?;
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

/// SQLite's count of changes by other connections to the file.
fn data_version(connection: &Connection) -> i64 {
    connection
        .query_row("PRAGMA data_version", [], |row| row.get(0))
        .unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_shown_once_and_only_its_hash_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("room.db");
        let token = add(&db, "alice").unwrap();
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        let accounts = list(&db).unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].name, "alice");
        assert_eq!(accounts[0].token_hash, hash_token(&token));
        let file = std::fs::read(&db).unwrap();
        assert!(
            !file.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token itself must not be stored"
        );
    }

    #[test]
    fn a_lookalike_of_an_account_is_the_same_account() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("room.db");
        add(&db, "alice").unwrap();
        let error = add(&db, "ALICE").unwrap_err().to_string();
        assert!(error.contains("already an account for alice"), "{error}");
        assert_eq!(remove(&db, "Alice").unwrap(), "alice");
        assert!(list(&db).unwrap().is_empty());
        let error = remove(&db, "alice").unwrap_err().to_string();
        assert!(error.contains("no account for alice"), "{error}");
    }

    #[test]
    fn a_bad_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("room.db");
        assert!(add(&db, "a<SEP>b").is_err());
        assert!(add(&db, "").is_err());
    }
}
