//! Runs the ladder: for each step a fresh `chat-server` (inside the step's memory cgroup when there
//! is one; the event server on a fresh SQLite file of its own, deleted after the step, or
//! `--db none`), `chat-load` against the port it reports, then SIGTERM, a grace period and
//! SIGKILL. The restart step is the exception: chat-load starts, kills and restarts that server
//! itself, so chat-load goes into the cgroup and the server inherits it.
//! A step that goes wrong becomes a `StepResult` with a `failure` line, never an early exit; only
//! missing binaries, unwritable folders and Ctrl-C stop the run. The results come back as a
//! [`RunRecord`]; writing them out is the report's and the plots' business. Every child is tied
//! to us three ways: a guard that SIGKILLs it on drop (errors, panics), polling that notices
//! Ctrl-C/SIGTERM, and `PR_SET_PDEATHSIG` in case we are SIGKILLed ourselves.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chat_load::Report;

use crate::cgroup::{CgroupSupport, StepCgroup, MEMORY_LIMIT_BYTES};
use crate::config::Config;
use crate::ladder::{self, LoadMode, RoomLog, ServerMode, Step};
use crate::load::parse_report;
use crate::machine::{self, Machine};
use crate::model::{RunRecord, StepResult};

/// How long a server gets to print its Listening line.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server gets to exit after SIGTERM before SIGKILL. Threads mode with 10,000
/// blocked threads is the slow case.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often child state and the interrupt flag are checked.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Fixed slack on top of a step's duration before chat-load counts as hung.
const LOAD_TIMEOUT_SLACK_SECS: f64 = 30.0;
/// Extra slack per client for the connect phase (10,000 clients: +50 s).
const LOAD_TIMEOUT_SECS_PER_CLIENT: f64 = 0.005;

/// Set by the SIGINT/SIGTERM/SIGHUP handler; checked wherever we wait.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn note_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn install_interrupt_handlers() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                signal,
                note_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

fn check_interrupt() -> Result<(), RunError> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(RunError::Interrupted)
    } else {
        Ok(())
    }
}

/// Why the comparison as a whole stopped.
#[derive(Debug)]
pub enum RunError {
    /// Ctrl-C or SIGTERM; children have been stopped.
    Interrupted,
    /// A binary we drive is not there.
    MissingBinary(PathBuf),
    /// Folders or report files could not be written.
    Io(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Interrupted => f.write_str("interrupted"),
            RunError::MissingBinary(path) => write!(
                f,
                "{} not found (build with cargo build --release -p chat-server -p chat-load)",
                path.display()
            ),
            RunError::Io(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for RunError {}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEnd {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl ProcessEnd {
    fn from_status(status: ExitStatus) -> ProcessEnd {
        match (status.code(), status.signal()) {
            (Some(code), _) => ProcessEnd::Code(code),
            (None, Some(signal)) => ProcessEnd::Signal(signal),
            (None, None) => ProcessEnd::Code(-1),
        }
    }
}

impl fmt::Display for ProcessEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessEnd::Code(code) => write!(f, "exit {code}"),
            ProcessEnd::Signal(signal) => write!(f, "signal {}", signal_name(*signal)),
        }
    }
}

/// `SIGKILL` rather than `9`, for the report.
pub fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGPIPE => "SIGPIPE".into(),
        other => format!("signal {other}"),
    }
}

/// How the load tool's part of a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadEnd {
    /// Exit 0 and a readable report.
    Finished,
    /// Exit other than 0; the detail is its first error or stderr line.
    ToolFailed {
        /// How it ended.
        end: ProcessEnd,
        /// First error it reported.
        detail: String,
    },
    /// Still running after the step's timeout; killed.
    TimedOut {
        /// The timeout that passed.
        after_secs: f64,
    },
    /// Exit 0 but stdout was not the JSON object.
    BadOutput(String),
    /// The step never got as far as running the load tool.
    NotRun,
}

/// A step that never got as far as running the load tool.
fn failed_before_load(step: &Step, reason: String, started: Instant) -> StepResult {
    StepResult {
        step: step.clone(),
        port: None,
        load: None,
        raw_load: None,
        failure: Some(reason),
        server_end: None,
        cgroup: None,
        wall_secs: started.elapsed().as_secs_f64(),
    }
}

