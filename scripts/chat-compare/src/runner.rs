//! Runs the ladder: for each step a fresh `chat-server` (inside the step's memory cgroup when there
//! is one; the event server on a fresh SQLite file of its own, deleted after the step, or
//! `--db none`, or a Redis stream on the step's own `redis-server`), `chat-load` against the
//! port it reports, then SIGTERM, a grace period and SIGKILL. The restart step is the
//! exception: chat-load starts, kills and restarts that server itself, so chat-load goes into
//! the cgroup and the server inherits it.
//! A step that goes wrong becomes a `StepResult` with a `failure` line, never an early exit; only
//! missing binaries, unwritable folders and Ctrl-C stop the run. The results come back as a
//! [`RunRecord`]; writing them out is the report's and the plots' business.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cgroup::{CgroupSupport, StepCgroup, MEMORY_LIMIT_BYTES};
use crate::config::Config;
use crate::ladder::{self, LoadMode, RoomLog, ServerMode, Step};
use crate::load::{self, LoadEnd, LoadTarget};
use crate::machine::{self, Machine};
use crate::model::{MemoryLimit, RunRecord, StepResult};
use crate::process::{self, check_interrupt, io_error, ProcessEnd, RunError, Supervised};

/// How long a server gets to print its Listening line.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server gets to exit after SIGTERM before SIGKILL. Threads mode with 10,000
/// blocked threads is the slow case.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The flags every server gets besides `--mode` (and the event server's `--db`): same for both
/// modes, defaults otherwise.
pub fn server_flags() -> Vec<String> {
    let flags = ["--host", "127.0.0.1", "--port", "0"];
    let limits = ["--max-clients", "20000", "--idle-timeout", "0"];
    flags.iter().chain(&limits).map(|f| f.to_string()).collect()
}

/// The event server's room log: `--db` with the step's own file, or `none`, or the step's
/// Redis (`--redis`, `--room` named after the step). The threads server keeps its room in
/// memory and refuses the flags.
fn db_flags(step: &Step, db: Option<&Path>, redis_port: Option<u16>) -> Vec<String> {
    match (step.server_mode, db, redis_port) {
        (ServerMode::Threads, _, _) => Vec::new(),
        (ServerMode::Event, _, Some(port)) => vec![
            "--redis".into(),
            format!("redis://127.0.0.1:{port}"),
            "--room".into(),
            format!("compare-{}", step.number),
        ],
        (ServerMode::Event, Some(db), None) => vec!["--db".into(), db.display().to_string()],
        (ServerMode::Event, None, None) => vec!["--db".into(), "none".into()],
    }
}

/// The two binaries a run drives and the folder their logs go to.
struct Tools<'a> {
    server_bin: PathBuf,
    load_bin: PathBuf,
    log_dir: &'a Path,
}

/// Runs the whole ladder and returns what it measured. Prints one progress line per step on
/// stderr: the step's id before it runs, then whatever `summary` makes of its result.
pub fn run_ladder(
    config: &Config,
    summary: impl Fn(&StepResult) -> String,
) -> Result<RunRecord, RunError> {
    process::install_interrupt_handlers();
    let tools = Tools {
        server_bin: config.bin_dir.join("chat-server"),
        load_bin: config.bin_dir.join("chat-load"),
        log_dir: &config.log_dir,
    };
    for bin in [&tools.server_bin, &tools.load_bin] {
        if !bin.is_file() {
            return Err(RunError::MissingBinary(bin.clone()));
        }
    }
    // The log folder is ours alone (target/compare-logs); start it empty so no stale log is
    // mistaken for this run's.
    let _ = fs::remove_dir_all(&config.log_dir);
    fs::create_dir_all(&config.log_dir).map_err(|err| io_error("create", &config.log_dir, err))?;
    // Made before the run, so an unwritable report folder stops us now, not minutes later.
    fs::create_dir_all(&config.out_dir).map_err(|err| io_error("create", &config.out_dir, err))?;

    let cgroup = CgroupSupport::detect();
    eprintln!("chat-compare: memory limit {}", cgroup.describe());
    let chosen = |step: &Step| {
        let id = step.id();
        config.only.is_empty() || config.only.iter().any(|word| id.contains(word.as_str()))
    };
    let steps: Vec<Step> = (ladder::steps(config.quick).into_iter().filter(chosen))
        .zip(1..)
        .map(|(step, number)| Step { number, ..step })
        .collect();
    let started = Instant::now();
    let date = machine::utc_now();
    let mut results = Vec::with_capacity(steps.len());
    for step in &steps {
        check_interrupt()?;
        eprint!("[{:>2}/{}] {:<27} ", step.number, steps.len(), step.id());
        let result = run_step(step, &tools, &cgroup)?;
        eprintln!("{}", summary(&result));
        results.push(result);
    }
    Ok(RunRecord {
        quick: config.quick,
        date,
        machine: Machine::current(),
        memory_limit: MemoryLimit {
            applied: matches!(cgroup, CgroupSupport::Available(_)),
            limit_bytes: MEMORY_LIMIT_BYTES,
            detail: cgroup.describe(),
        },
        server_flags: server_flags(),
        db_dir: std::env::temp_dir().display().to_string(),
        results,
        total_secs: started.elapsed().as_secs_f64(),
    })
}

