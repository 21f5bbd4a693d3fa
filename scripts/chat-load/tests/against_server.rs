//! chat-load against the real chat-server (in-process, port 0): a few
//! hundred clients for a couple of seconds, through the library entry point
//! and once through the binary's `--json`.

use std::process::Command;

use chat_load::{parse_args, run, Report};
use chat_server::config::Db;
use chat_server::{Config as ServerConfig, RunningServer};

fn start_server(config: ServerConfig) -> RunningServer {
    RunningServer::start(config).expect("the server starts on 127.0.0.1:0")
}

/// No idle timeout, and the room in memory: load tests must never write the
/// default log under the user's home.
fn quiet_server() -> ServerConfig {
    ServerConfig {
        idle_timeout: None,
        db: Db::None,
        ..ServerConfig::default()
    }
}

fn load(server: &RunningServer, args: &[&str]) -> Report {
    let addr = server.addr().to_string();
    let mut all = args.to_vec();
    all.extend(["--addr", &addr, "--quiet", "--drain", "5"]);
    let config = parse_args(&all).expect("test flags are valid");
    run(&config).expect("the run completes")
}

#[track_caller]
fn assert_complete_delivery(report: &Report) {
    assert_eq!(
        report.connected, report.clients,
        "all connected: {report:#?}"
    );
    assert!(
        report.deliveries_expected > 0,
        "something was expected: {report:#?}"
    );
    assert_eq!(
        report.deliveries_received, report.deliveries_expected,
        "every delivery arrived: {report:#?}"
    );
    assert_eq!(report.delivered_fraction, Some(1.0));
    assert_eq!(report.disconnected_early, 0);
}

#[test]
fn fanout_delivers_everything() {
    let server = start_server(quiet_server());
    let report = load(
        &server,
        &[
            "fanout",
            "-n",
            "300",
            "--senders",
            "30",
            "--rate",
            "2",
            "-d",
            "2",
        ],
    );
    assert_complete_delivery(&report);
    // 30 senders x 2/s x 2 s, give or take the schedule's jitter.
    assert!((90..=150).contains(&report.messages_sent), "{report:#?}");
    assert_eq!(report.deliveries_expected, report.messages_sent * 300);
    let latency = report.latency_us.expect("latency was measured");
    assert_eq!(latency.count, report.deliveries_received);
}

/// The same, taking TLS and plain on one port, a certificate made at start.
fn tls_server() -> ServerConfig {
    ServerConfig {
        tls: Some(chat_server::config::Tls {
            files: None,
            required: false,
        }),
        ..quiet_server()
    }
}

#[test]
fn tls_fanout_delivers_everything_and_times_the_handshakes() {
    let server = start_server(tls_server());
    let report = load(
        &server,
        &[
            "fanout",
            "--tls",
            "-n",
            "100",
            "--senders",
            "10",
            "--rate",
            "2",
            "-d",
            "2",
        ],
    );
    assert_complete_delivery(&report);
    assert!(report.tls);
    let handshakes = report.tls_handshake_us.expect("handshakes were timed");
    assert_eq!(handshakes.count, 100);
    let order = report.order.expect("the order was checked");
    assert_eq!((order.receivers, order.receivers_differing), (100, 0));
}

#[test]
fn tls_hold_keeps_every_client_alive() {
    let server = start_server(tls_server());
    let report = load(&server, &["hold", "--tls", "-n", "200", "-d", "1"]);
    assert_complete_delivery(&report);
    assert_eq!(report.hold.map(|h| h.alive), Some(200));
}

#[test]
fn clients_spread_over_addresses_see_one_order() {
    let server = start_server(quiet_server());
    // The same server twice: round robin over two entries, one room.
    let addr = server.addr().to_string();
    let both = format!("{addr},{addr}");
    let config = parse_args(&[
        "fanout",
        "-n",
        "100",
        "--senders",
        "10",
        "--rate",
        "4",
        "-d",
        "2",
        "--addr",
        &both,
        "--quiet",
    ])
    .expect("test flags are valid");
    let report = run(&config).expect("the run completes");
    assert_complete_delivery(&report);
    let order = report.order.expect("the order was checked");
    assert_eq!(order.servers, 2);
    assert_eq!(order.receivers, 100);
    assert_eq!(order.receivers_differing, 0, "{order:?}");
    assert_eq!(order.unchecked, 0);
}

