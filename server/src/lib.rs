//! The office chat server.
//!
//! The product is [`event_loop::Server`]: one thread, one `mio::Poll`, every
//! client in a slab. [`threads`] keeps the seed project's thread-per-client
//! design beside it, speaking the same protocol through the same [`room::Room`],
//! so the two can be compared fairly.
//!
//! `main` only parses flags and hands a bound listener to a mode's `run`;
//! tests and embedders use [`RunningServer`] instead, which binds
//! `127.0.0.1:0` and runs the event loop on a background thread.
//!
//! # Layout
//!
//! - [`config`]: flags and the settings they become.
//! - [`log`]: the log, written off the loop's thread.
//! - [`listener`]: binding the listening socket, socket options, the fd limit.
//! - [`room`]: names, colours, history and what each line causes; no I/O.
//! - [`desk`]: desk secrets and the IDs direct messages are stored with.
//! - [`store`]: the room's log (SQLite by default, or memory, or a Redis
//!   stream several servers share), off the loop.
//! - [`outbox`]: encoded frames and each client's bounded queue of them.
//! - [`event_loop`]: the mio loop, its pass, broadcast and the close discipline.
//! - [`acceptor`]: the loop's listener, admission, refusals, fd exhaustion.
//! - [`connection`]: one client in the loop: its I/O, buffers and lifecycle.
//! - [`transport`]: the byte stream under a connection: plain TCP or TLS.
//! - [`tls`]: the server's certificate (given, or self-signed and kept).
//! - [`auth`]: logins (`--auth token`): checks, the wait after failures.
//! - [`accounts`]: the accounts table, `chat-server user`, and watching it.
//! - [`rate`]: the per-client line rate limit.
//! - [`threads`]: the thread-per-client baseline (`--mode threads`).

pub mod acceptor;
pub mod accounts;
pub mod auth;
pub mod config;
pub mod connection;
pub mod desk;
pub mod event_loop;
pub mod listener;
pub mod log;
pub mod outbox;
pub mod rate;
pub mod room;
pub mod store;
pub mod threads;
pub mod tls;
pub mod transport;

mod running;

pub use config::{Config, Mode};
pub use event_loop::{Server, ShutdownHandle};
pub use running::RunningServer;
