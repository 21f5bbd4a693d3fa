//! The desk against the real `chat-server --auth token` binary: accounts
//! made with `chat-server user add`, the token given with `--token-file`
//! and sent on every connection (a reconnect signs in again by itself); a
//! wrong token and a revoked account end the desk with a clear message and
//! a failure status, without retrying; without a token and without a
//! terminal to ask on, the desk says how to give one.

use std::path::Path;

use crate::common::{add_account, run_server, server_process, ClientBuilder, TempDir};

#[test]
fn the_right_token_joins_and_chats_over_tls_and_signs_in_again_after_a_restart() {
    let dir = TempDir::new("accounts-join");
    let db = dir.path().join("room.db");
    let alice_token = add_account(&db, "alice", dir.path());
    let bob_token = add_account(&db, "bob", dir.path());
    let mut server = server_process(&db, &["--tls", "--auth", "token"]);
    let ca = dir.path().join("tls-cert.pem");
    let ca = ca.to_str().unwrap();

    let spawn = |name: &str, token: &Path| {
        ClientBuilder::new(name, server.addr())
            .name(name)
            .args(&["--ca", ca, "--token-file", token.to_str().unwrap()])
            .spawn()
    };
    let mut alice = spawn("alice", &alice_token);
    let mut bob = spawn("bob", &bob_token);
    alice.expect("You are alice");
    bob.expect("You are bob");
    assert!(!alice.stdout().contains("can be read by other users"));
    alice.send("only we can say this");
    bob.expect("alice: only we can say this");

    server.kill();
    alice.expect("[!] connection lost; reconnecting...");
    server.restart();
    alice.expect("[+] reconnected as alice");
    bob.expect("[+] reconnected as bob");
    bob.send("still us");
    alice.expect("bob: still us");
    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn a_wrong_token_is_a_clear_error_and_a_failure_status() {
    let dir = TempDir::new("accounts-wrong");
    let db = dir.path().join("room.db");
    add_account(&db, "alice", dir.path());
    let server = server_process(&db, &["--auth", "token"]);
    let wrong = dir.path().join("wrong.token");
    std::fs::write(&wrong, "0".repeat(64)).unwrap();

    let mut alice = ClientBuilder::new("alice", server.addr())
        .name("alice")
        .args(&["--token-file", wrong.to_str().unwrap()])
        .spawn();
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", alice.stderr());
    let stderr = alice.stderr();
    assert!(
        stderr.contains(&format!("{} refused the account alice", server.addr())),
        "{stderr}"
    );
    assert!(stderr.contains("--token-file"), "{stderr}");
    assert!(
        !alice.stdout().contains("You are alice"),
        "{}",
        alice.stdout()
    );
    assert!(
        !alice.stdout().contains("reconnecting"),
        "{}",
        alice.stdout()
    );
}

#[test]
fn a_removed_account_is_shown_as_revoked_and_the_desk_exits() {
    let dir = TempDir::new("accounts-revoked");
    let db = dir.path().join("room.db");
    let token = add_account(&db, "alice", dir.path());
    let server = server_process(&db, &["--auth", "token"]);
    let mut alice = ClientBuilder::new("alice", server.addr())
        .name("alice")
        .args(&["--token-file", token.to_str().unwrap()])
        .spawn();
    alice.expect("You are alice");

    let (code, out, err) = run_server(&["user", "remove", "alice", "--db", db.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", alice.stderr());
    let stderr = alice.stderr();
    assert!(
        stderr.contains(&format!("{} revoked the account alice", server.addr())),
        "{stderr}"
    );
    assert!(
        !alice.stdout().contains("reconnecting"),
        "{}",
        alice.stdout()
    );
}

#[test]
fn without_a_token_or_a_terminal_the_desk_says_to_use_token_file() {
    let dir = TempDir::new("accounts-no-token");
    let db = dir.path().join("room.db");
    add_account(&db, "alice", dir.path());
    let server = server_process(&db, &["--auth", "token"]);
    let mut alice = ClientBuilder::new("alice", server.addr())
        .name("alice")
        .spawn();
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", alice.stderr());
    let stderr = alice.stderr();
    assert!(stderr.contains("requires an account"), "{stderr}");
    assert!(stderr.contains("--token-file PATH"), "{stderr}");
}

#[test]
fn an_unreadable_token_file_is_one_line_before_connecting() {
    let server = server_process(Path::new("none"), &[]);
    let mut alice = ClientBuilder::new("alice", server.addr())
        .name("alice")
        .args(&["--token-file", "/nonexistent/alice.token"])
        .spawn();
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", alice.stderr());
    assert!(
        alice
            .stderr()
            .starts_with("chat-client: --token-file /nonexistent/alice.token: "),
        "{}",
        alice.stderr()
    );
    assert!(!alice.stdout().contains("Connecting"), "{}", alice.stdout());
}

#[test]
fn a_second_desk_of_the_same_account_is_told_the_account_is_in_use() {
    let dir = TempDir::new("accounts-in-use");
    let db = dir.path().join("room.db");
    let token = add_account(&db, "alice", dir.path());
    let server = server_process(&db, &["--auth", "token"]);
    let spawn = || {
        ClientBuilder::new("alice", server.addr())
            .name("alice")
            .args(&["--token-file", token.to_str().unwrap()])
            .spawn()
    };
    let mut first = spawn();
    first.expect("You are alice");
    let mut second = spawn();
    let status = second.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", second.stderr());
    assert!(
        second
            .stderr()
            .contains("the account alice is in use on another desk"),
        "{}",
        second.stderr()
    );
    assert!(
        !second.stdout().contains("Enter your name"),
        "{}",
        second.stdout()
    );
    first.send("q");
    first.expect_exit_code(0);
}
