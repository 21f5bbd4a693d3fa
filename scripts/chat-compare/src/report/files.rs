//! `results.json` and `results.csv`: the rows the data files are made of, written with serde
//! (and the csv crate), and `results.json` read back into the record it was written from, so
//! the report can be rendered again without a run (`chat-compare --render`).

use serde::{Deserialize, Serialize};

use super::cells::what_happened;
use super::targets::{check_targets, TargetCheck};
use crate::cgroup::CgroupStats;
use crate::ladder::{Ladder, LoadMode, RestartTiming, RoomLog, ServerMode, Step};
use crate::model::{RunRecord, StepResult};

/// `results.json`: the run, the target verdicts, and every step with chat-load's output as
/// printed.
#[derive(Serialize)]
struct ResultsFile<'a> {
    generator: &'static str,
    #[serde(flatten)]
    record: &'a RunRecord,
    targets: Vec<TargetCheck>,
    steps: Vec<StepRow>,
}

/// `results.json` as read back: what is not derived from the rest.
#[derive(Deserialize)]
struct ResultsIn {
    #[serde(flatten)]
    record: RunRecord,
    steps: Vec<StepRow>,
}

/// One step in `results.json`: the step as run, what came of it, and chat-load's output as
/// printed. The id, the total rate and "what happened" are derived, and not read back.
#[derive(Serialize, Deserialize)]
struct StepRow {
    #[serde(flatten)]
    step: Step,
    #[serde(skip_deserializing)]
    id: String,
    #[serde(skip_deserializing)]
    total_rate: f64,
    kill_at_secs: Option<f64>,
    restart_after_secs: Option<f64>,
    port: Option<u16>,
    failure: Option<String>,
    #[serde(skip_deserializing)]
    what_happened: Vec<String>,
    server_end: Option<String>,
    cgroup_peak_bytes: Option<u64>,
    cgroup_oom_kills: Option<u64>,
    wall_secs: f64,
    chat_load: Option<serde_json::Value>,
}

impl StepRow {
    fn of(r: &StepResult) -> StepRow {
        let restart = r.step.workload.restart;
        StepRow {
            step: r.step.clone(),
            id: r.step.id(),
            total_rate: r.step.workload.total_rate(),
            kill_at_secs: restart.map(|t| t.kill_at_secs),
            restart_after_secs: restart.map(|t| t.restart_after_secs),
            port: r.port,
            failure: r.failure.clone(),
            what_happened: what_happened(r),
            server_end: r.server_end.clone(),
            cgroup_peak_bytes: r.cgroup.as_ref().and_then(|c| c.peak_bytes),
            cgroup_oom_kills: r.cgroup.as_ref().and_then(|c| c.oom_kills),
            wall_secs: r.wall_secs,
            chat_load: r.raw_load.clone(),
        }
    }

    fn into_result(self) -> Result<StepResult, String> {
        let load = match &self.chat_load {
            Some(raw) => Some(serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?),
            None => None,
        };
        let mut step = self.step;
        step.workload.restart = (self.kill_at_secs.zip(self.restart_after_secs)).map(
            |(kill_at_secs, restart_after_secs)| RestartTiming {
                kill_at_secs,
                restart_after_secs,
            },
        );
        let (peak_bytes, oom_kills) = (self.cgroup_peak_bytes, self.cgroup_oom_kills);
        Ok(StepResult {
            step,
            port: self.port,
            load,
            raw_load: self.chat_load,
            failure: self.failure,
            server_end: self.server_end,
            cgroup: (peak_bytes.is_some() || oom_kills.is_some()).then_some(CgroupStats {
                peak_bytes,
                oom_kills,
            }),
            wall_secs: self.wall_secs,
        })
    }
}

/// `results.json`, its keys sorted (as a `serde_json::Value` has them) so runs diff well.
pub fn render_json(record: &RunRecord) -> serde_json::Value {
    let file = ResultsFile {
        generator: "chat-compare",
        record,
        targets: check_targets(&record.results),
        steps: record.results.iter().map(StepRow::of).collect(),
    };
    serde_json::to_value(file).expect("the results are plain data")
}

