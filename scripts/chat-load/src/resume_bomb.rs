//! `chat-load resume-bomb`: issue 17's second attack. Can one script fill
//! the server's memory, and does the memory come back?
//!
//! The log is filled with `--messages` messages of `--payload` bytes. A
//! probe desk joins (learning the log's epoch) and reads throughout. Then
//! `-n` desks, each with a 4 KiB receive buffer, connect one after the
//! other, send `/join` and `/resume EPOCH 0` (the whole log, please) and
//! never read; `-d` seconds after the last one connected the probe asks
//! `/who`, and they all close. Reported ([`BurstReport`]): the server's
//! VmRSS before the first connected, its peak (sampled every 100 ms until
//! the close), 1 s and `--settle` (11) s after the close; and how many of
//! the desks the server had dropped, the ones `/who` no longer counts.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::attack::{self, field, kind, Desk, ReadEnd, Target};
use crate::common::{self, Progress};
use crate::config::{AttackPlan, Config};
use crate::conn::CONNECT_TIMEOUT;
use crate::report::{BurstReport, Report};
use crate::Error;

/// Each desk's SO_RCVBUF: small, so the server keeps what it cannot send.
const BOMB_RCVBUF_BYTES: usize = 4096;

/// How long the server settles after starting, and the probe after joining,
/// before the first reading.
const SETTLE: Duration = Duration::from_millis(500);

/// How long the probe waits for its `/who` to be answered.
const WHO_LIMIT: Duration = Duration::from_secs(10);

/// How often the probe looks whether it is time to ask.
const PROBE_CHECK: Duration = Duration::from_millis(100);

/// Runs the resume bomb `plan` describes.
pub fn run(config: &Config, plan: &AttackPlan) -> Result<Report, Error> {
    let started = Instant::now();
    let mut progress = Progress::new(config);
    common::raise_fd_limit(config.clients)?;
    let target = Target::new(plan)?;
    progress.say(&format!(
        "filling the log with {} messages of {} bytes",
        plan.messages, config.payload_bytes
    ));
    let filler = "x".repeat(config.payload_bytes.saturating_sub(6));
    let fill = target.fill(plan.messages, |index| format!("{index:05} {filler}"))?;
    progress.say(&format!(
        "log filled in {:.1} s; {} desks resume it",
        fill.as_secs_f64(),
        config.clients
    ));
    let mut server = target.start_attacked(&[])?;
    let addr = server.addr();
    thread::sleep(SETTLE);
    let probe = Desk::join(addr, "probe").map_err(|source| Error::Io {
        context: "the probe joining the attacked server".into(),
        source,
    })?;
    let epoch = probe
        .epoch()
        .ok_or_else(|| Error::Worker("the probe's WELCOME names no epoch".into()))?
        .to_string();
    let ask = Arc::new(AtomicBool::new(false));
    let probing = {
        let ask = Arc::clone(&ask);
        thread::spawn(move || count_online(probe, &ask))
    };
    thread::sleep(SETTLE);

    let mut burst = attack::burst(
        &mut server,
        config.clients,
        (config.duration, plan.settle),
        |index| bomb(addr, &format!("/join bomb{index}\n/resume {epoch} 0\n")),
        |_| {
            ask.store(true, Ordering::Relaxed);
            probing.join()
        },
    )?;
    progress.finish();
    let mut errors = Vec::new();
    let desks = burst.opened as u64;
    let dropped = match burst.found {
        // The probe is online too.
        Ok(Ok(online)) => desks.saturating_sub(online.saturating_sub(1)),
        Ok(Err(err)) => {
            errors.push(format!("the probe's /who went unanswered: {err}"));
            0
        }
        Err(_) => return Err(Error::Worker("the probe's thread panicked".into())),
    };
    errors.extend(attack::stop(&mut server));

    let mut report = Report::of_run(config, addr.to_string());
    report.connected = burst.opened;
    report.connect_errors = std::mem::take(&mut burst.connect_errors);
    report.connect_failures = report.connect_errors.values().sum::<u64>() as usize;
    report.resume_bomb = Some(BurstReport {
        log_messages: plan.messages as u64,
        desks,
        rss_before_kb: burst.rss_before_kb,
        rss_peak_kb: burst.server.rss_peak_kb,
        rss_1s_after_kb: burst.rss_1s_after_kb,
        rss_settled_kb: burst.rss_settled_kb,
        settled_after_secs: plan.settle.as_secs_f64(),
        dropped,
        server_alive: burst.server_alive,
    });
    report.server = Some(burst.server);
    report.wall_secs = started.elapsed().as_secs_f64();
    report.errors = errors;
    Ok(report)
}

/// One desk of the bomb: connected with a small receive buffer, `lines`
/// sent, never read.
fn bomb(addr: SocketAddr, lines: &str) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_recv_buffer_size(BOMB_RCVBUF_BYTES)?;
    socket.connect_timeout(&SockAddr::from(addr), CONNECT_TIMEOUT)?;
    let mut stream = TcpStream::from(socket);
    stream.write_all(lines.as_bytes())?;
    Ok(stream)
}

/// The probe: reads everything until `ask`, then asks `/who` and returns
/// how many are online.
fn count_online(mut probe: Desk, ask: &AtomicBool) -> io::Result<u64> {
    while !ask.load(Ordering::Relaxed) {
        if probe.read_until(Instant::now() + PROBE_CHECK, |_| ControlFlow::Continue(()))?
            == ReadEnd::Closed
        {
            return Err(io::Error::other("the server closed the probe"));
        }
    }
    probe.send("/who")?;
    let mut online = None;
    probe.read_until(Instant::now() + WHO_LIMIT, |line| {
        if kind(line) == "WHO" {
            online = field(line, 1).and_then(|count| count.parse().ok());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    online.ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no WHO answer"))
}
