//! Measurement: latency histograms (hdrhistogram, microseconds) and the
//! server process's RSS, threads and CPU read from /proc.
//!
//! It does not decide what to measure or when; the run loop calls
//! [`ServerWatch::cpu_ticks`] at phase boundaries, [`ServerWatch::rss_kb`]
//! after each churn round, and records latencies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency the histograms hold: longer than any run may last, so
/// nothing is clamped in practice.
const MAX_LATENCY_US: u64 = 2 * 3600 * 1_000_000;

/// How often the server process is sampled.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// A fresh histogram with microsecond resolution and 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant bounds are valid")
}

/// The percentiles the report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Median, microseconds.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value seen.
    pub max: u64,
    /// How many values were recorded.
    pub count: u64,
}

/// Summarises a histogram; `None` when nothing was recorded, so an empty
/// measurement shows as `null` rather than as zero latency.
pub fn summarize(hist: &Histogram<u64>) -> Option<LatencySummary> {
    if hist.is_empty() {
        return None;
    }
    Some(LatencySummary {
        p50: hist.value_at_quantile(0.50),
        p90: hist.value_at_quantile(0.90),
        p99: hist.value_at_quantile(0.99),
        p999: hist.value_at_quantile(0.999),
        max: hist.max(),
        count: hist.len(),
    })
}

/// One reading of /proc/PID/status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusSample {
    /// Resident set size now (VmRSS), KiB.
    pub rss_kb: u64,
    /// Peak resident set size over the process's life (VmHWM), KiB.
    pub hwm_kb: u64,
    /// Thread count.
    pub threads: u64,
}

/// Parses the fields we need from the text of /proc/PID/status.
pub fn parse_status(text: &str) -> Option<StatusSample> {
    let mut sample = StatusSample::default();
    let mut found = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "VmRSS" => &mut sample.rss_kb,
            "VmHWM" => &mut sample.hwm_kb,
            "Threads" => &mut sample.threads,
            _ => continue,
        };
        // Values look like "   12345 kB" or "\t3".
        *slot = value.split_whitespace().next()?.parse().ok()?;
        found += 1;
    }
    (found == 3).then_some(sample)
}

/// Parses utime + stime (clock ticks) from the text of /proc/PID/stat. The
/// command name in parentheses may hold spaces and ')', so fields are
/// counted from the last ')'.
pub fn parse_stat_cpu_ticks(text: &str) -> Option<u64> {
    let after_comm = &text[text.rfind(')')? + 1..];
    // After the name: state is field 3, utime field 14, stime field 15.
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second, to turn /proc/PID/stat times into seconds.
pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// What the sampler saw over the whole run.
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchSummary {
    /// The first VmRSS sampled, before any client connected, KiB.
    pub rss_start_kb: u64,
    /// Largest VmRSS sampled, KiB.
    pub rss_peak_kb: u64,
    /// The last VmRSS sampled, KiB.
    pub rss_end_kb: u64,
    /// VmHWM at the last sample, KiB.
    pub hwm_kb: u64,
    /// Most threads sampled.
    pub threads_peak: u64,
    /// How many samples were taken.
    pub samples: u64,
    /// True if the process vanished (or stopped being readable) mid-run.
    pub lost: bool,
}

/// Samples a server process every [`SAMPLE_INTERVAL`] on its own thread.
#[derive(Debug)]
pub struct ServerWatch {
    /// The process watched.
    pid: u32,
    /// Tells the sampler thread to stop.
    stop: Arc<AtomicBool>,
    /// The sampler thread; returns its summary.
    sampler: Option<JoinHandle<WatchSummary>>,
}

impl ServerWatch {
    /// Starts sampling; fails at once if the process cannot be read.
    pub fn start(pid: u32) -> std::io::Result<ServerWatch> {
        // The first sample is taken here, so even a run shorter than one
        // interval has figures, and a bad pid fails before the run starts.
        let first = read_status(pid)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let sampler = std::thread::Builder::new()
            .name("proc-sampler".into())
            .spawn(move || sample_until(pid, first, &flag))?;
        Ok(ServerWatch {
            pid,
            stop,
            sampler: Some(sampler),
        })
    }

    /// The process's CPU time so far, in clock ticks; `None` if unreadable.
    pub fn cpu_ticks(&self) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        parse_stat_cpu_ticks(&text)
    }

    /// The process's resident set size now (VmRSS), KiB; `None` if unreadable.
    pub fn rss_kb(&self) -> Option<u64> {
        rss_kb(self.pid)
    }

    /// Stops the sampler and returns what it saw.
    pub fn finish(mut self) -> WatchSummary {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    }
}