/// Reads a `results.json` back into the record it was written from.
pub fn read_record(text: &str) -> Result<RunRecord, String> {
    let file: ResultsIn = serde_json::from_str(text).map_err(|err| err.to_string())?;
    let mut record = file.record;
    record.results = (file.steps.into_iter())
        .map(StepRow::into_result)
        .collect::<Result<_, _>>()?;
    Ok(record)
}

/// One line of `results.csv`. The CSV is flat and its columns are its format, so this row
/// holds all 57 of them; the csv crate can write neither a nested struct's headers nor a
/// flattened one, so they cannot be grouped. Missing figures are empty cells.
#[derive(Serialize)]
struct CsvRow<'a> {
    step: usize,
    id: String,
    ladder: Ladder,
    server_mode: ServerMode,
    load_mode: LoadMode,
    clients: u32,
    senders: u32,
    rate_per_sender: f64,
    total_rate: f64,
    payload_bytes: u32,
    slow_clients: u32,
    duration_secs: f64,
    failure: Option<&'a str>,
    connected: Option<usize>,
    connect_failures: Option<usize>,
    delivered_fraction: Option<f64>,
    deliveries_expected: Option<u64>,
    deliveries_received: Option<u64>,
    deliveries_per_sec: Option<f64>,
    p50_us: Option<u64>,
    p90_us: Option<u64>,
    p99_us: Option<u64>,
    p999_us: Option<u64>,
    max_us: Option<u64>,
    rss_peak_kb: Option<u64>,
    rss_end_kb: Option<u64>,
    threads_peak: Option<u64>,
    cpu_secs: Option<f64>,
    cpu_us_per_delivery: Option<f64>,
    slow_dropped: Option<u64>,
    disconnected_early: Option<u64>,
    cgroup_peak_bytes: Option<u64>,
    oom_kills: Option<u64>,
    server_end: Option<&'a str>,
    wall_secs: f64,
    rounds: Option<u32>,
    rounds_done: Option<usize>,
    rss_after_round_1_kb: Option<u64>,
    rss_after_last_round_kb: Option<u64>,
    room_log: RoomLog,
    run: u32,
    log_messages: Option<u64>,
    lost: Option<u64>,
    duplicated: Option<u64>,
    out_of_order: Option<u64>,
    unlogged: Option<u64>,
    replayed: Option<u64>,
    resumed: Option<u64>,
    not_back: Option<u64>,
    away_p50_us: Option<u64>,
    away_max_us: Option<u64>,
    tls: bool,
    servers: u32,
    tls_handshake_p50_us: Option<u64>,
    redis_cpu_secs: Option<f64>,
    redis_rss_peak_kb: Option<u64>,
    order_receivers_differing: Option<u64>,
}