/// Finds the port in the server's `[*] Listening as 127.0.0.1:PORT` line (also accepts a
/// `listening addr=127.0.0.1:PORT` style line). `None` until that line is there.
pub fn parse_listening_port(log: &str) -> Option<u16> {
    log.lines()
        .filter(|line| line.to_ascii_lowercase().contains("listening"))
        .find_map(|line| {
            line.split_whitespace().rev().find_map(|token| {
                let token = token.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                let (_, port) = token.rsplit_once(':')?;
                port.parse::<u16>().ok().filter(|&port| port != 0)
            })
        })
}

/// Waits for the Listening line; an error says what happened instead.
fn wait_for_port(
    server: &mut Supervised,
    log_path: &Path,
) -> Result<Result<u16, String>, RunError> {
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    loop {
        let log = fs::read_to_string(log_path).unwrap_or_default();
        if let Some(port) = parse_listening_port(&log) {
            return Ok(Ok(port));
        }
        if let Some(end) = server.poll_end() {
            let complaint = process::error_line(log_path);
            return Ok(Err(format!("server did not start ({end}): {complaint}")));
        }
        check_interrupt()?;
        if Instant::now() >= deadline {
            let secs = LISTEN_TIMEOUT.as_secs();
            return Ok(Err(format!(
                "server printed no Listening line within {secs} s"
            )));
        }
        thread::sleep(process::POLL_INTERVAL);
    }
}

