//! Exactly-once sends (`/tx`) against the real `chat-server` binary: a
//! line the server cannot confirm is kept pending and sent again under the
//! same ID until the server says it is stored, so every desk shows it once
//! and its writer is never told it was lost. Once with a real
//! `redis-server` frozen (SIGSTOP) under the server, once with the server
//! itself frozen and killed before it read the line.

use std::thread;
use std::time::Duration;

use test_support::{Persistence, RedisServer};

use crate::common::{join, server_process, server_process_args, signal, Client, TempDir, TIMEOUT};

/// The keys of the `redis-server` at `url` matching `pattern`.
fn redis_keys(url: &str, pattern: &str) -> Vec<String> {
    let mut connection = redis::Client::open(url)
        .and_then(|client| client.get_connection_with_timeout(TIMEOUT))
        .expect("connect to redis-server");
    redis::cmd("KEYS")
        .arg(pattern)
        .query(&mut connection)
        .expect("KEYS")
}

/// Once every desk shows `alice`'s `line` (and a line of bob's sent
/// after it, so any late copy had its chance): asserts each shows it once,
/// and alice was never told it was lost.
#[track_caller]
fn assert_shown_once_and_never_lost(alice: &Client, bob: &mut Client, line: &str) {
    bob.send("a line after it");
    alice.expect("bob: a line after it");
    for desk in [alice, &*bob] {
        let out = desk.stdout();
        assert_eq!(out.matches(line).count(), 1, "{out}");
    }
    let out = alice.stdout();
    for lost in ["not sent", "not saved", "nobody got it"] {
        assert!(!out.contains(lost), "alice was told {lost:?}:\n{out}");
    }
}

#[test]
fn a_line_typed_while_redis_is_frozen_reaches_every_desk_once_and_is_never_called_lost() {
    let Some(redis_server) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let url = redis_server.url();
    let server = server_process_args(&["--redis", &url]);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    alice.expect("bob joined");
    alice.send("before the freeze");
    bob.expect("alice: before the freeze");

    let pid = redis_server.pid().expect("redis-server runs");
    signal(pid, libc::SIGSTOP);
    let text = "typed while redis is frozen";
    alice.send(text);
    // The server's log does not answer: the line is pending, not lost.
    alice.expect(&format!("[*] pending: \"{text}\""));
    thread::sleep(Duration::from_secs(6));
    signal(pid, libc::SIGCONT);

    let line = format!("alice: {text}");
    for desk in [&alice, &bob] {
        desk.expect_within(&line, Duration::from_secs(30));
    }
    // Long enough for a resend still on its way to come back.
    thread::sleep(Duration::from_secs(5));
    assert_shown_once_and_never_lost(&alice, &mut bob, &line);
    // Each of the three lines was stored under its desk's own ID, once.
    let tagged = redis_keys(&url, "chat:{main}:tx:*");
    assert_eq!(tagged.len(), 3, "{tagged:?}");

    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn a_line_the_server_never_read_goes_again_after_the_reconnect_and_is_shown_once() {
    let dir = TempDir::new("tx-restart");
    let mut server = server_process(&dir.path().join("room.db"), &[]);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    alice.expect("bob joined");
    alice.send("before the freeze");
    bob.expect("alice: before the freeze");
    alice.expect("alice: before the freeze");

    // The line reaches the frozen server's socket, and dies with it.
    signal(server.pid(), libc::SIGSTOP);
    let text = "typed into a frozen server";
    alice.send(text);
    crate::common::settle();
    server.kill();
    server.restart();
    for desk in [&alice, &bob] {
        desk.expect("[+] reconnected");
    }

    let line = format!("alice: {text}");
    for desk in [&alice, &bob] {
        desk.expect(&line);
    }
    assert_shown_once_and_never_lost(&alice, &mut bob, &line);

    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}
