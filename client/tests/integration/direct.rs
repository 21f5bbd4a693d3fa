//! Direct messages and search, end to end: the real server (in memory, or
//! the real binary on its SQLite log where a restart is needed) and the
//! real client binary on pipes. A direct message shows as `alice → you` on
//! its reader's screen and `you → bob` on its writer's, on nobody else's;
//! `/r` answers; a name nobody has online is refused and nothing is sent;
//! a desk gets what it missed back across restarts, and the next holder of
//! its name does not; `/search` finds old lines, marked as results.

use crate::common::{
    join, server_process, settle, start_server, starts_with_timestamp, Client, TempDir,
};

/// The arrow between writer and reader.
const TO: &str = "\u{2192}";

/// The lines of `desk`'s screen that contain `needle`.
fn lines_with(desk: &Client, needle: &str) -> Vec<String> {
    desk.stdout()
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Waits for `needle` and returns the one line that holds it.
#[track_caller]
fn one_line(desk: &Client, needle: &str) -> String {
    desk.expect(needle);
    let lines = lines_with(desk, needle);
    assert_eq!(lines.len(), 1, "{needle:?} on one line:\n{}", desk.stdout());
    lines[0].clone()
}

#[test]
fn a_direct_message_shows_on_its_two_desks_only_and_r_answers_the_last_writer() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    let mut carol = join("carol", server.addr());

    bob.send("/r anyone?");
    bob.expect("[!] Nobody has sent you a direct message yet; use /msg NAME TEXT.");

    alice.send("/msg bob lunch at 12?");
    let got = one_line(&bob, &format!("alice {TO} you: lunch at 12?"));
    let sent = one_line(&alice, &format!("you {TO} bob: lunch at 12?"));
    for line in [&got, &sent] {
        assert!(starts_with_timestamp(line), "{line}");
    }

    bob.send("/r on my way");
    one_line(&alice, &format!("bob {TO} you: on my way"));
    one_line(&bob, &format!("you {TO} alice: on my way"));

    // The last writer is the one /r answers: now carol.
    carol.send("/msg bob and me?");
    one_line(&bob, &format!("carol {TO} you: and me?"));
    bob.send("/reply you too");
    one_line(&carol, &format!("bob {TO} you: you too"));

    // The room goes on; carol saw only what was hers.
    alice.send("back to the room");
    carol.expect("alice: back to the room");
    let out = carol.stdout();
    assert!(
        !out.contains("lunch") && !out.contains("on my way"),
        "carol saw another's direct message:\n{out}"
    );
    assert_eq!(lines_with(&carol, TO).len(), 2, "{out}");
    for desk in [&mut alice, &mut bob, &mut carol] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn a_direct_message_to_nobody_online_is_refused_clearly_and_nothing_is_sent() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    let bob = join("bob", server.addr());

    alice.send("/msg");
    alice.expect("[!] Usage: /msg NAME TEXT");
    alice.send("/msg bob");
    alice.expect_count("[!] Usage: /msg NAME TEXT", 2);

    alice.send("/msg dave the code is 4711");
    alice.expect("[!] nobody called dave is online; not sent (\"/msg dave the code is 4711\").");
    // The refusal took the line out of the outbox: the next one is
    // answered by its own copy, and nothing is given back.
    alice.send("/msg bob hello");
    one_line(&bob, &format!("alice {TO} you: hello"));
    one_line(&alice, &format!("you {TO} bob: hello"));
    alice.send("in the room");
    bob.expect("alice: in the room");
    settle();
    let out = alice.stdout();
    assert_eq!(out.matches("not sent").count(), 1, "{out}");
    assert!(!bob.stdout().contains("4711"), "{}", bob.stdout());
    alice.send("q");
    alice.expect_exit_code(0);
}

