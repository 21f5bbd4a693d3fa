//! `chat-load handshake-stall`: issue 17's stalled TLS handshakes. Does
//! the memory of a crowd of half-open TLS connections come back?
//!
//! The server is started with `--tls` (its defaults otherwise, a
//! certificate made at its start). `-n` connections each send a real
//! ClientHello, a session of their own, so the server does the key
//! exchange and sends its flight, and then nothing more; `-d` seconds later
//! they all close. Reported ([`BurstReport`]): the server's VmRSS before the
//! first connected, its peak, 1 s and `--settle` (11) s after the close,
//! and how many of the connections the server had closed itself (its login
//! timeout ends a handshake that does not finish).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use rustls::ClientConfig;

use crate::attack::{self, Target};
use crate::common::{self, Progress};
use crate::config::{AttackPlan, Config};
use crate::conn::CONNECT_TIMEOUT;
use crate::report::{BurstReport, Report};
use crate::tls;
use crate::Error;

/// Runs the stalled handshakes `plan` describes.
pub fn run(config: &Config, plan: &AttackPlan) -> Result<Report, Error> {
    let started = std::time::Instant::now();
    let mut progress = Progress::new(config);
    common::raise_fd_limit(config.clients)?;
    let target = Target::new(plan)?;
    let mut server = target.start_attacked(&["--tls"])?;
    let addr = server.addr();
    progress.say(&format!(
        "{} connections send a ClientHello and stall",
        config.clients
    ));
    let client = tls::client_config();
    let burst = attack::burst(
        &mut server,
        config.clients,
        (config.duration, plan.settle),
        |_| stall(addr, &client),
        |streams| streams.iter().filter(|s| closed_by_server(s)).count(),
    )?;
    progress.finish();
    let mut errors = Vec::new();
    errors.extend(attack::stop(&mut server));

    let mut report = Report::of_run(config, addr.to_string());
    report.tls = true;
    report.connected = burst.opened;
    report.connect_failures = burst.connect_errors.values().sum::<u64>() as usize;
    report.connect_errors = burst.connect_errors;
    report.handshake_stall = Some(BurstReport {
        log_messages: 0,
        desks: burst.opened as u64,
        rss_before_kb: burst.rss_before_kb,
        rss_peak_kb: burst.server.rss_peak_kb,
        rss_1s_after_kb: burst.rss_1s_after_kb,
        rss_settled_kb: burst.rss_settled_kb,
        settled_after_secs: plan.settle.as_secs_f64(),
        dropped: burst.found as u64,
        server_alive: burst.server_alive,
    });
    report.server = Some(burst.server);
    report.wall_secs = started.elapsed().as_secs_f64();
    report.errors = errors;
    Ok(report)
}

/// One stalled handshake: connected, a ClientHello sent, nothing more.
fn stall(addr: SocketAddr, client: &Arc<ClientConfig>) -> io::Result<TcpStream> {
    let mut session = tls::session(client, addr)?;
    let mut hello = Vec::new();
    session.write_tls(&mut hello)?;
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.write_all(&hello)?;
    Ok(stream)
}

/// Whether the server has closed this connection: what it sent (its
/// flight, a few KiB) is read up to the end, or up to what is not there yet.
fn closed_by_server(mut stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut buf = [0; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}
