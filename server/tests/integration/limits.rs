//! What no desk can do to the room (issue 17), against the real server:
//! searches answer with their own codes and never the engine's words, a
//! desk has one search in flight, the server-wide queue budget drops the
//! desks that do not read and spares the one that does, and a tagged line
//! is stored once however often it is sent, across a `kill -9` of the
//! server. The real binary, real SQLite files, raw sockets.

use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;
use chat_shared::{MessageId, ServerLine};

/// Joins as `name` and returns the desk's secret from its `WELCOME`.
#[track_caller]
fn join(client: &mut Client, name: &str) -> String {
    client.send_line(&format!("/join {name} blue"));
    secret_of(client)
}

#[track_caller]
fn secret_of(client: &mut Client) -> String {
    let welcome = client.wait_for("WELCOME", |line| line.starts_with("WELCOME<SEP>"));
    match ServerLine::parse(&welcome) {
        Ok(ServerLine::Welcome { desk, .. }) => desk.to_string(),
        other => panic!("expected a WELCOME, got {other:?}"),
    }
}

/// The `SENT` answer for `tx`: the ID the line is stored as.
#[track_caller]
fn sent_id(client: &mut Client, tx: &str) -> MessageId {
    let prefix = format!("SENT<SEP>{tx}<SEP>");
    let line = client.wait_for(&format!("SENT for {tx}"), |line| line.starts_with(&prefix));
    match ServerLine::parse(&line) {
        Ok(ServerLine::Sent { id, .. }) => id,
        other => panic!("expected a SENT, got {other:?}"),
    }
}

/// Every line `client` gets until `/ping`'s `PONG`.
#[track_caller]
fn lines_until_pong(client: &mut Client) -> Vec<String> {
    client.send_line("/ping");
    let mut lines = Vec::new();
    loop {
        let line = client.line();
        if line == "PONG" {
            return lines;
        }
        lines.push(line);
    }
}

/// Words a person could type that mean something to SQLite's full-text
/// engine: each gets an answer of ours, never the engine's error.
#[test]
fn searches_answer_with_their_own_codes_and_never_the_engines_words() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = server_on(&dir.path().join("room.db"), &[]);
    let mut alice = Client::connect(server.addr());
    join(&mut alice, "alice");
    alice.say("alice", "the quarterly report is NEAR done");

    for words in [
        // Before searches had their own thread this one answered with
        // SQLite's own "unterminated string".
        "report\u{0}done",
        "NEAR(report done)",
        "\"report",
        "report AND OR NOT",
        "quarterly*",
        "text:report",
        "{alice} : report",
    ] {
        alice.send_line(&format!("/search {words}"));
        let answer = alice.wait_for("an answer", |l| {
            l.starts_with("SEARCH<SEP>") || l.starts_with("ERR<SEP>")
        });
        assert!(
            answer.starts_with("SEARCH<SEP>") || answer.starts_with("ERR<SEP>bad-search<SEP>"),
            "/search {words} got {answer:?}"
        );
        let lower = answer.to_lowercase();
        for engine_word in ["fts5", "sqlite", "syntax error", "malformed match"] {
            assert!(
                !lower.contains(engine_word),
                "/search {words} got {answer:?}"
            );
        }
        lines_until_pong(&mut alice);
    }

    alice.send_line("/search ***");
    alice.expect_prefix("ERR<SEP>bad-search<SEP>");
    alice.send_line("/search #nowhere report");
    alice.expect_prefix("ERR<SEP>no-such-room<SEP>");
}

#[test]
fn a_desk_has_one_search_in_flight() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = server_on(&dir.path().join("room.db"), &[]);
    let mut alice = Client::connect(server.addr());
    join(&mut alice, "alice");
    alice.say("alice", "budget meeting at noon");

    // Both lines in one write: the second is read in the same pass as the
    // first, before any answer can have come back.
    alice.send(b"/search budget\n/search noon\n");
    let lines = lines_until_pong(&mut alice);
    let answered = lines
        .iter()
        .filter(|l| l.starts_with("SEARCH<SEP>"))
        .count();
    let busy = lines
        .iter()
        .filter(|l| l.starts_with("ERR<SEP>search-busy<SEP>"))
        .count();
    // The ping may be answered before the search; wait for it then.
    let answered = if answered == 0 {
        alice.wait_for("the first search's answer", |l| {
            l.starts_with("SEARCH<SEP>")
        });
        1
    } else {
        answered
    };
    assert_eq!((answered, busy), (1, 1), "{lines:?}");

    // Once answered, the desk may search again.
    alice.send_line("/search noon");
    alice.wait_for("the next answer", |l| l == "SEARCH<SEP>1");
}

