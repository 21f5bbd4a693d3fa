//! Losing the server and getting it back: the real `chat-server` binary as
//! a child process on a fixed port with its SQLite log, killed (`kill -9`),
//! stopped with SIGTERM (`BYE`), frozen (a silent dead link), and started
//! again; the real client binary on pipes. A client that must stay away
//! while the room goes on is frozen with SIGSTOP, which makes "while it was
//! away" a fact rather than a race with its backoff.

use std::time::{Duration, Instant};

use crate::common::{
    join, server_process, signal, start_server, Client, ClientBuilder, RawDesk, TempDir,
};

/// What a desk says, once, when it loses the server.
const LOST: &str = "[!] connection lost; reconnecting...";

/// What it says when it is back.
const BACK: &str = "[+] reconnected";

/// Where `needle` is in `text`; fails if it is not there exactly once.
#[track_caller]
fn once(text: &str, needle: &str) -> usize {
    let count = text.matches(needle).count();
    assert_eq!(count, 1, "{needle:?} shown {count} times:\n{text}");
    text.find(needle).unwrap()
}

/// Waits until each of `desks` has said it lost the server.
fn expect_lost(desks: &[&Client]) {
    for desk in desks {
        desk.expect(LOST);
    }
}

#[test]
fn after_kill_9_the_desk_rejoins_as_itself_and_shows_what_it_missed_once_in_order() {
    let dir = TempDir::new("kill9");
    let mut server = server_process(&dir.path().join("room.db"), &[]);
    let mut watcher = RawDesk::connect(server.addr());
    let mut alice = join("alice", server.addr());
    let first_join = watcher.expect_line("JOIN<SEP>");
    let mut bob = join("bob", server.addr());
    alice.expect("bob joined");
    alice.send("before the crash");
    bob.expect("alice: before the crash");
    alice.expect("alice: before the crash");

    server.kill();
    expect_lost(&[&alice, &bob]);
    alice.send("typed while down");
    alice.expect("\"typed while down\" will be sent once the connection is back");

    // The room goes on without alice.
    alice.freeze();
    server.restart();
    let mut watcher = RawDesk::connect(server.addr());
    bob.expect(BACK);
    for text in ["missed one", "missed two", "missed three"] {
        bob.send(text);
    }
    bob.expect("bob: missed three");
    alice.resume();

    alice.expect(BACK);
    alice.expect("alice: typed while down");
    bob.expect("alice: typed while down");
    alice.send("after the rejoin");
    bob.expect("alice: after the rejoin");
    alice.expect("alice: after the rejoin");
    // Same name, same colour, and no JOIN: a desk coming back after a
    // restart is not news. The watcher sees her line with the name and
    // colour of her first JOIN, and no JOIN of hers on the way.
    let said = loop {
        let line = watcher.expect_line("");
        assert!(
            !(line.starts_with("JOIN<SEP>") && line.contains("<SEP>alice<SEP>")),
            "no JOIN of alice after the restart: {line}"
        );
        if line.starts_with("MSG<SEP>") && line.ends_with("<SEP>after the rejoin") {
            break line;
        }
    };
    let name_and_color = |line: &str, skip: usize| {
        line.split("<SEP>")
            .skip(skip)
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(name_and_color(&said, 3), name_and_color(&first_join, 2));

    let out = alice.stdout();
    once(&out, LOST);
    once(&out, "alice: before the crash");
    let back = once(&out, BACK);
    let header = once(&out, "[*] While you were away:");
    let one = once(&out, "bob: missed one");
    let two = once(&out, "bob: missed two");
    let three = once(&out, "bob: missed three");
    let queued = once(&out, "alice: typed while down");
    let after = once(&out, "alice: after the rejoin");
    assert!(
        back < header && header < one && one < two && two < three && three < queued,
        "out of order:\n{out}"
    );
    assert!(queued < after, "out of order:\n{out}");

    alice.send("q");
    alice.expect_exit_code(0);
}

#[test]
fn after_the_server_goes_down_and_comes_back_the_desk_rejoins_and_repeats_nothing() {
    let dir = TempDir::new("going-down");
    let mut server = server_process(&dir.path().join("room.db"), &[]);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    alice.send("before going down");
    bob.expect("alice: before going down");
    alice.expect("alice: before going down");

    server.terminate();
    for desk in [&alice, &bob] {
        desk.expect(&format!("{LOST} (the server is going down)"));
    }
    server.restart();
    alice.expect(BACK);
    bob.expect(BACK);
    bob.send("after the restart");
    alice.expect("bob: after the restart");
    alice.send("me too");
    bob.expect("alice: me too");
    alice.expect("alice: me too");

    for desk in [&alice, &bob] {
        let out = desk.stdout();
        once(&out, LOST);
        once(&out, BACK);
        once(&out, "alice: before going down");
        once(&out, "bob: after the restart");
        once(&out, "alice: me too");
    }
    alice.send("/quit");
    alice.expect_exit_code(0);
}

#[test]
fn a_name_taken_while_away_is_asked_for_again() {
    let dir = TempDir::new("name-taken");
    let mut server = server_process(&dir.path().join("room.db"), &[]);
    let mut alice = join("alice", server.addr());
    server.kill();
    expect_lost(&[&alice]);
    alice.freeze();
    server.restart();
    let impostor = ClientBuilder::new("impostor", server.addr())
        .name("alice")
        .spawn();
    impostor.expect("You are alice");
    alice.resume();

    // The desk first takes it for its own lost connection and tries again
    // for 30 s; then it concludes someone else has the name.
    alice.expect(
        "[*] The name \"alice\" is still in use, most likely by the connection this desk lost",
    );
    alice.expect_within(
        "[!] The name \"alice\" was taken while you were away; choose another.",
        Duration::from_secs(45),
    );
    alice.expect("Enter your name: ");
    alice.send("alice2");
    alice.expect(&format!("{BACK} as alice2"));
    impostor.expect("alice2 joined");
    alice.send("it is me");
    impostor.expect("alice2: it is me");
    alice.send("q");
    alice.expect_exit_code(0);
}

/// `command` leaves at once while the desk waits to reconnect, and says
/// that the line typed meanwhile was not sent.
fn leaves_while_waiting_on(command: &str) {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    drop(server);
    alice.expect(LOST);
    alice.send("never sent");
    alice.expect("will be sent once the connection is back (1 waiting)");
    let asked = Instant::now();
    alice.send(command);
    alice.expect_exit_code(0);
    // No goodbye to wait for: nothing is connected.
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?} to leave");
    alice.expect("[!] 1 unsent line dropped.");
}

#[test]
fn q_leaves_at_once_while_waiting_to_reconnect() {
    leaves_while_waiting_on("q");
}

#[test]
fn slash_quit_leaves_at_once_while_waiting_to_reconnect() {
    leaves_while_waiting_on("/quit");
}

#[test]
fn a_silent_dead_link_is_found_by_the_ping_and_the_desk_reconnects() {
    let dir = TempDir::new("dead-link");
    let server = server_process(&dir.path().join("room.db"), &[]);
    let mut alice = ClientBuilder::new("alice", server.addr())
        .name("alice")
        .args(&["--keepalive", "1"])
        .spawn();
    alice.expect("You are alice");
    // A frozen server keeps every socket open and answers nothing: the
    // link looks up to TCP, and only the missing PONG gives it away.
    signal(server.pid(), libc::SIGSTOP);
    alice.expect(&format!("{LOST} (no answer from the server in 1.5 s)"));
    signal(server.pid(), libc::SIGCONT);
    alice.expect(&format!("{BACK} as alice"));
    alice.send("still here");
    alice.expect("alice: still here");
    alice.send("q");
    alice.expect_exit_code(0);
}
