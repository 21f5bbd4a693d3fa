//! The syncer: a thread that checkpoints the log's WAL into its database
//! file once a second while messages arrive, on a connection of its own.
//!
//! A checkpoint is what syncs the log to the disk (with `synchronous=NORMAL`
//! a commit only writes the WAL), and under a saturating load it took 7 to
//! 15 ms here. On the storage thread it held up every commit behind it, and
//! so every message on its way to the room: once a second, ~1% of a busy
//! room's messages waited for the disk. SQLite lets a passive checkpoint run
//! beside a writer in WAL mode, so here it waits for nobody and nobody
//! waits for it.

use std::io;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::schema::{describe, open_beside};
use super::search::IndexProgress;

/// How often the WAL is synced to the disk while messages arrive: the most a
/// power cut can lose.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// The running syncer; [`Syncer::stop`] ends it.
pub(super) struct Syncer {
    /// Dropped to stop the thread.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts syncing the log at `path`, whose commits `progress` counts.
    pub(super) fn start(path: &Path, progress: Arc<IndexProgress>) -> io::Result<Syncer> {
        let connection = open_beside(path, OpenFlags::SQLITE_OPEN_READ_WRITE, "syncing")?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("chat-server-sync".to_string())
            .spawn(move || {
                let mut synced = progress.stored_upto();
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL)
                {
                    let stored = progress.stored_upto();
                    if stored != synced && checkpoint(&connection, "PASSIVE") {
                        synced = stored;
                    }
                }
            })?;
        Ok(Syncer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (at most one checkpoint).
    pub(super) fn stop(&mut self) {
        self.stop = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `PRAGMA wal_checkpoint(mode)` on `connection`; says in the server's
/// log when it fails, and whether it worked.
pub(super) fn checkpoint(connection: &Connection, mode: &str) -> bool {
    let result = connection
        .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
        .optional();
    if let Err(e) = &result {
        tracing::warn!(
            error = describe(e),
            "[!] The room's log could not be synced to disk"
        );
    }
    result.is_ok()
}