/// The "what happened" line of a step, from how the server and the tool ended.
/// `None` when nothing went wrong; partial delivery or connection counts are results and are
/// described by the report, not here.
pub fn describe_failure(
    server_died: Option<ProcessEnd>,
    oom_kills: u64,
    load_end: &LoadEnd,
) -> Option<String> {
    let mut parts = Vec::new();
    if oom_kills > 0 {
        parts.push("server killed (OOM)".to_string());
    } else if let Some(end) = server_died {
        parts.push(match end {
            ProcessEnd::Signal(signal) => {
                format!("server killed by {}", process::signal_name(signal))
            }
            ProcessEnd::Code(code) => format!("server exited with code {code} during the run"),
        });
    }
    match load_end {
        LoadEnd::Finished => {}
        LoadEnd::ToolFailed { end, detail } => {
            let detail = process::truncate(detail, 120);
            parts.push(format!("chat-load failed ({end}): {detail}"));
        }
        LoadEnd::TimedOut { after_secs } => {
            parts.push(format!("chat-load timed out after {after_secs:.0} s"))
        }
        LoadEnd::BadOutput(detail) => {
            let detail = process::truncate(detail, 120);
            parts.push(format!("chat-load output unreadable: {detail}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The result of `step` before anything is known about it but how long it took so far.
fn step_result(step: &Step, started: Instant) -> StepResult {
    StepResult {
        step: step.clone(),
        port: None,
        load: None,
        raw_load: None,
        failure: None,
        server_end: None,
        cgroup: None,
        wall_secs: started.elapsed().as_secs_f64(),
    }
}

/// A step that never got as far as running the load tool.
fn failed_before_load(step: &Step, reason: String, started: Instant) -> StepResult {
    StepResult {
        failure: Some(reason),
        ..step_result(step, started)
    }
}

/// What a step ran in: its memory cgroup (when the limit applies) and the folder of its room's
/// log file (when its log is a file), deleted with it however the step ends. The error says
/// why the step cannot run.
fn prepare_step(
    step: &Step,
    cgroup: &CgroupSupport,
) -> Result<(Option<StepCgroup>, Option<tempfile::TempDir>), String> {
    let step_cgroup = match cgroup {
        CgroupSupport::Available(controller) => {
            let name = format!("chat-compare-{}-{}", std::process::id(), step.number);
            let created = controller.create_child(&name, MEMORY_LIMIT_BYTES);
            let err = |err| format!("cannot create the step's memory cgroup: {err}");
            Some(created.map_err(err)?)
        }
        CgroupSupport::Unavailable(_) => None,
    };
    let db_dir = match step.room_log {
        RoomLog::File => {
            let dir = tempfile::Builder::new()
                .prefix("chat-compare-db-")
                .tempdir();
            let err = |err| format!("cannot create a folder for the room's log: {err}");
            Some(dir.map_err(err)?)
        }
        RoomLog::Memory | RoomLog::Redis => None,
    };
    Ok((step_cgroup, db_dir))
}

/// One step: cgroup, servers, ports, load, shutdown, figures.
fn run_step(step: &Step, tools: &Tools, cgroup: &CgroupSupport) -> Result<StepResult, RunError> {
    let started = Instant::now();
    let (step_cgroup, db_dir) = match prepare_step(step, cgroup) {
        Ok(prepared) => prepared,
        Err(reason) => return Ok(failed_before_load(step, reason, started)),
    };
    let db = db_dir.as_ref().map(|dir| dir.path().join("room.db"));
    let prefix = format!("{:02}-{}", step.number, step.id());
    let load_log = tools.log_dir.join(format!("{prefix}-load.log"));
    if step.workload.load_mode == LoadMode::Restart {
        let Some(db) = &db else {
            let reason = "the restart scenario needs the room's log in a file".into();
            return Ok(failed_before_load(step, reason, started));
        };
        return run_restart_step(step, tools, db, &load_log, step_cgroup, started);
    }
    // A Redis room: the step's own redis-server first, on a free port, outside the cgroup (it
    // is the shared service, not the server under test).
    let redis = match step.room_log {
        RoomLog::Redis => match start_redis(tools.log_dir, &prefix)? {
            Ok(redis) => Some(redis),
            Err(reason) => return Ok(failed_before_load(step, reason, started)),
        },
        _ => None,
    };
    let server_start = ServerStart {
        step,
        tools,
        prefix: &prefix,
        db: db.as_deref(),
        redis_port: redis.as_ref().map(|r| r.port),
        cgroup: step_cgroup.as_ref(),
    };
    let mut servers = match start_servers(&server_start)? {
        Ok(servers) => servers,
        Err((reason, None)) => return Ok(failed_before_load(step, reason, started)),
        Err((reason, Some(end))) => {
            return Ok(StepResult {
                server_end: Some(end.to_string()),
                cgroup: step_cgroup.as_ref().map(StepCgroup::stats),
                ..failed_before_load(step, reason, started)
            })
        }
    };
    let server_pids: Vec<u32> = servers.iter().map(|s| s.process.pid()).collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let target = LoadTarget::Running {
        ports: &ports,
        server_pids: &server_pids,
        redis_pid: redis.as_ref().map(|r| r.process.pid()),
        tls: step.tls,
    };
    let (load_end, output) = load::run_load(step, &tools.load_bin, target, &load_log, None)?;
    // Did the servers survive the load? Checked before our SIGTERM so a crash is not mistaken
    // for a clean shutdown.
    let died: Vec<Option<ProcessEnd>> = servers.iter_mut().map(|s| s.process.poll_end()).collect();
    let mut ends = Vec::new();
    for server in &mut servers {
        ends.push(server.process.terminate(SHUTDOWN_GRACE)?);
    }
    if let Some(mut redis) = redis {
        redis.process.terminate(SHUTDOWN_GRACE)?;
    }
    let stats = step_cgroup.as_ref().map(StepCgroup::stats);
    drop(step_cgroup);
    let oom_kills = stats.as_ref().and_then(|s| s.oom_kills).unwrap_or(0);
    let died_during_load = died.iter().flatten().next().copied();
    let mut failure = describe_failure(died_during_load, oom_kills, &load_end);
    if died_during_load.is_some() {
        // A signal from outside (another user's pkill, say) shows up only in the server's log.
        if let Some(line) = servers.iter().find_map(|s| process::signal_line(&s.log)) {
            failure = failure
                .map(|text| format!("{text} (server log: \"{line}\"; not sent by chat-compare)"));
        }
    }
    let (server_end, shutdown_failure) = describe_shutdown(&ends, &died);
    if let Some(note) = shutdown_failure {
        failure = Some(failure.map_or(note.clone(), |text| format!("{text}; {note}")));
    }
    let (load, raw_load) = output.unzip();
    Ok(StepResult {
        port: ports.first().copied(),
        load,
        raw_load,
        failure,
        server_end: Some(server_end),
        cgroup: stats,
        ..step_result(step, started)
    })
}

/// How each server ended, joined with "; ", and the failure note of those that did not shut
/// down cleanly (after our SIGTERM: exit 0 in the grace period).
fn describe_shutdown(
    ends: &[(ProcessEnd, bool)],
    died: &[Option<ProcessEnd>],
) -> (String, Option<String>) {
    let mut texts = Vec::new();
    let mut notes = Vec::new();
    for ((end, needed_kill), died) in ends.iter().zip(died) {
        let this = if died.is_some() {
            format!("died during the run ({end})")
        } else if *needed_kill {
            format!("ignored SIGTERM for {} s, killed", SHUTDOWN_GRACE.as_secs())
        } else {
            format!("{end} after SIGTERM")
        };
        if died.is_none() && (*needed_kill || *end != ProcessEnd::Code(0)) {
            notes.push(format!("server shutdown: {this}"));
        }
        texts.push(this);
    }
    (
        texts.join("; "),
        (!notes.is_empty()).then(|| notes.join("; ")),
    )
}

/// What starting a step's servers needs.
struct ServerStart<'a> {
    step: &'a Step,
    tools: &'a Tools<'a>,
    /// The step's log file names start with it.
    prefix: &'a str,
    /// The room's log file, for an event server on a file.
    db: Option<&'a Path>,
    /// The step's redis-server, for a Redis room.
    redis_port: Option<u16>,
    /// The cgroup the servers run in.
    cgroup: Option<&'a StepCgroup>,
}

/// A server of the step, listening.
struct StepServer {
    process: Supervised,
    port: u16,
    log: PathBuf,
}

/// Why a server of the step did not start, and how it ended if it ran at all.
type StartFailure = (String, Option<ProcessEnd>);

/// Starts the step's servers one after the other, each waited for until it listens.
fn start_servers(start: &ServerStart) -> Result<Result<Vec<StepServer>, StartFailure>, RunError> {
    let step = start.step;
    let mut servers = Vec::new();
    for index in 1..=step.server_count {
        let name = match step.server_count {
            1 => format!("{}-server.log", start.prefix),
            _ => format!("{}-server{index}.log", start.prefix),
        };
        let log = start.tools.log_dir.join(name);
        let log_file = File::create(&log).map_err(|err| RunError::Io(err.to_string()))?;
        let mut command = Command::new(&start.tools.server_bin);
        command
            .arg("--mode")
            .arg(step.server_mode.flag())
            .args(server_flags())
            .args(db_flags(step, start.db, start.redis_port))
            .args(step.tls.then_some("--tls"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        process::tie_to_us(&mut command, start.cgroup.map(StepCgroup::procs_path));
        let mut process = match Supervised::spawn(&mut command) {
            Ok(process) => process,
            Err(err) => {
                let reason = format!("cannot start chat-server: {err}");
                return Ok(Err((reason, None)));
            }
        };
        match wait_for_port(&mut process, &log)? {
            Ok(port) => servers.push(StepServer { process, port, log }),
            Err(reason) => {
                let end = process.kill();
                // A usage error (exit 2) on a Redis step: a server without `--redis`.
                let reason = if step.room_log == RoomLog::Redis && end == ProcessEnd::Code(2) {
                    format!("this chat-server does not take --redis (built without issue 11?): {reason}")
                } else {
                    reason
                };
                return Ok(Err((reason, Some(end))));
            }
        }
    }
    Ok(Ok(servers))
}

/// A redis-server this step started.
struct StepRedis {
    /// The process; SIGTERMed after the step.
    process: Supervised,
    /// Its port on 127.0.0.1.
    port: u16,
    /// Its folder (nothing is written there: no RDB, no AOF); deleted with it.
    _dir: tempfile::TempDir,
}

/// Where `redis-server` is, from `PATH` (Debian puts it in /usr/bin).
fn redis_server_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|bin| bin.is_file())
}

/// How many ports to try when another program takes the free port first.
const REDIS_START_TRIES: u32 = 3;
/// How long redis-server gets to accept connections.
const REDIS_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts redis-server on a free loopback port (never `--port 0`, which would disable TCP),
/// keeping nothing on disk. The inner error says why the step cannot run.
fn start_redis(log_dir: &Path, prefix: &str) -> Result<Result<StepRedis, String>, RunError> {
    let Some(bin) = redis_server_bin() else {
        return Ok(Err(
            "redis-server is not installed (scripts/setup installs it): no Redis rows".into(),
        ));
    };
    let mut last_error = String::new();
    for _ in 0..REDIS_START_TRIES {
        let dir = match tempfile::Builder::new()
            .prefix("chat-compare-redis-")
            .tempdir()
        {
            Ok(dir) => dir,
            Err(err) => {
                return Ok(Err(format!(
                    "cannot create a folder for redis-server: {err}"
                )))
            }
        };
        let port = match free_port() {
            Ok(port) => port,
            Err(err) => {
                return Ok(Err(format!(
                    "cannot find a free port for redis-server: {err}"
                )))
            }
        };
        // Absolute: redis-server moves into `--dir` before it opens its log
        // file, so a relative path (the report folder is often relative)
        // would make it exit without a word.
        let log = log_dir.join(format!("{prefix}-redis.log"));
        let log = std::path::absolute(&log).unwrap_or(log);
        let mut command = Command::new(&bin);
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        process::tie_to_us(&mut command, None);
        let mut process = match Supervised::spawn(&mut command) {
            Ok(process) => process,
            Err(err) => return Ok(Err(format!("cannot start redis-server: {err}"))),
        };
        let deadline = Instant::now() + REDIS_READY_TIMEOUT;
        loop {
            check_interrupt()?;
            if let Some(end) = process.poll_end() {
                last_error = format!(
                    "redis-server did not start ({end}): {}",
                    process::last_line(&log)
                );
                break;
            }
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            if std::net::TcpStream::connect_timeout(&addr, process::POLL_INTERVAL).is_ok() {
                return Ok(Ok(StepRedis {
                    process,
                    port,
                    _dir: dir,
                }));
            }
            if Instant::now() >= deadline {
                process.kill();
                last_error = format!(
                    "redis-server did not accept connections within {} s",
                    REDIS_READY_TIMEOUT.as_secs()
                );
                break;
            }
            thread::sleep(process::POLL_INTERVAL);
        }
    }
    Ok(Err(last_error))
}

/// A loopback port nobody listens on right now, the kernel's choice.
fn free_port() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// The restart step: chat-load starts, kills and restarts the server on `db` itself, so chat-load
/// goes into the step's cgroup and the server inherits it.
fn run_restart_step(
    step: &Step,
    tools: &Tools,
    db: &Path,
    load_log: &Path,
    step_cgroup: Option<StepCgroup>,
    started: Instant,
) -> Result<StepResult, RunError> {
    let target = LoadTarget::Own {
        server_bin: &tools.server_bin,
        db,
    };
    let procs = step_cgroup.as_ref().map(StepCgroup::procs_path);
    let (load_end, output) = load::run_load(step, &tools.load_bin, target, load_log, procs)?;
    let stats = step_cgroup.as_ref().map(StepCgroup::stats);
    drop(step_cgroup);
    let oom_kills = stats.as_ref().and_then(|s| s.oom_kills).unwrap_or(0);
    let (load, raw_load) = output.unzip();
    let port = load.as_ref().and_then(|report| {
        let (_, port) = report.addr.rsplit_once(':')?;
        port.parse().ok()
    });
    Ok(StepResult {
        port,
        load,
        raw_load,
        failure: describe_failure(None, oom_kills, &load_end),
        server_end: Some("started, killed and restarted by chat-load".into()),
        cgroup: stats,
        ..step_result(step, started)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_from_the_seed_format() {
        let log = "[*] Listening as 127.0.0.1:40123\n[+] 127.0.0.1:5555 connected.\n";
        assert_eq!(parse_listening_port(log), Some(40123));
    }

    #[test]
    fn listening_line_in_key_value_format() {
        assert_eq!(
            parse_listening_port("listening addr=127.0.0.1:5002 mode=event\n"),
            Some(5002)
        );
    }

    #[test]
    fn no_listening_line_yet() {
        assert_eq!(parse_listening_port(""), None);
        assert_eq!(parse_listening_port("[*] Listening as 127.0.0"), None);
    }

    #[test]
    fn port_zero_is_not_an_answer() {
        assert_eq!(parse_listening_port("[*] Listening as 127.0.0.1:0\n"), None);
    }

    #[test]
    fn connect_lines_before_listening_are_ignored() {
        let log = "[+] 127.0.0.1:5555 connected.\n[*] Listening as 127.0.0.1:6000\n";
        assert_eq!(parse_listening_port(log), Some(6000));
    }

    #[test]
    fn clean_step_has_no_failure() {
        assert_eq!(describe_failure(None, 0, &LoadEnd::Finished), None);
    }

    #[test]
    fn oom_kill_wins_over_the_signal() {
        let text = describe_failure(Some(ProcessEnd::Signal(9)), 1, &LoadEnd::Finished);
        assert_eq!(text.as_deref(), Some("server killed (OOM)"));
    }

    #[test]
    fn crash_and_tool_failure_both_reported() {
        let load_end = LoadEnd::ToolFailed {
            end: ProcessEnd::Code(1),
            detail: "connection reset".into(),
        };
        let text = describe_failure(Some(ProcessEnd::Signal(libc::SIGSEGV)), 0, &load_end);
        assert_eq!(
            text.as_deref(),
            Some("server killed by SIGSEGV; chat-load failed (exit 1): connection reset")
        );
    }

    #[test]
    fn timeout_reported_in_seconds() {
        let text = describe_failure(None, 0, &LoadEnd::TimedOut { after_secs: 41.2 });
        assert_eq!(text.as_deref(), Some("chat-load timed out after 41 s"));
    }

    #[test]
    fn event_servers_get_their_log_and_threads_none() {
        let steps = ladder::steps(false);
        let db = Path::new("/tmp/x/room.db");
        let by_id = |id: &str| steps.iter().find(|s| s.id() == id).unwrap();
        assert_eq!(
            db_flags(by_id("fanout-1000-event"), Some(db), None),
            ["--db", "/tmp/x/room.db"]
        );
        assert_eq!(
            db_flags(by_id("fanout-1000-event-db-none"), None, None),
            ["--db", "none"]
        );
        assert!(db_flags(by_id("fanout-1000-threads"), None, None).is_empty());
        let redis = by_id("scale-1000-event-redis-x2");
        let flags = db_flags(redis, None, Some(6400));
        assert_eq!(flags[..2], ["--redis", "redis://127.0.0.1:6400"]);
        assert_eq!(flags[2], "--room");
    }
}
