//! What the report says about the box the numbers came from: kernel, cores, memory, CPU model,
//! date. Read from `uname(2)` and `/proc` so no extra crate or subprocess is needed.

use std::ffi::CStr;
use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

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
        Machine {
            kernel: kernel_name(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_mib: fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|text| mem_total_kib(&text))
                .map(|kib| kib / 1024),
            cpu_model: fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|text| cpu_model(&text)),
            tcp_wmem: fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
                .ok()
                .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" ")),
        }
    }
}

fn kernel_name() -> String {
    // SAFETY: utsname is plain bytes; uname fills it and NUL-terminates every field.
    unsafe {
        let mut name: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut name) != 0 {
            return "unknown".into();
        }
        let sysname = CStr::from_ptr(name.sysname.as_ptr()).to_string_lossy();
        let release = CStr::from_ptr(name.release.as_ptr()).to_string_lossy();
        format!("{sysname} {release}")
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
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    format_utc(secs)
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM UTC` (civil-from-days, proleptic Gregorian).
pub fn format_utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let minute_of_day = (unix_secs % 86_400) / 60;
    // Howard Hinnant's days-to-civil algorithm, eras of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_1970() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn leap_day() {
        assert_eq!(
            format_utc(951_782_400 + 3_600 + 120),
            "2000-02-29 01:02 UTC"
        );
    }

    #[test]
    fn end_of_year() {
        assert_eq!(format_utc(1_735_689_599), "2024-12-31 23:59 UTC");
    }

    #[test]
    fn mem_total_parsed() {
        let text = "MemTotal:       24683520 kB\nMemFree: 1 kB\n";
        assert_eq!(mem_total_kib(text), Some(24_683_520));
    }
}
