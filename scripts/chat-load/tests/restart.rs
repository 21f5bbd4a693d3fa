//! chat-load restart against the real chat-server binary: it starts the
//! server on a log in a temporary folder, kills it with SIGKILL mid-run,
//! starts it again on the same port and log, and every client resumes with
//! nothing lost, repeated or out of order.

use std::process::Command;

use chat_load::Report;
use test_support::chat_server_binary;

#[test]
fn a_killed_server_loses_and_repeats_nothing_after_resume() {
    let server = chat_server_binary();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let output = Command::new(env!("CARGO_BIN_EXE_chat-load"))
        .args(["restart", "--server-bin"])
        .arg(server)
        .arg("--db")
        .arg(&db)
        .args([
            "-n",
            "100",
            "--senders",
            "10",
            "--rate",
            "5",
            "-d",
            "4",
            "--kill-at",
            "2",
            "--restart-after",
            "0.5",
            "--quiet",
            "--json",
        ])
        .output()
        .expect("chat-load runs");
    assert!(
        output.status.success(),
        "chat-load failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Report =
        serde_json::from_slice(&output.stdout).expect("stdout is one chat-load report");
    let restart = report.restart.as_ref().expect("a restart section");
    assert_eq!(
        (
            restart.lost,
            restart.duplicated,
            restart.out_of_order,
            restart.unlogged
        ),
        (0, 0, 0, 0),
        "{report:#?}"
    );
    assert_eq!(report.connected, 100, "{report:#?}");
    assert_eq!(
        (restart.resumed, restart.not_back),
        (100, 0),
        "every client came back: {report:#?}"
    );
    assert!(
        restart.log_messages > 0 && restart.log_messages <= report.messages_sent,
        "{report:#?}"
    );
    assert_eq!(
        report.deliveries_received, report.deliveries_expected,
        "{report:#?}"
    );
    // Every client owes every message of the log: it joined before the first.
    assert_eq!(
        report.deliveries_expected,
        100 * restart.log_messages,
        "{report:#?}"
    );
    // 50 messages a second were due while the server was down for 0.5 s.
    assert!(restart.sends_skipped > 0, "{report:#?}");
    let away = restart.reconnect_us.expect("reconnect times");
    assert_eq!(away.count, 100);
    assert!(
        away.p50 >= 500_000,
        "nobody is back before the server: {away:?}"
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(db.is_file(), "the log is left where --db said");
}