#[test]
fn hold_keeps_every_client_alive() {
    let server = start_server(quiet_server());
    let report = load(&server, &["hold", "-n", "300", "-d", "1"]);
    assert_complete_delivery(&report);
    assert_eq!(report.messages_sent, 1);
    assert_eq!(report.hold.expect("hold section").alive, 300);
}

#[test]
fn churn_counts_only_owed_deliveries() {
    let server = start_server(quiet_server());
    let report = load(
        &server,
        &[
            "churn",
            "-n",
            "50",
            "--rate",
            "2",
            "--lifetime",
            "0.5",
            "-d",
            "2",
        ],
    );
    assert_complete_delivery(&report);
    let churn = report.churn.expect("churn section");
    assert!(churn.connections_opened > 100, "{churn:?}");
}

#[test]
fn churn_in_rounds_reports_rss_after_each_round() {
    let server = start_server(quiet_server());
    // The server runs in this process, so this process's RSS is the server's.
    let pid = std::process::id().to_string();
    let report = load(
        &server,
        &["churn", "-n", "50", "--rounds", "4", "--server-pid", &pid],
    );
    assert_complete_delivery(&report);
    // Every client speaks once per round, to a room of all 50.
    assert_eq!(report.messages_sent, 4 * 50);
    assert_eq!(report.deliveries_expected, report.messages_sent * 50);
    let churn = report.churn.as_ref().expect("churn section");
    assert_eq!(churn.rounds_asked, Some(4));
    assert_eq!(churn.lifetime_secs, None);
    assert_eq!(churn.connections_opened, 4 * 50);
    let rounds: Vec<u32> = churn.rounds.iter().map(|r| r.round).collect();
    assert_eq!(rounds, [1, 2, 3, 4], "{churn:?}");
    for round in &churn.rounds {
        assert_eq!(round.connected, 50, "{round:?}");
        assert!(round.rss_kb.is_some_and(|kb| kb > 0), "{round:?}");
    }
    assert!(churn.rss_curve().is_some());
}

#[test]
fn slow_readers_are_dropped_and_others_unharmed() {
    // No rate limit, so a few senders can push more at the slow clients than
    // the kernel's socket buffers (up to 4 MiB on loopback) and the server's
    // queue hold together.
    let server = start_server(ServerConfig {
        rate_limit: None,
        ..quiet_server()
    });
    let report = load(
        &server,
        &[
            "slow",
            "-n",
            "20",
            "--slow",
            "2",
            "--slow-rcvbuf",
            "4096",
            "--senders",
            "10",
            "--rate",
            "60",
            "--payload",
            "4000",
            "-d",
            "3",
        ],
    );
    assert_complete_delivery(&report);
    let slow = report.slow.as_ref().expect("slow section");
    assert_eq!(slow.slow_clients, 2);
    assert_eq!(slow.slow_dropped, 2, "{report:#?}");
}

#[test]
fn binary_prints_one_json_object() {
    let server = start_server(quiet_server());
    let output = Command::new(env!("CARGO_BIN_EXE_chat-load"))
        .args([
            "fanout",
            "-n",
            "50",
            "--senders",
            "5",
            "-d",
            "1",
            "--json",
            "--addr",
        ])
        .arg(server.addr().to_string())
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is exactly one JSON object");
    assert_eq!(json["mode"], "fanout");
    assert_eq!(json["clients"], 50);
    assert_eq!(json["delivered_fraction"], 1.0);
    assert!(json["latency_us"]["p99"].is_u64());
    assert!(json["hold"].is_null() && json["slow"].is_null() && json["server"].is_null());
}

#[test]
fn binary_refuses_a_non_loopback_target() {
    let output = Command::new(env!("CARGO_BIN_EXE_chat-load"))
        .args(["hold", "--addr", "10.0.0.1:5002"])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}
