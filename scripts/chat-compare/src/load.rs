//! Driving `chat-load`: its arguments for a step, running it to its end or its timeout, and
//! reading its `--json` output. The schema is chat-load's own [`Report`], and the output is
//! parsed strictly into it: a field renamed or retyped in chat-load breaks this crate's build,
//! and output that still does not match (a binary from another build) fails the step, instead
//! of either showing up as "n/a" in the report. The object is also kept as printed, for
//! `results.json`.

use std::fmt::Display;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use chat_load::Report;

use crate::ladder::{Ladder, LoadMode, Step, SLOW_READER_RCVBUF_BYTES};
use crate::process::{self, io_error, truncate, ProcessEnd, RunError, Supervised};

/// Fixed slack on top of a step's duration before chat-load counts as hung.
const LOAD_TIMEOUT_SLACK_SECS: f64 = 30.0;
/// Extra slack per client for the connect phase (10,000 clients: +50 s).
const LOAD_TIMEOUT_SECS_PER_CLIENT: f64 = 0.005;
/// The slowest an attack's log is expected to fill, for its timeout: a release build fills
/// 160,000 messages in about 4 s on 2 cores, so this is five times slower.
const LOG_FILL_MESSAGES_PER_SEC: f64 = 8_000.0;

/// What chat-load is pointed at.
#[derive(Debug, Clone, Copy)]
pub enum LoadTarget<'a> {
    /// The servers this step started (the clients spread over them), with the pids of those and
    /// of the step's Redis for chat-load to sample.
    Running {
        ports: &'a [u16],
        server_pids: &'a [u32],
        redis_pid: Option<u32>,
        tls: bool,
    },
    /// The restart, storm and attack steps: chat-load starts this server itself, on this log
    /// (restart, storm) or on one of its own that it fills (the attacks).
    Own {
        server_bin: &'a Path,
        db: Option<&'a Path>,
    },
}

/// chat-load's command line for `step` against `target`.
pub fn load_args(step: &Step, target: LoadTarget) -> Vec<String> {
    use LoadMode::*;
    let load = &step.workload;
    let mode = load.load_mode;
    let (mut args, mut pids) = (vec![mode.name().to_string()], Vec::new());
    match target {
        LoadTarget::Running {
            ports,
            server_pids,
            redis_pid,
            tls,
        } => {
            let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
            flag(&mut args, "--addr", addrs.join(","));
            args.extend(tls.then(|| "--tls".to_string()));
            let server_pids: Vec<String> = server_pids.iter().map(u32::to_string).collect();
            flag(&mut pids, "--server-pid", server_pids.join(","));
            if let Some(pid) = redis_pid {
                flag(&mut pids, "--redis-pid", pid);
            }
        }
        LoadTarget::Own { server_bin, db } => {
            flag(&mut args, "--server-bin", server_bin.display());
            if let Some(db) = db {
                flag(&mut args, "--db", db.display());
            }
        }
    }
    // A churn client speaks once a round, so there is no rate to give; the idle, storm and
    // attack desks have none either. The storms, not a duration, decide a storm's length.
    let sends = load.rounds.is_none() && load.senders > 0;
    let payload = !matches!(mode, Hold | Storm | SearchStorm);
    let valued = [
        ("-n", Some(text(load.clients))),
        ("-d", (mode != Storm).then(|| text(load.duration_secs))),
        ("--senders", sends.then(|| text(load.senders))),
        ("--rate", sends.then(|| text(load.rate_per_sender))),
        ("--payload", payload.then(|| text(load.payload_bytes))),
        ("--rounds", load.rounds.map(text)),
        ("--rooms", load.rooms.map(text)),
        ("--messages", load.log_messages.map(text)),
        ("--settle", load.settle_secs.map(text)),
        ("--kill-at", load.kill_at_secs.map(text)),
        ("--restart-after", load.restart_after_secs.map(text)),
    ];
    for (name, value) in valued {
        if let Some(value) = value {
            flag(&mut args, name, value);
        }
    }
    args.extend(load.desks.load_flags().iter().map(|f| f.to_string()));
    if load.ladder == Ladder::Dialects {
        // Every desk takes its name on connecting, as an IRC desk must: otherwise our senders
        // would name themselves with their first message, inside the measured phase.
        args.push("--named".into());
    }
    if mode == Slow {
        flag(&mut args, "--slow", load.slow_clients);
        flag(&mut args, "--slow-rcvbuf", SLOW_READER_RCVBUF_BYTES);
    }
    args.extend(pids);
    args.push("--json".into());
    args
}

fn flag(args: &mut Vec<String>, name: &str, value: impl Display) {
    args.extend([name.to_string(), text(value)]);
}

fn text(value: impl Display) -> String {
    value.to_string()
}

