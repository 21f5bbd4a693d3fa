//! Entry point: parse flags, run the ladder, write the report. Exit codes: 0 done (failed steps
//! are results, not errors), 1 the comparison itself could not run, 2 bad flags, 130 interrupted.

use std::process::ExitCode;

use chat_compare::config::{self, ParseOutcome};
use chat_compare::runner::{self, RunError};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config::parse_args(&args) {
        Ok(ParseOutcome::Run(config)) => config,
        Ok(ParseOutcome::Help(usage)) => {
            print!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("chat-compare: {err}");
            eprintln!("{}", config::brief_usage());
            return ExitCode::from(2);
        }
    };
    match runner::run_comparison(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::Interrupted) => {
            eprintln!("chat-compare: interrupted; children stopped, no report written");
            ExitCode::from(130)
        }
        Err(err) => {
            eprintln!("chat-compare: {err}");
            ExitCode::FAILURE
        }
    }
}
