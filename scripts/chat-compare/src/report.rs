//! The report files: `report.md` (tables with event and threads side by side, ratios, the cost
//! of the durable log, the restart scenario, "what happened" lines and the target checks),
//! `results.csv` (one row per step) and `results.json` (step metadata plus every chat-load
//! output as printed). Rendering is pure text from a
//! `RunRecord` so it is unit-tested with fixture results; only `write_all` touches the disk.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use chat_load::report::ChurnReport;
use chat_load::stats::LatencySummary;
use serde_json::json;

use crate::cgroup::MEMORY_LIMIT_BYTES;
use crate::ladder::{log_cost_runs, Ladder, RoomLog, ServerMode, LOG_COST_RUNS};
use crate::model::{
    event_runs, find, RunRecord, StepResult, CPU_PER_DELIVERY_MAX_SHARE, FANOUT_P99_TARGET_US,
    FANOUT_TARGET_CLIENTS, IDLE_RSS_TARGET_KB, IDLE_TARGET_CLIENTS, LOG_COST_MAX_FACTOR,
    SLOW_P99_MAX_FACTOR, SLOW_RSS_ALLOWANCE_KB, TLS_CPU_MAX_FACTOR, TLS_IDLE_RSS_TARGET_KB,
    TLS_IDLE_TARGET_CLIENTS,
};

const NOT_AVAILABLE: &str = "n/a";

// ---------------------------------------------------------------- formatting helpers

fn ms(us: Option<f64>) -> Option<String> {
    us.map(|us| {
        let ms = us / 1000.0;
        if ms >= 100.0 {
            format!("{ms:.0}")
        } else if ms >= 10.0 {
            format!("{ms:.1}")
        } else {
            format!("{ms:.2}")
        }
    })
}

fn mib(kib: Option<f64>) -> Option<String> {
    kib.map(|kib| format!("{:.1}", kib / 1024.0))
}

/// A fraction as a percentage that never rounds a loss up to 100%.
pub fn percent(fraction: Option<f64>) -> Option<String> {
    fraction.map(|f| {
        if f >= 1.0 {
            "100%".to_string()
        } else {
            format!("{:.2}%", (f * 10_000.0).floor() / 100.0)
        }
    })
}

/// Large rates in k/M so the table stays narrow.
fn rate(value: Option<f64>) -> Option<String> {
    value.map(|v| {
        if v >= 1e6 {
            format!("{:.2}M", v / 1e6)
        } else if v >= 1e3 {
            format!("{:.1}k", v / 1e3)
        } else {
            format!("{v:.0}")
        }
    })
}

fn secs(value: f64) -> String {
    format!("{value:.2}")
}

/// `threads / event` as `3.2×`.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> String {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => {
            let r = n / d;
            if r >= 10.0 {
                format!("{r:.0}×")
            } else {
                format!("{r:.2}×")
            }
        }
        _ => NOT_AVAILABLE.into(),
    }
}

// ---------------------------------------------------------------- per-step figures

fn connected_text(result: &StepResult) -> Option<String> {
    let connected = result.load()?.connected;
    // What we asked for, not what the tool echoes back.
    let wanted = result.step.workload.clients;
    Some(if connected >= wanted as usize {
        format!("{connected}")
    } else {
        format!("{connected}/{wanted}")
    })
}

/// "event / threads" in one cell. A missing step is "–", a failed step without figures is
/// "failed", a missing figure is "n/a".
fn pair<F>(event: Option<&StepResult>, threads: Option<&StepResult>, figure: F) -> String
where
    F: Fn(&StepResult) -> Option<String>,
{
    let cell = |result: Option<&StepResult>| match result {
        None => "–".to_string(),
        Some(r) if r.load.is_none() && r.failure.is_some() => "failed".to_string(),
        Some(r) => figure(r).unwrap_or_else(|| NOT_AVAILABLE.into()),
    };
    format!("{} / {}", cell(event), cell(threads))
}

/// What went wrong or was partial in a step; empty when it was clean.
pub fn what_happened(result: &StepResult) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(failure) = &result.failure {
        lines.push(format!("failed: {failure}"));
    }
    let Some(report) = result.load() else {
        if result.failure.is_none() {
            lines.push("no figures from chat-load".into());
        }
        return lines;
    };
    // What we asked for, not what the tool echoes back.
    let wanted = result.step.workload.clients;
    if report.connected < wanted as usize {
        let mut text = format!("connected {}/{wanted}", report.connected);
        let errors: Vec<String> = report
            .connect_errors
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(name, n)| format!("{name} ×{n}"))
            .collect();
        if !errors.is_empty() {
            let _ = write!(text, " ({})", errors.join(", "));
        }
        lines.push(text);
    }
    if let Some(fraction) = report.delivered_fraction.filter(|&f| f < 1.0) {
        lines.push(format!(
            "delivered {} ({} of {} deliveries)",
            percent(Some(fraction)).unwrap_or_default(),
            report.deliveries_received,
            report.deliveries_expected,
        ));
    }
    let slow_dropped = report.slow.as_ref().map_or(0, |s| s.slow_dropped);
    // The slow reader being dropped is the point of the slow step, not a failure.
    if report.disconnected_early > slow_dropped {
        lines.push(format!(
            "{} clients disconnected early",
            report.disconnected_early
        ));
    }
    if let Some(slow) = &report.slow {
        if slow.slow_dropped < slow.slow_clients {
            lines.push(format!(
                "slow reader not dropped by the end ({} of {} dropped)",
                slow.slow_dropped, slow.slow_clients
            ));
        }
    }
    if let Some((first, rest)) = report.errors.split_first() {
        let suffix = if rest.is_empty() {
            String::new()
        } else {
            format!(" (+{} more)", rest.len())
        };
        lines.push(format!("chat-load says: {first}{suffix}"));
    }
    lines
}

// ---------------------------------------------------------------- progress

/// One stderr line after a step.
pub fn progress_summary(result: &StepResult) -> String {
    let mut parts = Vec::new();
    if let Some(report) = result.load() {
        parts.push(format!(
            "connected {}/{}",
            report.connected, result.step.workload.clients
        ));
        if let Some(text) = percent(report.delivered_fraction) {
            parts.push(format!("delivered {text}"));
        }
        if let Some(text) = ms(result.p99_us()) {
            parts.push(format!("p99 {text} ms"));
        }
        if let Some(text) = mib(result.rss_peak_kb()) {
            parts.push(format!("rss {text} MiB"));
        }
        if let Some(restart) = result.restart() {
            parts.push(format!(
                "lost {}, duplicated {}, out of order {}, away p50 {} ms",
                restart.lost,
                restart.duplicated,
                restart.out_of_order,
                or_na(ms(restart.reconnect_us.map(|r| r.p50 as f64)))
            ));
        }
        if let Some(curve) = result.churn().and_then(ChurnReport::rss_curve) {
            parts.push(format!(
                "rss after round {} {} MiB, after round {} {} MiB",
                curve.first[0].0,
                or_na(mib(Some(curve.first[0].1 as f64))),
                curve.last.0,
                or_na(mib(Some(curve.last.1 as f64)))
            ));
        }
    }
    if let Some(failure) = &result.failure {
        parts.push(format!("FAILED: {failure}"));
    }
    format!("{} ({:.1} s)", parts.join(", "), result.wall_secs)
}

// ---------------------------------------------------------------- targets

/// Outcome of one target check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every condition held.
    Met,
    /// At least one condition failed or a needed figure was missing.
    NotMet,
    /// The run did not include the step (e.g. `--quick`).
    NotMeasured,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "**not met**",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One target with its verdict and the figures behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCheck {
    /// The target as stated in the issue.
    pub target: String,
    /// Met or not.
    pub verdict: Verdict,
    /// The figures, in words.
    pub detail: String,
}

fn verdict_of(conditions: &[Option<bool>]) -> Verdict {
    if conditions.iter().all(|c| *c == Some(true)) {
        Verdict::Met
    } else {
        Verdict::NotMet
    }
}

fn or_na(text: Option<String>) -> String {
    text.unwrap_or_else(|| NOT_AVAILABLE.into())
}

/// All of a room got the final broadcast: the delivered fraction, or when the tool gives none
/// for hold mode, every client still alive.
fn all_received(result: &StepResult) -> Option<bool> {
    let report = result.load()?;
    if let Some(hold) = &report.hold {
        return Some(hold.alive >= u64::from(result.step.workload.clients));
    }
    report.delivered_fraction.map(|fraction| fraction >= 1.0)
}

/// Hold mode: how many received the final broadcast, "N" when all did, else "N/M".
fn alive_text(result: &StepResult) -> Option<String> {
    let alive = result.load()?.hold.as_ref()?.alive;
    let wanted = result.step.workload.clients;
    Some(if alive >= u64::from(wanted) {
        format!("{alive}")
    } else {
        format!("{alive}/{wanted}")
    })
}

fn clean(result: &StepResult) -> Option<bool> {
    Some(result.failure.is_none())
}

/// Checks the event-mode targets of the issue.
pub fn check_targets(results: &[StepResult]) -> Vec<TargetCheck> {
    vec![
        check_idle(results),
        check_fanout(results),
        check_cpu(results),
        check_slow_reader(results),
        check_log_cost(results),
        check_restart(results),
        check_tls_idle(results),
        check_tls_cpu(results),
    ]
}

fn not_measured(target: String, why: &str) -> TargetCheck {
    TargetCheck {
        target,
        verdict: Verdict::NotMeasured,
        detail: why.into(),
    }
}

fn check_idle(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "{IDLE_TARGET_CLIENTS} idle clients all receive the final broadcast, server peak RSS ≤ {:.0} MiB",
        IDLE_RSS_TARGET_KB / 1024.0
    );
    let Some(event) = find(
        results,
        Ladder::Idle,
        Some(IDLE_TARGET_CLIENTS),
        ServerMode::Event,
    ) else {
        return not_measured(target, "no 10,000-client idle step in this run");
    };
    let rss = event.rss_peak_kb();
    let conditions = [
        clean(event),
        all_received(event),
        rss.map(|kb| kb <= IDLE_RSS_TARGET_KB),
    ];
    let mut detail = format!(
        "connected {}, received the final broadcast {}, RSS peak {} MiB",
        or_na(connected_text(event)),
        or_na(alive_text(event)),
        or_na(mib(rss))
    );
    if let Some(failure) = &event.failure {
        let _ = write!(detail, "; failed: {failure}");
    }
    TargetCheck {
        target,
        verdict: verdict_of(&conditions),
        detail,
    }
}

