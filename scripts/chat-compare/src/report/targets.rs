//! The targets checked against a run: each with its verdict and the figures behind it,
//! in words. Also the paired figures the log's cost and the TLS rows compare: every run of
//! one setup against every run of another, by the ratio of their medians.

use serde::Serialize;

use super::cells::{alive_text, connected_text, factor, mib, ms, or_na, pair, percent, rate};
use super::cells::{ratio, two, with_failure, NOT_AVAILABLE};
use chat_load::report::StormRound;

use crate::ladder::{Ladder, RoomLog, ServerMode, FANOUT_TARGET_CLIENTS};
use crate::model::{event_runs, find, of_ladder, StepResult};
use crate::model::{CPU_PER_DELIVERY_MAX_SHARE, FANOUT_P99_TARGET_US, IDLE_RSS_TARGET_KB};
use crate::model::{IDLE_TARGET_CLIENTS, LOG_COST_MAX_FACTOR, SLOW_P99_MAX_FACTOR};
use crate::model::{SLOW_RSS_ALLOWANCE_KB, STORM_P99_TARGET_US, TLS_CPU_MAX_FACTOR};
use crate::model::{TLS_FANOUT_P99_MAX_FACTOR, TLS_IDLE_RSS_TARGET_KB, TLS_IDLE_TARGET_CLIENTS};

/// Outcome of one target check (its name is the verdict in `results.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Met,
    /// At least one condition failed or a needed figure was missing.
    NotMet,
    /// The run did not include the step (e.g. `--quick`).
    NotMeasured,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "**not met**",
            Verdict::NotMeasured => "not measured",
        }
    }

    /// Met when every condition is known and holds.
    fn of(conditions: impl IntoIterator<Item = Option<bool>>) -> Verdict {
        if conditions.into_iter().all(|c| c == Some(true)) {
            Verdict::Met
        } else {
            Verdict::NotMet
        }
    }
}

/// One target as stated in the issue, its verdict, and the figures behind it in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub verdict: Verdict,
    pub detail: String,
}

impl TargetCheck {
    fn new(target: String, conditions: &[Option<bool>], detail: String) -> TargetCheck {
        let verdict = Verdict::of(conditions.iter().copied());
        TargetCheck {
            target,
            verdict,
            detail,
        }
    }

    fn not_measured(target: String, why: &str) -> TargetCheck {
        TargetCheck {
            verdict: Verdict::NotMeasured,
            ..TargetCheck::new(target, &[], why.into())
        }
    }
}

pub fn check_targets(results: &[StepResult]) -> Vec<TargetCheck> {
    let checks: [fn(&[StepResult]) -> TargetCheck; 10] = [
        check_idle,
        check_fanout,
        check_cpu,
        check_slow_reader,
        check_log_cost,
        check_restart,
        check_tls_idle,
        |r| check_tls_costs(r, "CPU"),
        |r| check_tls_costs(r, "p99"),
        check_tls_storm,
    ];
    checks.iter().map(|check| check(results)).collect()
}

fn clean(result: &StepResult) -> Option<bool> {
    Some(result.failure.is_none())
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

fn all_delivered(result: &StepResult) -> Option<bool> {
    result.delivered().map(|fraction| fraction >= 1.0)
}

fn check_idle(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "{IDLE_TARGET_CLIENTS} idle clients all receive the final broadcast, server peak RSS ≤ {:.0} MiB",
        IDLE_RSS_TARGET_KB / 1024.0
    );
    let clients = Some(IDLE_TARGET_CLIENTS);
    let Some(event) = find(results, Ladder::Idle, clients, ServerMode::Event) else {
        return TargetCheck::not_measured(target, "no 10,000-client idle step in this run");
    };
    let rss = event.rss_peak_kb();
    let detail = format!(
        "connected {}, received the final broadcast {}, RSS peak {} MiB",
        or_na(connected_text(event)),
        or_na(alive_text(event)),
        or_na(rss.map(mib))
    );
    let within = rss.map(|kb| kb <= IDLE_RSS_TARGET_KB);
    let conditions = [clean(event), all_received(event), within];
    TargetCheck::new(target, &conditions, with_failure(detail, event))
}