/// A process's resident set size now (VmRSS), KiB; `None` if unreadable.
pub fn rss_kb(pid: u32) -> Option<u64> {
    read_status(pid).ok().map(|sample| sample.rss_kb)
}

fn read_status(pid: u32) -> std::io::Result<StatusSample> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status(&text).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("/proc/{pid}/status lacks VmRSS/VmHWM/Threads"),
        )
    })
}

fn sample_until(pid: u32, first: StatusSample, stop: &AtomicBool) -> WatchSummary {
    let mut summary = WatchSummary::default();
    summary.add(first);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(SAMPLE_INTERVAL);
        match read_status(pid) {
            Ok(sample) => summary.add(sample),
            Err(_) => {
                summary.lost = true;
                break;
            }
        }
    }
    summary
}

impl WatchSummary {
    fn add(&mut self, sample: StatusSample) {
        if self.samples == 0 {
            self.rss_start_kb = sample.rss_kb;
        }
        self.rss_peak_kb = self.rss_peak_kb.max(sample.rss_kb);
        self.rss_end_kb = sample.rss_kb;
        self.hwm_kb = sample.hwm_kb;
        self.threads_peak = self.threads_peak.max(sample.threads);
        self.samples += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_sample_is_the_start_the_last_the_end() {
        let mut summary = WatchSummary::default();
        for rss_kb in [5000, 9000, 7000] {
            summary.add(StatusSample {
                rss_kb,
                hwm_kb: 9000,
                threads: 3,
            });
        }
        let (start, peak, end) = (
            summary.rss_start_kb,
            summary.rss_peak_kb,
            summary.rss_end_kb,
        );
        assert_eq!((start, peak, end), (5000, 9000, 7000));
    }

    const STATUS: &str = "Name:\tchat-server\nUmask:\t0022\nState:\tS (sleeping)\n\
VmPeak:\t  123456 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   18000 kB\nThreads:\t3\n";

    #[test]
    fn status_fields_are_parsed() {
        assert_eq!(
            parse_status(STATUS),
            Some(StatusSample {
                rss_kb: 18000,
                hwm_kb: 20480,
                threads: 3
            })
        );
    }

    #[test]
    fn status_without_memory_lines_is_none() {
        // A zombie has no Vm* lines.
        assert_eq!(parse_status("Name:\tx\nThreads:\t1\n"), None);
    }

    #[test]
    fn stat_cpu_ticks_are_utime_plus_stime() {
        let stat = "4242 (chat server) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    150 25 0 0 20 0 1 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(175));
    }

    #[test]
    fn stat_with_parenthesis_in_name() {
        let stat = "7 (a) b) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1 1";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(7));
    }

    #[test]
    fn own_process_is_readable() {
        let watch = ServerWatch::start(std::process::id()).unwrap();
        assert!(watch.cpu_ticks().is_some());
        assert!(watch.rss_kb().is_some_and(|kb| kb > 0));
        let summary = watch.finish();
        assert!(summary.rss_peak_kb > 0 && summary.threads_peak >= 1);
    }

    #[test]
    fn latency_summary_of_empty_histogram_is_none() {
        assert_eq!(summarize(&new_histogram()), None);
    }

    #[test]
    fn latency_summary_percentiles() {
        let mut hist = new_histogram();
        for v in 1..=1000 {
            hist.record(v).unwrap();
        }
        let s = summarize(&hist).unwrap();
        assert_eq!(s.count, 1000);
        assert_eq!(s.max, 1000);
        assert!((499..=501).contains(&s.p50), "{s:?}");
        assert!((989..=991).contains(&s.p99), "{s:?}");
    }
}
