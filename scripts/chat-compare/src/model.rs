//! The data model of a comparison run: what one step produced ([`StepResult`]), the run as a
//! whole ([`RunRecord`]), the figures read off a step, and the targets. The runner
//! produces these values; the report and the plots only read them, so neither needs the other
//! nor the runner.

use chat_load::report::{BurstReport, ChurnReport, RestartReport, SearchStormReport};
use chat_load::report::{ServerReport, StormRound};
use chat_load::stats::LatencySummary;
use chat_load::Report;
use serde::{Deserialize, Serialize};

use crate::cgroup::CgroupStats;
use crate::ladder::{Ladder, RoomLog, ServerMode, Step};
use crate::load::cpu_us_per_delivery;
use crate::machine::Machine;

/// Target 1: peak RSS of the event server holding 10,000 idle clients.
pub const IDLE_RSS_TARGET_KB: f64 = 32.0 * 1024.0;
/// Target 1: the idle room size.
pub const IDLE_TARGET_CLIENTS: u32 = 10_000;
/// Target 2: p99 send-to-receive latency in the fanout target's room (1000 clients) x 200 msg/s.
pub const FANOUT_P99_TARGET_US: f64 = 5000.0;
/// Target 3: event CPU per delivery at most this share of the threads mode's.
pub const CPU_PER_DELIVERY_MAX_SHARE: f64 = 0.5;
/// Target 4: the others' p99 with a slow reader at most this multiple of the run without it.
pub const SLOW_P99_MAX_FACTOR: f64 = 1.5;
/// Target 4, "server memory bounded": peak RSS with the slow reader may exceed the run without
/// it by at most this much. One capped send queue is KiB; 16 MiB leaves room for allocator
/// noise but not for an unbounded queue (200 msg/s of 64 B for a minute is already 0.8 MB,
/// the seed-style "queue forever" grows without limit).
pub const SLOW_RSS_ALLOWANCE_KB: f64 = 16.0 * 1024.0;
/// Target 5: with the durable log, fanout p99 (at the fanout target) and CPU per delivery (at
/// saturation) at most this multiple of the same run with `--db none`.
pub const LOG_COST_MAX_FACTOR: f64 = 1.15;

/// TLS target (issue 21): peak RSS of the event server holding [`TLS_IDLE_TARGET_CLIENTS`] idle
/// TLS desks: what plain desks cost, plus their keys (about 1 KiB each).
pub const TLS_IDLE_RSS_TARGET_KB: f64 = 24.0 * 1024.0;
/// TLS target: the idle room size.
pub const TLS_IDLE_TARGET_CLIENTS: u32 = 10_000;
/// TLS target: CPU per delivery in the fanout target's room and at saturation with every desk
/// on TLS, at most this multiple of plain desks'.
pub const TLS_CPU_MAX_FACTOR: f64 = 1.3;
/// TLS target: fanout p99 in the fanout target's room with every desk on TLS, at most this
/// multiple of plain desks'.
pub const TLS_FANOUT_P99_MAX_FACTOR: f64 = 1.2;
/// TLS target: desks reconnecting at once after a restart, offering their session tickets,
/// finish their handshakes within this (p99, µs).
pub const STORM_P99_TARGET_US: f64 = 1_000_000.0;

/// What one step produced. Its fields (the step's among them) are those of a step in
/// `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    #[serde(flatten)]
    pub step: Step,
    /// The port the server reported.
    pub port: Option<u16>,
    /// chat-load's report, read back from `raw_load`; `None` when it printed none or one that
    /// does not match chat-load's schema.
    #[serde(skip)]
    pub load: Option<Report>,
    /// chat-load's report exactly as printed.
    #[serde(rename = "chat_load")]
    pub raw_load: Option<serde_json::Value>,
    /// A short "what went wrong" line; `None` when server and tool both behaved.
    pub failure: Option<String>,
    /// How the server ended (after our SIGTERM unless it died first).
    pub server_end: Option<String>,
    #[serde(flatten)]
    pub cgroup: CgroupStats,
    /// Seconds from server start to server gone.
    pub wall_secs: f64,
}

/// The figures read off chat-load's report (`None` without one); the server's are those
/// chat-load sampled from /proc.
impl StepResult {
    pub fn load(&self) -> Option<&Report> {
        self.load.as_ref()
    }

    pub fn server(&self) -> Option<&ServerReport> {
        self.load()?.server.as_ref()
    }

    /// End-to-end latency of the deliveries.
    pub fn latency(&self) -> Option<&LatencySummary> {
        self.load()?.latency_us.as_ref()
    }