fn check_fanout(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "fanout {FANOUT_TARGET_CLIENTS} clients × 200 msg/s total: 100% delivered, p99 ≤ {:.0} ms",
        FANOUT_P99_TARGET_US / 1000.0
    );
    let Some(event) = find(
        results,
        Ladder::Fanout,
        Some(FANOUT_TARGET_CLIENTS),
        ServerMode::Event,
    ) else {
        return not_measured(target, "no 1000-client fanout step in this run");
    };
    let conditions = [
        clean(event),
        event.delivered().map(|f| f >= 1.0),
        event.p99_us().map(|us| us <= FANOUT_P99_TARGET_US),
    ];
    let detail = format!(
        "delivered {}, p99 {} ms, {} deliveries/s",
        or_na(percent(event.delivered())),
        or_na(ms(event.p99_us())),
        or_na(rate(event.load().map(|r| r.deliveries_per_sec)))
    );
    TargetCheck {
        target,
        verdict: verdict_of(&conditions),
        detail,
    }
}

fn check_cpu(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "saturating step: event CPU per delivery ≤ {CPU_PER_DELIVERY_MAX_SHARE}× threads mode, everything delivered"
    );
    let (Some(event), Some(threads)) = (
        find(results, Ladder::Saturate, None, ServerMode::Event),
        find(results, Ladder::Saturate, None, ServerMode::Threads),
    ) else {
        return not_measured(target, "no saturating step in this run");
    };
    let event_cpu = event.cpu_us_per_delivery();
    let threads_cpu = threads.cpu_us_per_delivery();
    let share = match (event_cpu, threads_cpu) {
        (Some(e), Some(t)) if t > 0.0 => Some(e / t),
        _ => None,
    };
    let conditions = [
        clean(event),
        event.delivered().map(|f| f >= 1.0),
        share.map(|s| s <= CPU_PER_DELIVERY_MAX_SHARE),
    ];
    let workload = &event.step.workload;
    let detail = format!(
        "{} clients, {:.0} msg/s: event {} µs/delivery vs threads {} µs/delivery (event/threads {}); delivered {}",
        workload.clients,
        workload.total_rate(),
        or_na(event_cpu.map(|v| format!("{v:.2}"))),
        or_na(threads_cpu.map(|v| format!("{v:.2}"))),
        ratio(event_cpu, threads_cpu),
        pair(Some(event), Some(threads), |r| percent(r.delivered())),
    );
    TargetCheck {
        target,
        verdict: verdict_of(&conditions),
        detail,
    }
}

/// The slow-reader figures of one mode: p99 factor, dropped, RSS growth.
struct SlowComparison {
    p99_factor: Option<f64>,
    dropped: Option<bool>,
    rss_growth_kb: Option<f64>,
    text: String,
}

fn compare_slow(results: &[StepResult], mode: ServerMode) -> Option<SlowComparison> {
    let base = find(results, Ladder::SlowBaseline, None, mode)?;
    let slow = find(results, Ladder::SlowReader, None, mode)?;
    let p99_factor = match (slow.p99_us(), base.p99_us()) {
        (Some(s), Some(b)) if b > 0.0 => Some(s / b),
        _ => None,
    };
    let dropped = slow
        .load()
        .and_then(|r| r.slow.as_ref())
        .map(|s| s.slow_dropped >= s.slow_clients.max(1));
    let rss_growth_kb = match (slow.rss_peak_kb(), base.rss_peak_kb()) {
        (Some(s), Some(b)) => Some(s - b),
        _ => None,
    };
    let mut text = format!(
        "{mode}: p99 {} ms with vs {} ms without ({}), slow reader dropped: {}, RSS peak {} vs {} MiB, others delivered {}",
        or_na(ms(slow.p99_us())),
        or_na(ms(base.p99_us())),
        ratio(slow.p99_us(), base.p99_us()),
        match dropped {
            Some(true) => "yes",
            Some(false) => "no",
            None => NOT_AVAILABLE,
        },
        or_na(mib(slow.rss_peak_kb())),
        or_na(mib(base.rss_peak_kb())),
        or_na(percent(slow.delivered())),
    );
    if let Some(failure) = &slow.failure {
        let _ = write!(text, "; failed: {failure}");
    }
    Some(SlowComparison {
        p99_factor,
        dropped,
        rss_growth_kb,
        text,
    })
}

fn check_slow_reader(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "one slow reader: others' p99 ≤ {SLOW_P99_MAX_FACTOR}× the run without it, slow one dropped, server memory bounded (RSS peak ≤ +{:.0} MiB)",
        SLOW_RSS_ALLOWANCE_KB / 1024.0
    );
    let Some(event) = compare_slow(results, ServerMode::Event) else {
        return not_measured(target, "no slow-reader pair in this run");
    };
    let slow_clean = find(results, Ladder::SlowReader, None, ServerMode::Event).and_then(clean);
    let conditions = [
        slow_clean,
        event.p99_factor.map(|f| f <= SLOW_P99_MAX_FACTOR),
        event.dropped,
        event.rss_growth_kb.map(|kb| kb <= SLOW_RSS_ALLOWANCE_KB),
    ];
    let mut detail = event.text;
    if let Some(threads) = compare_slow(results, ServerMode::Threads) {
        let _ = write!(detail, ". For comparison, {}", threads.text);
    }
    TargetCheck {
        target,
        verdict: verdict_of(&conditions),
        detail,
    }
}

/// One figure of the event server on its log and with `--db none`: every run of each, same
/// workload, same run of the comparison.
struct LogCost {
    /// What is compared, for the table.
    label: String,
    /// The figure of each run on the log, in run order.
    with_log: Vec<f64>,
    /// The figure of each run with `--db none`.
    without: Vec<f64>,
    /// Met when every run was clean and the median on the log is within
    /// [`LOG_COST_MAX_FACTOR`] of the median without; not measured when the pair is not in
    /// this run.
    verdict: Verdict,
}

impl LogCost {
    /// Median on the log ÷ median without.
    fn factor(&self) -> Option<f64> {
        match (median(&self.with_log), median(&self.without)) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        }
    }
}

/// The middle value (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[mid]),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
    }
}

/// Fanout p99 at the fanout target's room and CPU per delivery at saturation, log vs none.
fn log_costs(results: &[StepResult]) -> Vec<LogCost> {
    let cost = |label: String,
                ladder: Ladder,
                clients: Option<u32>,
                figure: fn(&StepResult) -> Option<f64>| {
        let with_log = event_runs(results, ladder, clients, RoomLog::File);
        let without = event_runs(results, ladder, clients, RoomLog::Memory);
        let values = |runs: &[&StepResult]| runs.iter().filter_map(|r| figure(r)).collect();
        let mut cost = LogCost {
            label,
            with_log: values(&with_log),
            without: values(&without),
            verdict: Verdict::NotMeasured,
        };
        if !with_log.is_empty() && !without.is_empty() {
            let clean_runs = with_log.iter().chain(&without).map(|r| clean(r));
            let conditions: Vec<Option<bool>> = clean_runs
                .chain([cost.factor().map(|f| f <= LOG_COST_MAX_FACTOR)])
                .collect();
            cost.verdict = verdict_of(&conditions);
        }
        cost
    };
    let saturate = results
        .iter()
        .find(|r| r.step.workload.ladder == Ladder::Saturate)
        .map(|r| &r.step.workload);
    let saturate_label = saturate.map_or_else(
        || "saturating step: CPU µs per delivery".to_string(),
        |w| {
            format!(
                "saturating, {} clients × {:.0} msg/s: CPU µs per delivery",
                w.clients,
                w.total_rate()
            )
        },
    );
    vec![
        cost(
            format!("fanout {FANOUT_TARGET_CLIENTS} clients × 200 msg/s: p99 ms"),
            Ladder::Fanout,
            Some(FANOUT_TARGET_CLIENTS),
            |r| r.p99_us().map(|us| us / 1000.0),
        ),
        cost(
            saturate_label,
            Ladder::Saturate,
            None,
            StepResult::cpu_us_per_delivery,
        ),
    ]
}

/// `median (run 1, run 2, ...)`, two decimals.
fn runs_text(values: &[f64]) -> String {
    match median(values) {
        None => NOT_AVAILABLE.to_string(),
        Some(mid) => {
            let each: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
            format!("{mid:.2} ({})", each.join(", "))
        }
    }
}