pub fn check_fanout(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "fanout {FANOUT_TARGET_CLIENTS} clients × 200 msg/s total: 100% delivered, p99 ≤ {:.0} ms",
        FANOUT_P99_TARGET_US / 1000.0
    );
    let clients = Some(FANOUT_TARGET_CLIENTS);
    let Some(event) = find(results, Ladder::Fanout, clients, ServerMode::Event) else {
        return TargetCheck::not_measured(target, "no 1000-client fanout step in this run");
    };
    let detail = format!(
        "delivered {}, p99 {} ms, {} deliveries/s",
        or_na(event.delivered().map(percent)),
        or_na(event.p99_us().map(ms)),
        or_na(event.load().map(|r| rate(r.deliveries_per_sec)))
    );
    let within = event.p99_us().map(|us| us <= FANOUT_P99_TARGET_US);
    let conditions = [clean(event), all_delivered(event), within];
    TargetCheck::new(target, &conditions, detail)
}

fn check_cpu(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "saturating step: event CPU per delivery ≤ {CPU_PER_DELIVERY_MAX_SHARE}× threads mode, everything delivered"
    );
    let [Some(event), Some(threads)] =
        ServerMode::BOTH.map(|mode| find(results, Ladder::Saturate, None, mode))
    else {
        return TargetCheck::not_measured(target, "no saturating step in this run");
    };
    let (event_cpu, threads_cpu) = (event.cpu_us_per_delivery(), threads.cpu_us_per_delivery());
    let workload = &event.step.workload;
    let detail = format!(
        "{} clients, {:.0} msg/s: event {} µs/delivery vs threads {} µs/delivery (event/threads {}); delivered {}",
        workload.clients,
        workload.total_rate(),
        or_na(event_cpu.map(two)),
        or_na(threads_cpu.map(two)),
        ratio(event_cpu, threads_cpu),
        pair(Some(event), Some(threads), |r| r.delivered().map(percent)),
    );
    let within = factor(event_cpu, threads_cpu).map(|s| s <= CPU_PER_DELIVERY_MAX_SHARE);
    let conditions = [clean(event), all_delivered(event), within];
    TargetCheck::new(target, &conditions, detail)
}

/// The slow-reader pair of `mode` against the target's conditions (a clean run, p99 factor,
/// slow reader dropped, RSS growth), and in words.
fn compare_slow(results: &[StepResult], mode: ServerMode) -> Option<([Option<bool>; 4], String)> {
    let base = find(results, Ladder::SlowBaseline, None, mode)?;
    let slow = find(results, Ladder::SlowReader, None, mode)?;
    let dropped = (slow.load().and_then(|r| r.slow.as_ref()))
        .map(|s| s.slow_dropped >= s.slow_clients.max(1));
    let rss_growth_kb = slow
        .rss_peak_kb()
        .zip(base.rss_peak_kb())
        .map(|(s, b)| s - b);
    let conditions = [
        clean(slow),
        factor(slow.p99_us(), base.p99_us()).map(|f| f <= SLOW_P99_MAX_FACTOR),
        dropped,
        rss_growth_kb.map(|kb| kb <= SLOW_RSS_ALLOWANCE_KB),
    ];
    let text = format!(
        "{mode}: p99 {} ms with vs {} ms without ({}), slow reader dropped: {}, RSS peak {} vs {} MiB, others delivered {}",
        or_na(slow.p99_us().map(ms)),
        or_na(base.p99_us().map(ms)),
        ratio(slow.p99_us(), base.p99_us()),
        dropped.map_or(NOT_AVAILABLE, |yes| if yes { "yes" } else { "no" }),
        or_na(slow.rss_peak_kb().map(mib)),
        or_na(base.rss_peak_kb().map(mib)),
        or_na(slow.delivered().map(percent)),
    );
    Some((conditions, with_failure(text, slow)))
}

