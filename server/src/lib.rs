//! The office chat server.
//!
//! The product is [`event_loop::Server`]: one thread, one `mio::Poll`, every
//! client in a slab. [`threads`] keeps the seed project's thread-per-client
//! design beside it, speaking the same protocol through the same rules
//! ([`chat::Chat`]), so the two can be compared fairly.
//!
//! `main` only parses flags and hands a bound listener to a mode's `run`;
//! tests and embedders use [`RunningServer`] instead, which binds
//! `127.0.0.1:0` and runs the event loop on a background thread.
//!
//! # Layout
//!
//! - [`config`]: flags and the settings they become.
//! - [`log`]: the server's own log (diagnostics), written off the loop's
//!   thread.
//! - [`listener`]: binding the listening socket, socket options, the fd limit.
//! - [`event_loop`]: the mio loop; it only dispatches: readiness to the
//!   connections, their lines to the rules, the rules' effects to the
//!   connections and the store.
//! - [`acceptor`]: the loop's listener, admission, refusals, fd exhaustion.
//! - [`connection`]: one client in the loop: its I/O, buffers and lifecycle.
//! - [`transport`]: the byte stream under a connection: plain TCP or TLS.
//! - [`framing`]: how a connection's bytes become lines, and our lines its
//!   bytes, in each dialect (our desks, the seed's desks, IRC clients,
//!   browsers).
//! - [`irc`]: IRC clients: registration, commands, our lines as IRC.
//! - [`outbox`]: each client's bounded queue of frames.
//! - [`frames`]: the server's lines, encoded once and shared.
//! - [`chat`]: the rules, without I/O: what each line and each answer of the
//!   store causes, as [`effect::Effect`]s.
//! - [`directory`]: who is on the server: names, desks, claims across
//!   servers.
//! - [`room`]: one conversation: its members and history.
//! - [`auth`]: logins (`--auth token`): checks, the wait after failures.
//! - [`desk`]: desk secrets and the IDs direct messages are stored with.
//! - [`secret`]: login tokens and IRC operators' passwords, kept as hashes.
//! - [`store`]: where messages are kept (SQLite by default, or memory, or a
//!   Redis stream several servers share), off the loop, with the accounts and
//!   the loop's side of it ([`store::link`]).
//! - [`tls`]: the server's certificate (given, or self-signed and kept).
//! - [`web`]: the browser desk: the page on the chat port, and its
//!   WebSocket carrying our lines.
//! - [`rate`]: the per-client line rate limit.
//! - [`ids`], [`close`], [`effect`]: the plain data the loop and the rules
//!   share.
//! - [`threads`]: the thread-per-client baseline (`--mode threads`).

pub mod acceptor;
pub mod auth;
pub mod chat;
pub mod close;
pub mod config;
pub mod connection;
pub mod desk;
pub mod directory;
pub mod effect;
pub mod event_loop;
pub mod frames;
pub mod framing;
pub mod heap;
pub mod ids;
pub mod irc;
pub mod listener;
pub mod log;
pub mod outbox;
pub mod rate;
pub mod room;
pub mod secret;
pub mod store;
pub mod threads;
pub mod tls;
pub mod transport;
pub mod web;

mod running;

pub use config::{Config, Mode};
pub use event_loop::{Server, ShutdownHandle};
pub use running::RunningServer;