/// Bob's desk, frozen, is dropped by the server as too slow while alice's
/// direct messages to him pile up: those in the server's queue were stored
/// but never reached him, and his desk gets them back in the replay after
/// it reconnects. Before that, a `kill -9` restart came while bob had shown
/// nothing, so only a desk that still presents its first secret then gets
/// them. Afterwards, a new desk that takes the name `bob` never sees them,
/// not even across a SIGTERM restart.
#[test]
fn a_desk_gets_missed_direct_messages_back_and_the_next_bob_does_not() {
    let dir = TempDir::new("direct-restart");
    let mut server = server_process(&dir.path().join("room.db"), &[]);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    server.kill();
    server.restart();
    alice.expect("[+] reconnected");
    bob.expect("[+] reconnected");

    bob.freeze();
    // Long lines fill bob's socket and then the server's queue for him.
    let padding = "x".repeat(2000);
    let mut sent = 0;
    while !alice.stdout().contains("nobody called bob is online") {
        assert!(sent < 20_000, "bob was never dropped as too slow");
        for _ in 0..50 {
            alice.send(&format!("/msg bob dm {sent} {padding}"));
            sent += 1;
        }
        alice.expect_any(&[
            &format!("you {TO} bob: dm {} ", sent - 1),
            "nobody called bob is online",
        ]);
    }
    // The last one the room stored: every one before it was stored too.
    let stored = (0..sent)
        .rev()
        .find(|n| alice.stdout().contains(&format!("you {TO} bob: dm {n} ")))
        .expect("some direct message was stored");
    bob.resume();
    bob.expect("[*] While you were away:");
    bob.expect(&format!("alice {TO} you: dm {stored} "));
    let out = bob.stdout();
    let missed_at = out.find("[*] While you were away:").unwrap();
    assert!(
        out[missed_at..].contains(&format!("alice {TO} you: dm")),
        "the replay after the drop holds direct messages:\n{}",
        &out[missed_at..missed_at + 200.min(out.len() - missed_at)]
    );
    for n in 0..=stored {
        let shown = out.matches(&format!("alice {TO} you: dm {n} ")).count();
        assert!(shown <= 1, "dm {n} shown {shown} times");
    }
    bob.send("q");
    bob.expect_exit_code(0);

    let mut next_bob = join("bob", server.addr());
    alice.send("hello new bob");
    next_bob.expect("alice: hello new bob");
    server.terminate();
    server.restart();
    next_bob.expect("[+] reconnected");
    alice.expect_count("[+] reconnected", 2);
    alice.send("after the restart");
    next_bob.expect("alice: after the restart");
    assert!(
        !next_bob.stdout().contains("you: dm"),
        "the next bob got the last one's direct messages:\n{}",
        next_bob.stdout()
    );
    for desk in [&mut alice, &mut next_bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn search_finds_old_lines_after_a_restart_marked_as_results() {
    let dir = TempDir::new("search");
    let mut server = server_process(&dir.path().join("room.db"), &[]);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    alice.send("the budget for q3 is due");
    alice.send("lunch?");
    alice.send("/msg bob budget secret");
    bob.expect(&format!("alice {TO} you: budget secret"));
    server.kill();
    server.restart();
    bob.expect("[+] reconnected");
    alice.expect("[+] reconnected");

    bob.send("/search budget");
    bob.expect("[*] search: 2 found, oldest first:");
    bob.expect_count("[found] ", 2);
    let found = lines_with(&bob, "[found] ");
    assert_eq!(found.len(), 2, "{}", bob.stdout());
    assert!(
        found[0].contains("] alice: the budget for q3 is due"),
        "{found:?}"
    );
    assert!(
        found[1].contains(&format!("] alice {TO} you: budget secret")),
        "{found:?}"
    );
    for line in &found {
        assert!(starts_with_timestamp(&line["[found] ".len()..]), "{line}");
    }
    // Results are not news: shown once, and not again as messages.
    assert_eq!(bob.count("the budget for q3 is due"), 2, "{}", bob.stdout());
    bob.send("/search nothing-like-this");
    bob.expect("[*] search: nothing found.");
    bob.send("/search");
    bob.expect("[!] Usage: /search WORDS");

    // Alice finds her own direct message too, as hers.
    alice.send("/search secret");
    one_line(&alice, "[found] ");
    alice.expect(&format!("you {TO} bob: budget secret"));
    assert_eq!(
        lines_with(&alice, &format!("you {TO} bob: budget secret")).len(),
        2,
        "{}",
        alice.stdout()
    );
    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn without_a_log_search_says_it_needs_one() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    alice.send("/search budget");
    alice.expect("[!] search needs the room's log");
    alice.send("q");
    alice.expect_exit_code(0);
}