fn check_slow_reader(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "one slow reader: others' p99 ≤ {SLOW_P99_MAX_FACTOR}× the run without it, slow one dropped, server memory bounded (RSS peak ≤ +{:.0} MiB)",
        SLOW_RSS_ALLOWANCE_KB / 1024.0
    );
    let Some((conditions, mut detail)) = compare_slow(results, ServerMode::Event) else {
        return TargetCheck::not_measured(target, "no slow-reader pair in this run");
    };
    if let Some((_, threads)) = compare_slow(results, ServerMode::Threads) {
        detail = format!("{detail}. For comparison, {threads}");
    }
    TargetCheck::new(target, &conditions, detail)
}

/// One figure over every run of two setups of the same workload in one run of the comparison
/// (the event server on its log and with `--db none`; on TLS and plain).
pub struct Paired {
    pub label: String,
    /// The figure of each run of the first setup (on the log; TLS), in run order.
    pub first: Vec<f64>,
    /// The figure of each run of the second (`--db none`; plain).
    pub second: Vec<f64>,
    /// The most first ÷ second may be, when this figure has a target.
    pub max_factor: Option<f64>,
    /// Met when every run was clean and the ratio of the medians is within `max_factor`; not
    /// measured when either setup is not in this run or the figure has no target.
    pub verdict: Verdict,
}

impl Paired {
    /// The ratio of the medians, as the tables show it.
    pub fn ratio_text(&self) -> String {
        ratio(median(&self.first), median(&self.second))
    }
}

