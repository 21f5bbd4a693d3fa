//! The `chat-load --json` output, read leniently: every field is optional and a field whose type
//! changed reads as missing ("n/a" in the report) instead of failing the whole step, because the
//! load tool is being written alongside this one.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};

/// Reads any JSON value and keeps it only if it has the expected shape.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    /// Median.
    #[serde(deserialize_with = "lenient")]
    pub p50: Option<f64>,
    /// 90th percentile.
    #[serde(deserialize_with = "lenient")]
    pub p90: Option<f64>,
    /// 99th percentile.
    #[serde(deserialize_with = "lenient")]
    pub p99: Option<f64>,
    /// 99.9th percentile.
    #[serde(deserialize_with = "lenient")]
    pub p999: Option<f64>,
    /// Largest sample.
    #[serde(deserialize_with = "lenient")]
    pub max: Option<f64>,
    /// Number of samples.
    #[serde(deserialize_with = "lenient")]
    pub count: Option<f64>,
}

/// Hold-mode result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hold {
    /// Connections still open at the end.
    #[serde(deserialize_with = "lenient")]
    pub alive: Option<f64>,
}

/// Slow-mode result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Slow {
    /// Readers that stopped reading.
    #[serde(deserialize_with = "lenient")]
    pub slow_clients: Option<f64>,
    /// How many of them the server disconnected.
    #[serde(deserialize_with = "lenient")]
    pub slow_dropped: Option<f64>,
}

/// The server process as `chat-load --server-pid` saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerStats {
    /// Process id that was sampled.
    #[serde(deserialize_with = "lenient")]
    pub pid: Option<f64>,
    /// Highest resident set size seen, KiB.
    #[serde(deserialize_with = "lenient")]
    pub rss_peak_kb: Option<f64>,
    /// Resident set size at the end, KiB.
    #[serde(deserialize_with = "lenient")]
    pub rss_end_kb: Option<f64>,
    /// Highest thread count seen.
    #[serde(deserialize_with = "lenient")]
    pub threads_peak: Option<f64>,
    /// User + system CPU seconds used during the run.
    #[serde(deserialize_with = "lenient")]
    pub cpu_secs: Option<f64>,
}

/// One `chat-load` run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadReport {
    /// hold, fanout, connect, churn or slow.
    #[serde(deserialize_with = "lenient")]
    pub mode: Option<String>,
    /// Server address used.
    #[serde(deserialize_with = "lenient")]
    pub addr: Option<String>,
    /// Connections attempted.
    #[serde(deserialize_with = "lenient")]
    pub clients: Option<f64>,
    /// Connections established.
    #[serde(deserialize_with = "lenient")]
    pub connected: Option<f64>,
    /// Connections that failed.
    #[serde(deserialize_with = "lenient")]
    pub connect_failures: Option<f64>,
    /// Failures by errno name.
    #[serde(deserialize_with = "lenient")]
    pub connect_errors: Option<BTreeMap<String, f64>>,
    /// Clients that sent.
    #[serde(deserialize_with = "lenient")]
    pub senders: Option<f64>,
    /// Messages per second per sender.
    #[serde(deserialize_with = "lenient")]
    pub rate_per_sender: Option<f64>,
    /// Message body bytes.
    #[serde(deserialize_with = "lenient")]
    pub payload_bytes: Option<f64>,
    /// Measured phase length.
    #[serde(deserialize_with = "lenient")]
    pub duration_secs: Option<f64>,
    /// Messages sent.
    #[serde(deserialize_with = "lenient")]
    pub messages_sent: Option<f64>,
    /// Deliveries that should have arrived.
    #[serde(deserialize_with = "lenient")]
    pub deliveries_expected: Option<f64>,
    /// Deliveries that arrived.
    #[serde(deserialize_with = "lenient")]
    pub deliveries_received: Option<f64>,
    /// received / expected.
    #[serde(deserialize_with = "lenient")]
    pub delivered_fraction: Option<f64>,
    /// Deliveries per second over the measured phase.
    #[serde(deserialize_with = "lenient")]
    pub deliveries_per_sec: Option<f64>,
    /// Send-to-receive latency.
    #[serde(deserialize_with = "lenient")]
    pub latency_us: Option<Latency>,
    /// Hold-mode figures.
    #[serde(deserialize_with = "lenient")]
    pub hold: Option<Hold>,
    /// Slow-mode figures.
    #[serde(deserialize_with = "lenient")]
    pub slow: Option<Slow>,
    /// Connect latency (connect and churn modes).
    #[serde(deserialize_with = "lenient")]
    pub connect_latency_us: Option<Latency>,
    /// Server process figures.
    #[serde(deserialize_with = "lenient")]
    pub server: Option<ServerStats>,
    /// Clients the server closed before the end.
    #[serde(deserialize_with = "lenient")]
    pub disconnected_early: Option<f64>,
    /// Total run time of the tool.
    #[serde(deserialize_with = "lenient")]
    pub wall_secs: Option<f64>,
    /// Problems the tool noticed.
    #[serde(deserialize_with = "lenient")]
    pub errors: Option<Vec<String>>,
}

