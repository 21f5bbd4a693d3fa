//! The accounts in the room's log file: its `accounts` table, one row per
//! account (its name key, name, token hash and when it was added). The
//! `user` commands write it beside a running server (the server locks the
//! file against a second server, not against them); the server's watcher
//! sees their changes through `PRAGMA data_version`, which counts the
//! commits of other connections.

use std::io;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::schema::{describe, open_database, Lock};
use crate::store::accounts::{Account, AccountBook, Accounts, Missing};

/// The `accounts` table of one log file.
pub struct SqliteAccounts {
    path: PathBuf,
    connection: Connection,
    /// `data_version` at the last look; `None` before the first.
    version: Option<i64>,
}

impl SqliteAccounts {
    /// Opens the log at `path` (creating it if `missing` allows).
    pub fn open(path: &Path, missing: Missing) -> io::Result<SqliteAccounts> {
        if missing == Missing::Refuse && !path.exists() {
            return Err(io::Error::other(format!(
                "there is no room's log at {} (give its path with --db)",
                path.display()
            )));
        }
        let (connection, _) = open_database(path, Lock::Shared)?;
        Ok(SqliteAccounts {
            path: path.to_path_buf(),
            connection,
            version: None,
        })
    }

    fn failed(&self, e: &rusqlite::Error) -> io::Error {
        io::Error::other(format!("{}: {}", self.place(), describe(e)))
    }

    /// The name, as added, of the account whose key is `key`.
    fn name_of(&self, key: &str) -> rusqlite::Result<Option<String>> {
        self.connection
            .query_row(
                "SELECT name FROM accounts WHERE name_key = ?1",
                params![key],
                |row| row.get(0),
            )
            .optional()
    }
}

impl AccountBook for SqliteAccounts {
    fn place(&self) -> String {
        format!("the room's log {}", self.path.display())
    }

    fn insert(&mut self, key: &str, account: &Account) -> io::Result<Option<String>> {
        let inserted = self
            .connection
            .execute(
                "INSERT OR IGNORE INTO accounts (name_key, name, token_sha256, created)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    key,
                    account.name,
                    account.token_hash.to_vec(),
                    account.created
                ],
            )
            .map_err(|e| self.failed(&e))?;
        if inserted == 1 {
            return Ok(None);
        }
        let existing = self.name_of(key).map_err(|e| self.failed(&e))?;
        Ok(Some(existing.unwrap_or_else(|| account.name.clone())))
    }

    fn delete(&mut self, key: &str) -> io::Result<Option<String>> {
        let Some(existing) = self.name_of(key).map_err(|e| self.failed(&e))? else {
            return Ok(None);
        };
        self.connection
            .execute("DELETE FROM accounts WHERE name_key = ?1", params![key])
            .map_err(|e| self.failed(&e))?;
        Ok(Some(existing))
    }

    fn load(&mut self) -> io::Result<Accounts> {
        load_from(&self.connection).map_err(|e| self.failed(&e))
    }

    fn changed(&mut self) -> io::Result<bool> {
        let now: i64 = self
            .connection
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|e| self.failed(&e))?;
        Ok(self.version.replace(now) != Some(now))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::hash_token;
    use crate::store::accounts::{add, list, remove};

    #[test]
    fn only_the_tokens_hash_is_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("room.db");
        let mut book = SqliteAccounts::open(&db, Missing::Create).unwrap();
        let token = add(&mut book, "alice").unwrap();
        let accounts = list(&mut book).unwrap();
        assert_eq!(accounts[0].token_hash, hash_token(&token));
        let file = std::fs::read(&db).unwrap();
        assert!(
            !file.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token itself must not be stored"
        );
    }

    #[test]
    fn a_change_by_another_connection_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("room.db");
        let mut watching = SqliteAccounts::open(&db, Missing::Create).unwrap();
        assert!(watching.changed().unwrap(), "the first look");
        assert!(!watching.changed().unwrap());
        let mut admin = SqliteAccounts::open(&db, Missing::Refuse).unwrap();
        add(&mut admin, "alice").unwrap();
        assert!(watching.changed().unwrap());
        assert_eq!(watching.load().unwrap().len(), 1);
        assert!(!watching.changed().unwrap());
        assert_eq!(remove(&mut admin, "ALICE").unwrap(), "alice");
        assert!(watching.changed().unwrap());
        assert!(watching.load().unwrap().is_empty());
    }

    #[test]
    fn removing_from_a_log_that_is_not_there_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("room.db");
        let error = SqliteAccounts::open(&db, Missing::Refuse)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("no room's log at"), "{error}");
        assert!(!db.exists());
    }
}