impl<'a> CsvRow<'a> {
    fn of(r: &'a StepResult) -> CsvRow<'a> {
        let (step, w) = (&r.step, &r.step.workload);
        let report = r.load();
        let latency = r.latency();
        let server = r.server();
        let restart = r.restart();
        let away = restart.and_then(|x| x.reconnect_us);
        let churn = r.churn();
        CsvRow {
            step: step.number,
            id: step.id(),
            ladder: w.ladder,
            server_mode: step.server_mode,
            load_mode: w.load_mode,
            clients: w.clients,
            senders: w.senders,
            rate_per_sender: w.rate_per_sender,
            total_rate: w.total_rate(),
            payload_bytes: w.payload_bytes,
            slow_clients: w.slow_clients,
            duration_secs: w.duration_secs,
            failure: r.failure.as_deref(),
            connected: report.map(|l| l.connected),
            connect_failures: report.map(|l| l.connect_failures),
            delivered_fraction: r.delivered(),
            deliveries_expected: report.map(|l| l.deliveries_expected),
            deliveries_received: report.map(|l| l.deliveries_received),
            deliveries_per_sec: report.map(|l| l.deliveries_per_sec),
            p50_us: latency.map(|l| l.p50),
            p90_us: latency.map(|l| l.p90),
            p99_us: latency.map(|l| l.p99),
            p999_us: latency.map(|l| l.p999),
            max_us: latency.map(|l| l.max),
            rss_peak_kb: server.map(|s| s.rss_peak_kb),
            rss_end_kb: server.map(|s| s.rss_end_kb),
            threads_peak: server.map(|s| s.threads_peak),
            cpu_secs: server.map(|s| s.cpu_secs),
            cpu_us_per_delivery: r.cpu_us_per_delivery(),
            slow_dropped: report.and_then(|l| l.slow.as_ref()).map(|s| s.slow_dropped),
            disconnected_early: report.map(|l| l.disconnected_early),
            cgroup_peak_bytes: r.cgroup.as_ref().and_then(|c| c.peak_bytes),
            oom_kills: r.cgroup.as_ref().and_then(|c| c.oom_kills),
            server_end: r.server_end.as_deref(),
            // Two decimals, as the seconds a step took are worth.
            wall_secs: (r.wall_secs * 100.0).round() / 100.0,
            rounds: w.rounds,
            rounds_done: churn.map(|c| c.rounds.len()),
            rss_after_round_1_kb: churn.and_then(|c| c.rss_after(1)),
            rss_after_last_round_kb: churn.and_then(|c| c.rss_curve()).map(|c| c.last.1),
            room_log: step.room_log,
            run: step.run,
            log_messages: restart.map(|x| x.log_messages),
            lost: restart.map(|x| x.lost),
            duplicated: restart.map(|x| x.duplicated),
            out_of_order: restart.map(|x| x.out_of_order),
            unlogged: restart.map(|x| x.unlogged),
            replayed: restart.map(|x| x.replayed),
            resumed: restart.map(|x| x.resumed),
            not_back: restart.map(|x| x.not_back),
            away_p50_us: away.map(|a| a.p50),
            away_max_us: away.map(|a| a.max),
            tls: step.tls,
            servers: step.server_count,
            tls_handshake_p50_us: report.and_then(|l| l.tls_handshake_us).map(|a| a.p50),
            redis_cpu_secs: r.redis().map(|x| x.cpu_secs),
            redis_rss_peak_kb: r.redis().map(|x| x.rss_peak_kb),
            order_receivers_differing: report
                .and_then(|l| l.order.as_ref())
                .map(|o| o.receivers_differing),
        }
    }
}

/// `results.csv`: a header and one row per step.
pub fn render_csv(results: &[StepResult]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for result in results {
        writer
            .serialize(CsvRow::of(result))
            .expect("a row of plain data");
    }
    let bytes = writer.into_inner().expect("writing to memory");
    String::from_utf8(bytes).expect("every field is a Rust string")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::tests::{failed, fixture, record, restart_fixture};
    use crate::report::targets::tests::log_cost_results;

    #[test]
    fn csv_and_json_name_the_room_log_and_the_restart_figures() {
        let mut results = log_cost_results([800, 800], [1.1, 1.1]);
        results.push(restart_fixture(json!({"lost": 4})));
        let text = render_csv(&results);
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(rows[0][at("room_log")], "file");
        assert_eq!(rows[1][at("room_log")], "memory");
        assert_eq!(rows[3][at("id")], "fanout-1000-event-db-none-2");
        assert_eq!(rows[3][at("run")], "2");
        assert_eq!(rows[8][at("lost")], "4");
        assert_eq!(rows[8][at("away_p50_us")], "1150000");
        let value = render_json(&record(results));
        assert_eq!(value["steps"][1]["room_log"], "memory");
        assert_eq!(value["steps"][3]["run"], 2);
        assert_eq!(value["steps"][8]["kill_at_secs"], 5.0);
        assert_eq!(value["db_dir"], "/tmp");
    }

    #[test]
    fn csv_has_a_row_per_step_and_quotes_commas() {
        let results = vec![
            fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({})),
            failed(Ladder::Fanout, 1000, ServerMode::Threads, "a, b"),
        ];
        let text = render_csv(&results);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let columns = lines[0].split(',').count();
        assert_eq!(columns, 57);
        assert_eq!(lines[1].split(',').count(), columns);
        assert!(lines[2].contains("\"a, b\""));
    }

    #[test]
    fn json_keeps_the_raw_tool_output() {
        let value = render_json(&record(vec![fixture(
            Ladder::Fanout,
            1000,
            ServerMode::Event,
            json!({"new_field": 7}),
        )]));
        assert_eq!(value["steps"][0]["chat_load"]["new_field"], 7);
        assert_eq!(value["memory_limit"]["applied"], true);
    }
}