/// The flags every server gets besides `--mode` (and the event server's `--db`): same for both
/// modes, defaults otherwise.
pub fn server_flags() -> Vec<String> {
    [
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--max-clients",
        "20000",
        "--idle-timeout",
        "0",
    ]
    .map(String::from)
    .to_vec()
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

/// `cannot <what> <path>: <err>`, for folders and files the run cannot do without.
pub fn io_error(what: &str, path: &Path, err: io::Error) -> RunError {
    RunError::Io(format!("cannot {what} {}: {err}", path.display()))
}

/// Runs the whole ladder and returns what it measured. Prints one progress line per step on
/// stderr: the step's id before it runs, then whatever `summary` makes of its result.
pub fn run_ladder(
    config: &Config,
    summary: impl Fn(&StepResult) -> String,
) -> Result<RunRecord, RunError> {
    install_interrupt_handlers();
    let server_bin = config.bin_dir.join("chat-server");
    let load_bin = config.bin_dir.join("chat-load");
    for bin in [&server_bin, &load_bin] {
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
    let steps: Vec<Step> = ladder::steps(config.quick)
        .into_iter()
        .filter(|step| {
            let id = step.id();
            config.only.is_empty() || config.only.iter().any(|word| id.contains(word.as_str()))
        })
        .enumerate()
        .map(|(index, step)| Step {
            number: index + 1,
            ..step
        })
        .collect();
    let started = Instant::now();
    let date = machine::utc_now();
    let mut results = Vec::with_capacity(steps.len());
    for step in &steps {
        check_interrupt()?;
        eprint!("[{:>2}/{}] {:<27} ", step.number, steps.len(), step.id());
        let result = run_step(step, &server_bin, &load_bin, &config.log_dir, &cgroup)?;
        eprintln!("{}", summary(&result));
        results.push(result);
    }
    Ok(RunRecord {
        quick: config.quick,
        date,
        machine: Machine::current(),
        memory_limit: cgroup.describe(),
        memory_limit_applied: matches!(cgroup, CgroupSupport::Available(_)),
        server_flags: server_flags(),
        db_dir: std::env::temp_dir().display().to_string(),
        results,
        total_secs: started.elapsed().as_secs_f64(),
    })
}

/// A child that is SIGKILLed and reaped if we leave without ending it properly.
struct Supervised {
    /// The process.
    child: Child,
    /// How it ended, once known.
    ended: Option<ProcessEnd>,
}

impl Supervised {
    fn new(child: Child) -> Supervised {
        Supervised { child, ended: None }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How it ended, without blocking; `None` while it runs.
    fn poll_end(&mut self) -> Option<ProcessEnd> {
        if self.ended.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.ended = Some(ProcessEnd::from_status(status));
            }
        }
        self.ended
    }

    /// Waits up to `limit`; `None` if still running then.
    fn wait_for(&mut self, limit: Duration) -> Result<Option<ProcessEnd>, RunError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(end) = self.poll_end() {
                return Ok(Some(end));
            }
            check_interrupt()?;
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// SIGTERM, wait `grace`, then SIGKILL. Returns the end and whether SIGKILL was needed.
    fn terminate(&mut self, grace: Duration) -> Result<(ProcessEnd, bool), RunError> {
        if let Some(end) = self.poll_end() {
            return Ok((end, false));
        }
        // SAFETY: kill(2) on our own unreaped child's pid cannot hit another process.
        unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
        if let Some(end) = self.wait_for(grace)? {
            return Ok((end, false));
        }
        Ok((self.kill(), true))
    }

    /// SIGKILL and reap.
    fn kill(&mut self) -> ProcessEnd {
        if let Some(end) = self.poll_end() {
            return end;
        }
        let _ = self.child.kill();
        let end = self
            .child
            .wait()
            .map_or(ProcessEnd::Signal(libc::SIGKILL), ProcessEnd::from_status);
        self.ended = Some(end);
        end
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Ties the child to us and, for the server, moves it into the step's cgroup before `exec`,
/// so not one allocation of the server escapes the limit.
fn prepare_child(command: &mut Command, cgroup_procs: Option<std::ffi::CString>) {
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (prctl, open, write, close) on memory prepared before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(path) = &cgroup_procs {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                // "0" means "the writing process", i.e. this child.
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                let write_error = io::Error::last_os_error();
                libc::close(fd);
                if written != 1 {
                    return Err(write_error);
                }
            }
            Ok(())
        });
    }
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

fn last_line(path: &Path) -> String {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .map_or_else(|| "(no output)".into(), |line| truncate(&line, 120))
}

/// The server's own complaint (`chat-server: ...`) if it made one, else its last line: a bad
/// flag is followed by the usage line, which says less.
fn error_line(path: &Path) -> String {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("chat-server:"))
                .map(|line| truncate(line.trim(), 120))
        })
        .unwrap_or_else(|| last_line(path))
}

