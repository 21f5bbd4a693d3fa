//! Rooms on the desk, against the real server: `/join`, `/go`, `/part`,
//! `/rooms`, `/topic`, `/invite`, private rooms, lines from other rooms
//! named by their room, unread counts, rooms kept across a restart, a
//! current room that is gone after one, and `/notify #ROOM off`. The first
//! test runs the desk in a real terminal (tmux), where the prompt names the
//! current room.

use std::path::Path;
use std::thread;
use std::time::Duration;

use crate::common::{join, server_process, settle, start_server, Client, ClientBuilder, TempDir};
use crate::tmux::{input_line, strip_sgr, Tmux};

/// The line of `text` holding `needle`, after its `[time] `.
#[track_caller]
fn said(screen: &str, needle: &str) -> String {
    let text = strip_sgr(screen);
    let line = text
        .lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{screen}"));
    line.split_once("] ")
        .map_or(line, |(_, said)| said)
        .trim_end()
        .to_string()
}

/// Joins `room` on a desk on a pipe and waits until it is there.
#[track_caller]
fn enter(desk: &mut Client, room: &str) {
    desk.send(&format!("/join {room}"));
    desk.expect(&format!("[*] Now in {room} ("));
}

#[test]
fn a_desk_in_several_rooms_names_the_others_lines_by_room_and_counts_them_unread() {
    let tmux = Tmux::new();
    let server = start_server(20);
    let port = server.addr().port();
    tmux.join("alice", port, "--no-color");
    let mut bob = join("bob", server.addr());
    let mut carol = join("carol", server.addr());

    tmux.type_line("alice", "/join #dev");
    tmux.expect("alice", "[*] Now in #dev (1 member).");
    tmux.expect_input_line("alice", "#dev>");
    enter(&mut bob, "#dev");
    tmux.expect("alice", "bob entered #dev");

    // In the current room lines look as they always did; from #main they
    // say where they come from.
    tmux.type_line("alice", "hello dev");
    bob.expect("] alice: hello dev");
    carol.send("lunch anyone?");
    carol.send("the usual place");
    let screen = tmux.expect("alice", "carol: the usual place");
    assert_eq!(said(&screen, "lunch anyone?"), "#main carol: lunch anyone?");
    assert_eq!(said(&screen, "hello dev"), "alice: hello dev");

    // A half-typed line stays while lines arrive, under the room's prompt.
    tmux.type_text("alice", "half a thought");
    bob.send("dev news");
    let screen = tmux.expect("alice", "bob: dev news");
    assert_eq!(said(&screen, "dev news"), "bob: dev news");
    assert_eq!(input_line(&screen), "#dev> half a thought", "{screen}");
    tmux.type_line("alice", ", finished");
    bob.expect("] alice: half a thought, finished");

    let screen = {
        tmux.type_line("alice", "/rooms");
        tmux.expect("alice", "[*] Rooms (2):")
    };
    assert!(
        screen.contains("    #main  3 members  2 unread"),
        "#main's two lines are unread:\n{screen}"
    );
    assert!(screen.contains("  > #dev   2 members"), "{screen}");

    // Back to #main: its lines are read, #dev's are the other room's now.
    tmux.type_line("alice", "/go main");
    tmux.expect("alice", "[*] Now in #main.");
    tmux.expect_input_line("alice", ">");
    bob.send("ping from dev");
    let screen = tmux.expect("alice", "bob: ping from dev");
    assert_eq!(said(&screen, "ping from dev"), "#dev bob: ping from dev");
    tmux.type_line("alice", "back in main");
    carol.expect("] alice: back in main");
    assert!(
        !bob.stdout().contains("] alice: back in main"),
        "bob's desk shows #main's lines named by the room"
    );
    bob.expect("] #main alice: back in main");

    // A third room, and the room list with the counts as they are now.
    tmux.type_line("alice", "/join #ops");
    tmux.expect_input_line("alice", "#ops>");
    carol.send("one more for main");
    tmux.expect("alice", "#main carol: one more for main");
    tmux.type_line("alice", "/rooms");
    let screen = tmux.expect("alice", "[*] Rooms (3):");
    let list: Vec<&str> = screen
        .lines()
        .skip_while(|line| !line.contains("[*] Rooms (3):"))
        .skip(1)
        .take(3)
        .collect();
    assert_eq!(
        list,
        [
            "    #main  3 members  1 unread",
            "    #dev   2 members  1 unread",
            "  > #ops   1 member",
        ],
        "{screen}"
    );
    eprintln!("alice's screen, in three rooms:\n{screen}");

    tmux.type_line("alice", "/part");
    tmux.expect("alice", "[*] You left #ops; now in #main.");
    tmux.expect_input_line("alice", ">");
    tmux.type_line("alice", "q");
    tmux.expect("alice", "EXITED 0");
}

