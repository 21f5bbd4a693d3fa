//! The server's integration tests, one test binary: cargo links every test
//! target against the whole dependency tree, so one link instead of one per
//! file takes most of a test rebuild away. Each file here is a module; what
//! they share is `tests/common`, which a test file of its own at the top of
//! `tests/` can still use (`mod common;`).

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod conversation;
mod durable;
mod frozen_redis;
mod hardening;
mod irc;
mod irc_clients;
mod irc_modes;
mod irc_server;
mod limits;
mod redis;
mod redis_accounts;
mod redis_rooms;
mod redis_search;
mod room_modes;
mod rooms;
mod seed_desks;
mod server;
mod tls_bad_input;
mod trust;
mod web;