fn check_log_cost(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "durable log: fanout {FANOUT_TARGET_CLIENTS} p99 and saturating CPU per delivery with the log ≤ {LOG_COST_MAX_FACTOR}× `--db none` (medians of the runs of each)"
    );
    let costs = log_costs(results);
    let detail = costs
        .iter()
        .map(|c| {
            format!(
                "{}: {} with the log vs {} without ({})",
                c.label,
                runs_text(&c.with_log),
                runs_text(&c.without),
                ratio(median(&c.with_log), median(&c.without))
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let verdict = if costs.iter().any(|c| c.verdict == Verdict::NotMeasured) {
        Verdict::NotMeasured
    } else if costs.iter().all(|c| c.verdict == Verdict::Met) {
        Verdict::Met
    } else {
        Verdict::NotMet
    };
    TargetCheck {
        target,
        verdict,
        detail,
    }
}

fn check_restart(results: &[StepResult]) -> TargetCheck {
    let target = "restart: server killed with SIGKILL mid-run and started again on its log; every client resumes, lost 0, duplicated 0, out of order 0, nothing delivered missing from the log".to_string();
    let Some(step) = find(results, Ladder::Restart, None, ServerMode::Event) else {
        return not_measured(target, "no restart step in this run");
    };
    let restart = step.restart();
    let conditions = [
        clean(step),
        restart.map(|r| r.lost == 0 && r.duplicated == 0 && r.out_of_order == 0),
        restart.map(|r| r.unlogged == 0),
        restart.map(|r| r.not_back == 0),
    ];
    let mut detail = match restart {
        Some(r) => format!(
            "{} clients, killed at {} s, down {} s: lost {}, duplicated {}, out of order {}, delivered but not in the log {}; {} resumed, {} not back, away p50 {} ms, max {} ms; {} deliveries came in a replay",
            step.step.workload.clients,
            r.kill_at_secs,
            r.restart_after_secs,
            r.lost,
            r.duplicated,
            r.out_of_order,
            r.unlogged,
            r.resumed,
            r.not_back,
            or_na(ms(r.reconnect_us.map(|a| a.p50 as f64))),
            or_na(ms(r.reconnect_us.map(|a| a.max as f64))),
            r.replayed,
        ),
        None => "no restart figures from chat-load".into(),
    };
    if let Some(failure) = &step.failure {
        let _ = write!(detail, "; failed: {failure}");
    }
    TargetCheck {
        target,
        verdict: verdict_of(&conditions),
        detail,
    }
}

// ---------------------------------------------------------------- TLS and Redis

/// One figure of the event server with every desk on TLS and with plain desks: every run of
/// each, same workload, same run of the comparison.
struct TlsCost {
    /// What is compared, for the table.
    label: String,
    /// The figure of each TLS run, in run order.
    tls: Vec<f64>,
    /// The figure of each plain run.
    plain: Vec<f64>,
    /// The most TLS ÷ plain may be, when this figure has a target.
    max_factor: Option<f64>,
    /// Met when every run was clean and the ratio of the medians is within `max_factor`; not
    /// measured when the pair is not in this run or has no target.
    verdict: Verdict,
}

/// The TLS runs of `ladder` (its TLS twin) and the plain runs of the same workload on the log.
fn tls_cost(
    results: &[StepResult],
    label: String,
    (plain_ladder, tls_ladder): (Ladder, Ladder),
    clients: Option<u32>,
    figure: fn(&StepResult) -> Option<f64>,
    max_factor: Option<f64>,
) -> TlsCost {
    let plain = event_runs(results, plain_ladder, clients, RoomLog::File);
    let tls: Vec<&StepResult> = results
        .iter()
        .filter(|r| {
            r.step.workload.ladder == tls_ladder
                && clients.is_none_or(|c| r.step.workload.clients == c)
        })
        .collect();
    let values = |runs: &[&StepResult]| runs.iter().filter_map(|r| figure(r)).collect();
    let mut cost = TlsCost {
        label,
        tls: values(&tls),
        plain: values(&plain),
        max_factor,
        verdict: Verdict::NotMeasured,
    };
    if let (Some(max), false, false) = (max_factor, tls.is_empty(), plain.is_empty()) {
        let factor = match (median(&cost.tls), median(&cost.plain)) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b <= max),
            _ => None,
        };
        let conditions: Vec<Option<bool>> = tls
            .iter()
            .chain(&plain)
            .map(|r| clean(r))
            .chain([factor])
            .collect();
        cost.verdict = verdict_of(&conditions);
    }
    cost
}

/// The room size of a ladder's first step, if it ran.
fn first_size(results: &[StepResult], ladder: Ladder) -> Option<u32> {
    results
        .iter()
        .find(|r| r.step.workload.ladder == ladder)
        .map(|r| r.step.workload.clients)
}

/// Fanout p99 at the fanout target's room, and p99 and CPU per delivery at saturation, TLS vs
/// plain (the idle room's memory is a target of its own, [`check_tls_idle`]).
fn tls_costs(results: &[StepResult]) -> Vec<TlsCost> {
    let p99_ms = |r: &StepResult| r.p99_us().map(|us| us / 1000.0);
    let saturate = results
        .iter()
        .find(|r| r.step.workload.ladder == Ladder::TlsSaturate)
        .map(|r| {
            format!(
                "saturating, {} clients × {:.0} msg/s",
                r.step.workload.clients,
                r.step.workload.total_rate()
            )
        })
        .unwrap_or_else(|| "saturating step".into());
    vec![
        tls_cost(
            results,
            format!("fanout {FANOUT_TARGET_CLIENTS} clients × 200 msg/s: p99 ms"),
            (Ladder::Fanout, Ladder::TlsFanout),
            Some(FANOUT_TARGET_CLIENTS),
            p99_ms,
            None,
        ),
        tls_cost(
            results,
            format!("{saturate}: p99 ms"),
            (Ladder::Saturate, Ladder::TlsSaturate),
            None,
            p99_ms,
            None,
        ),
        tls_cost(
            results,
            format!("{saturate}: CPU µs per delivery"),
            (Ladder::Saturate, Ladder::TlsSaturate),
            None,
            StepResult::cpu_us_per_delivery,
            Some(TLS_CPU_MAX_FACTOR),
        ),
    ]
}

fn check_tls_idle(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "TLS: {TLS_IDLE_TARGET_CLIENTS} idle desks on TLS, peak RSS ≤ {:.0} MiB, all get the final broadcast",
        TLS_IDLE_RSS_TARGET_KB / 1024.0
    );
    let Some(tls) = results.iter().find(|r| {
        r.step.workload.ladder == Ladder::TlsIdle
            && r.step.workload.clients == TLS_IDLE_TARGET_CLIENTS
    }) else {
        return not_measured(target, "no TLS idle step of that size in this run");
    };
    let plain = find(
        results,
        Ladder::Idle,
        Some(TLS_IDLE_TARGET_CLIENTS),
        ServerMode::Event,
    );
    let rss = tls.rss_peak_kb();
    let detail = format!(
        "TLS {} MiB vs plain {} MiB ({} plain); TLS: {} of {} got the broadcast",
        or_na(mib(rss)),
        or_na(mib(plain.and_then(StepResult::rss_peak_kb))),
        ratio(rss, plain.and_then(StepResult::rss_peak_kb)),
        or_na(alive_text(tls)),
        TLS_IDLE_TARGET_CLIENTS
    );
    TargetCheck {
        target,
        verdict: verdict_of(&[
            clean(tls),
            all_received(tls),
            rss.map(|kb| kb <= TLS_IDLE_RSS_TARGET_KB),
        ]),
        detail,
    }
}

fn check_tls_cpu(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "TLS: CPU per delivery at saturation ≤ {TLS_CPU_MAX_FACTOR}× plain (medians of the runs of each)"
    );
    let Some(cost) = tls_costs(results)
        .into_iter()
        .find(|c| c.max_factor.is_some())
    else {
        return not_measured(target, "no TLS saturating step");
    };
    let detail = format!(
        "{}: TLS {} vs plain {} ({})",
        cost.label,
        runs_text(&cost.tls),
        runs_text(&cost.plain),
        ratio(median(&cost.tls), median(&cost.plain))
    );
    TargetCheck {
        target,
        verdict: cost.verdict,
        detail,
    }
}

