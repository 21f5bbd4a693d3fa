//! Entry point: parse flags, run the ladder (or read an earlier run's record), write the report
//! and the plots. Exit codes: 0 done (failed steps are results, not errors), 1 the comparison
//! itself could not run, 2 bad flags, 130 interrupted.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use chat_compare::config::{self, Config, ParseOutcome};
use chat_compare::model::RunRecord;
use chat_compare::process::{io_error, RunError};
use chat_compare::{plot, report, runner};

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
    match compare(&config) {
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

/// Runs the ladder (or reads an earlier run's record), then writes `report.md`, the data files
/// and the plots from its record.
fn compare(config: &Config) -> Result<(), RunError> {
    let record = match &config.render {
        Some(file) => read_record(file, &config.out_dir)?,
        None => runner::run_ladder(config, report::progress_summary)?,
    };
    report::write_all(&config.out_dir, &record)
        .map_err(|err| io_error("write the report in", &config.out_dir, err))?;
    // A chart that cannot be drawn is reported; the tables are written either way.
    for err in plot::write_all(&config.out_dir, &record) {
        eprintln!("chat-compare: plot: {err}");
    }
    eprintln!(
        "chat-compare: {} steps in {:.0} s; report in {}",
        record.results.len(),
        record.total_secs,
        config.out_dir.join("report.md").display()
    );
    Ok(())
}

/// `--render`: the record in `file`, with `out_dir` made for what is written from it.
fn read_record(file: &Path, out_dir: &Path) -> Result<RunRecord, RunError> {
    let text = fs::read_to_string(file).map_err(|err| io_error("read", file, err))?;
    let record = report::read_record(&text)
        .map_err(|err| RunError::Io(format!("{}: {err}", file.display())))?;
    fs::create_dir_all(out_dir).map_err(|err| io_error("create", out_dir, err))?;
    Ok(record)
}
