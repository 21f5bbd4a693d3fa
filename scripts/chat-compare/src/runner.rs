//! Runs the ladder: for each step a fresh `chat-server` (in the step's memory cgroup when there
//! is one; the event server on a SQLite file of the step's own, deleted after it, or `--db none`,
//! or a Redis stream on the step's own `redis-server`), `chat-load` against the port it reports,
//! then SIGTERM, a grace period and SIGKILL. In the restart, storm and attack steps chat-load
//! starts the server itself, so chat-load goes into the cgroup and the server inherits it.
//! A step that goes wrong is a `StepResult` with a `failure` line; only missing binaries,
//! unwritable folders and Ctrl-C stop the run.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cgroup::{CgroupStats, CgroupSupport, StepCgroup, MEMORY_LIMIT_BYTES};
use crate::config::Config;
use crate::ladder::{self, LoadMode, RoomLog, ServerMode, Step};
use crate::load::{self, LoadOutput, LoadTarget};
use crate::machine::{self, Machine};
use crate::model::{MemoryLimit, RunRecord, StepResult};
use crate::process::{self, check_interrupt, io_error, ProcessEnd, RunError, Supervised, Waited};
use test_support::{Persistence, RedisError, RedisOptions, RedisServer};

const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Before SIGKILL. Threads mode with 10,000 blocked threads is the slow case.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const REDIS_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The flags every server gets besides `--mode` and its room's log: the same for both modes.
pub fn server_flags() -> Vec<String> {
    let flags = ["--host", "127.0.0.1", "--port", "0"];
    let limits = ["--max-clients", "20000", "--idle-timeout", "0"];
    flags.iter().chain(&limits).map(|f| f.to_string()).collect()
}

/// A server's command line for `step`. The event server's room log is `--db` with the step's
/// own file, or `none`, or the step's Redis (its room named after the step); the threads
/// server keeps its room in memory and refuses the flags.
pub fn server_args(step: &Step, db: Option<&Path>, redis_port: Option<u16>) -> Vec<String> {
    let mut args = vec!["--mode".to_string(), step.server_mode.to_string()];
    args.extend(server_flags());
    let room = match (step.server_mode, db, redis_port) {
        (ServerMode::Threads, _, _) => vec![],
        (ServerMode::Event, _, Some(port)) => vec![
            "--redis".into(),
            format!("redis://127.0.0.1:{port}"),
            "--room".into(),
            format!("compare-{}", step.number),
        ],
        (ServerMode::Event, Some(db), None) => vec!["--db".into(), db.display().to_string()],
        (ServerMode::Event, None, None) => vec!["--db".into(), "none".into()],
    };
    args.extend(room);
    args.extend(step.tls.then(|| "--tls".to_string()));
    args
}

/// Runs the whole ladder and returns what it measured. Prints one progress line per step on
/// stderr: the step's id before it runs, then whatever `summary` makes of its result.
pub fn run_ladder(
    config: &Config,
    summary: impl Fn(&StepResult) -> String,
) -> Result<RunRecord, RunError> {
    process::install_interrupt_handlers()?;
    let server_bin = config.bin_dir.join("chat-server");
    let load_bin = config.bin_dir.join("chat-load");
    if let Some(bin) = [&server_bin, &load_bin]
        .into_iter()
        .find(|bin| !bin.is_file())
    {
        let build = "build with cargo build --release -p chat-server -p chat-load";
        return Err(RunError::Io(format!(
            "{} not found ({build})",
            bin.display()
        )));
    }
    // The log folder is ours alone: start it empty so no stale log is mistaken for this run's.
    let _ = fs::remove_dir_all(&config.log_dir);
    // Both made now, so an unwritable folder stops us before the run, not minutes into it.
    for dir in [&config.log_dir, &config.out_dir] {
        fs::create_dir_all(dir).map_err(|err| io_error("create", dir, err))?;
    }
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
    let (started, date) = (Instant::now(), machine::utc_now());
    let mut results = Vec::with_capacity(steps.len());
    for step in &steps {
        check_interrupt()?;
        eprint!("[{:>2}/{}] {:<27} ", step.number, steps.len(), step.id());
        let run = StepRun {
            step,
            server_bin: &server_bin,
            load_bin: &load_bin,
            log_dir: &config.log_dir,
            cgroup: None,
        };
        let result = run.run(&cgroup)?;
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
        log_dir: Some(config.log_dir.display().to_string()),
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

/// Whether `step`'s server keeps its room's log in a file the step makes: not in memory, not on
/// Redis, and not in an attack, where chat-load fills a log of its own.
pub fn keeps_a_log_file(step: &Step) -> bool {
    step.room_log == RoomLog::File && !step.workload.load_mode.is_attack()
}

/// Why a step stopped short: the whole run stops (Ctrl-C, an unwritable log folder), or only
/// this step failed, for this reason, and becomes a result that says so.
enum Stop {
    Run(RunError),
    Step(String),
}

impl From<RunError> for Stop {
    fn from(err: RunError) -> Stop {
        Stop::Run(err)
    }
}

/// `context: err` as the reason a step failed.
fn failed<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> Stop + '_ {
    move |err| Stop::Step(format!("{context}: {err}"))
}

/// A step under way: the binaries it drives, where their logs go, and its cgroup once made (when
/// the limit applies).
#[derive(Clone, Copy)]
struct StepRun<'a> {
    step: &'a Step,
    server_bin: &'a Path,
    load_bin: &'a Path,
    log_dir: &'a Path,
    cgroup: Option<&'a StepCgroup>,
}