/// chat-load's report and its JSON object as printed, when it printed one that parses.
pub type LoadOutput = Option<(Report, serde_json::Value)>;

/// Runs chat-load (in the cgroup whose `cgroup.procs` is given, if any; its stderr into
/// `log_path`) to the end or its timeout, and reads its report. The text says what went wrong
/// with chat-load, when something did.
pub fn run_load(
    step: &Step,
    load_bin: &Path,
    target: LoadTarget,
    log_path: &Path,
    cgroup_procs: Option<std::ffi::CString>,
) -> Result<(Option<String>, LoadOutput), RunError> {
    let stderr_file = File::create(log_path).map_err(|err| io_error("create", log_path, err))?;
    let mut command = Command::new(load_bin);
    command
        .args(load_args(step, target))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr_file);
    let mut load = match Supervised::spawn(&mut command, cgroup_procs) {
        Ok(load) => load,
        Err(err) => return Ok((Some(format!("cannot start chat-load: {err}")), None)),
    };
    // The report is one line, but read on a thread anyway so a chatty tool can never block on
    // a full pipe while we wait for it.
    let mut stdout = load.child.stdout.take().expect("stdout was set to piped");
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let w = &step.workload;
    // A storm connects every client three times.
    let connects = if w.load_mode == LoadMode::Storm {
        3.0
    } else {
        1.0
    };
    let timeout_secs = w.duration_secs
        + w.restart_after_secs.unwrap_or(0.0)
        + w.settle_secs.unwrap_or(0.0)
        + f64::from(w.log_messages.unwrap_or(0)) / LOG_FILL_MESSAGES_PER_SEC
        + LOAD_TIMEOUT_SLACK_SECS
        + connects * LOAD_TIMEOUT_SECS_PER_CLIENT * f64::from(w.clients);
    let Some(end) = load.wait_for(Duration::from_secs_f64(timeout_secs))? else {
        load.kill();
        let _ = reader.join();
        return Ok((
            Some(format!("chat-load timed out after {timeout_secs:.0} s")),
            None,
        ));
    };
    let parsed = parse_report(&reader.join().unwrap_or_default());
    let failure = match (end, &parsed) {
        (ProcessEnd::Code(0), Ok(_)) => None,
        (ProcessEnd::Code(0), Err(err)) => Some(format!(
            "chat-load output unreadable: {}",
            truncate(err, 120)
        )),
        (end, parsed) => {
            let first_error = (parsed.as_ref().ok()).and_then(|(report, _)| report.errors.first());
            let detail = first_error.map_or_else(|| process::last_line(log_path), String::clone);
            Some(format!(
                "chat-load failed ({end}): {}",
                truncate(&detail, 120)
            ))
        }
    };
    Ok((failure, parsed.ok()))
}

/// Parses the tool's stdout into the report and the object as printed; the object may be
/// preceded or followed by other lines. The raw object is kept because `results.json` should
/// show everything the tool said, including fields this build does not know.
pub fn parse_report(stdout: &str) -> Result<(Report, serde_json::Value), String> {
    let text = match (stdout.find('{'), stdout.rfind('}')) {
        (Some(start), Some(end)) if start <= end => &stdout[start..=end],
        _ => return Err("no JSON object in chat-load output".into()),
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| format!("chat-load output is not JSON: {err}"))?;
    // From the text, not the value: only then does the error say where the mismatch is.
    let report = serde_json::from_str(text)
        .map_err(|err| format!("chat-load output does not match chat_load::Report: {err}"))?;
    Ok((report, value))
}

/// Server CPU microseconds per delivery received: the cost of one fan-out write. `None` without
/// server figures (no `--server-pid`) or without deliveries.
pub fn cpu_us_per_delivery(report: &Report) -> Option<f64> {
    us_per(report.server.as_ref()?.cpu_secs, report.deliveries_received)
}

