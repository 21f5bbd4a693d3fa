//! chat-load against the real chat-server (in-process, port 0): a few
//! hundred clients for a couple of seconds, through the library entry point
//! and once through the binary's `--json`; twenty clients in four rooms. The slow-reader run and the TLS
//! and several-address runs have test binaries of their own.

mod common;

use std::process::Command;

use common::{assert_complete_delivery, load, quiet_server, start_server};

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

#[test]
fn hold_keeps_every_client_alive() {
    let server = start_server(quiet_server());
    let report = load(&server, &["hold", "-n", "300", "-d", "1"]);
    assert_complete_delivery(&report);
    assert_eq!(report.messages_sent, 1);
    assert_eq!(report.hold.expect("hold section").alive, 300);
}

/// Clients spread over rooms get their room's messages, all of them, in
/// one order per room, and none of another room's: 20 clients in 4 rooms,
/// the 2 senders in rooms 0 and 1, so rooms 2 and 3 stay quiet.
#[test]
fn fanout_in_rooms_delivers_each_room_to_its_members_only() {
    let server = start_server(quiet_server());
    let report = load(
        &server,
        &[
            "fanout",
            "-n",
            "20",
            "--rooms",
            "4",
            "--senders",
            "2",
            "--rate",
            "10",
            "-d",
            "2",
        ],
    );
    assert_complete_delivery(&report);
    let rooms = report.rooms.as_ref().expect("rooms section");
    assert_eq!(rooms.rooms, 4);
    assert_eq!(rooms.in_room, 20, "{report:#?}");
    assert_eq!(rooms.foreign_deliveries, 0, "{report:#?}");
    // 2 senders x 10/s x 2 s, give or take the schedule's jitter; each
    // message is owed to the 5 members of its room, not to all 20.
    assert!((30..=50).contains(&report.messages_sent), "{report:#?}");
    assert_eq!(report.deliveries_expected, report.messages_sent * 5);
    let order = report.order.as_ref().expect("order section");
    assert_eq!(
        order.receivers, 10,
        "the members of the two rooms that spoke"
    );
    assert_eq!(order.receivers_differing, 0, "{order:?}");
    assert_eq!(order.unchecked, 0, "{order:?}");
}

/// Hold in rooms: the first client of each room says one message there at
/// the end, and every client gets its own room's.
#[test]
fn hold_in_rooms_keeps_every_client_alive_in_its_room() {
    let server = start_server(quiet_server());
    let report = load(&server, &["hold", "-n", "20", "--rooms", "4", "-d", "1"]);
    assert_complete_delivery(&report);
    assert_eq!(report.messages_sent, 4);
    assert_eq!(report.deliveries_expected, 20);
    assert_eq!(report.hold.expect("hold section").alive, 20);
    let rooms = report.rooms.expect("rooms section");
    assert_eq!((rooms.in_room, rooms.foreign_deliveries), (20, 0));
}

/// Named desks that stay in `#main`, the baseline of `--rooms`: everyone
/// still gets every message.
#[test]
fn named_clients_stay_in_main() {
    let server = start_server(quiet_server());
    let args = [
        "fanout",
        "-n",
        "20",
        "--named",
        "--senders",
        "2",
        "--rate",
        "10",
        "-d",
        "1",
    ];
    let report = load(&server, &args);
    assert_complete_delivery(&report);
    assert_eq!(report.deliveries_expected, report.messages_sent * 20);
    assert!(report.rooms.is_none());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
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
