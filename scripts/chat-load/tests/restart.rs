//! chat-load restart against the real chat-server binary: it starts the
//! server on a log in a temporary folder, kills it with SIGKILL mid-run,
//! starts it again on the same port and log, and every client resumes with
//! nothing lost, repeated or out of order.

use std::path::{Path, PathBuf};
use std::process::Command;

use chat_load::Report;

/// The chat-server binary of this build. A package's tests are only given
/// the paths of its own binaries, and `cargo test -p chat-load` alone does
/// not build the server's, so the same cargo builds it here into the same
/// profile folder as chat-load (a no-op when `cargo test --workspace` has
/// already built it). Cargo holds no lock while tests run.
fn server_binary() -> PathBuf {
    let profile_dir = Path::new(env!("CARGO_BIN_EXE_chat-load"))
        .parent()
        .expect("chat-load lives in a profile folder");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", "chat-server", "--manifest-path"])
        .arg(&manifest);
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(profile) => {
            build.args(["--profile", profile]);
        }
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building chat-server failed: {status}");
    let server = profile_dir.join("chat-server");
    assert!(
        server.is_file(),
        "expected {} after building chat-server (a --target-dir given on cargo's command line is not seen here; use CARGO_TARGET_DIR)",
        server.display()
    );
    server
}

#[test]
fn a_killed_server_loses_and_repeats_nothing_after_resume() {
    let server = server_binary();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let output = Command::new(env!("CARGO_BIN_EXE_chat-load"))
        .args(["restart", "--server-bin"])
        .arg(&server)
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