impl StepRun<'_> {
    /// The step in its own cgroup: its servers and the load, or the load that starts its server.
    /// A step that fails part way is a result with its failure and what was learnt before.
    fn run(&self, cgroup: &CgroupSupport) -> Result<StepResult, RunError> {
        let started = Instant::now();
        let mut result = StepResult {
            step: self.step.clone(),
            port: None,
            load: None,
            raw_load: None,
            failure: None,
            server_end: None,
            cgroup: CgroupStats::default(),
            wall_secs: 0.0,
        };
        let outcome = cgroup
            .step_cgroup(self.step.number)
            .map_err(failed("cannot create the step's memory cgroup"))
            .and_then(|step_cgroup| {
                let run = StepRun {
                    cgroup: step_cgroup.as_ref(),
                    ..*self
                };
                let outcome = if self.step.workload.load_mode.starts_own_server() {
                    run.own_server(&mut result)
                } else {
                    run.servers(&mut result)
                };
                // Read once every process of the step is gone, before the cgroup is.
                result.cgroup = run.cgroup.map(StepCgroup::stats).unwrap_or_default();
                outcome
            });
        match outcome {
            Ok(()) => {}
            Err(Stop::Run(err)) => return Err(err),
            Err(Stop::Step(reason)) => result.failure = Some(reason),
        }
        result.wall_secs = started.elapsed().as_secs_f64();
        Ok(result)
    }

    /// The step's room's log file, in a folder of its own deleted however the step ends; none
    /// unless [`keeps_a_log_file`].
    fn db_file(&self) -> Result<Option<(tempfile::TempDir, PathBuf)>, Stop> {
        if !keeps_a_log_file(self.step) {
            return Ok(None);
        }
        let dir = tempfile::Builder::new()
            .prefix("chat-compare-db-")
            .tempdir();
        let dir = dir.map_err(failed("cannot create a folder for the room's log"))?;
        let file = dir.path().join("room.db");
        Ok(Some((dir, file)))
    }

    /// The restart, storm and attack steps: chat-load starts (and restarts) the server itself.
    fn own_server(&self, result: &mut StepResult) -> Result<(), Stop> {
        let db = self.db_file()?;
        let (load_failure, output) = self.load(LoadTarget::Own {
            server_bin: self.server_bin,
            db: db.as_ref().map(|(_, file)| file.as_path()),
        })?;
        result.failure = describe_failure(Vec::new(), self.oom_kills(), load_failure);
        let server_end = match self.step.workload.load_mode {
            LoadMode::Storm => "started, stopped and started again by chat-load",
            LoadMode::Restart => "started, killed and restarted by chat-load",
            _ => "started and stopped by chat-load",
        };
        result.server_end = Some(server_end.into());
        let addr = output.as_ref().map_or("", |(report, _)| &report.addr);
        result.port = addr
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok());
        (result.load, result.raw_load) = output.unzip();
        Ok(())
    }

    /// The step's servers (after its redis-server, for a Redis room), the load against them,
    /// then each server stopped.
    fn servers(&self, result: &mut StepResult) -> Result<(), Stop> {
        let step = self.step;
        let db = self.db_file()?;
        // The redis-server runs outside the cgroup: it is the shared service, not the server
        // under test.
        let redis = match step.room_log {
            RoomLog::Redis => Some(start_redis(&self.log_path("redis"))?),
            RoomLog::File | RoomLog::Memory => None,
        };
        let db = db.as_ref().map(|(_, file)| file.as_path());
        let args = server_args(step, db, redis.as_ref().map(RedisServer::port));
        let mut servers = Vec::new();
        for index in 1..=step.server_count {
            servers.push(self.start_server(&args, index, result)?);
        }
        let server_pids: Vec<u32> = servers.iter().map(|s| s.process.pid()).collect();
        let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
        let (load_failure, output) = self.load(LoadTarget::Running {
            ports: &ports,
            server_pids: &server_pids,
            redis_pid: redis.as_ref().and_then(RedisServer::pid),
            tls: step.tls,
        })?;
        let (mut ends, mut failures) = (Vec::new(), Vec::new());
        for server in &mut servers {
            let (end, failure) = server.stop()?;
            ends.push(end);
            failures.extend(failure);
        }
        if let Some(mut redis) = redis {
            redis.stop(SHUTDOWN_GRACE);
        }
        result.failure = describe_failure(failures, self.oom_kills(), load_failure);
        result.server_end = Some(ends.join("; "));
        result.port = ports.first().copied();
        (result.load, result.raw_load) = output.unzip();
        Ok(())
    }

    /// chat-load against `target`, in the step's cgroup when it starts the server itself (the
    /// server then inherits it).
    fn load(&self, target: LoadTarget) -> Result<(Option<String>, LoadOutput), RunError> {
        let own = matches!(target, LoadTarget::Own { .. });
        let procs = self.cgroup.filter(|_| own).map(StepCgroup::procs_path);
        let log = self.log_path("load");
        load::run_load(self.step, self.load_bin, target, &log, procs)
    }

    /// The step's log file of `what` (`load`, `server`, `server2`, `redis`).
    fn log_path(&self, what: &str) -> PathBuf {
        let name = format!("{:02}-{}-{what}.log", self.step.number, self.step.id());
        self.log_dir.join(name)
    }

    fn oom_kills(&self) -> u64 {
        self.cgroup.and_then(|c| c.stats().oom_kills).unwrap_or(0)
    }

    /// Starts server `index` (from 1) with `args` in the step's cgroup and waits until it
    /// listens. A server that does not is ended, and how it ended goes into `result`.
    fn start_server(
        &self,
        args: &[String],
        index: u32,
        result: &mut StepResult,
    ) -> Result<StepServer, Stop> {
        let log = match self.step.server_count {
            1 => self.log_path("server"),
            _ => self.log_path(&format!("server{index}")),
        };
        let log_file = File::create(&log).map_err(|err| io_error("create", &log, err))?;
        let mut command = Command::new(self.server_bin);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let procs = self.cgroup.map(StepCgroup::procs_path);
        let mut process =
            Supervised::spawn(&mut command, procs).map_err(failed("cannot start chat-server"))?;
        let listening = || parse_listening_port(&fs::read_to_string(&log).unwrap_or_default());
        let reason = match process.wait_until(LISTEN_TIMEOUT, listening)? {
            Waited::Ready(port) => return Ok(StepServer { process, port, log }),
            Waited::Ended(end) => format!(
                "server did not start ({end}): {}",
                process::error_line(&log)
            ),
            Waited::TimedOut => format!(
                "server printed no Listening line within {} s",
                LISTEN_TIMEOUT.as_secs()
            ),
        };
        result.server_end = Some(process.kill().to_string());
        Err(Stop::Step(reason))
    }
}