#[test]
fn a_private_room_is_seen_by_its_members_and_those_invited_only() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    let mut carol = join("carol", server.addr());

    alice.send("/join #hr private");
    alice.expect("[*] Now in #hr (private, 1 member).");
    alice.send("/topic salaries, quietly");
    alice.expect("[*] #hr topic: salaries, quietly (set by alice, ");
    carol.send("/rooms");
    carol.expect("[*] Rooms (1):");
    carol.send("/join #hr");
    carol.expect("[!] Not invited: #hr is private; a member must /invite you");

    alice.send("/invite bob");
    alice.expect("[*] Invited bob to #hr.");
    bob.expect("[*] alice invited you to #hr; /join #hr enters it.");
    bob.send("/rooms");
    bob.expect("[*] Rooms (2):");
    bob.expect("    #hr    1 member   private  not in  topic: salaries, quietly");
    enter(&mut bob, "#hr");
    alice.expect("bob entered #hr");
    bob.send("/topic");
    bob.expect("[*] #hr topic: salaries, quietly (set by alice, ");
    bob.send("the numbers are in");
    alice.expect("] bob: the numbers are in");
    bob.expect("] bob: the numbers are in");
    // In a room, /who is who of it is online; in #main, everyone.
    bob.send("/who");
    bob.expect("[*] 2 online: alice, bob");
    carol.send("/who");
    carol.expect("[*] 3 online: alice, bob, carol");

    // carol, outside, never sees the room listed, nor what is said or set
    // there; asking again still lists #main alone.
    carol.send("/rooms");
    carol.expect_count("[*] Rooms (1):", 2);
    carol.send("still here");
    alice.expect("#main carol: still here");
    let out = carol.stdout();
    for secret in ["    #hr", "numbers", "salaries", "bob entered"] {
        assert!(!out.contains(secret), "carol saw {secret:?}:\n{out}");
    }
    for desk in [&mut alice, &mut bob, &mut carol] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn lines_typed_before_a_join_is_answered_go_to_the_room_joined() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    enter(&mut bob, "#dev");
    // Typed at once, as a paste or a script would: the second line waits
    // for the server's answer to the first.
    alice.send("/join #dev");
    alice.send("first words in dev");
    bob.expect("] alice: first words in dev");
    alice.expect("] alice: first words in dev");
    alice.send("/part");
    alice.send("back in main");
    bob.expect("] #main alice: back in main");
    let out = bob.stdout();
    assert!(!out.contains("#main alice: first words"), "{out}");
    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn room_names_are_checked_on_the_desk_and_refusals_read_as_the_desks_commands() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    alice.send("/join dev");
    alice.expect("[!] \"dev\" is no room's name: a room's name starts with # (#dev).");
    alice.send("/join #a,b");
    alice.expect("[!] \"#a,b\" is no room's name: a room's name holds only letters");
    alice.send("/go #nowhere");
    alice.expect("[!] You are not in #nowhere; /join #nowhere enters it.");
    alice.send("/part");
    alice.expect("[!] Everyone is in #main: nobody leaves it");
    alice.send("/topic #nope");
    alice.expect("[!] #main has no topic; every room you make may have one");
    alice.send("/invite nobody_here");
    alice.expect("[!] Everyone is in #main");
    enter(&mut alice, "#dev");
    alice.send("/invite nobody_here");
    alice.expect("[!] nobody called nobody_here is online");
    alice.send("still typing");
    alice.expect("] alice: still typing");
    // Nothing the desk refused went to the server as a message.
    let out = alice.stdout();
    assert!(!out.contains("alice: /join"), "{out}");
    alice.send("q");
    alice.expect_exit_code(0);
}