/// The server's own note of a signal it received, if it logged one.
fn signal_line(path: &Path) -> Option<String> {
    let log = fs::read_to_string(path).ok()?;
    log.lines()
        .find(|line| line.to_ascii_lowercase().contains("signal"))
        .map(|line| truncate(line.trim(), 80))
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max_chars).collect();
        format!("{cut}…")
    }
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
            return Ok(Err(format!(
                "server did not start ({end}): {}",
                error_line(log_path)
            )));
        }
        check_interrupt()?;
        if Instant::now() >= deadline {
            return Ok(Err(format!(
                "server printed no Listening line within {} s",
                LISTEN_TIMEOUT.as_secs()
            )));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// What chat-load is pointed at.
#[derive(Debug, Clone, Copy)]
enum LoadTarget<'a> {
    /// The servers this step started: their ports and pids for chat-load to sample (the
    /// clients are spread over them), the Redis server's pid, and whether desks speak TLS.
    Running {
        ports: &'a [u16],
        server_pids: &'a [u32],
        redis_pid: Option<u32>,
        tls: bool,
    },
    /// The restart step: chat-load starts this server on this log itself.
    Own { server_bin: &'a Path, db: &'a Path },
}

fn load_args(step: &Step, target: LoadTarget) -> Vec<String> {
    let load = &step.workload;
    let mut args = vec![load.load_mode.arg().to_string()];
    match target {
        LoadTarget::Running { ports, tls, .. } => {
            let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
            args.extend(["--addr".into(), addrs.join(",")]);
            if tls {
                args.push("--tls".into());
            }
        }
        LoadTarget::Own { server_bin, db } => args.extend([
            "--server-bin".into(),
            server_bin.display().to_string(),
            "--db".into(),
            db.display().to_string(),
        ]),
    }
    args.extend([
        "-n".into(),
        load.clients.to_string(),
        "-d".into(),
        load.duration_secs.to_string(),
    ]);
    match (load.load_mode, load.rounds) {
        (LoadMode::Hold, _) => {}
        // Every client speaks once a round, so there is no rate to give.
        (LoadMode::Churn, Some(rounds)) => args.extend([
            "--rounds".into(),
            rounds.to_string(),
            "--payload".into(),
            load.payload_bytes.to_string(),
        ]),
        _ => args.extend([
            "--senders".into(),
            load.senders.to_string(),
            "--rate".into(),
            load.rate_per_sender.to_string(),
            "--payload".into(),
            load.payload_bytes.to_string(),
        ]),
    }
    if load.load_mode == LoadMode::Slow {
        args.extend(["--slow".into(), load.slow_clients.to_string()]);
        if let Some(bytes) = load.slow_rcvbuf_bytes {
            args.extend(["--slow-rcvbuf".into(), bytes.to_string()]);
        }
    }
    if let Some(timing) = load.restart {
        args.extend([
            "--kill-at".into(),
            timing.kill_at_secs.to_string(),
            "--restart-after".into(),
            timing.restart_after_secs.to_string(),
        ]);
    }
    if let LoadTarget::Running {
        server_pids,
        redis_pid,
        ..
    } = target
    {
        let pids: Vec<String> = server_pids.iter().map(u32::to_string).collect();
        args.extend(["--server-pid".into(), pids.join(",")]);
        if let Some(pid) = redis_pid {
            args.extend(["--redis-pid".into(), pid.to_string()]);
        }
    }
    args.push("--json".into());
    args
}