/// TLS against plain: the idle room's memory, then each paired figure.
pub fn tls_table(results: &[StepResult]) -> String {
    let mut rows = Vec::new();
    if let Some(size) = first_size(results, Ladder::TlsIdle) {
        let tls = results
            .iter()
            .find(|r| r.step.workload.ladder == Ladder::TlsIdle);
        let plain = find(results, Ladder::Idle, Some(size), ServerMode::Event);
        let rss = |r: Option<&StepResult>| r.and_then(StepResult::rss_peak_kb);
        let check = check_tls_idle(results);
        rows.push(vec![
            format!("{size} idle clients: server peak RSS MiB (all got the broadcast: TLS {}, plain {})",
                or_na(tls.and_then(alive_text)), or_na(plain.and_then(alive_text))),
            or_na(mib(rss(tls))),
            or_na(mib(rss(plain))),
            ratio(rss(tls), rss(plain)),
            format!("≤ {:.0} MiB", TLS_IDLE_RSS_TARGET_KB / 1024.0),
            check.verdict.label().into(),
        ]);
        let handshakes = tls
            .and_then(StepResult::load)
            .and_then(|l| l.tls_handshake_us);
        if let Some(h) = handshakes {
            rows.push(vec![
                format!("{size} idle clients: TLS handshake p50 / p99 ms (all connecting at once)"),
                format!(
                    "{} / {}",
                    or_na(ms(Some(h.p50 as f64))),
                    or_na(ms(Some(h.p99 as f64)))
                ),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    for cost in tls_costs(results) {
        if cost.tls.is_empty() && cost.plain.is_empty() {
            continue;
        }
        rows.push(vec![
            cost.label,
            runs_text(&cost.tls),
            runs_text(&cost.plain),
            ratio(median(&cost.tls), median(&cost.plain)),
            cost.max_factor
                .map_or_else(|| "–".into(), |max| format!("≤ {max}×")),
            if cost.max_factor.is_some() {
                cost.verdict.label().into()
            } else {
                String::new()
            },
        ]);
    }
    table(
        &[
            "figure",
            "TLS: median (each run)",
            "plain: median (each run)",
            "TLS ÷ plain",
            "target",
            "result",
        ],
        &rows,
    )
}

/// CPU µs per delivery of all of a step's servers together, and each one's CPU seconds.
fn servers_cpu_text(result: &StepResult) -> Option<String> {
    let load = result.load()?;
    let servers = result.servers();
    if servers.is_empty() || load.deliveries_received == 0 {
        return None;
    }
    let total: f64 = servers.iter().map(|s| s.cpu_secs).sum();
    let each: Vec<String> = servers
        .iter()
        .map(|s| format!("{:.2}", s.cpu_secs))
        .collect();
    Some(format!(
        "{:.2} ({} s)",
        total * 1e6 / load.deliveries_received as f64,
        each.join(" + ")
    ))
}

/// One server on the embedded log, one on Redis, two sharing Redis, the same fanout.
pub fn scale_table(results: &[StepResult]) -> String {
    let Some(size) = first_size(results, Ladder::Scale) else {
        return "Not in this run.\n".into();
    };
    let embedded = find(results, Ladder::Fanout, Some(size), ServerMode::Event);
    let redis_rows = results
        .iter()
        .filter(|r| r.step.workload.ladder == Ladder::Scale);
    let rows: Vec<Vec<String>> = embedded
        .into_iter()
        .chain(redis_rows)
        .map(|r| {
            let failed = r.load().is_none();
            let cell = |text: Option<String>| {
                if failed {
                    "failed".to_string()
                } else {
                    or_na(text)
                }
            };
            let redis = r.redis();
            let deliveries = r.load().map_or(0, |l| l.deliveries_received);
            let order = r.load().and_then(|l| l.order.clone());
            vec![
                format!(
                    "{} server{}, {}",
                    r.step.server_count,
                    if r.step.server_count > 1 { "s" } else { "" },
                    if r.step.room_log == RoomLog::Redis {
                        "Redis stream"
                    } else {
                        "embedded log (SQLite)"
                    }
                ),
                cell(percent(r.delivered())),
                cell(ms(r.p99_us())),
                cell(servers_cpu_text(r)),
                if r.step.room_log == RoomLog::Redis {
                    cell(redis.filter(|_| deliveries > 0).map(|s| {
                        format!(
                            "{:.2} ({:.2} s)",
                            s.cpu_secs * 1e6 / deliveries as f64,
                            s.cpu_secs
                        )
                    }))
                } else {
                    "–".into()
                },
                if r.step.room_log == RoomLog::Redis {
                    cell(mib(redis.map(|s| s.rss_peak_kb as f64)))
                } else {
                    "–".into()
                },
                cell(order.map(|o| format!("{} of {}", o.receivers_differing, o.receivers))),
            ]
        })
        .collect();
    table(
        &[
            "servers, room's log",
            "delivered",
            "p99 ms",
            "server CPU µs per delivery, all servers (each one's CPU)",
            "Redis CPU µs per delivery (its CPU)",
            "Redis peak RSS MiB",
            "receivers that saw another order",
        ],
        &rows,
    )
}

// ---------------------------------------------------------------- markdown

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        headers.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// Distinct room sizes of a ladder, in run order.
fn sizes(results: &[StepResult], ladder: Ladder) -> Vec<u32> {
    let mut sizes: Vec<u32> = Vec::new();
    for result in results.iter().filter(|r| r.step.workload.ladder == ladder) {
        if !sizes.contains(&result.step.workload.clients) {
            sizes.push(result.step.workload.clients);
        }
    }
    sizes
}

/// The "what happened" list of the side-by-side steps of `ladders`.
fn happened_lines(results: &[StepResult], ladders: &[Ladder]) -> String {
    happened_lines_of(
        results
            .iter()
            .filter(|r| r.step.is_side_by_side() && ladders.contains(&r.step.workload.ladder)),
    )
}

/// The "what happened" list of `steps`.
fn happened_lines_of<'a>(steps: impl Iterator<Item = &'a StepResult>) -> String {
    let mut out = String::new();
    for result in steps {
        let lines = what_happened(result);
        if !lines.is_empty() {
            let _ = writeln!(
                out,
                "- {} clients, {} ({}): {}",
                result.step.workload.clients,
                result.step.server_label(),
                result.step.workload.ladder.name(),
                lines.join("; ")
            );
        }
    }
    if out.is_empty() {
        out.push_str("- every step completed cleanly\n");
    }
    format!("What happened:\n\n{out}")
}

/// The idle ladder: memory per connection.
pub fn idle_table(results: &[StepResult]) -> String {
    let rows: Vec<Vec<String>> = sizes(results, Ladder::Idle)
        .into_iter()
        .map(|clients| {
            let e = find(results, Ladder::Idle, Some(clients), ServerMode::Event);
            let t = find(results, Ladder::Idle, Some(clients), ServerMode::Threads);
            let per_client = |r: &StepResult| {
                r.rss_peak_kb()
                    .map(|kb| format!("{:.1}", kb / f64::from(clients)))
            };
            vec![
                clients.to_string(),
                pair(e, t, connected_text),
                pair(e, t, alive_text),
                pair(e, t, |r| mib(r.rss_peak_kb())),
                ratio(
                    t.and_then(StepResult::rss_peak_kb),
                    e.and_then(StepResult::rss_peak_kb),
                ),
                pair(e, t, per_client),
                pair(e, t, |r| Some(r.server()?.threads_peak.to_string())),
                pair(e, t, |r| Some(secs(r.server()?.cpu_secs))),
                pair(e, t, |r| {
                    r.cgroup
                        .as_ref()?
                        .peak_bytes
                        .map(|b| format!("{:.1}", b as f64 / 1_048_576.0))
                }),
            ]
        })
        .collect();
    table(
        &[
            "clients",
            "connected",
            "got final broadcast",
            "RSS peak MiB",
            "RSS threads/event",
            "KiB/client",
            "threads",
            "CPU s",
            "cgroup peak MiB",
        ],
        &rows,
    )
}

fn broadcast_row(label: String, e: Option<&StepResult>, t: Option<&StepResult>) -> Vec<String> {
    let latency_ms = |pick: fn(&LatencySummary) -> u64| {
        move |r: &StepResult| ms(r.latency().map(|l| pick(l) as f64))
    };
    vec![
        label,
        pair(e, t, connected_text),
        pair(e, t, |r| percent(r.delivered())),
        pair(e, t, |r| rate(r.load().map(|l| l.deliveries_per_sec))),
        pair(e, t, latency_ms(|l| l.p50)),
        pair(e, t, latency_ms(|l| l.p99)),
        pair(e, t, latency_ms(|l| l.max)),
        ratio(
            t.and_then(StepResult::p99_us),
            e.and_then(StepResult::p99_us),
        ),
        pair(e, t, |r| mib(r.rss_peak_kb())),
        pair(e, t, |r| Some(r.server()?.threads_peak.to_string())),
        pair(e, t, |r| Some(secs(r.server()?.cpu_secs))),
        pair(e, t, |r| r.cpu_us_per_delivery().map(|v| format!("{v:.2}"))),
        ratio(
            t.and_then(StepResult::cpu_us_per_delivery),
            e.and_then(StepResult::cpu_us_per_delivery),
        ),
    ]
}

const BROADCAST_HEADERS: [&str; 13] = [
    "clients",
    "connected",
    "delivered",
    "deliveries/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "p99 threads/event",
    "RSS peak MiB",
    "threads",
    "CPU s",
    "CPU µs/delivery",
    "CPU/delivery threads/event",
];

/// The fanout ladder (or the saturating step): delivery, latency, CPU.
pub fn broadcast_table(results: &[StepResult], ladder: Ladder) -> String {
    let rows: Vec<Vec<String>> = sizes(results, ladder)
        .into_iter()
        .map(|clients| {
            broadcast_row(
                clients.to_string(),
                find(results, ladder, Some(clients), ServerMode::Event),
                find(results, ladder, Some(clients), ServerMode::Threads),
            )
        })
        .collect();
    table(&BROADCAST_HEADERS, &rows)
}

/// The slow-reader pair: the same room without and with one reader that never reads.
pub fn slow_table(results: &[StepResult]) -> String {
    let mut rows = Vec::new();
    for (ladder, label) in [
        (Ladder::SlowBaseline, "without slow reader"),
        (Ladder::SlowReader, "with 1 slow reader"),
    ] {
        let e = find(results, ladder, None, ServerMode::Event);
        let t = find(results, ladder, None, ServerMode::Threads);
        let mut row = broadcast_row(label.to_string(), e, t);
        row.push(pair(e, t, |r| {
            let slow = r.load()?.slow.as_ref()?;
            Some(format!("{}/{}", slow.slow_dropped, slow.slow_clients))
        }));
        rows.push(row);
    }
    let mut headers = BROADCAST_HEADERS.to_vec();
    headers[0] = "run";
    headers.push("slow dropped");
    let mut out = table(&headers, &rows);
    let factor = |mode| {
        ratio(
            find(results, Ladder::SlowReader, None, mode).and_then(StepResult::p99_us),
            find(results, Ladder::SlowBaseline, None, mode).and_then(StepResult::p99_us),
        )
    };
    let _ = writeln!(
        out,
        "\np99 with / without the slow reader: event {}, threads {}.",
        factor(ServerMode::Event),
        factor(ServerMode::Threads)
    );
    out
}

/// The round whose RSS the churn table shows besides the first and the last.
const CHURN_MIDDLE_ROUND: u32 = 10;

/// The churn soak: the server's RSS after round 1, after round 10 and after the last round, the
/// growth between the first and the last, and the highest reading.
pub fn churn_table(results: &[StepResult]) -> String {
    let kib_text = |kb: Option<u64>| mib(kb.map(|kb| kb as f64));
    let rows: Vec<Vec<String>> = sizes(results, Ladder::Churn)
        .into_iter()
        .map(|clients| {
            let e = find(results, Ladder::Churn, Some(clients), ServerMode::Event);
            let t = find(results, Ladder::Churn, Some(clients), ServerMode::Threads);
            vec![
                clients.to_string(),
                pair(e, t, |r| {
                    let churn = r.churn()?;
                    Some(format!("{}/{}", churn.rounds.len(), churn.rounds_asked?))
                }),
                pair(e, t, connected_text),
                pair(e, t, |r| percent(r.delivered())),
                pair(e, t, |r| kib_text(r.churn()?.rss_after(1))),
                pair(e, t, |r| kib_text(r.churn()?.rss_after(CHURN_MIDDLE_ROUND))),
                pair(e, t, |r| kib_text(Some(r.churn()?.rss_curve()?.last.1))),
                pair(e, t, |r| {
                    let growth = r.churn()?.rss_curve()?.growth_kb();
                    Some(format!("{:+.1}", growth as f64 / 1024.0))
                }),
                pair(e, t, |r| kib_text(Some(r.churn()?.rss_curve()?.max.1))),
            ]
        })
        .collect();
    table(
        &[
            "clients per round",
            "rounds done",
            "connected (fewest in a round)",
            "delivered",
            "RSS after round 1 MiB",
            &format!("RSS after round {CHURN_MIDDLE_ROUND} MiB"),
            "RSS after last round MiB",
            "growth, round 1 to last, MiB",
            "highest RSS after a round MiB",
        ],
        &rows,
    )
}

/// The durable log's price: the event server on its log and with `--db none`, each run and
/// the medians side by side.
pub fn log_cost_table(results: &[StepResult]) -> String {
    let rows: Vec<Vec<String>> = log_costs(results)
        .into_iter()
        .map(|cost| {
            vec![
                cost.label,
                runs_text(&cost.with_log),
                runs_text(&cost.without),
                ratio(median(&cost.with_log), median(&cost.without)),
                format!("≤ {LOG_COST_MAX_FACTOR}×"),
                cost.verdict.label().into(),
            ]
        })
        .collect();
    table(
        &[
            "figure",
            "with the log (SQLite file): median (each run)",
            "`--db none`: median (each run)",
            "log ÷ none, medians",
            "target",
            "result",
        ],
        &rows,
    )
}

/// The restart scenario's one row: what the clients lost across a SIGKILL and a restart.
pub fn restart_table(results: &[StepResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .filter(|r| r.step.workload.ladder == Ladder::Restart)
        .map(|r| {
            let w = &r.step.workload;
            let cell = |figure: &dyn Fn(&chat_load::report::RestartReport) -> String| match (
                r.restart(),
                &r.failure,
            ) {
                (Some(restart), _) => figure(restart),
                (None, Some(_)) => "failed".to_string(),
                (None, None) => NOT_AVAILABLE.to_string(),
            };
            vec![
                w.clients.to_string(),
                format!("{} × {}", w.senders, w.rate_per_sender),
                cell(&|x| format!("{} s, down {} s", x.kill_at_secs, x.restart_after_secs)),
                cell(&|x| {
                    format!(
                        "{} / {}",
                        x.log_messages,
                        r.load().map_or(0, |l| l.messages_sent)
                    )
                }),
                or_na(percent(r.delivered())),
                cell(&|x| x.lost.to_string()),
                cell(&|x| x.duplicated.to_string()),
                cell(&|x| x.out_of_order.to_string()),
                cell(&|x| x.unlogged.to_string()),
                cell(&|x| x.replayed.to_string()),
                cell(&|x| format!("{}/{}", x.resumed, w.clients)),
                cell(&|x| {
                    format!(
                        "{} / {}",
                        or_na(ms(x.reconnect_us.map(|a| a.p50 as f64))),
                        or_na(ms(x.reconnect_us.map(|a| a.max as f64)))
                    )
                }),
            ]
        })
        .collect();
    table(
        &[
            "clients",
            "senders × msg/s",
            "SIGKILL at",
            "messages in the log / sent",
            "delivered",
            "lost",
            "duplicated",
            "out of order",
            "delivered, not in the log",
            "came in a replay",
            "resumed",
            "away p50 / max ms",
        ],
        &rows,
    )
}

fn ladder_description(results: &[StepResult], ladder: Ladder) -> String {
    let Some(first) = results.iter().find(|r| r.step.workload.ladder == ladder) else {
        return String::new();
    };
    let w = &first.step.workload;
    match ladder {
        Ladder::Idle => format!(
            "`chat-load hold`, {} s held, then one broadcast that every client should receive.",
            w.duration_secs
        ),
        Ladder::Restart => format!(
            "`chat-load restart`: chat-load starts the event server on a fresh SQLite file, {} clients join, {} of them send {:.0} msg/s in total for {} s. At {} s the server gets SIGKILL; {} s later it starts again on the same port and file. Every client reconnects (backoff from 50 ms, doubling, at most 400 ms, jittered), sends `/resume EPOCH LASTID`, ignores `MSG`/`HIST` until the `RESUME` reply, then counts both; senders skip their turns while down. After sending stops one more connection reads the log back with `/resume EPOCH 0`: a message in the log, stored after a client's first message, that the client never counted is lost; one a client counted that the log lacks, though older than its newest, was delivered and then lost by the log. \"Away\" is from a client finding its connection gone to the `RESUME` reply.",
            w.clients,
            w.senders,
            w.total_rate(),
            w.duration_secs,
            w.restart.map_or(0.0, |t| t.kill_at_secs),
            w.restart.map_or(0.0, |t| t.restart_after_secs),
        ),
        Ladder::Churn => format!(
            "`chat-load churn --rounds {}`: each round {} clients connect, each sends one {} B message at the same moment, the deliveries drain, and all close without `/quit`; the server's RSS is read from `/proc` 100 ms after each round's last close. Each mode stops after {} s even with rounds left (the round under way is finished).",
            w.rounds.unwrap_or(0),
            w.clients,
            w.payload_bytes,
            w.duration_secs
        ),
        _ => format!(
            "`chat-load {}`, {:.0} msg/s in total ({} senders × {:.3} msg/s, {} B payload), {} s per step.",
            w.load_mode.arg(),
            w.total_rate(),
            w.senders,
            w.rate_per_sender,
            w.payload_bytes,
            w.duration_secs
        ),
    }
}

/// The whole `report.md`.
pub fn render_markdown(record: &RunRecord) -> String {
    let results = &record.results;
    let mut out = String::new();
    let machine = &record.machine;
    let _ = writeln!(
        out,
        "# chat-server: event loop vs thread-per-client\n\n\
         Generated by `scripts/compare{}` (chat-compare) on {}. Do not edit by hand; rerun the script.\n",
        if record.quick { " --quick" } else { "" },
        record.date
    );
    let _ = writeln!(
        out,
        "- Machine: {}, {} cores{}, {} MiB RAM\n\
         - Memory limit ({} MiB like the target box): {}\n\
         - Server flags (both modes): `--mode event|threads {}`, defaults otherwise\n\
         - Room log: event mode keeps it durable as shipped, `--db FILE`, a fresh SQLite file per step in {}, deleted after the step; its log-cost runs use `--db none`. Threads mode keeps its room in memory (it refuses `--db`)\n\
         - One fresh server per step; chat-load runs on the same machine and competes for the same {} cores\n\
         - {} steps in {:.0} s\n",
        machine.kernel,
        machine.cores,
        machine
            .cpu_model
            .as_ref()
            .map_or(String::new(), |m| format!(" ({m})")),
        machine
            .memory_mib
            .map_or_else(|| NOT_AVAILABLE.to_string(), |m| m.to_string()),
        MEMORY_LIMIT_BYTES >> 20,
        record.memory_limit,
        record.server_flags.join(" "),
        record.db_dir,
        machine.cores,
        results.len(),
        record.total_secs
    );

    out.push_str("## Targets (event mode)\n\n");
    let rows: Vec<Vec<String>> = check_targets(results)
        .into_iter()
        .map(|check| vec![check.target, check.verdict.label().into(), check.detail])
        .collect();
    out.push_str(&table(&["target", "result", "figures"], &rows));

    out.push_str("\nEach cell below reads **event / threads**; ratios are threads ÷ event (above 1 means threads costs more). \"n/a\" means chat-load did not report that figure; \"failed\" means the step produced no figures.\n\n");

    let _ = writeln!(
        out,
        "## Idle clients\n\n{}\n\n{}\n{}\n![server RSS vs idle clients](idle_rss.svg)\n",
        ladder_description(results, Ladder::Idle),
        idle_table(results),
        happened_lines(results, &[Ladder::Idle])
    );
    let _ = writeln!(
        out,
        "## Fanout at a fixed total rate\n\n{}\n\n{}\n{}\n![p99 latency vs clients](fanout_p99.svg)\n\n![deliveries per second vs clients](fanout_throughput.svg)\n",
        ladder_description(results, Ladder::Fanout),
        broadcast_table(results, Ladder::Fanout),
        happened_lines(results, &[Ladder::Fanout])
    );
    let _ = writeln!(
        out,
        "## Saturating step: CPU per delivery\n\n{}\n\n{}\n{}",
        ladder_description(results, Ladder::Saturate),
        broadcast_table(results, Ladder::Saturate),
        happened_lines(results, &[Ladder::Saturate])
    );
    let _ = writeln!(
        out,
        "## Cost of the durable log\n\n\
         The event server as shipped (its log in a SQLite file) against the same server with `--db none`, same workload, alternating, {} runs each in this run of the comparison; the ratio is of the medians. Every other table shows the first run on the log.\n\n{}\n{}",
        log_cost_runs(record.quick),
        log_cost_table(results),
        happened_lines_of(results.iter().filter(|r| {
            !r.step.is_side_by_side() && !r.step.tls && r.step.room_log != RoomLog::Redis
        }))
    );
    let _ = writeln!(
        out,
        "## One slow reader\n\n{} The slow run adds one client that never reads; latency and delivery are the other clients'.\n\n{}\n{}",
        ladder_description(results, Ladder::SlowBaseline),
        slow_table(results),
        happened_lines(results, &[Ladder::SlowBaseline, Ladder::SlowReader])
    );
    let _ = writeln!(
        out,
        "## Churn soak: memory after rounds

{}

{}
{}
![server RSS after each churn round](churn_rss.svg)
",
        ladder_description(results, Ladder::Churn),
        churn_table(results),
        happened_lines(results, &[Ladder::Churn])
    );
    let _ = writeln!(
        out,
        "## TLS\n\n\
         The event server started with `--tls` (TLS and plain on one port, a self-signed certificate made at its start), every desk on TLS (`chat-load --tls`: rustls with ring, any certificate accepted but the handshake's signatures checked, no session resumption, so every desk pays a full handshake), next to the plain runs of the same workload on a server without `--tls`. The TLS runs of the fanout target's room and of the saturating step alternate with the plain ones ({} each); the ratio is of the medians.\n\n{}\n{}",
        log_cost_runs(record.quick),
        tls_table(results),
        happened_lines_of(results.iter().filter(|r| r.step.tls))
    );
    let _ = writeln!(
        out,
        "## Scale-out: one room over Redis\n\n\
         The fanout above ({}), on one event server with its embedded log (the fanout step's own figures), on one event server whose room's log is a Redis stream (`--redis URL --room NAME`), and on two such servers sharing the stream, the clients spread over them round robin (`chat-load --addr A,B`). Each step starts its own `redis-server` (127.0.0.1, a free port, `--save '' --appendonly no`) and stops it after. Server CPU is all chat servers' together per delivery; Redis's is its own, sampled from `/proc` like the servers'. The order check: every message must reach every receiver under the same ID, and each receiver's IDs must increase; a receiver that saw anything else counts.\n\n{}\n{}",
        first_size(results, Ladder::Scale).map_or_else(
            || "not in this run".to_string(),
            |size| format!("{size} clients, 200 msg/s")
        ),
        scale_table(results),
        happened_lines_of(
            results
                .iter()
                .filter(|r| r.step.workload.ladder == Ladder::Scale)
        )
    );
    let _ = writeln!(
        out,
        "## Restart: SIGKILL mid-run, resume\n\n{}\n\n{}\n{}",
        ladder_description(results, Ladder::Restart),
        restart_table(results),
        happened_lines(results, &[Ladder::Restart])
    );
    let tcp_wmem = machine.tcp_wmem.as_deref().map_or_else(
        || NOT_AVAILABLE.to_string(),
        |t| format!("min/default/max {t} bytes"),
    );
    out.push_str(&format!(
        "## How the figures are taken\n\n\
         - Latency, delivery and connection counts come from chat-load's clients (send timestamp to receive).\n\
         - RSS peak, thread count and CPU seconds (user + system) of the server are sampled by chat-load from `/proc/PID` (`--server-pid`); CPU µs/delivery = server CPU ÷ deliveries received.\n\
         - cgroup peak is the step cgroup's own high-water mark (includes kernel memory charged to it) when the limit applied. In the restart step chat-load starts the server, so chat-load and the server share the step's cgroup.\n\
         - The log's cost is the ratio of the medians of the runs with the log and without it, alternating ({LOG_COST_RUNS} each in the full run); on a shared 2-core box one run's p99 can be half again another's, so even the medians move by more than the 15% allowed from one comparison to the next, and a ratio near the line says little either way.\n\
         - The slow reader is dropped once the server's own queue for it passes `--max-queue` (256 KiB by default), but only after the kernel's send buffer for that socket is full; on loopback it autotunes up to `tcp_wmem` max ({tcp_wmem}), so a bounded step may end before the drop. Steps are short and other work on the machine (e.g. builds) shares the cores, so small-room p99 figures are noisy; compare orders of magnitude, not single milliseconds.\n\
         - TLS steps add `--tls` to the server's flags (its certificate is made at start and kept beside the step's log file) and `--tls` to chat-load's; the handshake times are chat-load's, from connect() to the handshake's end, with every client connecting at once. A `--tls` server waits for a connection's first byte before it serves it, so the plain figures come from servers without `--tls`.\n\
         - Redis steps give each server `--redis redis://127.0.0.1:PORT --room compare-STEP` in place of `--db`; chat-load samples every chat server (`--server-pid A,B`) and the redis-server (`--redis-pid`) from `/proc` over the measured phase, like the single server elsewhere.\n\
         - Raw data: `results.json` (every chat-load output plus step metadata), `results.csv` (one row per step). Server and chat-load logs of the last run: `target/compare-logs/`.\n",
    ));
    out
}

// ---------------------------------------------------------------- csv and json

const CSV_HEADER: &str = "step,id,ladder,server_mode,load_mode,clients,senders,rate_per_sender,total_rate,payload_bytes,slow_clients,duration_secs,failure,connected,connect_failures,delivered_fraction,deliveries_expected,deliveries_received,deliveries_per_sec,p50_us,p90_us,p99_us,p999_us,max_us,rss_peak_kb,rss_end_kb,threads_peak,cpu_secs,cpu_us_per_delivery,slow_dropped,disconnected_early,cgroup_peak_bytes,oom_kills,server_end,wall_secs,rounds,rounds_done,rss_after_round_1_kb,rss_after_last_round_kb,room_log,run,log_messages,lost,duplicated,out_of_order,unlogged,replayed,resumed,not_back,away_p50_us,away_max_us,tls,servers,tls_handshake_p50_us,redis_cpu_secs,redis_rss_peak_kb,order_receivers_differing";

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn num(value: Option<impl std::fmt::Display>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

/// `results.csv`: one row per step, empty cells for missing figures.
pub fn render_csv(results: &[StepResult]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for r in results {
        let w = &r.step.workload;
        let report = r.load.as_ref();
        let latency = report.and_then(|l| l.latency_us.as_ref());
        let server = report.and_then(|l| l.server.as_ref());
        let restart = r.restart();
        let fields = [
            r.step.number.to_string(),
            r.step.id(),
            w.ladder.name().into(),
            r.step.server_mode.flag().into(),
            w.load_mode.arg().into(),
            w.clients.to_string(),
            w.senders.to_string(),
            w.rate_per_sender.to_string(),
            w.total_rate().to_string(),
            w.payload_bytes.to_string(),
            w.slow_clients.to_string(),
            w.duration_secs.to_string(),
            csv_field(r.failure.as_deref().unwrap_or("")),
            num(report.map(|l| l.connected)),
            num(report.map(|l| l.connect_failures)),
            num(report.and_then(|l| l.delivered_fraction)),
            num(report.map(|l| l.deliveries_expected)),
            num(report.map(|l| l.deliveries_received)),
            num(report.map(|l| l.deliveries_per_sec)),
            num(latency.map(|l| l.p50)),
            num(latency.map(|l| l.p90)),
            num(latency.map(|l| l.p99)),
            num(latency.map(|l| l.p999)),
            num(latency.map(|l| l.max)),
            num(server.map(|s| s.rss_peak_kb)),
            num(server.map(|s| s.rss_end_kb)),
            num(server.map(|s| s.threads_peak)),
            num(server.map(|s| s.cpu_secs)),
            num(r.cpu_us_per_delivery()),
            num(report.and_then(|l| l.slow.as_ref()).map(|s| s.slow_dropped)),
            num(report.map(|l| l.disconnected_early)),
            r.cgroup
                .as_ref()
                .and_then(|c| c.peak_bytes)
                .map_or(String::new(), |b| b.to_string()),
            r.cgroup
                .as_ref()
                .and_then(|c| c.oom_kills)
                .map_or(String::new(), |n| n.to_string()),
            csv_field(r.server_end.as_deref().unwrap_or("")),
            format!("{:.2}", r.wall_secs),
            num(w.rounds),
            num(r.churn().map(|c| c.rounds.len())),
            num(r.churn().and_then(|c| c.rss_after(1))),
            num(r
                .churn()
                .and_then(|c| c.rss_curve())
                .map(|curve| curve.last.1)),
            r.step.room_log.name().into(),
            r.step.run.to_string(),
            num(restart.map(|x| x.log_messages)),
            num(restart.map(|x| x.lost)),
            num(restart.map(|x| x.duplicated)),
            num(restart.map(|x| x.out_of_order)),
            num(restart.map(|x| x.unlogged)),
            num(restart.map(|x| x.replayed)),
            num(restart.map(|x| x.resumed)),
            num(restart.map(|x| x.not_back)),
            num(restart.and_then(|x| x.reconnect_us).map(|a| a.p50)),
            num(restart.and_then(|x| x.reconnect_us).map(|a| a.max)),
            r.step.tls.to_string(),
            r.step.server_count.to_string(),
            num(report.and_then(|l| l.tls_handshake_us).map(|a| a.p50)),
            num(r.redis().map(|x| x.cpu_secs)),
            num(r.redis().map(|x| x.rss_peak_kb)),
            num(report
                .and_then(|l| l.order.as_ref())
                .map(|o| o.receivers_differing)),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// `results.json`: run metadata, target verdicts and each step with chat-load's output as printed.
pub fn render_json(record: &RunRecord) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = record
        .results
        .iter()
        .map(|r| {
            let w = &r.step.workload;
            json!({
                "number": r.step.number,
                "id": r.step.id(),
                "ladder": w.ladder.name(),
                "server_mode": r.step.server_mode.flag(),
                "room_log": r.step.room_log.name(),
                "tls": r.step.tls,
                "server_count": r.step.server_count,
                "run": r.step.run,
                "load_mode": w.load_mode.arg(),
                "clients": w.clients,
                "senders": w.senders,
                "rate_per_sender": w.rate_per_sender,
                "total_rate": w.total_rate(),
                "payload_bytes": w.payload_bytes,
                "slow_clients": w.slow_clients,
                "rounds": w.rounds,
                "kill_at_secs": w.restart.map(|t| t.kill_at_secs),
                "restart_after_secs": w.restart.map(|t| t.restart_after_secs),
                "duration_secs": w.duration_secs,
                "port": r.port,
                "failure": r.failure,
                "what_happened": what_happened(r),
                "server_end": r.server_end,
                "cgroup_peak_bytes": r.cgroup.as_ref().and_then(|c| c.peak_bytes),
                "cgroup_oom_kills": r.cgroup.as_ref().and_then(|c| c.oom_kills),
                "wall_secs": r.wall_secs,
                "chat_load": r.raw_load,
            })
        })
        .collect();
    let targets: Vec<serde_json::Value> = check_targets(&record.results)
        .into_iter()
        .map(|c| {
            json!({
                "target": c.target,
                "verdict": format!("{:?}", c.verdict),
                "detail": c.detail,
            })
        })
        .collect();
    json!({
        "generator": "chat-compare",
        "quick": record.quick,
        "date": record.date,
        "machine": record.machine,
        "memory_limit": {
            "applied": record.memory_limit_applied,
            "limit_bytes": MEMORY_LIMIT_BYTES,
            "detail": record.memory_limit,
        },
        "server_flags": record.server_flags,
        "db_dir": record.db_dir,
        "total_secs": record.total_secs,
        "targets": targets,
        "steps": steps,
    })
}

/// `results.json` as read back: what `render_json` wrote that is not derived from the rest.
#[derive(serde::Deserialize)]
struct RecordFile {
    quick: bool,
    date: String,
    machine: crate::machine::Machine,
    memory_limit: MemoryLimitFile,
    server_flags: Vec<String>,
    db_dir: String,
    total_secs: f64,
    steps: Vec<StepFile>,
}

#[derive(serde::Deserialize)]
struct MemoryLimitFile {
    applied: bool,
    detail: String,
}

#[derive(serde::Deserialize)]
struct StepFile {
    number: usize,
    id: String,
    port: Option<u16>,
    failure: Option<String>,
    server_end: Option<String>,
    cgroup_peak_bytes: Option<u64>,
    cgroup_oom_kills: Option<u64>,
    wall_secs: f64,
    chat_load: Option<serde_json::Value>,
}

/// Reads a `results.json` back into the record it was written from.
pub fn read_record(text: &str) -> Result<RunRecord, String> {
    let file: RecordFile = serde_json::from_str(text).map_err(|err| err.to_string())?;
    let ladder = crate::ladder::steps(file.quick);
    let mut results = Vec::new();
    for row in file.steps {
        let step = ladder
            .iter()
            .find(|s| s.id() == row.id)
            .ok_or_else(|| format!("step {} is not in this build's ladder", row.id))?;
        let load = match &row.chat_load {
            Some(raw) => Some(serde_json::from_value(raw.clone()).map_err(|err| err.to_string())?),
            None => None,
        };
        let cgroup = (row.cgroup_peak_bytes.is_some() || row.cgroup_oom_kills.is_some()).then_some(
            crate::cgroup::CgroupStats {
                peak_bytes: row.cgroup_peak_bytes,
                oom_kills: row.cgroup_oom_kills,
            },
        );
        results.push(StepResult {
            step: crate::ladder::Step {
                number: row.number,
                ..step.clone()
            },
            port: row.port,
            load,
            raw_load: row.chat_load,
            failure: row.failure,
            server_end: row.server_end,
            cgroup,
            wall_secs: row.wall_secs,
        });
    }
    Ok(RunRecord {
        quick: file.quick,
        date: file.date,
        machine: file.machine,
        memory_limit: file.memory_limit.detail,
        memory_limit_applied: file.memory_limit.applied,
        server_flags: file.server_flags,
        db_dir: file.db_dir,
        results,
        total_secs: file.total_secs,
    })
}

/// Writes `report.md`, `results.csv` and `results.json` into `out_dir`.
pub fn write_all(out_dir: &Path, record: &RunRecord) -> io::Result<()> {
    fs::write(out_dir.join("report.md"), render_markdown(record))?;
    fs::write(out_dir.join("results.csv"), render_csv(&record.results))?;
    let json = serde_json::to_string_pretty(&render_json(record)).map_err(io::Error::other)?;
    fs::write(out_dir.join("results.json"), json + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::{
        churn_fixture, failed, fixture, fixture_run, record, restart_fixture,
    };

    #[test]
    fn percent_never_rounds_a_loss_up() {
        assert_eq!(percent(Some(0.99999)).as_deref(), Some("99.99%"));
        assert_eq!(percent(Some(1.0)).as_deref(), Some("100%"));
        assert_eq!(percent(None), None);
    }

    #[test]
    fn ratio_formats_and_guards_zero() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), "1.50×");
        assert_eq!(ratio(Some(300.0), Some(2.0)), "150×");
        assert_eq!(ratio(Some(3.0), Some(0.0)), "n/a");
        assert_eq!(ratio(None, Some(2.0)), "n/a");
    }

    #[test]
    fn fanout_row_shows_both_modes_and_ratio() {
        let results = vec![
            fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({})),
            fixture(
                Ladder::Fanout,
                1000,
                ServerMode::Threads,
                json!({"latency_us": {"p99": 2700}, "server": {"threads_peak": 1001}}),
            ),
        ];
        let text = broadcast_table(&results, Ladder::Fanout);
        let row = text.lines().nth(2).unwrap();
        assert!(
            row.starts_with("| 1000 | 1000 / 1000 | 100% / 100% | 200.0k / 200.0k |"),
            "{row}"
        );
        assert!(row.contains("| 0.90 / 2.70 |"), "{row}");
        assert!(row.contains("| 3.00× |"), "{row}");
        assert!(row.contains("| 1 / 1001 |"), "{row}");
    }

    #[test]
    fn missing_mode_and_missing_figure_are_marked() {
        let results = vec![fixture(
            Ladder::Fanout,
            100,
            ServerMode::Event,
            json!({"latency_us": null}),
        )];
        let text = broadcast_table(&results, Ladder::Fanout);
        assert!(text.contains("| n/a / – |"), "{text}");
    }

    #[test]
    fn failed_step_shows_failed_and_what_happened() {
        let results = vec![
            fixture(Ladder::Idle, 10_000, ServerMode::Event, json!({})),
            failed(
                Ladder::Idle,
                10_000,
                ServerMode::Threads,
                "server killed (OOM)",
            ),
        ];
        let text = idle_table(&results);
        assert!(text.contains("| 1000/10000 / failed |"), "{text}");
        let happened = happened_lines(&results, &[Ladder::Idle]);
        assert!(happened.contains("- 10000 clients, threads (idle): failed: server killed (OOM)"));
        assert!(happened.contains("- 10000 clients, event (idle): connected 1000/10000"));
    }

    #[test]
    fn partial_connects_list_the_errors() {
        let result = fixture(
            Ladder::Idle,
            5000,
            ServerMode::Threads,
            json!({"clients": 5000, "connected": 3012, "connect_errors": {"ECONNREFUSED": 1988, "ETIMEDOUT": 0}, "errors": []}),
        );
        assert_eq!(
            what_happened(&result),
            vec!["connected 3012/5000 (ECONNREFUSED ×1988)".to_string()]
        );
    }

    #[test]
    fn dropped_slow_reader_is_not_an_early_disconnect() {
        let result = fixture(
            Ladder::SlowReader,
            1000,
            ServerMode::Event,
            json!({"disconnected_early": 1, "errors": []}),
        );
        assert!(what_happened(&result).is_empty());
    }

    #[test]
    fn idle_target_met() {
        let results = vec![fixture(
            Ladder::Idle,
            10_000,
            ServerMode::Event,
            json!({"clients": 10000, "connected": 10000, "hold": {"alive": 10000}}),
        )];
        let check = check_idle(&results);
        assert_eq!(check.verdict, Verdict::Met, "{}", check.detail);
        assert!(
            check.detail.contains("RSS peak 19.5 MiB"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn idle_target_counts_alive_clients() {
        let results = vec![fixture(
            Ladder::Idle,
            10_000,
            ServerMode::Event,
            json!({"clients": 10000, "connected": 10000, "delivered_fraction": 1.0, "hold": {"alive": 9999}}),
        )];
        assert_eq!(check_idle(&results).verdict, Verdict::NotMet);
    }

    #[test]
    fn idle_target_not_met_over_32_mib() {
        let results = vec![fixture(
            Ladder::Idle,
            10_000,
            ServerMode::Event,
            json!({"connected": 10000, "hold": {"alive": 10000}, "server": {"rss_peak_kb": 40000}}),
        )];
        assert_eq!(check_idle(&results).verdict, Verdict::NotMet);
    }

    #[test]
    fn fanout_target_needs_full_delivery() {
        let results = vec![fixture(
            Ladder::Fanout,
            1000,
            ServerMode::Event,
            json!({"delivered_fraction": 0.9999}),
        )];
        assert_eq!(check_fanout(&results).verdict, Verdict::NotMet);
    }

    #[test]
    fn fanout_target_met_at_fixture_figures() {
        let results = vec![fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({}))];
        assert_eq!(check_fanout(&results).verdict, Verdict::Met);
    }

    #[test]
    fn fanout_target_missing_latency_is_not_met() {
        let results = vec![fixture(
            Ladder::Fanout,
            1000,
            ServerMode::Event,
            json!({"latency_us": null}),
        )];
        assert_eq!(check_fanout(&results).verdict, Verdict::NotMet);
    }

    #[test]
    fn cpu_target_compares_per_delivery() {
        let mut results = vec![
            fixture(
                Ladder::Saturate,
                500,
                ServerMode::Event,
                json!({"server": {"cpu_secs": 1.0}}),
            ),
            fixture(
                Ladder::Saturate,
                500,
                ServerMode::Threads,
                json!({"server": {"cpu_secs": 2.0}}),
            ),
        ];
        assert_eq!(check_cpu(&results).verdict, Verdict::Met);
        results[1] = fixture(
            Ladder::Saturate,
            500,
            ServerMode::Threads,
            json!({"server": {"cpu_secs": 1.9}}),
        );
        assert_eq!(check_cpu(&results).verdict, Verdict::NotMet);
    }

    #[test]
    fn slow_target_checks_factor_drop_and_memory() {
        let base = fixture(Ladder::SlowBaseline, 1000, ServerMode::Event, json!({}));
        let slow_ok = fixture(
            Ladder::SlowReader,
            1000,
            ServerMode::Event,
            json!({"latency_us": {"p99": 1300}, "server": {"rss_peak_kb": 22000}}),
        );
        let check = check_slow_reader(&[base.clone(), slow_ok]);
        assert_eq!(check.verdict, Verdict::Met, "{}", check.detail);

        let too_slow = fixture(
            Ladder::SlowReader,
            1000,
            ServerMode::Event,
            json!({"latency_us": {"p99": 1400}}),
        );
        assert_eq!(
            check_slow_reader(&[base.clone(), too_slow]).verdict,
            Verdict::NotMet
        );

        let kept = fixture(
            Ladder::SlowReader,
            1000,
            ServerMode::Event,
            json!({"slow": {"slow_dropped": 0}}),
        );
        assert_eq!(
            check_slow_reader(&[base.clone(), kept]).verdict,
            Verdict::NotMet
        );

        let grew = fixture(
            Ladder::SlowReader,
            1000,
            ServerMode::Event,
            json!({"server": {"rss_peak_kb": 20000 + 17 * 1024}}),
        );
        assert_eq!(check_slow_reader(&[base, grew]).verdict, Verdict::NotMet);
    }

    #[test]
    fn slow_target_mentions_threads_mode() {
        let results = vec![
            fixture(Ladder::SlowBaseline, 1000, ServerMode::Event, json!({})),
            fixture(Ladder::SlowReader, 1000, ServerMode::Event, json!({})),
            fixture(Ladder::SlowBaseline, 1000, ServerMode::Threads, json!({})),
            failed(
                Ladder::SlowReader,
                1000,
                ServerMode::Threads,
                "chat-load timed out after 41 s",
            ),
        ];
        let check = check_slow_reader(&results);
        assert!(
            check.detail.contains("For comparison, threads:"),
            "{}",
            check.detail
        );
        assert!(
            check.detail.contains("failed: chat-load timed out"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn quick_run_marks_size_targets_not_measured() {
        let results = vec![fixture(Ladder::Fanout, 100, ServerMode::Event, json!({}))];
        assert_eq!(check_idle(&results).verdict, Verdict::NotMeasured);
        assert_eq!(check_fanout(&results).verdict, Verdict::NotMeasured);
    }

    /// Fanout 1000 and saturation, two runs each on the log (the fixture's p99 900 µs and CPU
    /// 1.23 s) and two with `--db none` (`p99_without` µs, `cpu_without` s).
    fn log_cost_results(p99_without: [u64; 2], cpu_without: [f64; 2]) -> Vec<StepResult> {
        let mut results = Vec::new();
        for (ladder, clients) in [(Ladder::Fanout, 1000), (Ladder::Saturate, 500)] {
            for run in 1..=2 {
                let without = match ladder {
                    Ladder::Fanout => json!({"latency_us": {"p99": p99_without[run - 1]}}),
                    _ => json!({"server": {"cpu_secs": cpu_without[run - 1]}}),
                };
                let run_number = run as u32;
                let event = |log, edits| {
                    fixture_run(ladder, clients, ServerMode::Event, log, run_number, edits)
                };
                results.push(event(RoomLog::File, json!({})));
                results.push(event(RoomLog::Memory, without));
            }
        }
        results
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn log_cost_met_within_the_factor_of_the_medians() {
        let results = log_cost_results([700, 900], [1.1, 1.1]);
        let check = check_log_cost(&results);
        assert_eq!(check.verdict, Verdict::Met, "{}", check.detail);
        assert!(
            check.detail.contains(
                "p99 ms: 0.90 (0.90, 0.90) with the log vs 0.80 (0.70, 0.90) without (1.12×)"
            ),
            "{}",
            check.detail
        );
        let text = log_cost_table(&results);
        let rows: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            rows[0],
            "| fanout 1000 clients × 200 msg/s: p99 ms | 0.90 (0.90, 0.90) | 0.80 (0.70, 0.90) | 1.12× | ≤ 1.15× | met |"
        );
        assert!(
            rows[1].starts_with(
                "| saturating, 500 clients × 2000 msg/s: CPU µs per delivery | 0.61 (0.61, 0.61) | 0.55 (0.55, 0.55) | 1.12× |"
            ),
            "{}",
            rows[1]
        );
    }

    #[test]
    fn log_cost_not_met_past_the_factor_on_either_figure() {
        assert_eq!(
            check_log_cost(&log_cost_results([700, 700], [1.1, 1.1])).verdict,
            Verdict::NotMet
        );
        assert_eq!(
            check_log_cost(&log_cost_results([800, 800], [1.0, 1.0])).verdict,
            Verdict::NotMet
        );
        let text = log_cost_table(&log_cost_results([700, 700], [1.1, 1.1]));
        assert!(text.contains("| 1.29× | ≤ 1.15× | **not met** |"), "{text}");
    }

    #[test]
    fn log_cost_with_a_failed_run_is_not_met() {
        let mut results = log_cost_results([800, 800], [1.1, 1.1]);
        results[1].failure = Some("server killed by SIGSEGV".into());
        assert_eq!(check_log_cost(&results).verdict, Verdict::NotMet);
    }

    #[test]
    fn log_cost_without_the_pair_is_not_measured() {
        let results = vec![fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({}))];
        assert_eq!(check_log_cost(&results).verdict, Verdict::NotMeasured);
        let text = log_cost_table(&results);
        assert!(
            text.contains("| 0.90 (0.90) | n/a | n/a | ≤ 1.15× | not measured |"),
            "{text}"
        );
    }

    #[test]
    fn restart_target_needs_nothing_lost_repeated_or_missing() {
        let clean = check_restart(&[restart_fixture(json!({}))]);
        assert_eq!(clean.verdict, Verdict::Met, "{}", clean.detail);
        assert!(
            clean.detail.contains("lost 0, duplicated 0, out of order 0, delivered but not in the log 0; 500 resumed, 0 not back, away p50 1150 ms, max 1400 ms"),
            "{}",
            clean.detail
        );
        for bad in [
            json!({"lost": 1}),
            json!({"duplicated": 2}),
            json!({"out_of_order": 1}),
            json!({"unlogged": 1}),
            json!({"not_back": 1}),
        ] {
            let check = check_restart(&[restart_fixture(bad.clone())]);
            assert_eq!(check.verdict, Verdict::NotMet, "{bad}");
        }
        assert_eq!(check_restart(&[]).verdict, Verdict::NotMeasured);
    }

    /// Saturation: two plain runs on the log (the fixture's CPU 1.23 s) and two TLS runs with
    /// `tls_cpu` s, the same deliveries.
    fn tls_saturation(tls_cpu: f64) -> Vec<StepResult> {
        let mut results = Vec::new();
        for run in 1..=2 {
            results.push(fixture_run(
                Ladder::Saturate,
                500,
                ServerMode::Event,
                RoomLog::File,
                run,
                json!({}),
            ));
            results.push(fixture_run(
                Ladder::TlsSaturate,
                500,
                ServerMode::Event,
                RoomLog::File,
                run,
                json!({"tls": true, "server": {"cpu_secs": tls_cpu}}),
            ));
        }
        results
    }

    #[test]
    fn tls_cpu_target_is_the_ratio_of_the_medians() {
        let met = check_tls_cpu(&tls_saturation(1.5));
        assert_eq!(met.verdict, Verdict::Met, "{met:?}");
        assert!(met.detail.contains("1.22×"), "{}", met.detail);
        assert_eq!(check_tls_cpu(&tls_saturation(2.0)).verdict, Verdict::NotMet);
        assert_eq!(check_tls_cpu(&[]).verdict, Verdict::NotMeasured);
        let table = tls_table(&tls_saturation(1.5));
        assert!(table.contains("CPU µs per delivery"), "{table}");
        assert!(table.contains("≤ 1.5×"), "{table}");
    }

    #[test]
    fn tls_idle_target_is_memory_and_every_desk_alive() {
        let idle = |rss_kb: u64, alive: u64| {
            vec![
                fixture(Ladder::Idle, 10_000, ServerMode::Event, json!({})),
                fixture_run(
                    Ladder::TlsIdle,
                    10_000,
                    ServerMode::Event,
                    RoomLog::File,
                    1,
                    json!({"tls": true, "hold": {"alive": alive},
                           "server": {"rss_peak_kb": rss_kb}}),
                ),
            ]
        };
        assert_eq!(check_tls_idle(&idle(91_000, 10_000)).verdict, Verdict::Met);
        assert_eq!(
            check_tls_idle(&idle(120_000, 10_000)).verdict,
            Verdict::NotMet
        );
        assert_eq!(
            check_tls_idle(&idle(91_000, 9_999)).verdict,
            Verdict::NotMet
        );
        assert!(tls_table(&idle(91_000, 10_000)).contains("88.9"));
    }

    #[test]
    fn scale_table_has_each_server_redis_and_the_order() {
        let server = |pid: u32, cpu: f64| {
            json!({"pid": pid, "rss_peak_kb": 9000, "rss_end_kb": 9000, "vm_hwm_kb": 9000,
                   "threads_peak": 3, "cpu_secs": cpu})
        };
        let order = json!({"servers": 2, "receivers": 1000, "receivers_differing": 0,
                           "id_mismatches": 0, "ids_not_increasing": 0, "unchecked": 0});
        let one = fixture_run(
            Ladder::Scale,
            1000,
            ServerMode::Event,
            RoomLog::Redis,
            1,
            json!({"redis": server(7, 0.5), "order": order}),
        );
        let mut two = fixture_run(
            Ladder::Scale,
            1000,
            ServerMode::Event,
            RoomLog::Redis,
            1,
            json!({"servers": [server(5, 1.0), server(6, 0.8)],
                   "redis": server(7, 0.4), "order": order}),
        );
        two.step.server_count = 2;
        let results = vec![
            fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({})),
            one,
            two,
        ];
        let table = scale_table(&results);
        assert!(table.contains("1 server, embedded log (SQLite)"), "{table}");
        assert!(table.contains("1 server, Redis stream"), "{table}");
        assert!(table.contains("2 servers, Redis stream"), "{table}");
        // 1.8 s of both servers over 2,000,000 deliveries.
        assert!(table.contains("0.90 (1.00 + 0.80 s)"), "{table}");
        assert!(table.contains("0.20 (0.40 s)"), "{table}");
        assert!(table.contains("0 of 1000"), "{table}");
        assert_eq!(scale_table(&[]), "Not in this run.\n");
    }

    #[test]
    fn restart_row_has_lost_duplicated_out_of_order_and_away() {
        let text = restart_table(&[restart_fixture(json!({}))]);
        let row = text.lines().nth(2).unwrap();
        assert_eq!(
            row,
            "| 500 | 20 × 4 | 5 s, down 1 s | 790 / 800 | 100% | 0 | 0 | 0 | 0 | 2400 | 500/500 | 1150 / 1400 |"
        );
        let line = progress_summary(&restart_fixture(json!({})));
        assert!(
            line.contains("lost 0, duplicated 0, out of order 0, away p50 1150 ms"),
            "{line}"
        );
    }

    #[test]
    fn csv_and_json_name_the_room_log_and_the_restart_figures() {
        let mut results = log_cost_results([800, 800], [1.1, 1.1]);
        results.push(restart_fixture(json!({"lost": 4})));
        let text = render_csv(&results);
        let header: Vec<&str> = CSV_HEADER.split(',').collect();
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
    fn markdown_has_every_section() {
        let text = render_markdown(&record(vec![
            fixture(Ladder::Idle, 100, ServerMode::Event, json!({})),
            fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({})),
        ]));
        for heading in [
            "## Targets (event mode)",
            "## Idle clients",
            "## Fanout at a fixed total rate",
            "## Saturating step",
            "## One slow reader",
            "## Churn soak: memory after rounds",
            "## Cost of the durable log",
            "## Restart: SIGKILL mid-run, resume",
        ] {
            assert!(text.contains(heading), "missing {heading}");
        }
        assert!(text.contains("Linux 6.1, 2 cores, 1024 MiB RAM"));
    }

    #[test]
    fn churn_row_shows_rss_after_first_tenth_and_last_round() {
        let mut event_kb: Vec<u64> = (0..60).map(|i| 4096 + 16 * i).collect();
        event_kb[29] = 10 * 1024;
        let results = vec![
            churn_fixture(ServerMode::Event, 60, &event_kb),
            churn_fixture(ServerMode::Threads, 60, &[3072; 11]),
        ];
        let text = churn_table(&results);
        let row = text.lines().nth(2).unwrap();
        assert_eq!(
            row,
            "| 300 | 60/60 / 11/60 | 300 / 300 | 100% / 100% | 4.0 / 3.0 | 4.1 / 3.0 | 4.9 / 3.0 | +0.9 / +0.0 | 10.0 / 3.0 |"
        );
        assert!(text.contains("| RSS after round 10 MiB |"), "{text}");
    }

    #[test]
    fn churn_progress_names_first_and_last_round() {
        let line = progress_summary(&churn_fixture(ServerMode::Event, 60, &[4096, 5120, 6144]));
        assert!(
            line.contains("rss after round 1 4.0 MiB, after round 3 6.0 MiB"),
            "{line}"
        );
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
        let columns = CSV_HEADER.split(',').count();
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
