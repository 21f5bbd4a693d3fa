//! chat-load's attacks against the real chat-server binary, at tiny
//! volumes: each fills a log, attacks the server it started, and reports
//! what it measured; the figures themselves come from release runs (see
//! the README), not from here.

use std::process::Command;

use chat_load::Report;
use test_support::chat_server_binary;

/// chat-load `args` against the chat-server of this build, as JSON.
fn attack(args: &[&str]) -> Report {
    let output = Command::new(env!("CARGO_BIN_EXE_chat-load"))
        .args(args)
        .arg("--server-bin")
        .arg(chat_server_binary())
        .args(["--quiet", "--json"])
        .output()
        .expect("chat-load runs");
    assert!(
        output.status.success(),
        "chat-load failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one chat-load report")
}

#[test]
fn a_search_storm_is_answered_and_the_pair_still_talks() {
    let report = attack(&["search-storm", "-n", "3", "--messages", "400", "-d", "2"]);
    let storm = report
        .search_storm
        .as_ref()
        .expect("a search-storm section");
    assert_eq!(storm.log_messages, 400);
    assert_eq!(storm.searchers, 3);
    // 20 a second each for 2 s, give or take the last one.
    assert!((100..=123).contains(&storm.searches_sent), "{report:#?}");
    assert!(storm.answered > 0, "{report:#?}");
    let refused = storm.search_busy + storm.search_too_broad;
    assert!(
        storm.answered + refused <= storm.searches_sent,
        "more answers than searches: {report:#?}"
    );
    assert!(storm.other_refusals.is_empty(), "{report:#?}");
    // Alice spoke from 0.5 s to 2 s, every 50 ms, and bob heard every line.
    assert!((28..=31).contains(&report.messages_sent), "{report:#?}");
    assert_eq!(
        report.deliveries_received, report.messages_sent,
        "{report:#?}"
    );
    assert_eq!(
        report.latency_us.as_ref().map(|l| l.count),
        Some(report.messages_sent)
    );
    assert!(report.server.as_ref().is_some_and(|s| s.rss_peak_kb > 0));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn a_resume_bomb_is_measured_and_its_drops_counted() {
    let report = attack(&[
        "resume-bomb",
        "-n",
        "40",
        "--messages",
        "200",
        "-d",
        "1",
        "--settle",
        "3",
    ]);
    let bomb = report.resume_bomb.as_ref().expect("a resume-bomb section");
    assert_eq!((bomb.desks, bomb.log_messages), (40, 200));
    assert_eq!(report.connected, 40);
    assert!(bomb.server_alive, "{report:#?}");
    assert!(bomb.rss_before_kb > 0, "{report:#?}");
    assert!(bomb.rss_peak_kb >= bomb.rss_before_kb, "{report:#?}");
    assert!(bomb.rss_1s_after_kb > 0 && bomb.rss_settled_kb > 0);
    assert_eq!(bomb.settled_after_secs, 3.0);
    // 40 replays of 200 messages of 400 bytes are far under the default
    // queue budget: nobody is dropped.
    assert_eq!(bomb.dropped, 0, "{report:#?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    // A server that takes 20 connections, the probe's among them, closes
    // the other 21 desks at once: /who counts 19 of the 40, and the
    // report says 21 were dropped.
    let full = attack(&[
        "resume-bomb",
        "-n",
        "40",
        "--messages",
        "200",
        "-d",
        "1",
        "--settle",
        "2",
        "--server-arg=--max-clients=20",
    ]);
    let bomb = full.resume_bomb.as_ref().expect("a resume-bomb section");
    assert_eq!((bomb.desks, bomb.dropped), (40, 21), "{full:#?}");
    assert!(bomb.server_alive, "{full:#?}");
}

#[test]
fn stalled_handshakes_are_measured_and_the_login_timeout_ends_them() {
    let report = attack(&["handshake-stall", "-n", "30", "-d", "1", "--settle", "2"]);
    let stall = report
        .handshake_stall
        .as_ref()
        .expect("a handshake-stall section");
    assert_eq!((stall.desks, stall.log_messages), (30, 0));
    assert_eq!(report.connected, 30);
    assert!(report.tls);
    assert!(stall.server_alive, "{report:#?}");
    assert!(stall.rss_before_kb > 0, "{report:#?}");
    assert!(stall.rss_peak_kb >= stall.rss_before_kb, "{report:#?}");
    // 1 s is well inside the server's login timeout of 10 s.
    assert_eq!(stall.dropped, 0, "{report:#?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    // With a login timeout of 1 s, the server ends every handshake that
    // stalls for 3 s itself.
    let timed_out = attack(&[
        "handshake-stall",
        "-n",
        "30",
        "-d",
        "3",
        "--settle",
        "2",
        "--server-arg=--login-timeout=1",
    ]);
    let stall = timed_out
        .handshake_stall
        .as_ref()
        .expect("a handshake-stall section");
    assert_eq!((stall.desks, stall.dropped), (30, 30), "{timed_out:#?}");
}