/// A paired figure: what it is, the figure, the most first ÷ second may be, and the two setups
/// (a ladder of the event server and its room log).
type PairSpec = (&'static str, Figure, Option<f64>, [(Ladder, RoomLog); 2]);

/// Each spec's figure over the event server's runs of its two setups: the fanout at the
/// target's room, or the saturating step.
fn paired(results: &[StepResult], specs: &[PairSpec]) -> Vec<Paired> {
    let each = |&(what, figure, max_factor, setups): &PairSpec| {
        let fanout = matches!(setups[0].0, Ladder::Fanout | Ladder::TlsFanout);
        let clients = fanout.then_some(FANOUT_TARGET_CLIENTS);
        let [first, second] = setups.map(|(ladder, log)| event_runs(results, ladder, clients, log));
        let values = |runs: &[&StepResult]| runs.iter().filter_map(|r| figure(r)).collect();
        let workload = match of_ladder(results, setups[0].0).next() {
            _ if fanout => format!("fanout {FANOUT_TARGET_CLIENTS} clients × 200 msg/s"),
            None => "saturating step".into(),
            Some(r) => {
                let w = &r.step.workload;
                format!(
                    "saturating, {} clients × {:.0} msg/s",
                    w.clients,
                    w.total_rate()
                )
            }
        };
        let mut paired = Paired {
            label: format!("{workload}: {what}"),
            first: values(&first),
            second: values(&second),
            max_factor,
            verdict: Verdict::NotMeasured,
        };
        if let (Some(max), false, false) = (max_factor, first.is_empty(), second.is_empty()) {
            let within = factor(median(&paired.first), median(&paired.second)).map(|f| f <= max);
            let runs = first.iter().chain(&second).map(|r| clean(r));
            paired.verdict = Verdict::of(runs.chain([within]));
        }
        paired
    };
    specs.iter().map(each).collect()
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

/// `median (run 1, run 2, ...)`, two decimals.
pub fn runs_text(values: &[f64]) -> String {
    match median(values) {
        None => NOT_AVAILABLE.to_string(),
        Some(mid) => {
            let each: Vec<String> = values.iter().map(|v| two(*v)).collect();
            format!("{mid:.2} ({})", each.join(", "))
        }
    }
}

/// A figure of a step that paired runs compare.
pub type Figure = fn(&StepResult) -> Option<f64>;
const P99_MS: Figure = |r| r.p99_us().map(|us| us / 1000.0);
pub const CPU: Figure = StepResult::cpu_us_per_delivery;

pub fn log_costs(results: &[StepResult]) -> Vec<Paired> {
    let max = Some(LOG_COST_MAX_FACTOR);
    let runs = |ladder| [(ladder, RoomLog::File), (ladder, RoomLog::Memory)];
    let specs = [
        ("p99 ms", P99_MS, max, runs(Ladder::Fanout)),
        ("CPU µs per delivery", CPU, max, runs(Ladder::Saturate)),
    ];
    paired(results, &specs)
}

/// TLS vs plain (the idle room's memory is a target of its own, [`check_tls_idle`]).
pub fn tls_costs(results: &[StepResult]) -> Vec<Paired> {
    let (cpu, p99) = (Some(TLS_CPU_MAX_FACTOR), Some(TLS_FANOUT_P99_MAX_FACTOR));
    let runs = |tls, plain| [(tls, RoomLog::File), (plain, RoomLog::File)];
    let fanout = runs(Ladder::TlsFanout, Ladder::Fanout);
    let saturate = runs(Ladder::TlsSaturate, Ladder::Saturate);
    let specs = [
        ("p99 ms", P99_MS, p99, fanout),
        ("CPU µs per delivery", CPU, cpu, fanout),
        ("p99 ms", P99_MS, None, saturate),
        ("CPU µs per delivery", CPU, cpu, saturate),
    ];
    paired(results, &specs)
}

/// A target over the paired figures that have one: not measured when one of them is, met when
/// all are; `detail` puts each in words from its runs' text on each side.
fn paired_check(
    target: String,
    pairs: impl Iterator<Item = Paired>,
    detail: fn(&Paired, String, String) -> String,
) -> TargetCheck {
    let pairs: Vec<Paired> = pairs.filter(|p| p.max_factor.is_some()).collect();
    let verdicts = || pairs.iter().map(|p| p.verdict);
    let verdict = if verdicts().any(|v| v == Verdict::NotMeasured) {
        Verdict::NotMeasured
    } else {
        Verdict::of(verdicts().map(|v| Some(v == Verdict::Met)))
    };
    let words = |p: &Paired| detail(p, runs_text(&p.first), runs_text(&p.second));
    let detail = pairs.iter().map(words).collect::<Vec<_>>().join("; ");
    TargetCheck {
        verdict,
        ..TargetCheck::new(target, &[], detail)
    }
}

pub fn check_log_cost(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "durable log: fanout {FANOUT_TARGET_CLIENTS} p99 and saturating CPU per delivery with the log ≤ {LOG_COST_MAX_FACTOR}× `--db none` (medians of the runs of each)"
    );
    paired_check(
        target,
        log_costs(results).into_iter(),
        |c, with, without| {
            let (label, ratio) = (&c.label, c.ratio_text());
            format!("{label}: {with} with the log vs {without} without ({ratio})")
        },
    )
}

/// The TLS costs with a target whose label holds `figure`: "CPU" or "p99".
fn check_tls_costs(results: &[StepResult], figure: &str) -> TargetCheck {
    let target = match figure {
        "CPU" => format!("TLS: CPU per delivery in the fanout target's room and at saturation ≤ {TLS_CPU_MAX_FACTOR}× plain (medians of the runs of each)"),
        _ => format!("TLS: fanout {FANOUT_TARGET_CLIENTS} p99 ≤ {TLS_FANOUT_P99_MAX_FACTOR}× plain (medians of the runs of each)"),
    };
    let costs = tls_costs(results)
        .into_iter()
        .filter(|c| c.label.contains(figure));
    paired_check(target, costs, |c, tls, plain| {
        let (label, ratio) = (&c.label, c.ratio_text());
        format!("{label}: TLS {tls} vs plain {plain} ({ratio})")
    })
}

fn check_restart(results: &[StepResult]) -> TargetCheck {
    let target = "restart: server killed with SIGKILL mid-run and started again on its log; every client resumes, lost 0, duplicated 0, out of order 0, nothing delivered missing from the log".to_string();
    let Some(step) = find(results, Ladder::Restart, None, ServerMode::Event) else {
        return TargetCheck::not_measured(target, "no restart step in this run");
    };
    let restart = step.restart();
    let conditions = [
        clean(step),
        restart.map(|r| r.lost == 0 && r.duplicated == 0 && r.out_of_order == 0),
        restart.map(|r| r.unlogged == 0),
        restart.map(|r| r.not_back == 0),
    ];
    let detail = match restart {
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
            or_na(r.reconnect_us.map(|a| ms(a.p50 as f64))),
            or_na(r.reconnect_us.map(|a| ms(a.max as f64))),
            r.replayed,
        ),
        None => "no restart figures from chat-load".into(),
    };
    TargetCheck::new(target, &conditions, with_failure(detail, step))
}

