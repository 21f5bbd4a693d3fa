//! `chat-client`, the office chat desk client: parses the flags, runs one
//! session and turns the outcome into an exit status (0 when the user left,
//! 1 when the first connection failed or the server refused the desk for
//! good, 2 for bad flags). Once connected the
//! session outlives lost connections: it reconnects until the user leaves.
//!
//! # Layout
//!
//! - `config`: flags and usage.
//! - `session`: setting up, the first connection, and the event loop that
//!   turns each event into calls on the parts below (`session::sending`
//!   for the user's lines, `session::in_rooms` for the rooms).
//! - `event`: everything the event loop waits for.
//! - `link`: the link to the servers: the open connection, reconnecting
//!   with backoff, failing over to the next server.
//! - `identity`: who the desk is (name, colour, token, desk secret) and
//!   its way into the room on each connection (`/auth`, `/join`, `/resume`).
//! - `view`: what is shown, each message once, and the chime.
//! - `commands`: what a typed line asks for and becomes.
//! - `token`: the account's token, read from a file or asked for.
//! - `net`: one connection: connecting, and the I/O thread that owns the
//!   stream (reading, writing, keep-alive).
//! - `attempt`: what a connect attempt ends with.
//! - `server_addr`: one server, as `--host` names it.
//! - `transport`: the bytes under it: plain TCP or TLS, non-blocking.
//! - `tls`: whom to trust (`--ca`, `--fingerprint`, first use) and the
//!   handshake.
//! - `known_hosts`: the certificates trusted on first use, per server.
//! - `backoff`: when to try again after a loss.
//! - `feed`: which messages to show across reconnects (each once, in order).
//! - `outbox`: the user's lines until the room has them, each exactly
//!   once (`/tx`).
//! - `rooms`: the rooms the desk is in, the current one, unread lines.
//! - `input`: the line editor (or plain stdin) on its thread, and the
//!   session's handle on it.
//! - `screen`: printing above the line being typed.
//! - `render`: what every line looks like.
//! - `chat_text`: what a message's text means beyond its words: actions
//!   (`/me`) and mentions.
//! - `notify`: which lines make a sound, and how often.
//! - `sound`: the chime and the bell fallback.

mod attempt;
mod backoff;
mod chat_text;
mod commands;
mod config;
mod event;
mod feed;
mod identity;
mod input;
mod known_hosts;
mod link;
mod net;
mod notify;
mod outbox;
mod render;
mod rooms;
mod screen;
mod server_addr;
mod session;
mod sound;
mod tls;
mod token;
mod transport;
mod view;

use std::process::ExitCode;

use config::{Command, PROGRAM};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match config::parse_args(&args) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run(config)) => match session::run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{PROGRAM}: {err}");
                ExitCode::FAILURE
            }
        },
        Err(err) => {
            eprintln!("{PROGRAM}: {err}");
            eprintln!("{}", err.short_usage);
            ExitCode::from(2)
        }
    }
}
