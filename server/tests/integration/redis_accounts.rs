//! Accounts on Redis (`--auth token --redis`): real `chat-server user`
//! commands and real servers on one real `redis-server`. An account added
//! on Redis logs in on every server of the office; removed, it is refused on
//! every one and its open desks are closed, as with the room's log file.
//! With Redis frozen, the accounts last read stay in force and the servers
//! go on answering.

use std::time::Duration;

use crate::common::{run_cli, server_process, Client, ServerProcess};
use crate::frozen_redis::Frozen;
use test_support::{Persistence, RedisServer};

/// The office the tests' servers share.
const OFFICE: &str = "accounts-test";

/// A `--auth token` server on `redis`'s office.
#[track_caller]
fn server_on(redis: &RedisServer) -> ServerProcess {
    server_process(&[
        "--redis",
        &redis.url(),
        "--office",
        OFFICE,
        "--auth",
        "token",
    ])
}

/// Runs `chat-server user ARGS --redis URL --office OFFICE`.
#[track_caller]
fn user(redis: &RedisServer, args: &[&str]) -> std::process::Output {
    let url = redis.url();
    let mut all = vec!["user"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--redis", &url, "--office", OFFICE]);
    run_cli(&all)
}

/// Makes an account with the real `user add` and returns its token.
#[track_caller]
fn add_account(redis: &RedisServer, name: &str) -> String {
    let output = user(redis, &["add", name]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "Account {name} added to the office {OFFICE} on redis://"
        )),
        "{stderr}"
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "expected a 256-bit token, got {token:?}");
    token
}

/// Logs in with `/auth` and waits for the server to answer a ping.
#[track_caller]
fn log_in(server: &ServerProcess, name: &str, token: &str) -> Client {
    let mut client = Client::connect_silent(server.addr());
    client.send_line(&format!("/auth {name} {token}"));
    client.send_line("/ping");
    client.wait_for("PONG after logging in", |line| {
        assert!(!line.starts_with("ERR"), "login refused: {line}");
        line == "PONG"
    });
    client
}

/// Takes the account's name; other lines may come between its `WELCOME`
/// and its `JOIN`, which comes from the stream.
#[track_caller]
fn take_name(client: &mut Client, name: &str) {
    client.send_line(&format!("/join {name}"));
    client.wait_for(&format!("WELCOME for {name}"), |line| {
        line.starts_with(&format!("WELCOME<SEP>{name}<SEP>"))
    });
}

/// Waits until `server` has taken a list of `count` accounts since start
/// (each list it takes is logged).
#[track_caller]
fn wait_for_accounts(server: &ServerProcess, count: usize) {
    server.wait_for_log(&format!("[*] Accounts changed accounts={count}"));
}

#[test]
fn an_account_on_redis_logs_in_on_every_server_and_removed_is_refused_on_every_one() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let alice_token = add_account(&redis, "alice");
    let bob_token = add_account(&redis, "bob");
    let output = user(&redis, &["add", "ALICE"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("already an account for alice"));
    let listed = String::from_utf8(user(&redis, &["list"]).stdout).unwrap();
    let names: Vec<&str> = listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(names, ["alice", "bob"], "{listed}");

    let (a, b) = (server_on(&redis), server_on(&redis));
    // Read at start, on both servers.
    drop(log_in(&a, "alice", &alice_token));
    drop(log_in(&b, "alice", &alice_token));
    // Added while they run: each notices.
    let carol_token = add_account(&redis, "carol");
    wait_for_accounts(&a, 3);
    wait_for_accounts(&b, 3);
    drop(log_in(&a, "carol", &carol_token));
    drop(log_in(&b, "carol", &carol_token));

    let mut alice = log_in(&a, "alice", &alice_token);
    take_name(&mut alice, "alice");
    let mut bob = log_in(&b, "bob", &bob_token);
    take_name(&mut bob, "bob");
    let output = user(&redis, &["remove", "Alice"]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("Account alice removed"));

    // Her open desk, on one server, is closed as with the room's log file;
    // the other server's desks see her leave.
    alice.wait_for("the revocation", |line| {
        line.starts_with("ERR<SEP>revoked<SEP>")
    });
    alice.expect_closed();
    bob.wait_for("alice leaving", |line| {
        crate::common::is_leave(line, "alice")
    });
    wait_for_accounts(&b, 2);
    for server in [&a, &b] {
        let mut again = Client::connect_silent(server.addr());
        again.send_line(&format!("/auth alice {alice_token}"));
        let answer = again.line();
        assert!(
            answer.starts_with("ERR<SEP>auth-failed<SEP>"),
            "on {}: {answer}",
            server.addr()
        );
    }
    let output = user(&redis, &["remove", "alice"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no account for alice"));
}

/// Redis frozen (SIGSTOP): the accounts last read stay in force (a desk
/// logs in), the server answers at once, the `user` commands fail with one
/// line instead of hanging; thawed, a change reaches the server again.
#[test]
fn with_redis_frozen_the_last_accounts_stay_in_force() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let alice_token = add_account(&redis, "alice");
    let server = server_on(&redis);
    let mut bob = Client::connect_silent(server.addr());
    let frozen = Frozen::freeze(&redis);

    let output = user(&redis, &["add", "bob"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("chat-server: the office {OFFICE} on redis://")),
        "{stderr}"
    );
    let mut alice = log_in(&server, "alice", &alice_token);
    alice.send_line("/ping");
    alice.wait_for("PONG while Redis is frozen", |line| line == "PONG");
    bob.send_line("/auth bob 0000");
    assert!(bob.line().starts_with("ERR<SEP>auth-failed<SEP>"));
    server.wait_for_log("[!] Could not read the accounts; the last ones read stay in force");

    drop(frozen);
    server.wait_for_log("[*] The accounts can be read again");
    let bob_token = add_account(&redis, "bob");
    wait_for_accounts(&server, 2);
    // Past the wait bob's failure set for this address.
    std::thread::sleep(Duration::from_millis(1100));
    drop(log_in(&server, "bob", &bob_token));
}
