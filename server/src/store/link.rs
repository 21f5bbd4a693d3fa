//! The loop's side of the store: which store the flags chose, this pass's
//! messages on their way to it, its answers on their way back, the name
//! claims of a store shared by several servers, and (with `--auth token`)
//! the accounts kept beside it (the same file, or the same office on Redis). Nothing here waits: every request is
//! queued, and one the store is too far behind to take is handed back as
//! refused, for the rules to answer ([`crate::chat`]).

use std::io;
use std::sync::Arc;

use mio::Waker;

use super::memory::MemoryStore;
use super::redis::RedisStore;
use super::sqlite::SqliteStore;
use super::{Busy, Completion, Draft, Message, NameClaim, Request, RoomState, Store};
use crate::config::{Auth, Config, Db};
use crate::ids::Asker;
use crate::store::accounts::{Accounts, AccountsWatcher, Missing};

/// Why this pass's messages are refused when the store cannot take them.
pub const STORE_BEHIND: &str = "the room's log is behind (a slow disk, or a slow link to Redis)";

/// The store and what the loop keeps beside it.
pub struct StoreLink {
    store: Box<dyn Store>,
    /// Messages of this pass, handed to the store in one batch at its end.
    drafts: Vec<Draft>,
    /// Tells the loop when accounts change, with `--auth token`.
    accounts: Option<AccountsWatcher>,
}

/// A store just opened.
pub struct Opened {
    /// The loop's side of it.
    pub link: StoreLink,
    /// The rooms but `#main`.
    pub rooms: Vec<RoomState>,
    /// The newest messages of each room, oldest first: what newcomers are
    /// shown first.
    pub recent: Vec<Message>,
    /// The accounts, when desks must log in.
    pub accounts: Option<Accounts>,
}

impl StoreLink {
    /// Opens the store the flags name, reads what newcomers will be shown
    /// (only that, so start-up does not grow with the store) and starts its
    /// threads, which wake `waker` when they have answers.
    pub fn open(config: &Config, waker: &Arc<Waker>) -> io::Result<Opened> {
        let history = config.history;
        let (store, rooms, recent): (Box<dyn Store>, _, _) = match &config.db {
            Db::None => (Box::new(MemoryStore::new()), Vec::new(), Vec::new()),
            Db::Redis(target) => {
                let mut store = RedisStore::open(target, history)?;
                let (rooms, recent) = (store.rooms()?, store.recent(history)?);
                store.start(Arc::clone(waker))?;
                (Box::new(store), rooms, recent)
            }
            Db::Path(path) => {
                let mut store = SqliteStore::open(path)?;
                let (rooms, recent) = (store.rooms()?, store.recent(history)?);
                store.start(Arc::clone(waker))?;
                (Box::new(store), rooms, recent)
            }
        };
        let (accounts, watcher) = match config.auth {
            Auth::Token => {
                let book = super::open_book(&config.db, Missing::Create)?;
                let (accounts, watcher) = AccountsWatcher::start(book, Arc::clone(waker))?;
                (Some(accounts), Some(watcher))
            }
            Auth::Open => (None, None),
        };
        Ok(Opened {
            link: StoreLink {
                store,
                drafts: Vec::new(),
                accounts: watcher,
            },
            rooms,
            recent,
            accounts,
        })
    }

    /// Names the store: IDs of another epoch cannot be resumed from.
    pub fn epoch(&self) -> &str {
        self.store.epoch()
    }

    /// Where the store is, for the start-up line.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// Whether the store answers searches.
    pub fn can_search(&self) -> bool {
        self.store.can_search()
    }

    /// This server's name among those sharing the store, if it is shared.
    pub fn shared_as(&mut self) -> Option<String> {
        self.store
            .shared()
            .map(|shared| shared.server_id().to_string())
    }

    /// Keeps a message for this pass's batch.
    pub fn publish(&mut self, draft: Draft) {
        self.drafts.push(draft);
    }

    /// Hands this pass's messages to the store, as one batch; hands them
    /// back if the store is too far behind to take them.
    pub fn submit_drafts(&mut self) -> Result<(), Request> {
        if self.drafts.is_empty() {
            return Ok(());
        }
        let drafts = std::mem::take(&mut self.drafts);
        self.ask(Request::Append(drafts))
    }

    /// Hands the store a request whose answer comes later (a replay, a
    /// search, a change to the rooms); hands it back if the store is too
    /// far behind to take it.
    pub fn ask(&mut self, request: Request) -> Result<(), Request> {
        self.store.submit(request).map_err(|Busy(request)| request)
    }

    /// Claims a name across the servers sharing the store; false if it
    /// cannot be asked now (too busy, or not shared).
    pub fn claim(&mut self, asker: Asker, claim: NameClaim, returning: bool) -> bool {
        self.store
            .shared()
            .is_some_and(|shared| shared.claim(asker, claim, returning).is_ok())
    }

    /// Gives a name back across the servers sharing the store.
    pub fn release(&mut self, claim: NameClaim) {
        if let Some(shared) = self.store.shared() {
            shared.release(claim);
        }
    }

    /// Tells the servers sharing the store that a name's desk changed.
    pub fn redesk(&mut self, claim: NameClaim) {
        if let Some(shared) = self.store.shared() {
            shared.redesk(claim);
        }
    }

    /// Moves the answers ready now into `out`, in order.
    pub fn answers(&mut self, out: &mut Vec<Completion>) {
        self.store.completions(out);
    }

    /// The accounts, if they changed since the last look.
    pub fn accounts_changed(&self) -> Option<Accounts> {
        self.accounts.as_ref()?.changed()
    }

    /// Submits what is left, waits for the store to make it durable and
    /// stop, and returns its last answers.
    pub fn close(&mut self) -> Vec<Completion> {
        self.store.close()
    }
}
