//! The client's integration tests but the sound's, one test binary: cargo
//! links every test target against the whole dependency tree, so one link
//! instead of one per file takes most of a test rebuild away. Each file
//! here is a module; what they share is `tests/common`. `tests/sound.rs`
//! stays a binary of its own: its tests each spin a CPU (ALSA's `null` sink)
//! and must run with no other test beside them.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod chat;
mod cli;
mod direct;
mod exactly_once;
mod failover;
mod not_saved;
mod reconnect;
mod restart_under_load;
mod rooms;
mod seed_desks;
mod terminal;
mod tls;
mod tmux;
