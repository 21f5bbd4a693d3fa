//! The text of one figure or one step, as every table, target check and progress line shows
//! it, and the "what happened" lines of a step that went wrong.

use chat_load::report::ChurnReport;

use crate::model::StepResult;

/// A figure chat-load did not report.
pub const NOT_AVAILABLE: &str = "n/a";

/// µs as ms, with fewer decimals the bigger it is.
pub fn ms(us: f64) -> String {
    let ms = us / 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

/// Latencies in µs as ms, "a / b"; "n/a" for each one missing.
pub fn ms_each<const N: usize>(us: [Option<u64>; N]) -> String {
    us.map(|us| or_na(us.map(|us| ms(us as f64)))).join(" / ")
}

/// KiB as MiB.
pub fn mib(kib: f64) -> String {
    format!("{:.1}", kib / 1024.0)
}

/// A fraction as a percentage that never rounds a loss up to 100%.
pub fn percent(fraction: f64) -> String {
    if fraction >= 1.0 {
        "100%".to_string()
    } else {
        format!("{:.2}%", (fraction * 10_000.0).floor() / 100.0)
    }
}

/// Large rates in k/M so the table stays narrow.
pub fn rate(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

pub fn two(value: f64) -> String {
    format!("{value:.2}")
}

/// `a ÷ b`, when both are known and `b` is not 0.
pub fn factor(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).filter(|&(_, b)| b > 0.0).map(|(a, b)| a / b)
}

/// `numerator / denominator` as `3.2×`.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> String {
    match factor(numerator, denominator) {
        Some(r) if r >= 10.0 => format!("{r:.0}×"),
        Some(r) => format!("{r:.2}×"),
        None => NOT_AVAILABLE.into(),
    }
}

pub fn or_na(text: Option<String>) -> String {
    text.unwrap_or_else(|| NOT_AVAILABLE.into())
}

/// "N" connected when all did, else "N/M" (of those asked for, not what the tool echoes back).
pub fn connected_text(result: &StepResult) -> Option<String> {
    count_of(result, result.load()?.connected as u64)
}

/// Hold mode: how many received the final broadcast, "N" when all did, else "N/M".
pub fn alive_text(result: &StepResult) -> Option<String> {
    count_of(result, result.load()?.hold.as_ref()?.alive)
}

fn count_of(result: &StepResult, count: u64) -> Option<String> {
    let wanted = result.step.workload.clients;
    Some(if count >= u64::from(wanted) {
        format!("{count}")
    } else {
        format!("{count}/{wanted}")
    })
}

/// "event / threads" in one cell. A missing step is "–", a failed step without figures is
/// "failed", a missing figure is "n/a".
pub fn pair(
    event: Option<&StepResult>,
    threads: Option<&StepResult>,
    figure: impl Fn(&StepResult) -> Option<String>,
) -> String {
    let cell = |result: Option<&StepResult>| match result {
        None => "–".to_string(),
        Some(r) if no_figures(r) => "failed".to_string(),
        Some(r) => or_na(figure(r)),
    };
    format!("{} / {}", cell(event), cell(threads))
}

pub fn no_figures(result: &StepResult) -> bool {
    result.load().is_none() && result.failure.is_some()
}

/// `failed: …` after `text` when the step failed.
pub fn with_failure(text: String, result: &StepResult) -> String {
    match &result.failure {
        Some(failure) => format!("{text}; failed: {failure}"),
        None => text,
    }
}