/// Runs chat-load (in the cgroup whose `cgroup.procs` is given, if any) to the end or its
/// timeout, and reads its report.
fn run_load(
    step: &Step,
    load_bin: &Path,
    target: LoadTarget,
    log_path: &Path,
    cgroup_procs: Option<std::ffi::CString>,
) -> Result<(LoadEnd, Option<(Report, serde_json::Value)>), RunError> {
    let stderr_file = File::create(log_path).map_err(|err| RunError::Io(err.to_string()))?;
    let mut command = Command::new(load_bin);
    command
        .args(load_args(step, target))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr_file);
    prepare_child(&mut command, cgroup_procs);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            return Ok((
                LoadEnd::ToolFailed {
                    end: ProcessEnd::Code(-1),
                    detail: format!("cannot start chat-load: {err}"),
                },
                None,
            ))
        }
    };
    // The report is one line, but read on a thread anyway so a chatty tool can never block on
    // a full pipe while we wait for it.
    let mut stdout = child.stdout.take().expect("stdout was set to piped");
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let mut load = Supervised::new(child);
    let timeout_secs = step.workload.duration_secs
        + step
            .workload
            .restart
            .map_or(0.0, |timing| timing.restart_after_secs)
        + LOAD_TIMEOUT_SLACK_SECS
        + LOAD_TIMEOUT_SECS_PER_CLIENT * f64::from(step.workload.clients);
    let end = load.wait_for(Duration::from_secs_f64(timeout_secs))?;
    let Some(end) = end else {
        load.kill();
        let _ = reader.join();
        return Ok((
            LoadEnd::TimedOut {
                after_secs: timeout_secs,
            },
            None,
        ));
    };
    let stdout = reader.join().unwrap_or_default();
    let parsed = parse_report(&stdout);
    let load_end = match (end, &parsed) {
        (ProcessEnd::Code(0), Ok(_)) => LoadEnd::Finished,
        (ProcessEnd::Code(0), Err(err)) => LoadEnd::BadOutput(err.clone()),
        (end, Ok((report, _))) => LoadEnd::ToolFailed {
            end,
            detail: report
                .errors
                .first()
                .cloned()
                .unwrap_or_else(|| last_line(log_path)),
        },
        (end, Err(_)) => LoadEnd::ToolFailed {
            end,
            detail: last_line(log_path),
        },
    };
    Ok((load_end, parsed.ok()))
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
            ProcessEnd::Signal(signal) => format!("server killed by {}", signal_name(signal)),
            ProcessEnd::Code(code) => format!("server exited with code {code} during the run"),
        });
    }
    match load_end {
        LoadEnd::Finished | LoadEnd::NotRun => {}
        LoadEnd::ToolFailed { end, detail } => parts.push(format!(
            "chat-load failed ({end}): {}",
            truncate(detail, 120)
        )),
        LoadEnd::TimedOut { after_secs } => {
            parts.push(format!("chat-load timed out after {after_secs:.0} s"))
        }
        LoadEnd::BadOutput(detail) => parts.push(format!(
            "chat-load output unreadable: {}",
            truncate(detail, 120)
        )),
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// One step: cgroup, server, port, load, shutdown, figures.
fn run_step(
    step: &Step,
    server_bin: &Path,
    load_bin: &Path,
    log_dir: &Path,
    cgroup: &CgroupSupport,
) -> Result<StepResult, RunError> {
    let started = Instant::now();
    let step_cgroup: Option<StepCgroup> = match cgroup {
        CgroupSupport::Available(controller) => {
            let name = format!("chat-compare-{}-{}", std::process::id(), step.number);
            match controller.create_child(&name, MEMORY_LIMIT_BYTES) {
                Ok(created) => Some(created),
                Err(err) => {
                    return Ok(failed_before_load(
                        step,
                        format!("cannot create the step's memory cgroup: {err}"),
                        started,
                    ))
                }
            }
        }
        CgroupSupport::Unavailable(_) => None,
    };
    // The room's log of this step alone, in a folder deleted (with the -wal and -shm files)
    // when the step ends, however it ends.
    let db_dir = match step.room_log {
        RoomLog::File => match tempfile::Builder::new()
            .prefix("chat-compare-db-")
            .tempdir()
        {
            Ok(dir) => Some(dir),
            Err(err) => {
                return Ok(failed_before_load(
                    step,
                    format!("cannot create a folder for the room's log: {err}"),
                    started,
                ))
            }
        },
        RoomLog::Memory | RoomLog::Redis => None,
    };
    let db = db_dir.as_ref().map(|dir| dir.path().join("room.db"));
    let prefix = format!("{:02}-{}", step.number, step.id());
    let load_log = log_dir.join(format!("{prefix}-load.log"));
    if step.workload.load_mode == LoadMode::Restart {
        return match &db {
            Some(db) => run_restart_step(
                step,
                server_bin,
                load_bin,
                db,
                &load_log,
                step_cgroup,
                started,
            ),
            None => Ok(failed_before_load(
                step,
                "the restart scenario needs the room's log in a file".into(),
                started,
            )),
        };
    }
    // A Redis room: the step's own redis-server first, on a free port, outside the cgroup (it
    // is the shared service, not the server under test).
    let redis = match step.room_log {
        RoomLog::Redis => match start_redis(log_dir, &prefix)? {
            Ok(redis) => Some(redis),
            Err(reason) => return Ok(failed_before_load(step, reason, started)),
        },
        _ => None,
    };
    let mut servers = Vec::new();
    let mut ports = Vec::new();
    let mut server_logs = Vec::new();
    for index in 0..step.server_count {
        let server_log = if step.server_count > 1 {
            log_dir.join(format!("{prefix}-server{}.log", index + 1))
        } else {
            log_dir.join(format!("{prefix}-server.log"))
        };
        let log_file = File::create(&server_log).map_err(|err| RunError::Io(err.to_string()))?;
        let mut command = Command::new(server_bin);
        command
            .arg("--mode")
            .arg(step.server_mode.flag())
            .args(server_flags())
            .args(db_flags(
                step,
                db.as_deref(),
                redis.as_ref().map(|r| r.port),
            ))
            .args(step.tls.then_some("--tls"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        prepare_child(
            &mut command,
            step_cgroup.as_ref().map(StepCgroup::procs_path),
        );
        let mut server = match command.spawn() {
            Ok(child) => Supervised::new(child),
            Err(err) => {
                return Ok(failed_before_load(
                    step,
                    format!("cannot start chat-server: {err}"),
                    started,
                ))
            }
        };
        match wait_for_port(&mut server, &server_log)? {
            Ok(port) => ports.push(port),
            Err(reason) => {
                let end = server.kill();
                // A usage error (exit 2) on a Redis step: a server without `--redis`.
                let reason = if step.room_log == RoomLog::Redis && end == ProcessEnd::Code(2) {
                    format!("this chat-server does not take --redis (built without issue 11?): {reason}")
                } else {
                    reason
                };
                let mut result = failed_before_load(step, reason, started);
                result.server_end = Some(end.to_string());
                result.cgroup = step_cgroup.as_ref().map(StepCgroup::stats);
                return Ok(result);
            }
        }
        servers.push(server);
        server_logs.push(server_log);
    }
    let server_pids: Vec<u32> = servers.iter().map(Supervised::pid).collect();
    let target = LoadTarget::Running {
        ports: &ports,
        server_pids: &server_pids,
        redis_pid: redis.as_ref().map(|r| r.process.pid()),
        tls: step.tls,
    };
    let (load_end, parsed) = run_load(step, load_bin, target, &load_log, None)?;
    // Did the servers survive the load? Checked before our SIGTERM so a crash is not mistaken
    // for a clean shutdown.
    let died: Vec<Option<ProcessEnd>> = servers.iter_mut().map(Supervised::poll_end).collect();
    let died_during_load = died.iter().flatten().next().copied();
    let mut ends = Vec::new();
    for server in &mut servers {
        ends.push(server.terminate(SHUTDOWN_GRACE)?);
    }
    if let Some(mut redis) = redis {
        redis.process.terminate(SHUTDOWN_GRACE)?;
    }
    let stats = step_cgroup.as_ref().map(StepCgroup::stats);
    drop(step_cgroup);
    let oom_kills = stats.as_ref().and_then(|s| s.oom_kills).unwrap_or(0);
    let mut failure = describe_failure(died_during_load, oom_kills, &load_end);
    if died_during_load.is_some() {
        // A signal from outside (another user's pkill, say) shows up only in the server's log.
        if let Some(line) = server_logs.iter().find_map(|log| signal_line(log)) {
            failure = failure
                .map(|text| format!("{text} (server log: \"{line}\"; not sent by chat-compare)"));
        }
    }
    let mut server_end = String::new();
    for (at, ((end, needed_kill), died)) in ends.iter().zip(&died).enumerate() {
        let this = if died.is_some() {
            format!("died during the run ({end})")
        } else if *needed_kill {
            format!("ignored SIGTERM for {} s, killed", SHUTDOWN_GRACE.as_secs())
        } else {
            format!("{end} after SIGTERM")
        };
        if died.is_none() && (*needed_kill || *end != ProcessEnd::Code(0)) {
            let note = format!("server shutdown: {this}");
            failure = Some(match failure {
                Some(text) => format!("{text}; {note}"),
                None => note,
            });
        }
        if at > 0 {
            server_end.push_str("; ");
        }
        server_end.push_str(&this);
    }
    let (load, raw_load) = match parsed {
        Some((report, raw)) => (Some(report), Some(raw)),
        None => (None, None),
    };
    Ok(StepResult {
        step: step.clone(),
        port: ports.first().copied(),
        load,
        raw_load,
        failure,
        server_end: Some(server_end),
        cgroup: stats,
        wall_secs: started.elapsed().as_secs_f64(),
    })
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
        prepare_child(&mut command, None);
        let mut process = match command.spawn() {
            Ok(child) => Supervised::new(child),
            Err(err) => return Ok(Err(format!("cannot start redis-server: {err}"))),
        };
        let deadline = Instant::now() + REDIS_READY_TIMEOUT;
        loop {
            check_interrupt()?;
            if let Some(end) = process.poll_end() {
                last_error = format!("redis-server did not start ({end}): {}", last_line(&log));
                break;
            }
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            if std::net::TcpStream::connect_timeout(&addr, POLL_INTERVAL).is_ok() {
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
            thread::sleep(POLL_INTERVAL);
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
    server_bin: &Path,
    load_bin: &Path,
    db: &Path,
    load_log: &Path,
    step_cgroup: Option<StepCgroup>,
    started: Instant,
) -> Result<StepResult, RunError> {
    let target = LoadTarget::Own { server_bin, db };
    let procs = step_cgroup.as_ref().map(StepCgroup::procs_path);
    let (load_end, parsed) = run_load(step, load_bin, target, load_log, procs)?;
    let stats = step_cgroup.as_ref().map(StepCgroup::stats);
    drop(step_cgroup);
    let oom_kills = stats.as_ref().and_then(|s| s.oom_kills).unwrap_or(0);
    let (load, raw_load) = match parsed {
        Some((report, raw)) => (Some(report), Some(raw)),
        None => (None, None),
    };
    Ok(StepResult {
        step: step.clone(),
        port: load.as_ref().and_then(|report| {
            let (_, port) = report.addr.rsplit_once(':')?;
            port.parse().ok()
        }),
        load,
        raw_load,
        failure: describe_failure(None, oom_kills, &load_end),
        server_end: Some("started, killed and restarted by chat-load".into()),
        cgroup: stats,
        wall_secs: started.elapsed().as_secs_f64(),
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
    fn a_start_failure_names_the_server_s_complaint_not_its_usage() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        fs::write(
            &log,
            "chat-server: Unrecognized option: 'redis'\nUsage: chat-server [options]\n",
        )
        .unwrap();
        assert_eq!(
            error_line(&log),
            "chat-server: Unrecognized option: 'redis'"
        );
        fs::write(&log, "[*] Room log: in memory only\npanicked somewhere\n").unwrap();
        assert_eq!(error_line(&log), "panicked somewhere");
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
    fn restart_step_names_its_server_and_log_and_no_address() {
        let steps = ladder::steps(false);
        let step = steps
            .iter()
            .find(|s| s.workload.load_mode == LoadMode::Restart)
            .unwrap();
        let target = LoadTarget::Own {
            server_bin: Path::new("/build/chat-server"),
            db: Path::new("/tmp/x/room.db"),
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
