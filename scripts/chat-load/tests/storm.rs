//! chat-load storm against the real chat-server binary: it starts the
//! server with `--tls` on a log in a temporary folder, and every client
//! connects at once three times: first, after a restart offering the
//! session ticket it was given (every handshake resumes), after another
//! restart without it (none does).

use std::process::Command;

use chat_load::Report;
use test_support::chat_server_binary;

#[test]
fn after_a_restart_every_client_resumes_and_without_tickets_none_does() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let output = Command::new(env!("CARGO_BIN_EXE_chat-load"))
        .args(["storm", "--server-bin"])
        .arg(chat_server_binary())
        .arg("--db")
        .arg(&db)
        .args(["-n", "60", "--quiet", "--json"])
        .output()
        .expect("chat-load runs");
    assert!(
        output.status.success(),
        "chat-load failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Report =
        serde_json::from_slice(&output.stdout).expect("stdout is one chat-load report");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let rounds = &report.storm.as_ref().expect("a storm section").rounds;
    let names: Vec<&str> = rounds.iter().map(|round| round.name.as_str()).collect();
    assert_eq!(names, ["first", "resumed", "full"]);
    for round in rounds {
        assert_eq!(
            (round.clients, round.handshakes, round.answered),
            (60, 60, 60),
            "every client made its handshake and got its /ping answered: {round:#?}"
        );
        assert!(round.failures.is_empty(), "{round:#?}");
        let handshakes = round.handshake_us.expect("handshake times");
        assert_eq!(handshakes.count, 60, "{round:#?}");
        assert!(round.server_cpu_secs > 0.0, "{round:#?}");
    }
    let resumed: Vec<u64> = rounds.iter().map(|round| round.resumed).collect();
    assert_eq!(resumed, [0, 60, 0], "{rounds:#?}");
    // The ticket key that let them resume is kept beside the log.
    assert!(dir.path().join("tls-ticket-keys").is_file());
    assert!(db.is_file(), "the log is left where --db said");
}
