//! `chat-client`, the office chat desk client: parses the flags, runs one
//! session and turns the outcome into an exit status (0 when the user left,
//! 1 when the connection failed or the server went away, 2 for bad flags).
//!
//! # Layout
//!
//! - `config`: flags and usage.
//! - `session`: connecting, the name prompt, the input loop, quitting.
//! - `net`: the socket, the reader thread, the ping thread.
//! - `render`: what every line looks like.
//! - `sound`: the chime, the bell fallback and the rate limit.

mod config;
mod net;
mod render;
mod session;
mod sound;

use std::process::ExitCode;

use config::{Command, PROGRAM};
use session::SessionEnd;

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
            Ok(SessionEnd::UserLeft) => ExitCode::SUCCESS,
            Ok(SessionEnd::Disconnected) => ExitCode::FAILURE,
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
