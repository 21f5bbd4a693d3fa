//! What the workspace's tests share for real processes on real ports,
//! written once. Tools take the parts that hand back errors instead of
//! failing a test: chat-load's restart scenario takes its server's port
//! here, and chat-compare can start its Redis here.
//!
//! # Layout
//!
//! - [`free_port`]: a TCP port of 127.0.0.1 nothing listens on.
//! - [`redis`]: a real `redis-server` on such a port, started and stopped by
//!   PID, restarted on the same port; skipped where it is not installed,
//!   except in CI.
//! - [`server`]: the real `chat-server` binary as a child process, and where
//!   that binary is for tests outside the server crate.
//! - [`process`]: any child's output read on threads, waits bounded in time,
//!   signals, a child that dies with its parent, and a binary run to its end.
//!
//! Its own `tests/module_cycles.rs` checks the whole workspace's sources: no
//! module reaches itself through the `crate::` and `super::` paths of its
//! siblings.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

pub mod process;
pub mod redis;
pub mod server;

pub use redis::{Persistence, RedisError, RedisOptions, RedisServer};
pub use server::{chat_server_binary, workspace_binary, ServerCommand, ServerProcess};

/// How long any one expectation about a child process may take. Generous:
/// the suites run on a loaded two-core machine next to other builds, and a
/// passing test never waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How often the waits here look again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A port of 127.0.0.1 nobody listens on right now: bound to 0, read,
/// released. Another program may take it before the caller binds it, so a
/// caller that can retries on another (as [`RedisServer::start`] does).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