/// The TLS idle room of `clients`, and the plain one it is compared with.
pub fn tls_idle_pair(
    results: &[StepResult],
    clients: u32,
) -> (Option<&StepResult>, Option<&StepResult>) {
    let tls = of_ladder(results, Ladder::TlsIdle).find(|r| r.step.workload.clients == clients);
    let plain = find(results, Ladder::Idle, Some(clients), ServerMode::Event);
    (tls, plain)
}

pub fn check_tls_idle(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "TLS: {TLS_IDLE_TARGET_CLIENTS} idle desks on TLS, peak RSS ≤ {:.0} MiB, all get the final broadcast",
        TLS_IDLE_RSS_TARGET_KB / 1024.0
    );
    let (Some(tls), plain) = tls_idle_pair(results, TLS_IDLE_TARGET_CLIENTS) else {
        return TargetCheck::not_measured(target, "no TLS idle step of that size in this run");
    };
    let rss = tls.rss_peak_kb();
    let plain_rss = plain.and_then(StepResult::rss_peak_kb);
    let detail = format!(
        "TLS {} MiB vs plain {} MiB ({} plain); TLS: {} of {} got the broadcast",
        or_na(rss.map(mib)),
        or_na(plain_rss.map(mib)),
        ratio(rss, plain_rss),
        or_na(alive_text(tls)),
        TLS_IDLE_TARGET_CLIENTS
    );
    let within = rss.map(|kb| kb <= TLS_IDLE_RSS_TARGET_KB);
    TargetCheck::new(target, &[clean(tls), all_received(tls), within], detail)
}

