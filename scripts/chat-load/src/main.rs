//! `chat-load MODE [options]`: load generator for chat-server. What it
//! measures, how to run it, its bounds and its output are described in the
//! library docs (`src/lib.rs`) and in `--help`.

use std::process::ExitCode;

use chat_load::{parse_args, run, usage, UsageError};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_args(&args) {
        Ok(config) => config,
        Err(UsageError::Help) => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("chat-load: {err}");
            eprintln!("Usage: chat-load MODE [options]   (try --help)");
            return ExitCode::from(2);
        }
    };
    match run(&config) {
        Ok(report) => {
            if config.json {
                match serde_json::to_string(&report) {
                    Ok(json) => println!("{json}"),
                    Err(err) => {
                        eprintln!("chat-load: writing the report: {err}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print!("{}", report.human());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("chat-load: {err}");
            ExitCode::from(1)
        }
    }
}