/// A server of the step, listening on `port`; its log names a signal it received.
struct StepServer {
    process: Supervised,
    port: u16,
    log: PathBuf,
}

impl StepServer {
    /// Stops the server after the load: how it ended, and what went wrong with it, if anything
    /// (it died during the run, or did not exit 0 within the grace period after our SIGTERM).
    fn stop(&mut self) -> Result<(String, Option<String>), RunError> {
        // Asked before our SIGTERM, so a crash is not mistaken for a clean shutdown.
        if let Some(end) = self.process.poll_end() {
            let mut failure = match end {
                ProcessEnd::Signal(signal) => {
                    format!("server killed by {}", process::signal_name(signal))
                }
                ProcessEnd::Code(code) => format!("server exited with code {code} during the run"),
            };
            // A signal from outside (another user's pkill, say) shows up only in the server's log.
            if let Some(line) = process::signal_line(&self.log) {
                failure = format!("{failure} (server log: \"{line}\"; not sent by chat-compare)");
            }
            return Ok((format!("died during the run ({end})"), Some(failure)));
        }
        let (end, needed_kill) = self.process.terminate(SHUTDOWN_GRACE)?;
        let text = if needed_kill {
            format!("ignored SIGTERM for {} s, killed", SHUTDOWN_GRACE.as_secs())
        } else {
            format!("{end} after SIGTERM")
        };
        let clean = !needed_kill && end == ProcessEnd::Code(0);
        Ok((
            text.clone(),
            (!clean).then(|| format!("server shutdown: {text}")),
        ))
    }
}

