//! Command-line flags. `parse_args` is pure (no I/O, no exit) so it is unit-tested directly;
//! `main` maps its outcome to stdout/stderr and exit codes.

use std::path::PathBuf;

use getopts::Options;

/// The committed report, relative to the repository root (`scripts/compare` runs from there).
pub const DEFAULT_OUT_DIR: &str = "scripts/report";
/// `--quick` writes elsewhere so a CI smoke run never overwrites the committed report.
pub const QUICK_OUT_DIR: &str = "target/compare-quick";
/// Where `cargo build --release` puts `chat-server` and `chat-load`.
pub const DEFAULT_BIN_DIR: &str = "target/release";

/// What the rest of the program needs to know, derived from the flags (see `options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub quick: bool,
    pub out_dir: PathBuf,
    pub bin_dir: PathBuf,
    /// Per-step server and chat-load logs: beside the binaries' folder, not the report's,
    /// because 10,000 connect lines per step are not worth committing.
    pub log_dir: PathBuf,
    /// Run just the steps whose id contains one of these words; empty: every step.
    pub only: Vec<String>,
    /// Run nothing; write the report, the data files and the plots from this `results.json`.
    pub render: Option<PathBuf>,
}

/// A successful parse either runs the comparison or asks for help (this text, exit 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseOutcome {
    Run(Config),
    Help(String),
}

fn options() -> Options {
    let mut opts = Options::new();
    opts.optflag(
        "",
        "quick",
        "short ladder, ~2 s steps, about 90 s; writes to target/compare-quick unless --out",
    );
    opts.optopt("", "out", "report folder (default scripts/report)", "DIR");
    opts.optopt(
        "",
        "bin-dir",
        "folder with chat-server and chat-load (default target/release)",
        "DIR",
    );
    opts.optopt(
        "",
        "only",
        "run only the steps whose id contains one of these comma-separated words, e.g. tls-,scale- (a partial report; not for the committed one)",
        "WORDS",
    );
    opts.optopt(
        "",
        "render",
        "run nothing: write report.md, results.csv, results.json and the plots again from this results.json (into --out, by default its folder)",
        "FILE",
    );
    opts.optflag("h", "help", "print this help");
    opts
}

/// The one-line usage printed with a flag error.
pub fn brief_usage() -> String {
    options().short_usage("chat-compare")
}

/// Parses the arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<ParseOutcome, String> {
    let opts = options();
    let matches = opts.parse(args).map_err(|err| err.to_string())?;
    if matches.opt_present("help") {
        let brief =
            "Usage: chat-compare [--quick] [--out DIR] [--bin-dir DIR] [--only WORDS]\n       \
                     chat-compare --render FILE [--out DIR]\n\n\
                     Runs chat-load against chat-server --mode event and --mode threads and writes \
                     report.md, results.json, results.csv and SVG plots.";
        return Ok(ParseOutcome::Help(opts.usage(brief)));
    }
    if let Some(extra) = matches.free.first() {
        return Err(format!("unexpected argument '{extra}'"));
    }
    let quick = matches.opt_present("quick");
    let render = matches.opt_str("render").map(PathBuf::from);
    let only_given = matches.opt_present("only");
    if render.is_some() && (quick || only_given) {
        return Err("--render runs nothing: --quick and --only do not apply".into());
    }
    let folder = |name: &str| match matches.opt_str(name) {
        Some(dir) if dir.is_empty() => Err(format!("--{name} needs a folder")),
        dir => Ok(dir.map(PathBuf::from)),
    };
    let out_given = folder("out")?;
    let out_dir = match (&out_given, &render) {
        (Some(dir), _) => dir.clone(),
        (None, Some(file)) => match file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        },
        (None, None) if quick => PathBuf::from(QUICK_OUT_DIR),
        (None, None) => PathBuf::from(DEFAULT_OUT_DIR),
    };
    let bin_dir = folder("bin-dir")?.unwrap_or_else(|| PathBuf::from(DEFAULT_BIN_DIR));
    // Logs go next to the binaries' profile folder (normally target/compare-logs).
    let log_dir = match bin_dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join("compare-logs"),
        _ => PathBuf::from("compare-logs"),
    };
    let words = matches.opt_str("only").unwrap_or_default();
    let only: Vec<String> = (words.split(',').map(str::trim))
        .filter(|word| !word.is_empty())
        .map(String::from)
        .collect();
    if only_given && only.is_empty() {
        return Err("--only needs words of step ids".into());
    }
    if only_given && out_given.is_none() && !quick {
        return Err("--only writes a partial report: give --out DIR (or --quick) so it cannot replace the committed one".into());
    }
    Ok(ParseOutcome::Run(Config {
        quick,
        out_dir,
        bin_dir,
        log_dir,
        only,
        render,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ParseOutcome, String> {
        let owned: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        parse_args(&owned)
    }

    fn run_config(args: &[&str]) -> Config {
        match parse(args) {
            Ok(ParseOutcome::Run(config)) => config,
            other => panic!("expected a run config, got {other:?}"),
        }
    }

    #[test]
    fn defaults_write_the_committed_report() {
        let config = run_config(&[]);
        assert!(!config.quick);
        assert_eq!(config.out_dir, PathBuf::from("scripts/report"));
        assert_eq!(config.bin_dir, PathBuf::from("target/release"));
        assert_eq!(config.log_dir, PathBuf::from("target/compare-logs"));
    }

    #[test]
    fn quick_writes_under_target() {
        let config = run_config(&["--quick"]);
        assert!(config.quick);
        assert_eq!(config.out_dir, PathBuf::from("target/compare-quick"));
    }

    #[test]
    fn out_overrides_quick_default() {
        let config = run_config(&["--quick", "--out", "/tmp/x"]);
        assert_eq!(config.out_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn bin_dir_moves_logs_too() {
        let config = run_config(&["--bin-dir", "/build/release"]);
        assert_eq!(config.log_dir, PathBuf::from("/build/compare-logs"));
    }

    #[test]
    fn help_is_not_an_error() {
        assert!(matches!(parse(&["--help"]), Ok(ParseOutcome::Help(_))));
    }

    #[test]
    fn only_takes_words_and_keeps_away_from_the_committed_report() {
        let config = run_config(&["--only", "tls-, scale-", "--out", "/tmp/x"]);
        assert_eq!(config.only, ["tls-", "scale-"]);
        assert_eq!(run_config(&["--quick", "--only", "tls"]).only, ["tls"]);
        assert!(parse(&["--only", "tls"]).is_err());
        assert!(parse(&["--only", ",", "--out", "/tmp/x"]).is_err());
        assert!(run_config(&[]).only.is_empty());
    }

    #[test]
    fn render_writes_next_to_the_record_unless_told() {
        let config = run_config(&["--render", "scripts/report/results.json"]);
        assert_eq!(
            config.render,
            Some(PathBuf::from("scripts/report/results.json"))
        );
        assert_eq!(config.out_dir, PathBuf::from("scripts/report"));
        let config = run_config(&["--render", "results.json", "--out", "/tmp/x"]);
        assert_eq!(config.out_dir, PathBuf::from("/tmp/x"));
        assert!(run_config(&[]).render.is_none());
        assert!(parse(&["--render", "results.json", "--quick"]).is_err());
    }

    #[test]
    fn unknown_flag_is_an_error() {
        assert!(parse(&["--fast"]).is_err());
    }

    #[test]
    fn stray_argument_is_an_error() {
        assert!(parse(&["fanout"]).is_err());
    }

    #[test]
    fn out_without_value_is_an_error() {
        assert!(parse(&["--out"]).is_err());
    }
}