    pub fn rss_peak_kb(&self) -> Option<f64> {
        self.server().map(|s| s.rss_peak_kb as f64)
    }

    /// p99 send-to-receive latency, µs.
    pub fn p99_us(&self) -> Option<f64> {
        self.latency().map(|l| l.p99 as f64)
    }

    /// Deliveries received ÷ expected.
    pub fn delivered(&self) -> Option<f64> {
        self.load()?.delivered_fraction
    }

    /// Server CPU µs per delivery received.
    pub fn cpu_us_per_delivery(&self) -> Option<f64> {
        cpu_us_per_delivery(self.load()?)
    }

    /// Every server of the step (one, or each of several).
    pub fn servers(&self) -> Vec<&ServerReport> {
        let Some(load) = self.load() else {
            return Vec::new();
        };
        if load.servers.is_empty() {
            load.server.iter().collect()
        } else {
            load.servers.iter().collect()
        }
    }

    pub fn redis(&self) -> Option<&ServerReport> {
        self.load()?.redis.as_ref()
    }

    pub fn churn(&self) -> Option<&ChurnReport> {
        self.load()?.churn.as_ref()
    }

    pub fn restart(&self) -> Option<&RestartReport> {
        self.load()?.restart.as_ref()
    }

    pub fn search_storm(&self) -> Option<&SearchStormReport> {
        self.load()?.search_storm.as_ref()
    }

    pub fn resume_bomb(&self) -> Option<&BurstReport> {
        self.load()?.resume_bomb.as_ref()
    }

    /// The TLS handshake storms, in order: first, resumed, full.
    pub fn storm_rounds(&self) -> &[StormRound] {
        let storm = self.load().and_then(|load| load.storm.as_ref());
        storm.map_or(&[], |storm| &storm.rounds)
    }
}

/// Everything a report needs about one run. Its fields are those of `results.json` (the steps
/// are written there with a few derived figures of their own).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// `--quick` or the full ladder.
    pub quick: bool,
    /// When the run started.
    pub date: String,
    pub machine: Machine,
    pub memory_limit: MemoryLimit,
    /// The server flags of every step besides `--mode` and its room's log.
    pub server_flags: Vec<String>,
    /// Where each event step's SQLite file was made (and deleted).
    pub db_dir: String,
    /// Where the steps' server and chat-load logs went; `None` in the records of runs from
    /// before it was written down, and then not written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<String>,
    /// Seconds the whole ladder took.
    pub total_secs: f64,
    /// One result per step, in run order.
    #[serde(rename = "steps", skip_serializing)]
    pub results: Vec<StepResult>,
}

/// The memory limit the servers ran under: whether it applied, the limit either way, and in
/// words whether it applied and, if not, why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryLimit {
    pub applied: bool,
    pub limit_bytes: u64,
    pub detail: String,
}

/// The steps of `ladder`, in run order.
pub fn of_ladder(results: &[StepResult], ladder: Ladder) -> impl Iterator<Item = &StepResult> {
    let of = move |r: &&StepResult| r.step.workload.ladder == ladder;
    results.iter().filter(of)
}

/// The step of `ladder` (and `clients`, when given) the side-by-side tables show for `mode`:
/// event on its file, threads in memory, first run.
pub fn find(
    results: &[StepResult],
    ladder: Ladder,
    clients: Option<u32>,
    mode: ServerMode,
) -> Option<&StepResult> {
    of_ladder(results, ladder).find(|r| {
        r.step.is_side_by_side()
            && r.step.server_mode == mode
            && clients.is_none_or(|c| r.step.workload.clients == c)
    })
}