#[test]
fn after_a_restart_the_desk_is_back_in_its_rooms_with_its_current_room_and_unread_lines() {
    let dir = TempDir::new("rooms-restart");
    let mut server = server_process(&dir.path().join("room.db"), &[]);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    enter(&mut alice, "#dev");
    enter(&mut bob, "#dev");
    enter(&mut alice, "#ops");
    bob.send("before the restart");
    alice.expect("#dev bob: before the restart");

    server.kill();
    server.restart();
    for desk in [&alice, &bob] {
        desk.expect("[+] reconnected");
    }
    // Still in #ops: a line typed now goes there, shown as the current
    // room's, and bob (not in #ops) never sees it.
    alice.send("back in ops");
    alice.expect("] alice: back in ops");
    bob.send("after the restart");
    alice.expect("] #dev bob: after the restart");
    alice.send("/rooms");
    alice.expect("[*] Rooms (3):");
    alice.expect("    #dev   2 members  2 unread");
    alice.expect("  > #ops   1 member");
    settle();
    let out = alice.stdout();
    assert_eq!(
        out.matches("[*] Now in").count(),
        2,
        "no notice on return:\n{out}"
    );
    assert!(!bob.stdout().contains("back in ops"), "{}", bob.stdout());
    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn a_current_room_lost_with_the_servers_memory_falls_back_to_main() {
    let mut server = server_process(Path::new("none"), &[]);
    let mut alice = join("alice", server.addr());
    enter(&mut alice, "#dev");
    server.kill();
    server.restart();
    alice.expect("[+] reconnected");
    alice.expect(
        "[!] You are no longer in #dev (it was left, or lost, while you were away); now in #main.",
    );
    let mut bob = join("bob", server.addr());
    alice.send("where did everyone go");
    bob.expect("] alice: where did everyone go");
    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

/// An ALSA configuration with no device at all, so a desk rings the
/// terminal bell (BEL on its stdout) for every sound.
fn bell_only(dir: &TempDir) -> String {
    let config = dir.path().join("no-device.conf");
    std::fs::write(&config, "").expect("write an empty ALSA config");
    config.display().to_string()
}

#[test]
fn a_muted_room_rings_for_mentions_only() {
    let dir = TempDir::new("room-bell");
    let server = start_server(20);
    let mut bob = ClientBuilder::new("bob", server.addr())
        .name("bob")
        .env("ALSA_CONFIG_PATH", &bell_only(&dir))
        .sound()
        .spawn();
    bob.expect("using the terminal bell.");
    bob.expect("You are bob");
    let mut alice = join("alice", server.addr());
    enter(&mut bob, "#random");
    enter(&mut bob, "#dev");
    enter(&mut alice, "#random");
    bob.send("/notify #random off");
    bob.expect(
        "[*] #random: no sound for its messages (mentions and direct messages still chime).",
    );

    alice.send("cat pictures");
    bob.expect("#random alice: cat pictures");
    settle();
    assert_eq!(bob.count("\x07"), 0, "muted: {:?}", bob.stdout());
    alice.send("bob, look at this one");
    bob.expect("#random alice: bob, look at this one");
    bob.expect_count("\x07", 1);

    // An ordinary line in a room that is not muted rings, once the
    // mention's burst is over.
    thread::sleep(Duration::from_millis(2100));
    enter(&mut alice, "#dev");
    alice.send("build is green");
    bob.expect("] alice: build is green");
    bob.expect_count("\x07", 2);
    bob.send("/notify #random on");
    bob.expect("[*] #random: its messages chime as /notify says.");
    settle();
    assert_eq!(bob.count("\x07"), 2, "{:?}", bob.stdout());
    // And #random rings again.
    thread::sleep(Duration::from_millis(2100));
    alice.send("/go #random");
    alice.expect("[*] Now in #random.");
    alice.send("dog pictures");
    bob.expect("#random alice: dog pictures");
    bob.expect_count("\x07", 3);
    for desk in [&mut bob, &mut alice] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}