/// Six desks that never read, a server budget of 1 MiB, and a talker
/// sending 1.5 MB: the six are dropped for it (each logged with why), the
/// desk that reads gets every line, and nobody is dropped by the per-desk
/// limit, which is set far above.
#[test]
fn over_the_queue_budget_the_desks_not_reading_go_first() {
    let server = server_process(&[
        "--db",
        "none",
        "--rate-limit",
        "0",
        "--max-queue",
        "67108864",
        "--queue-budget",
        "1M",
    ]);
    let stalled: Vec<Client> = (0..6)
        .map(|_| Client::connect_with_rcvbuf(server.addr(), 4096))
        .collect();
    let mut bob = Client::connect(server.addr());
    join(&mut bob, "bob");
    let mut alice = Client::connect(server.addr());
    join(&mut alice, "alice");

    const LINES: usize = 500;
    let text = "x".repeat(3000);
    let reader = thread::spawn(move || {
        let mut got = 0;
        while got < LINES {
            let line = bob.line();
            if line.starts_with("MSG<SEP>") && line.contains("<SEP>alice<SEP>") {
                got += 1;
            }
        }
        // Bob is handed back so he stays connected while the log is read.
        (got, bob)
    });
    for _ in 0..LINES {
        alice.say("alice", &text);
    }
    let (got, bob) = reader.join().expect("bob's reader");
    assert_eq!(got, LINES);

    let deadline = Instant::now() + TIMEOUT;
    let dropped = loop {
        let log = server.log();
        let dropped = log
            .lines()
            .filter(|l| l.contains("reason=not reading while the server's queues were over budget"))
            .count();
        if dropped == stalled.len() || Instant::now() > deadline {
            break (dropped, log);
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(dropped.0, stalled.len(), "{}", dropped.1);
    assert!(!dropped.1.contains("name=bob"), "{}", dropped.1);
    assert!(!dropped.1.contains("too slow"), "{}", dropped.1);
    drop((stalled, bob));
}

/// A desk that sent a tagged line, lost the server to `kill -9` before it
/// heard back, and sends it again with the same tag: stored once.
#[test]
fn a_tagged_line_sent_again_after_kill_9_is_stored_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("room.db");
    let mut server = server_on(&db, &[]);
    let mut alice = Client::connect(server.addr());
    let secret = join(&mut alice, "alice");
    alice.send_line("/tx t-1 alice<SEP>ship it");
    let first = sent_id(&mut alice, "t-1");
    alice.expect_msg("alice", "ship it");

    server.signal(libc::SIGKILL);
    server.wait_exit(TIMEOUT).expect("killed");
    let server = server_on(&db, &[]);
    let mut alice = Client::connect(server.addr());
    alice.send_line(&format!("/join alice blue {secret}"));
    secret_of(&mut alice);
    alice.send_line("/tx t-1 alice<SEP>ship it");
    assert_eq!(sent_id(&mut alice, "t-1"), first);
    let after = lines_until_pong(&mut alice);
    assert!(
        !after.iter().any(|l| l.starts_with("MSG<SEP>")),
        "a resend is not a new message: {after:?}"
    );

    // Another desk's history holds it once; a new tag is a new message.
    alice.send_line("/tx t-2 alice<SEP>ship it");
    assert!(sent_id(&mut alice, "t-2") > first);
    let mut bob = Client::connect_silent(server.addr());
    let history: Vec<String> = lines_until_pong(&mut bob)
        .into_iter()
        .filter(|l| l.starts_with("HIST<SEP>") && l.ends_with("<SEP>ship it"))
        .collect();
    assert_eq!(history.len(), 2, "{history:?}");
}
