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
//! - [`listener`]: binding the listening socket, raising the fd limit.
//! - [`room`]: names, colours, history and what each line causes; no I/O.
//! - [`event_loop`]: the mio loop, accept/read/write/close discipline.
//! - [`connection`]: one client's buffers and state in the loop.
//! - [`rate`]: the per-client line rate limit.
//! - [`threads`]: the thread-per-client baseline (`--mode threads`).

pub mod config;
pub mod connection;
pub mod event_loop;
pub mod listener;
pub mod rate;
pub mod room;
pub mod threads;

mod running;

pub use config::{Config, Mode};
pub use event_loop::{Server, ShutdownHandle};
pub use running::RunningServer;