/// The "what happened" line of a step, from what went wrong with its servers, the OOM kills
/// in its cgroup, and what went wrong with chat-load. `None` when nothing did; partial
/// delivery or connection counts are results and are described by the report, not here.
pub fn describe_failure(
    servers: Vec<String>,
    oom_kills: u64,
    load_failure: Option<String>,
) -> Option<String> {
    let servers = match oom_kills {
        0 => servers,
        _ => vec!["server killed (OOM)".into()],
    };
    let parts: Vec<String> = servers.into_iter().chain(load_failure).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The step's redis-server on a free loopback port (test-support's launcher: nothing kept).
fn start_redis(log: &Path) -> Result<RedisServer, Stop> {
    let options = RedisOptions {
        persistence: Persistence::None,
        log_file: Some(log.to_path_buf()),
        ready_within: REDIS_READY_TIMEOUT,
    };
    RedisServer::start(options).map_err(|e| match e {
        RedisError::NotInstalled => Stop::Step(
            "redis-server is not installed (scripts/setup installs it): no Redis rows".into(),
        ),
        other => Stop::Step(other.to_string()),
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
        assert_eq!(describe_failure(Vec::new(), 0, None), None);
    }

    #[test]
    fn oom_kill_wins_over_the_signal() {
        let servers = vec!["server killed by SIGKILL".to_string()];
        let text = describe_failure(servers, 1, None);
        assert_eq!(text.as_deref(), Some("server killed (OOM)"));
    }

    #[test]
    fn server_and_tool_failures_both_reported() {
        let servers = vec!["server killed by SIGSEGV".to_string()];
        let load_failure = Some("chat-load failed (exit 1): connection reset".to_string());
        let text = describe_failure(servers, 0, load_failure);
        assert_eq!(
            text.as_deref(),
            Some("server killed by SIGSEGV; chat-load failed (exit 1): connection reset")
        );
    }

    #[test]
    fn event_servers_get_their_log_and_threads_none() {
        let steps = ladder::steps(false);
        let db = Path::new("/tmp/x/room.db");
        let by_id = |id: &str| steps.iter().find(|s| s.id() == id).unwrap();
        let room = |step, db, redis| server_args(step, db, redis)[10..].to_vec();
        assert_eq!(
            room(by_id("fanout-1000-event"), Some(db), None),
            ["--db", "/tmp/x/room.db"]
        );
        assert_eq!(
            room(by_id("fanout-1000-event-db-none"), None, None),
            ["--db", "none"]
        );
        assert!(room(by_id("fanout-1000-threads"), None, None).is_empty());
        let redis = by_id("scale-1000-event-redis-x2");
        let flags = room(redis, None, Some(6400));
        assert_eq!(flags[..2], ["--redis", "redis://127.0.0.1:6400"]);
        assert_eq!(flags[2], "--room");
    }
}
