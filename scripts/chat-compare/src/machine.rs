//! What the report says about the box the numbers came from: kernel, cores, memory, CPU model,
//! date. Read from `/proc`, so no subprocess is needed.

use std::fs;

use serde::{Deserialize, Serialize};

/// The machine a run happened on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `uname -sr`, e.g. `Linux 6.8.0`.
    pub kernel: String,
    /// Cores available to this process.
    pub cores: usize,
    /// `MemTotal` from `/proc/meminfo`, MiB.
    pub memory_mib: Option<u64>,
    /// First `model name` in `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// `net.ipv4.tcp_wmem` (min default max): how much a stuck socket's kernel buffer can hold
    /// before the server's own queue limit is reached.
    pub tcp_wmem: Option<String>,
}

impl Machine {
    /// Reads the current machine.
    pub fn current() -> Machine {
        let read = |path: &str| fs::read_to_string(path).ok();
        let words = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
        let kernel = read("/proc/sys/kernel/ostype").zip(read("/proc/sys/kernel/osrelease"));
        Machine {
            kernel: kernel.map_or("unknown".into(), |(os, release)| words(os + " " + &release)),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_mib: read("/proc/meminfo")
                .and_then(|text| mem_total_kib(&text))
                .map(|kib| kib / 1024),
            cpu_model: read("/proc/cpuinfo").and_then(|text| cpu_model(&text)),
            tcp_wmem: read("/proc/sys/net/ipv4/tcp_wmem").map(words),
        }
    }
}

/// `MemTotal:  24683520 kB` -> 24683520.
pub fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
}

/// Now as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_parsed() {
        let text = "MemTotal:       24683520 kB\nMemFree: 1 kB\n";
        assert_eq!(mem_total_kib(text), Some(24_683_520));
    }
}
