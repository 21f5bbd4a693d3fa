//! Reading `chat-load --json` output. The schema is chat-load's own [`Report`], and the output
//! is parsed strictly into it: a field renamed or retyped in chat-load breaks this crate's build,
//! and output that still does not match (a binary from another build) fails the step, instead
//! of either showing up as "n/a" in the report. What is chat-compare's own lives here: finding
//! the object in the tool's stdout, keeping it as printed for `results.json`, and figures
//! derived from the report.

use chat_load::Report;

/// Parses the tool's stdout into the report and the object as printed; the object may be
/// preceded or followed by other lines. The raw object is kept because `results.json` should
/// show everything the tool said, including fields this build does not know.
pub fn parse_report(stdout: &str) -> Result<(Report, serde_json::Value), String> {
    let start = stdout
        .find('{')
        .ok_or("no JSON object in chat-load output")?;
    let end = stdout
        .rfind('}')
        .ok_or("no JSON object in chat-load output")?;
    if end < start {
        return Err("no JSON object in chat-load output".into());
    }
    let text = &stdout[start..=end];
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
    let cpu = report.server.as_ref()?.cpu_secs;
    let received = report.deliveries_received;
    (received > 0).then(|| cpu * 1e6 / received as f64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
}
