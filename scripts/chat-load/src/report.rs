//! The run's results: the [`Report`] that `--json` prints as one object, and
//! the human summary. `chat-compare` reads the JSON back into these same
//! types, so renaming or retyping a field it uses breaks its build rather
//! than its report.
//!
//! Fields that do not apply to a mode are `None`, printed as `null`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::LatencySummary;

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// `hold`, `fanout`, `connect`, `churn` or `slow`.
    pub mode: String,
    /// The server address as given.
    pub addr: String,
    /// Connections asked for (churn: at once).
    pub clients: usize,
    /// Of those, how many connected (the initial connections; churn
    /// replacements are in `churn.connections_opened`).
    pub connected: usize,
    /// Failed connects, replacements included.
    pub connect_failures: usize,
    /// Failed connects by errno name.
    pub connect_errors: BTreeMap<String, u64>,
    /// Clients that send; `null` for hold and connect.
    pub senders: Option<usize>,
    /// Messages per second per sender; `null` for hold and connect.
    pub rate_per_sender: Option<f64>,
    /// TEXT bytes per message.
    pub payload_bytes: usize,
    /// The measured phase's configured length (connect: its upper bound).
    pub duration_secs: f64,
    /// Measured messages sent (hold and connect: the one final broadcast).
    pub messages_sent: u64,
    /// Deliveries owed: per message, the reading clients registered when it
    /// was sent (slow clients excluded).
    pub deliveries_expected: u64,
    /// Deliveries that arrived, counted within each client's window.
    pub deliveries_received: u64,
    /// received / expected; `null` when nothing was expected.
    pub delivered_fraction: Option<f64>,
    /// Deliveries per second, from the measured phase's start to the last
    /// delivery.
    pub deliveries_per_sec: f64,
    /// End-to-end latency of deliveries, microseconds; `null` if none.
    pub latency_us: Option<LatencySummary>,
    /// Hold and connect modes.
    pub hold: Option<HoldReport>,
    /// Slow mode.
    pub slow: Option<SlowReport>,
    /// Churn mode (an addition to the original schema).
    pub churn: Option<ChurnReport>,
    /// Connect mode: connect() to established, microseconds.
    pub connect_latency_us: Option<LatencySummary>,
    /// With `--server-pid`.
    pub server: Option<ServerReport>,
    /// Reading clients that the server closed, or whose socket failed, before
    /// the end.
    pub disconnected_early: u64,
    /// Whole run, setup to summary.
    pub wall_secs: f64,
    /// Things that went wrong or deserve a look, with counts.
    pub errors: Vec<String>,
}

/// `hold.alive`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldReport {
    /// Clients that received the final broadcast.
    pub alive: u64,
}

/// The slow-reader result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlowReport {
    /// Clients that never read.
    pub slow_clients: u64,
    /// Of those, how many the server had dropped by the end.
    pub slow_dropped: u64,
    /// Bytes the slow clients found waiting when read after the run (an
    /// addition to the original schema): what kernel buffers and the server
    /// held for them. A drop needs more than this plus `--max-queue`.
    pub bytes_read_after_run: u64,
}

/// The churn result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnReport {
    /// Successful connects over the run, replacements included.
    pub connections_opened: u64,
    /// Mean lifetime of one connection, seconds.
    pub lifetime_secs: f64,
}

/// The server process, sampled from /proc every 100 ms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerReport {
    /// The process watched.
    pub pid: u32,
    /// Largest VmRSS sampled, KiB.
    pub rss_peak_kb: u64,
    /// Last VmRSS sampled, KiB.
    pub rss_end_kb: u64,
    /// VmHWM (peak RSS over the process's whole life) at the end, KiB.
    pub vm_hwm_kb: u64,
    /// Most threads sampled.
    pub threads_peak: u64,
    /// utime + stime over the measured phase and drain, seconds.
    pub cpu_secs: f64,
}

impl Report {
    /// The one-line-per-fact summary printed when `--json` is not given.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!(
            "chat-load {} against {}: {} of {} connected, {} connect failures{}",
            self.mode,
            self.addr,
            self.connected,
            self.clients,
            self.connect_failures,
            errors_inline(&self.connect_errors),
        ));
        if let (Some(senders), Some(rate)) = (self.senders, self.rate_per_sender) {
            line(format!(
                "  load: {senders} senders x {rate} msg/s, {} byte payload, {:.1} s",
                self.payload_bytes, self.duration_secs
            ));
        }
        let fraction = self
            .delivered_fraction
            .map_or("n/a".to_string(), |f| format!("{:.4}%", f * 100.0));
        line(format!(
            "  messages sent {}, deliveries {} of {} expected ({fraction}), {:.0}/s",
            self.messages_sent,
            self.deliveries_received,
            self.deliveries_expected,
            self.deliveries_per_sec
        ));
        if let Some(lat) = &self.latency_us {
            line(format!("  latency   {}", latency_inline(lat)));
        }
        if let Some(lat) = &self.connect_latency_us {
            line(format!("  connect   {}", latency_inline(lat)));
        }
        if let Some(hold) = &self.hold {
            line(format!(
                "  alive: {} of {} received the final broadcast",
                hold.alive, self.clients
            ));
        }
        if let Some(slow) = &self.slow {
            line(format!(
                "  slow readers: {} of {} dropped by the server ({} bytes were waiting for them)",
                slow.slow_dropped, slow.slow_clients, slow.bytes_read_after_run
            ));
        }
        if let Some(churn) = &self.churn {
            line(format!(
                "  churn: {} connections opened, mean lifetime {:.2} s",
                churn.connections_opened, churn.lifetime_secs
            ));
        }
        if let Some(server) = &self.server {
            line(format!(
                "  server pid {}: rss peak {} KiB, end {} KiB (hwm {} KiB), threads {}, cpu {:.2} s",
                server.pid,
                server.rss_peak_kb,
                server.rss_end_kb,
                server.vm_hwm_kb,
                server.threads_peak,
                server.cpu_secs
            ));
        }
        line(format!(
            "  disconnected early {}, wall {:.1} s",
            self.disconnected_early, self.wall_secs
        ));
        for error in &self.errors {
            line(format!("  note: {error}"));
        }
        out
    }
}

fn latency_inline(lat: &LatencySummary) -> String {
    format!(
        "us p50 {} p90 {} p99 {} p99.9 {} max {} (n={})",
        lat.p50, lat.p90, lat.p99, lat.p999, lat.max, lat.count
    )
}

fn errors_inline(errors: &BTreeMap<String, u64>) -> String {
    let mut out = String::new();
    for (name, count) in errors.iter().filter(|(_, &c)| c > 0) {
        let sep = if out.is_empty() { " (" } else { ", " };
        let _ = write!(out, "{sep}{name} {count}");
    }
    if !out.is_empty() {
        out.push(')');
    }
    out
}