impl LoadReport {
    /// Parses the tool's stdout; the JSON object may be preceded or followed by other lines.
    pub fn parse(stdout: &str) -> Result<(LoadReport, serde_json::Value), String> {
        let start = stdout
            .find('{')
            .ok_or("no JSON object in chat-load output")?;
        let end = stdout
            .rfind('}')
            .ok_or("no JSON object in chat-load output")?;
        if end < start {
            return Err("no JSON object in chat-load output".into());
        }
        let value: serde_json::Value = serde_json::from_str(&stdout[start..=end])
            .map_err(|err| format!("chat-load output is not JSON: {err}"))?;
        let report = serde_json::from_value(value.clone())
            .map_err(|err| format!("chat-load output is not an object: {err}"))?;
        Ok((report, value))
    }

    /// Server CPU microseconds per delivery received: the cost of one fan-out write.
    pub fn cpu_us_per_delivery(&self) -> Option<f64> {
        let cpu = self.server.as_ref()?.cpu_secs?;
        let received = self.deliveries_received?;
        (received > 0.0).then(|| cpu * 1e6 / received)
    }

    /// The latency block, if any.
    pub fn latency(&self) -> Latency {
        self.latency_us.clone().unwrap_or_default()
    }

    /// The server block, if any.
    pub fn server_stats(&self) -> ServerStats {
        self.server.clone().unwrap_or_default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The example from the chat-load schema.
    pub(crate) const FANOUT_FIXTURE: &str = r#"{"mode":"fanout","addr":"127.0.0.1:5002","clients":1000,"connected":1000,"connect_failures":0,"connect_errors":{"ECONNREFUSED":0},"senders":100,"rate_per_sender":2.0,"payload_bytes":64,"duration_secs":10.0,
 "messages_sent":2000,"deliveries_expected":2000000,"deliveries_received":2000000,"delivered_fraction":1.0,"deliveries_per_sec":200000.0,
 "latency_us":{"p50":120,"p90":300,"p99":900,"p999":2000,"max":5000,"count":2000000},
 "hold":{"alive":1000}, "slow":{"slow_clients":1,"slow_dropped":1}, "connect_latency_us":null,
 "server":{"pid":123,"rss_peak_kb":20000,"rss_end_kb":18000,"threads_peak":1,"cpu_secs":1.23},
 "disconnected_early":0,"wall_secs":12.3,"errors":["..."]}"#;

    #[test]
    fn schema_fixture_parses() {
        let (report, _) = LoadReport::parse(FANOUT_FIXTURE).unwrap();
        assert_eq!(report.connected, Some(1000.0));
        assert_eq!(report.latency().p99, Some(900.0));
        assert_eq!(report.server_stats().rss_peak_kb, Some(20000.0));
        assert_eq!(report.slow.unwrap().slow_dropped, Some(1.0));
        assert_eq!(report.connect_latency_us, None);
    }

    #[test]
    fn changed_field_type_reads_as_missing() {
        let text = r#"{"connected":"lots","latency_us":{"p99":"fast","p50":10}}"#;
        let (report, _) = LoadReport::parse(text).unwrap();
        assert_eq!(report.connected, None);
        assert_eq!(report.latency().p99, None);
        assert_eq!(report.latency().p50, Some(10.0));
    }

    #[test]
    fn missing_fields_are_none() {
        let (report, _) = LoadReport::parse("{}").unwrap();
        assert_eq!(report, LoadReport::default());
    }

    #[test]
    fn log_lines_around_the_object_are_ignored() {
        let text = "warming up\n{\"connected\": 5}\n";
        let (report, _) = LoadReport::parse(text).unwrap();
        assert_eq!(report.connected, Some(5.0));
    }

    #[test]
    fn no_object_is_an_error() {
        assert!(LoadReport::parse("error: refused").is_err());
    }

    #[test]
    fn cpu_per_delivery_in_microseconds() {
        let (report, _) = LoadReport::parse(FANOUT_FIXTURE).unwrap();
        let per = report.cpu_us_per_delivery().unwrap();
        assert!((per - 0.615).abs() < 1e-9, "got {per}");
    }

    #[test]
    fn cpu_per_delivery_needs_deliveries() {
        let text = r#"{"deliveries_received":0,"server":{"cpu_secs":1.0}}"#;
        let (report, _) = LoadReport::parse(text).unwrap();
        assert_eq!(report.cpu_us_per_delivery(), None);
    }
}