fn check_tls_storm(results: &[StepResult]) -> TargetCheck {
    let target = format!(
        "TLS: desks reconnecting at once after a restart resume their sessions, handshake p99 < {} s",
        STORM_P99_TARGET_US / 1e6
    );
    let Some(step) = of_ladder(results, Ladder::TlsStorm).next() else {
        return TargetCheck::not_measured(target, "no storm step in this run");
    };
    let round = |name| step.storm_rounds().iter().find(|r| r.name == name);
    let Some(resumed) = round("resumed") else {
        let detail = "no storm figures from chat-load".into();
        return TargetCheck::new(target, &[clean(step)], detail);
    };
    let p99 = |r: &StormRound| r.handshake_us.map(|h| h.p99 as f64);
    let p99_text = |p99: Option<f64>| or_na(p99.map(|us| format!("{:.0}", us / 1000.0)));
    let full = round("full");
    let detail = format!(
        "{} clients: {} resumed, handshake p99 {} ms (full handshakes after the next restart: p99 {} ms); server CPU {:.2} s resumed vs {} s full",
        resumed.clients,
        resumed.resumed,
        p99_text(p99(resumed)),
        p99_text(full.and_then(p99)),
        resumed.server_cpu_secs,
        or_na(full.map(|r| format!("{:.2}", r.server_cpu_secs))),
    );
    let all_resumed = Some(resumed.resumed == resumed.clients as u64);
    let within = p99(resumed).map(|us| us < STORM_P99_TARGET_US);
    TargetCheck::new(target, &[clean(step), all_resumed, within], detail)
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::tests::{failed, fixture, fixture_run, restart_fixture, storm_fixture};

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
    pub(crate) fn log_cost_results(
        p99_without: [u64; 2],
        cpu_without: [f64; 2],
    ) -> Vec<StepResult> {
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

    /// The fanout target's room and saturation: two plain runs of each on the log (the
    /// fixture's CPU 1.23 s, p99 the fixture's) and two TLS runs with `tls_cpu` s of CPU and
    /// `tls_p99_factor` times the plain p99, the same deliveries.
    pub(crate) fn tls_runs(tls_cpu: f64, tls_p99_factor: f64) -> Vec<StepResult> {
        let plain_p99 = fixture(Ladder::Fanout, 1000, ServerMode::Event, json!({}))
            .load()
            .and_then(|load| load.latency_us)
            .map(|latency| latency.p99)
            .expect("the fixture's p99");
        let tls_p99 = (plain_p99 as f64 * tls_p99_factor) as u64;
        let mut results = Vec::new();
        for (plain, tls, clients) in [
            (Ladder::Saturate, Ladder::TlsSaturate, 500),
            (Ladder::Fanout, Ladder::TlsFanout, 1000),
        ] {
            for run in 1..=2 {
                let event = |ladder, extra| {
                    fixture_run(
                        ladder,
                        clients,
                        ServerMode::Event,
                        RoomLog::File,
                        run,
                        extra,
                    )
                };
                results.push(event(plain, json!({})));
                results.push(event(
                    tls,
                    json!({"tls": true, "server": {"cpu_secs": tls_cpu},
                           "latency_us": {"p50": 100, "p90": 200, "p99": tls_p99, "p999": tls_p99,
                                          "max": tls_p99, "count": 1000}}),
                ));
            }
        }
        results
    }

    #[test]
    fn tls_cpu_target_is_the_ratio_of_the_medians() {
        let met = check_tls_costs(&tls_runs(1.5, 1.0), "CPU");
        assert_eq!(met.verdict, Verdict::Met, "{met:?}");
        assert!(met.detail.contains("1.22×"), "{}", met.detail);
        assert_eq!(
            check_tls_costs(&tls_runs(2.0, 1.0), "CPU").verdict,
            Verdict::NotMet
        );
        assert_eq!(check_tls_costs(&[], "CPU").verdict, Verdict::NotMeasured);
    }

    #[test]
    fn tls_fanout_p99_target_is_its_own() {
        assert_eq!(
            check_tls_costs(&tls_runs(2.0, 1.1), "p99").verdict,
            Verdict::Met
        );
        assert_eq!(
            check_tls_costs(&tls_runs(1.0, 1.3), "p99").verdict,
            Verdict::NotMet
        );
        assert_eq!(check_tls_costs(&[], "p99").verdict, Verdict::NotMeasured);
    }

    #[test]
    fn tls_storm_target_is_every_desk_resumed_within_the_p99() {
        let met = check_tls_storm(&[storm_fixture(10_000, 218_000)]);
        assert_eq!(met.verdict, Verdict::Met, "{met:?}");
        assert!(
            met.detail
                .contains("10000 clients: 10000 resumed, handshake p99 218 ms"),
            "{}",
            met.detail
        );
        assert!(met.detail.contains("p99 290 ms"), "{}", met.detail);
        let slow = check_tls_storm(&[storm_fixture(10_000, 1_200_000)]);
        assert_eq!(slow.verdict, Verdict::NotMet);
        let some_full = check_tls_storm(&[storm_fixture(9_999, 218_000)]);
        assert_eq!(some_full.verdict, Verdict::NotMet);
        assert_eq!(check_tls_storm(&[]).verdict, Verdict::NotMeasured);
    }

    /// The plain idle room of 10,000 (the fixture's 20,000 KiB) and the TLS one with `rss_kb`
    /// and `alive` desks that got the broadcast.
    pub(crate) fn tls_idle(rss_kb: u64, alive: u64) -> Vec<StepResult> {
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
    }

    #[test]
    fn tls_idle_target_is_memory_and_every_desk_alive() {
        let idle = tls_idle;
        assert_eq!(check_tls_idle(&idle(23_000, 10_000)).verdict, Verdict::Met);
        assert_eq!(
            check_tls_idle(&idle(26_000, 10_000)).verdict,
            Verdict::NotMet
        );
        assert_eq!(
            check_tls_idle(&idle(23_000, 9_999)).verdict,
            Verdict::NotMet
        );
    }
}