/// `secs` of CPU as microseconds per one of `count` (deliveries, messages, handshakes); `None`
/// for none.
pub fn us_per(secs: f64, count: u64) -> Option<f64> {
    (count > 0).then(|| secs * 1e6 / count as f64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ladder;

    /// A complete chat-load report, the example from its schema. Both the hold and the slow
    /// block are set, unlike in a real run, so tests of every mode can edit one base.
    pub(crate) const FANOUT_FIXTURE: &str = r#"{"mode":"fanout","addr":"127.0.0.1:5002","clients":1000,"connected":1000,"connect_failures":0,"connect_errors":{"ECONNREFUSED":0},"senders":100,"rate_per_sender":2.0,"payload_bytes":64,"duration_secs":10.0,
 "messages_sent":2000,"deliveries_expected":2000000,"deliveries_received":2000000,"delivered_fraction":1.0,"deliveries_per_sec":200000.0,
 "latency_us":{"p50":120,"p90":300,"p99":900,"p999":2000,"max":5000,"count":2000000},
 "hold":{"alive":1000}, "slow":{"slow_clients":1,"slow_dropped":1,"bytes_read_after_run":4096}, "churn":null, "connect_latency_us":null,
 "server":{"pid":123,"rss_peak_kb":20000,"rss_end_kb":18000,"vm_hwm_kb":20480,"threads_peak":1,"cpu_secs":1.23},
 "disconnected_early":0,"wall_secs":12.3,"errors":["..."]}"#;

    fn fixture() -> Report {
        parse_report(FANOUT_FIXTURE).unwrap().0
    }

    #[test]
    fn schema_fixture_parses() {
        let (report, _) = parse_report(FANOUT_FIXTURE).unwrap();
        assert_eq!(report.connected, 1000);
        assert_eq!(report.latency_us.map(|l| l.p99), Some(900));
        assert_eq!(report.server.as_ref().map(|s| s.rss_peak_kb), Some(20000));
        assert_eq!(report.slow.unwrap().slow_dropped, 1);
        assert_eq!(report.connect_latency_us, None);
    }

    #[test]
    fn changed_field_type_is_an_error() {
        for (field, changed, expected) in [
            (
                r#""connected":1000"#,
                r#""connected":"lots""#,
                "expected usize",
            ),
            (r#""p99":900"#, r#""p99":"fast""#, "expected u64"),
        ] {
            let text = FANOUT_FIXTURE.replace(field, changed);
            assert_ne!(text, FANOUT_FIXTURE, "{field} is not in the fixture");
            let err = parse_report(&text).unwrap_err();
            assert!(err.contains("does not match chat_load::Report"), "{err}");
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn missing_fields_are_an_error() {
        let err = parse_report("{}").unwrap_err();
        assert!(err.contains("missing field `mode`"), "{err}");
    }

    #[test]
    fn log_lines_around_the_object_are_ignored() {
        let mut report = fixture();
        report.connected = 5;
        let text = format!("warming up\n{}\n", serde_json::to_string(&report).unwrap());
        let (report, _) = parse_report(&text).unwrap();
        assert_eq!(report.connected, 5);
    }

    #[test]
    fn no_object_is_an_error() {
        assert!(parse_report("error: refused").is_err());
    }

    #[test]
    fn cpu_per_delivery_in_microseconds() {
        let per = cpu_us_per_delivery(&fixture()).unwrap();
        assert!((per - 0.615).abs() < 1e-9, "got {per}");
    }

    #[test]
    fn cpu_per_delivery_needs_deliveries() {
        let mut report = fixture();
        report.deliveries_received = 0;
        report.server.as_mut().unwrap().cpu_secs = 1.0;
        assert_eq!(cpu_us_per_delivery(&report), None);
    }

    #[test]
    fn cpu_per_delivery_needs_server_figures() {
        let mut report = fixture();
        report.server = None;
        assert_eq!(cpu_us_per_delivery(&report), None);
    }

    fn running(port: &'static [u16], server_pid: &'static [u32]) -> LoadTarget<'static> {
        LoadTarget::Running {
            ports: port,
            server_pids: server_pid,
            redis_pid: None,
            tls: false,
        }
    }

    #[test]
    fn hold_gets_no_rate_flags() {
        let step = &ladder::steps(true)[0];
        let args = load_args(step, running(&[7000], &[42]));
        assert_eq!(args[0], "hold");
        assert!(!args.contains(&"--senders".to_string()));
        assert!(args.ends_with(&["--server-pid".into(), "42".into(), "--json".into()]));
    }

    #[test]
    fn churn_step_passes_rounds_and_no_rate() {
        let steps = ladder::steps(true);
        let step = steps
            .iter()
            .find(|s| s.workload.load_mode == LoadMode::Churn)
            .unwrap();
        let args = load_args(step, running(&[7000], &[42]));
        assert_eq!(args[0], "churn");
        let at = args.iter().position(|a| a == "--rounds").unwrap();
        assert_eq!(args[at + 1], "10");
        assert!(!args.contains(&"--rate".to_string()));
    }

    #[test]
    fn slow_step_passes_the_slow_count() {
        let steps = ladder::steps(true);
        let step = steps
            .iter()
            .find(|s| s.workload.load_mode == LoadMode::Slow)
            .unwrap();
        let args = load_args(step, running(&[7000], &[42]));
        let at = args.iter().position(|a| a == "--slow").unwrap();
        assert_eq!(args[at + 1], "1");
    }

    #[test]
    fn only_the_many_rooms_step_passes_rooms() {
        let steps = ladder::steps(true);
        let rooms_flag = |step: &Step| {
            let args = load_args(step, running(&[7000], &[42]));
            let at = args.iter().position(|a| a == "--rooms")?;
            Some(args[at + 1].clone())
        };
        for step in &steps {
            match step.workload.ladder {
                ladder::Ladder::Rooms => assert_eq!(rooms_flag(step).as_deref(), Some("10")),
                _ => assert_eq!(rooms_flag(step), None, "{}", step.id()),
            }
        }
    }

    #[test]
    fn two_servers_a_redis_and_tls_reach_chat_load() {
        let steps = ladder::steps(false);
        let step = steps
            .iter()
            .find(|s| s.id() == "scale-1000-event-redis-x2")
            .unwrap();
        let target = LoadTarget::Running {
            ports: &[7001, 7002],
            server_pids: &[41, 42],
            redis_pid: Some(43),
            tls: true,
        };
        let args = load_args(step, target);
        let value = |flag: &str| {
            let at = args.iter().position(|a| a == flag).unwrap();
            args[at + 1].clone()
        };
        assert_eq!(value("--addr"), "127.0.0.1:7001,127.0.0.1:7002");
        assert_eq!(value("--server-pid"), "41,42");
        assert_eq!(value("--redis-pid"), "43");
        assert!(args.contains(&"--tls".to_string()));
        let config = chat_load::parse_args(&args).expect("chat-load takes what it is given");
        assert_eq!(config.server_pids, [41, 42]);
        assert!(config.tls);
    }

    #[test]
    fn attack_steps_name_their_server_and_volumes_and_chat_load_takes_them() {
        for quick in [true, false] {
            let steps = ladder::steps(quick);
            let attacks: Vec<&Step> = steps
                .iter()
                .filter(|s| s.workload.load_mode.is_attack())
                .collect();
            assert_eq!(attacks.len(), 2, "quick {quick}");
            for step in attacks {
                let target = LoadTarget::Own {
                    server_bin: Path::new("/build/chat-server"),
                    db: None,
                };
                let args = load_args(step, target);
                let value = |flag: &str| {
                    let at = args.iter().position(|a| a == flag).unwrap();
                    args[at + 1].clone()
                };
                assert_eq!(value("--server-bin"), "/build/chat-server");
                for absent in ["--addr", "--server-pid", "--db", "--senders", "--rate"] {
                    assert!(!args.iter().any(|a| a == absent), "{absent} in {args:?}");
                }
                let config =
                    chat_load::parse_args(&args).expect("chat-load takes what it is given");
                let plan = config.attack.expect("an attack");
                assert_eq!(Some(plan.messages as u32), step.workload.log_messages);
                if !quick {
                    // Issue 17's volumes.
                    let expected = match step.workload.load_mode {
                        LoadMode::SearchStorm => (20, 160_000),
                        _ => (1500, 2100),
                    };
                    assert_eq!((config.clients, plan.messages), expected, "{args:?}");
                }
            }
        }
    }

    #[test]
    fn dialect_steps_give_chat_load_their_desks() {
        let steps = ladder::steps(true);
        let target = LoadTarget::Running {
            ports: &[7001],
            server_pids: &[41],
            redis_pid: None,
            tls: false,
        };
        let config_of = |id: &str| {
            let step = steps.iter().find(|s| s.id() == id).unwrap();
            chat_load::parse_args(&load_args(step, target)).expect("chat-load takes it")
        };
        assert_eq!(config_of("dialects-100-event-irc").irc_share, 1.0);
        assert_eq!(config_of("dialects-200-event-mixed").irc_share, 0.5);
        assert!(config_of("dialects-100-event-ws").web);
        let ours = config_of("dialects-100-event");
        assert!(!ours.web && ours.irc_share == 0.0 && ours.named);
        assert!(config_of("dialects-100-event-ws").named);
    }

    #[test]
    fn restart_step_names_its_server_and_log_and_no_address() {
        let steps = ladder::steps(false);
        let step = steps
            .iter()
            .find(|s| s.workload.load_mode == LoadMode::Restart)
            .unwrap();
        let target = LoadTarget::Own {
            server_bin: Path::new("/build/chat-server"),
            db: Some(Path::new("/tmp/x/room.db")),
        };
        let args = load_args(step, target);
        let value = |flag: &str| {
            let at = args.iter().position(|a| a == flag).unwrap();
            args[at + 1].clone()
        };
        assert_eq!(args[0], "restart");
        assert_eq!(value("--server-bin"), "/build/chat-server");
        assert_eq!(value("--db"), "/tmp/x/room.db");
        assert_eq!(value("--kill-at"), "5");
        assert_eq!(value("--restart-after"), "1");
        assert_eq!(value("--senders"), "20");
        for absent in ["--addr", "--server-pid"] {
            assert!(!args.iter().any(|a| a == absent), "{absent} in {args:?}");
        }
        // chat-load accepts exactly what it is given.
        assert!(chat_load::parse_args(&args).is_ok(), "{args:?}");
    }
}
