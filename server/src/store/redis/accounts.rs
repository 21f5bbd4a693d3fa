//! The accounts of an office on Redis: one hash (name key -> name, when
//! added, token hash; [`Keys::accounts`]) and a stamp, a random word set
//! afresh by every change in the same script ([`Keys::accounts_stamp`]).
//!
//! # Why a polled stamp
//!
//! Each server's watcher reads the stamp once a second (one `GET`), and the
//! hash only when the stamp differs from the last it saw. Keyspace
//! notifications would need `notify-keyspace-events` set on the Redis
//! server, and pub/sub is fire-and-forget: a change published while a
//! watcher reconnects would be missed for good, so it would need this poll
//! behind it anyway. The stamp is random rather than a counter so that a
//! Redis that lost its data (and its counter) and was changed again can
//! never show a value a watcher already saw.

use std::io;

use redis::Commands;

use super::entry::{account_value, parse_account, Keys};
use super::{connect, without_password};
use crate::config::RedisTarget;
use crate::store::accounts::{Account, AccountBook, Accounts};

/// Adds an account unless its key has one; a new stamp tells the watchers.
/// KEYS: the hash, the stamp; ARGV: the name key, the value, a new stamp.
/// Returns nil if added, else the value already there.
const ADD_ACCOUNT: &str = "
    if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
        redis.call('SET', KEYS[2], ARGV[3])
        return false
    end
    return redis.call('HGET', KEYS[1], ARGV[1])";

/// Removes an account; a new stamp tells the watchers. KEYS: the hash, the
/// stamp; ARGV: the name key, a new stamp. Returns the value removed, or
/// nil.
const REMOVE_ACCOUNT: &str = "
    local held = redis.call('HGET', KEYS[1], ARGV[1])
    if held then
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('SET', KEYS[2], ARGV[2])
    end
    return held";

/// The accounts of one office.
pub struct RedisAccounts {
    client: redis::Client,
    keys: Keys,
    /// For messages, without the password.
    place: String,
    /// `None` until connected, and after a failure (the next call connects
    /// again).
    connection: Option<redis::Connection>,
    /// The stamp at the last look: `None` before the first, `Some(None)`
    /// when there was none.
    stamp: Option<Option<String>>,
}

impl RedisAccounts {
    /// Connects to the office `target` names.
    pub fn open(target: &RedisTarget) -> io::Result<RedisAccounts> {
        let place = format!(
            "the office {} on {}",
            target.office,
            without_password(&target.url)
        );
        let client = redis::Client::open(target.url.as_str())
            .map_err(|e| io::Error::other(format!("{place}: not a Redis URL: {e}")))?;
        let mut accounts = RedisAccounts {
            client,
            keys: Keys::new(&target.office),
            place,
            connection: None,
            stamp: None,
        };
        accounts.with_redis(|_, _| Ok(()))?;
        Ok(accounts)
    }

    /// Runs `work` on the connection, connecting first if needed; a failure
    /// drops the connection, so the next call connects again.
    fn with_redis<T>(
        &mut self,
        work: impl FnOnce(&Keys, &mut redis::Connection) -> redis::RedisResult<T>,
    ) -> io::Result<T> {
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => connect(&self.client)
                .map_err(|e| io::Error::other(format!("{}: cannot connect: {e}", self.place)))?,
        };
        let result = work(&self.keys, &mut connection)
            .map_err(|e| io::Error::other(format!("{}: {e}", self.place)))?;
        self.connection = Some(connection);
        Ok(result)
    }
}

impl AccountBook for RedisAccounts {
    fn place(&self) -> String {
        self.place.clone()
    }

    fn insert(&mut self, key: &str, account: &Account) -> io::Result<Option<String>> {
        let held: Option<String> = self.with_redis(|keys, c| {
            redis::Script::new(ADD_ACCOUNT)
                .key(keys.accounts())
                .key(keys.accounts_stamp())
                .arg(key)
                .arg(account_value(account))
                .arg(new_stamp())
                .invoke(c)
        })?;
        Ok(held.map(|value| name_in(&value, key)))
    }

    fn delete(&mut self, key: &str) -> io::Result<Option<String>> {
        let held: Option<String> = self.with_redis(|keys, c| {
            redis::Script::new(REMOVE_ACCOUNT)
                .key(keys.accounts())
                .key(keys.accounts_stamp())
                .arg(key)
                .arg(new_stamp())
                .invoke(c)
        })?;
        Ok(held.map(|value| name_in(&value, key)))
    }

    fn load(&mut self) -> io::Result<Accounts> {
        let values: Vec<(String, String)> =
            self.with_redis(|keys, c| c.hgetall(keys.accounts()))?;
        let mut accounts = Accounts::new();
        for (key, value) in values {
            match parse_account(&value) {
                Some(account) => {
                    accounts.insert(key, account);
                }
                None => tracing::warn!(key, "[!] An account on Redis cannot be read; skipped"),
            }
        }
        Ok(accounts)
    }

    fn changed(&mut self) -> io::Result<bool> {
        let now: Option<String> = self.with_redis(|keys, c| c.get(keys.accounts_stamp()))?;
        let before = self.stamp.replace(now.clone());
        Ok(before != Some(now))
    }
}

/// A fresh stamp: 64 random bits.
fn new_stamp() -> String {
    crate::desk::random_hex(8)
}

/// The name an account's value holds; its key if it cannot be read.
fn name_in(value: &str, key: &str) -> String {
    parse_account(value).map_or_else(|| key.to_string(), |account| account.name)
}
