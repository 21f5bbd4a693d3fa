//! `results.json` and `results.csv`: the step rows written with serde, the CSV's columns picked
//! from the same rows by one list (and written by the csv crate), and `results.json` read back
//! into the record it was written from, so the report can be rendered again without a run
//! (`chat-compare --render`).

use serde::Serialize;

use super::cells::what_happened;
use super::targets::{check_targets, TargetCheck};
use crate::model::{RunRecord, StepResult};

/// `results.json`: the run, the target verdicts, and every step with chat-load's output as
/// printed.
#[derive(Serialize)]
struct ResultsFile<'a> {
    generator: &'static str,
    #[serde(flatten)]
    record: &'a RunRecord,
    targets: Vec<TargetCheck>,
    steps: Vec<StepRow<'a>>,
}

/// One step in `results.json`: the step, what came of it, and the figures derived from them
/// (which are not read back).
#[derive(Serialize)]
struct StepRow<'a> {
    #[serde(flatten)]
    result: &'a StepResult,
    id: String,
    total_rate: f64,
    what_happened: Vec<String>,
}

impl StepRow<'_> {
    fn of(result: &StepResult) -> StepRow<'_> {
        StepRow {
            result,
            id: result.step.id(),
            total_rate: result.step.workload.total_rate(),
            what_happened: what_happened(result),
        }
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

/// Reads a `results.json` back into the record it was written from; chat-load's output is read
/// into its report type as strictly as during the run.
pub fn read_record(text: &str) -> Result<RunRecord, String> {
    let mut record: RunRecord = serde_json::from_str(text).map_err(|err| err.to_string())?;
    for result in &mut record.results {
        let raw = result.raw_load.clone();
        result.load = raw
            .map(serde_json::from_value)
            .transpose()
            .map_err(|err| err.to_string())?;
    }
    Ok(record)
}

/// The columns of `results.csv`, in order: each a name and where its value is in the step's
/// row of `results.json` (a JSON pointer; `/chat_load` is chat-load's output as printed). The
/// CSV is flat and its column names are its format, so they are listed here rather than made
/// from nested keys. [`csv_row`] adds the figures the row does not hold.
const CSV_COLUMNS: [(&str, &str); 57] = [
    ("step", "/number"),
    ("id", "/id"),
    ("ladder", "/ladder"),
    ("server_mode", "/server_mode"),
    ("load_mode", "/load_mode"),
    ("clients", "/clients"),
    ("senders", "/senders"),
    ("rate_per_sender", "/rate_per_sender"),
    ("total_rate", "/total_rate"),
    ("payload_bytes", "/payload_bytes"),
    ("slow_clients", "/slow_clients"),
    ("duration_secs", "/duration_secs"),
    ("failure", "/failure"),
    ("connected", "/chat_load/connected"),
    ("connect_failures", "/chat_load/connect_failures"),
    ("delivered_fraction", "/chat_load/delivered_fraction"),
    ("deliveries_expected", "/chat_load/deliveries_expected"),
    ("deliveries_received", "/chat_load/deliveries_received"),
    ("deliveries_per_sec", "/chat_load/deliveries_per_sec"),
    ("p50_us", "/chat_load/latency_us/p50"),
    ("p90_us", "/chat_load/latency_us/p90"),
    ("p99_us", "/chat_load/latency_us/p99"),
    ("p999_us", "/chat_load/latency_us/p999"),
    ("max_us", "/chat_load/latency_us/max"),
    ("rss_peak_kb", "/chat_load/server/rss_peak_kb"),
    ("rss_end_kb", "/chat_load/server/rss_end_kb"),
    ("threads_peak", "/chat_load/server/threads_peak"),
    ("cpu_secs", "/chat_load/server/cpu_secs"),
    ("cpu_us_per_delivery", "/csv/cpu_us_per_delivery"),
    ("slow_dropped", "/chat_load/slow/slow_dropped"),
    ("disconnected_early", "/chat_load/disconnected_early"),
    ("cgroup_peak_bytes", "/cgroup_peak_bytes"),
    ("oom_kills", "/cgroup_oom_kills"),
    ("server_end", "/server_end"),
    ("wall_secs", "/csv/wall_secs"),
    ("rounds", "/rounds"),
    ("rounds_done", "/csv/rounds_done"),
    ("rss_after_round_1_kb", "/csv/rss_after_round_1_kb"),
    ("rss_after_last_round_kb", "/csv/rss_after_last_round_kb"),
    ("room_log", "/room_log"),
    ("run", "/run"),
    ("log_messages", "/chat_load/restart/log_messages"),
    ("lost", "/chat_load/restart/lost"),
    ("duplicated", "/chat_load/restart/duplicated"),
    ("out_of_order", "/chat_load/restart/out_of_order"),
    ("unlogged", "/chat_load/restart/unlogged"),
    ("replayed", "/chat_load/restart/replayed"),
    ("resumed", "/chat_load/restart/resumed"),
    ("not_back", "/chat_load/restart/not_back"),
    ("away_p50_us", "/chat_load/restart/reconnect_us/p50"),
    ("away_max_us", "/chat_load/restart/reconnect_us/max"),
    ("tls", "/tls"),
    ("servers", "/server_count"),
    ("tls_handshake_p50_us", "/chat_load/tls_handshake_us/p50"),
    ("redis_cpu_secs", "/chat_load/redis/cpu_secs"),
    ("redis_rss_peak_kb", "/chat_load/redis/rss_peak_kb"),
    (
        "order_receivers_differing",
        "/chat_load/order/receivers_differing",
    ),
];

/// A step's row of `results.json` with, under `csv`, the figures only the CSV has: those
/// computed from chat-load's output, and the seconds the step took to two decimals, as they
/// are worth.
fn csv_row(r: &StepResult) -> serde_json::Value {
    let mut row = serde_json::to_value(StepRow::of(r)).expect("the results are plain data");
    let churn = r.churn();
    row["csv"] = serde_json::json!({
        "cpu_us_per_delivery": r.cpu_us_per_delivery(),
        "wall_secs": (r.wall_secs * 100.0).round() / 100.0,
        "rounds_done": churn.map(|c| c.rounds.len()),
        "rss_after_round_1_kb": churn.and_then(|c| c.rss_after(1)),
        "rss_after_last_round_kb": churn.and_then(|c| c.rss_curve()).map(|c| c.last.1),
    });
    row
}

/// `results.csv`: a header and one row per step; a missing figure is an empty cell.
pub fn render_csv(results: &[StepResult]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = CSV_COLUMNS.map(|(name, _)| name);
    writer.write_record(header).expect("writing to memory");
    for row in results.iter().map(csv_row) {
        let cells = CSV_COLUMNS.map(|(_, at)| match row.pointer(at) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(value) => value.to_string(),
        });
        writer.write_record(cells).expect("writing to memory");
    }
    let bytes = writer.into_inner().expect("writing to memory");
    String::from_utf8(bytes).expect("every field is a Rust string")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ladder::{Ladder, ServerMode};
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