/// Every run of `ladder` (and `clients`, when given) against the event server with `log`, in
/// run order.
pub fn event_runs(
    results: &[StepResult],
    ladder: Ladder,
    clients: Option<u32>,
    log: RoomLog,
) -> Vec<&StepResult> {
    let event_on_log = |r: &&StepResult| {
        r.step.server_mode == ServerMode::Event
            && r.step.room_log == log
            && clients.is_none_or(|c| r.step.workload.clients == c)
    };
    of_ladder(results, ladder).filter(event_on_log).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::ladder;
    use crate::load::tests::FANOUT_FIXTURE;

    fn step(ladder: Ladder, clients: u32, mode: ServerMode, log: RoomLog, run: u32) -> Step {
        ladder::steps(false)
            .into_iter()
            .find(|s| {
                s.workload.ladder == ladder
                    && s.workload.clients == clients
                    && s.server_mode == mode
                    && s.room_log == log
                    && s.run == run
            })
            .expect("step exists in the full ladder")
    }

    /// A result whose chat-load output is the schema fixture with `edits` applied, run with
    /// the mode's side-by-side log.
    pub(crate) fn fixture(
        ladder: Ladder,
        clients: u32,
        mode: ServerMode,
        edits: serde_json::Value,
    ) -> StepResult {
        fixture_run(ladder, clients, mode, RoomLog::of(mode), 1, edits)
    }

    /// As [`fixture`], for run `run` with the room log given.
    pub(crate) fn fixture_run(
        ladder: Ladder,
        clients: u32,
        mode: ServerMode,
        log: RoomLog,
        run: u32,
        edits: serde_json::Value,
    ) -> StepResult {
        let mut raw: serde_json::Value = serde_json::from_str(FANOUT_FIXTURE).unwrap();
        merge(&mut raw, &edits);
        let load: Report = serde_json::from_value(raw.clone()).unwrap_or_else(|err| {
            panic!("fixture with {edits} is not a valid chat-load report: {err}")
        });
        StepResult {
            step: step(ladder, clients, mode, log, run),
            port: Some(5002),
            load: Some(load),
            raw_load: Some(raw),
            failure: None,
            server_end: Some("exit 0 after SIGTERM".into()),
            cgroup: CgroupStats {
                peak_bytes: Some(30 << 20),
                oom_kills: Some(0),
            },
            wall_secs: 7.0,
        }
    }

    fn merge(base: &mut serde_json::Value, edits: &serde_json::Value) {
        if let (Some(base), Some(edits)) = (base.as_object_mut(), edits.as_object()) {
            for (key, value) in edits {
                match base.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
    }

    /// A churn step whose server RSS after round `i + 1` was `rss_kb[i]`.
    pub(crate) fn churn_fixture(mode: ServerMode, rounds_asked: u32, rss_kb: &[u64]) -> StepResult {
        let rounds: Vec<serde_json::Value> = rss_kb
            .iter()
            .zip(1..)
            .map(|(kb, round)| json!({"round": round, "connected": 300, "rss_kb": kb}))
            .collect();
        let opened = 300 * rounds.len();
        fixture(
            Ladder::Churn,
            300,
            mode,
            json!({
                "mode": "churn", "clients": 300, "connected": 300, "hold": null, "slow": null,
                "rate_per_sender": null,
                "churn": {"connections_opened": opened, "lifetime_secs": null,
                          "rounds_asked": rounds_asked, "rounds": rounds},
            }),
        )
    }

    /// The restart step, with its restart section as `restart` (merged over a clean one).
    pub(crate) fn restart_fixture(restart: serde_json::Value) -> StepResult {
        let mut section = json!({
            "kill_at_secs": 5.0, "restart_after_secs": 1.0, "log_messages": 790, "lost": 0,
            "duplicated": 0, "out_of_order": 0, "unlogged": 0, "resumed": 500, "replayed": 2400, "not_back": 0,
            "reconnect_attempts": 2500, "replay_skipped": 0, "sends_skipped": 80,
            "reconnect_us": {"p50": 1_150_000, "p90": 1_300_000, "p99": 1_390_000,
                             "p999": 1_400_000, "max": 1_400_000, "count": 500},
        });
        merge(&mut section, &restart);
        fixture(
            Ladder::Restart,
            500,
            ServerMode::Event,
            json!({
                "mode": "restart", "clients": 500, "connected": 500, "hold": null, "slow": null,
                "server": null, "messages_sent": 800, "deliveries_expected": 395_000,
                "deliveries_received": 395_000, "restart": section, "errors": [],
            }),
        )
    }

    /// The storm step of 10,000 desks: three rounds, every handshake done, `resumed` of them
    /// resumed in the second, whose p99 is `resumed_p99_us`.
    pub(crate) fn storm_fixture(resumed: u64, resumed_p99_us: u64) -> StepResult {
        let round = |name: &str, resumed: u64, p99: u64, cpu: f64| {
            json!({
                "name": name, "clients": 10_000, "handshakes": 10_000, "resumed": resumed,
                "answered": 10_000, "failures": {},
                "handshake_us": {"p50": p99 / 2, "p90": p99 * 9 / 10, "p99": p99, "p999": p99,
                                 "max": p99, "count": 10_000},
                "server_cpu_secs": cpu, "load_cpu_secs": 2.0, "wall_secs": 4.0,
                "server_rss_kb": 11_000, "server_rss_peak_kb": 11_500,
            })
        };
        fixture(
            Ladder::TlsStorm,
            10_000,
            ServerMode::Event,
            json!({
                "mode": "storm", "clients": 10_000, "connected": 10_000, "hold": null, "slow": null,
                "server": null, "messages_sent": 0, "deliveries_expected": 0,
                "deliveries_received": 0, "errors": [], "latency_us": null,
                "storm": {"rounds": [
                    round("first", 0, 340_000, 1.4),
                    round("resumed", resumed, resumed_p99_us, 1.2),
                    round("full", 0, 290_000, 1.4),
                ]},
            }),
        )
    }

    /// A step that failed without figures.
    pub(crate) fn failed(ladder: Ladder, clients: u32, mode: ServerMode, why: &str) -> StepResult {
        StepResult {
            load: None,
            raw_load: None,
            failure: Some(why.into()),
            ..fixture(ladder, clients, mode, json!({}))
        }
    }

    /// A run of `results` on a fixed machine and date.
    pub(crate) fn record(results: Vec<StepResult>) -> RunRecord {
        RunRecord {
            quick: false,
            date: "2025-01-01 00:00 UTC".into(),
            machine: Machine {
                kernel: "Linux 6.1".into(),
                cores: 2,
                memory_mib: Some(1024),
                cpu_model: None,
                tcp_wmem: None,
            },
            memory_limit: MemoryLimit {
                applied: true,
                limit_bytes: 1 << 30,
                detail: "yes".into(),
            },
            server_flags: ["--host", "127.0.0.1", "--port", "0"]
                .map(String::from)
                .to_vec(),
            db_dir: "/tmp".into(),
            log_dir: None,
            results,
            total_secs: 100.0,
        }
    }

    #[test]
    fn figures_read_off_the_fixture() {
        let result = fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({}));
        assert_eq!(result.rss_peak_kb(), Some(20000.0));
        assert_eq!(result.p99_us(), Some(900.0));
        assert_eq!(result.delivered(), Some(1.0));
        let failed = failed(Ladder::Fanout, 1000, ServerMode::Event, "gone");
        assert_eq!(failed.rss_peak_kb(), None);
        assert_eq!(failed.cpu_us_per_delivery(), None);
    }

    #[test]
    fn churn_rounds_read_off_the_fixture() {
        let result = churn_fixture(ServerMode::Event, 60, &[4000, 4100, 5000]);
        let churn = result.churn().unwrap();
        assert_eq!(churn.rounds.len(), 3);
        assert_eq!(churn.rss_after(2), Some(4100));
        assert!(fixture(Ladder::Fanout, 100, ServerMode::Event, json!({}))
            .churn()
            .is_none());
    }

    #[test]
    fn find_matches_ladder_size_and_mode() {
        let results = vec![
            fixture(Ladder::Fanout, 100, ServerMode::Event, json!({})),
            fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({})),
            fixture(Ladder::Fanout, 1000, ServerMode::Threads, json!({})),
        ];
        let found = find(&results, Ladder::Fanout, Some(1000), ServerMode::Threads).unwrap();
        assert_eq!(found.step.id(), "fanout-1000-threads");
        let first = find(&results, Ladder::Fanout, None, ServerMode::Event).unwrap();
        assert_eq!(first.step.workload.clients, 100);
        assert!(find(&results, Ladder::Idle, None, ServerMode::Event).is_none());
    }

    #[test]
    fn find_takes_event_on_its_log_first_run_and_event_runs_take_them_all() {
        let run = |log, run| {
            fixture_run(
                Ladder::Saturate,
                500,
                ServerMode::Event,
                log,
                run,
                json!({}),
            )
        };
        let results = vec![
            run(RoomLog::Memory, 1),
            run(RoomLog::File, 2),
            run(RoomLog::File, 1),
            run(RoomLog::Memory, 2),
        ];
        let found = find(&results, Ladder::Saturate, None, ServerMode::Event).unwrap();
        assert_eq!(found.step.id(), "saturate-500-event");
        let ids = |log| -> Vec<String> {
            event_runs(&results, Ladder::Saturate, Some(500), log)
                .iter()
                .map(|r| r.step.id())
                .collect()
        };
        assert_eq!(
            ids(RoomLog::File),
            ["saturate-500-event-2", "saturate-500-event"]
        );
        assert_eq!(
            ids(RoomLog::Memory),
            ["saturate-500-event-db-none", "saturate-500-event-db-none-2"]
        );
    }

    #[test]
    fn restart_figures_read_off_the_fixture() {
        let result = restart_fixture(json!({"lost": 3}));
        let restart = result.restart().unwrap();
        assert_eq!((restart.lost, restart.duplicated), (3, 0));
        assert_eq!(restart.reconnect_us.unwrap().p50, 1_150_000);
    }
}