/// What went wrong or was partial in a step; empty when it was clean.
pub fn what_happened(result: &StepResult) -> Vec<String> {
    let mut lines: Vec<String> = result
        .failure
        .iter()
        .map(|f| format!("failed: {f}"))
        .collect();
    let Some(report) = result.load() else {
        if result.failure.is_none() {
            lines.push("no figures from chat-load".into());
        }
        return lines;
    };
    let wanted = result.step.workload.clients;
    if report.connected < wanted as usize {
        let errors: Vec<String> = (report.connect_errors.iter())
            .filter(|(_, &n)| n > 0)
            .map(|(name, n)| format!("{name} ×{n}"))
            .collect();
        let errors = if errors.is_empty() {
            String::new()
        } else {
            format!(" ({})", errors.join(", "))
        };
        lines.push(format!("connected {}/{wanted}{errors}", report.connected));
    }
    if let Some(fraction) = report.delivered_fraction.filter(|&f| f < 1.0) {
        let (received, expected) = (report.deliveries_received, report.deliveries_expected);
        let delivered = percent(fraction);
        lines.push(format!(
            "delivered {delivered} ({received} of {expected} deliveries)"
        ));
    }
    let slow = report.slow.as_ref();
    // The slow reader being dropped is the point of the slow step, not a failure.
    let early = report.disconnected_early;
    if early > slow.map_or(0, |s| s.slow_dropped) {
        lines.push(format!("{early} clients disconnected early"));
    }
    if let Some(slow) = slow.filter(|s| s.slow_dropped < s.slow_clients) {
        let (dropped, of) = (slow.slow_dropped, slow.slow_clients);
        lines.push(format!(
            "slow reader not dropped by the end ({dropped} of {of} dropped)"
        ));
    }
    if let Some((first, rest)) = report.errors.split_first() {
        let more = match rest.len() {
            0 => String::new(),
            n => format!(" (+{n} more)"),
        };
        lines.push(format!("chat-load says: {first}{more}"));
    }
    lines
}

/// One stderr line after a step.
pub fn progress_summary(result: &StepResult) -> String {
    let mut parts = Vec::new();
    if let Some(report) = result.load() {
        let wanted = result.step.workload.clients;
        parts.push(format!("connected {}/{wanted}", report.connected));
        let delivered = report.delivered_fraction;
        parts.extend(delivered.map(|fraction| format!("delivered {}", percent(fraction))));
        parts.extend(result.p99_us().map(|us| format!("p99 {} ms", ms(us))));
        parts.extend(
            result
                .rss_peak_kb()
                .map(|kb| format!("rss {} MiB", mib(kb))),
        );
        parts.extend(result.restart().map(|x| {
            let away = ms_each([x.reconnect_us.map(|r| r.p50)]);
            let (lost, duplicated, out_of_order) = (x.lost, x.duplicated, x.out_of_order);
            format!("lost {lost}, duplicated {duplicated}, out of order {out_of_order}, away p50 {away} ms")
        }));
        parts.extend(result.churn().and_then(ChurnReport::rss_curve).map(|curve| {
            let ((first, first_kb), (last, last_kb)) = (curve.first[0], curve.last);
            let (first_mib, last_mib) = (mib(first_kb as f64), mib(last_kb as f64));
            format!("rss after round {first} {first_mib} MiB, after round {last} {last_mib} MiB")
        }));
        let storms = result.storm_rounds();
        if !storms.is_empty() {
            let p99s = storms.iter().map(|round| {
                let p99 = ms_each([round.handshake_us.map(|h| h.p99)]);
                format!("{} {p99}", round.name)
            });
            let resumed: u64 = storms.iter().map(|round| round.resumed).sum();
            let p99s = p99s.collect::<Vec<_>>().join(", ");
            parts.push(format!("handshake p99 ms: {p99s}; {resumed} resumed"));
        }
    }
    parts.extend(result.failure.iter().map(|f| format!("FAILED: {f}")));
    format!("{} ({:.1} s)", parts.join(", "), result.wall_secs)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ladder::{Ladder, ServerMode};
    use crate::model::tests::{churn_fixture, fixture, storm_fixture};

    #[test]
    fn percent_never_rounds_a_loss_up() {
        assert_eq!(percent(0.99999), "99.99%");
        assert_eq!(percent(1.0), "100%");
    }

    #[test]
    fn ratio_formats_and_guards_zero() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), "1.50×");
        assert_eq!(ratio(Some(300.0), Some(2.0)), "150×");
        assert_eq!(ratio(Some(3.0), Some(0.0)), "n/a");
        assert_eq!(ratio(None, Some(2.0)), "n/a");
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
    fn storm_progress_gives_each_storm_s_p99() {
        let line = progress_summary(&storm_fixture(10_000, 218_000));
        assert!(
            line.contains("handshake p99 ms: first 340, resumed 218, full 290; 10000 resumed"),
            "{line}"
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
    fn churn_progress_names_first_and_last_round() {
        let line = progress_summary(&churn_fixture(ServerMode::Event, 60, &[4096, 5120, 6144]));
        assert!(
            line.contains("rss after round 1 4.0 MiB, after round 3 6.0 MiB"),
            "{line}"
        );
    }
}
