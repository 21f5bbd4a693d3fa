//! The seed project's desks on the wire: a connection whose first byte is
//! ESC speaks the seed's frames (`COLOR[time] NAME<SEP>TEXTRESET`, no
//! newline), its colour is understood, and what it receives is rendered the
//! seed's way, colour codes included. Raw sockets only; the seed's own
//! Python client is run by `client/tests/seed_desks.rs`.

use std::time::Duration;

use crate::common::*;
use chat_shared::{seed, Color, ServerLine};

/// The `MSG` from `name` saying `text`, as a desk of ours receives it.
#[track_caller]
fn expect_chat(client: &mut Client, name: &str, text: &str) -> Color {
    let line = client.wait_for(&format!("MSG from {name}"), |line| {
        msg(line).is_some_and(|(n, t)| n == name && t == text)
    });
    match ServerLine::parse(&line) {
        Ok(ServerLine::Msg(chat)) => chat.color,
        other => panic!("expected a MSG, got {other:?}"),
    }
}

/// `line` with every digit shown as 9, to compare times by their shape.
fn seed_time_shape(line: &str) -> String {
    line.chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect()
}

#[test]
fn seed_frames_are_understood_and_answered_in_the_seeds_look() {
    let server = server_process(&[]);
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut aditya = Client::connect_silent(server.addr());
    // Two frames in one write, as Nagle may deliver them: no newline, each
    // ends with the colour reset.
    aditya.send(
        b"\x1b[92m[2021-10-26 13:08:26] aditya<SEP>hi siri\x1b[39m\x1b[92m[2021-10-26 13:08:33] aditya<SEP>say something \x1b[2J\x07\x1b[39m",
    );
    assert_eq!(
        expect_chat(&mut alice, "aditya", "hi siri"),
        Color::BrightGreen
    );
    // Nothing it sends reaches anyone raw.
    expect_chat(&mut alice, "aditya", "say something ^[[2J^G");

    alice.say("alice", "hello aditya");
    let raw = aditya.wait_for("alice's line", |line| line.contains("alice: hello aditya"));
    let colour = format!("\x1b[{}m", alice_code(&mut alice));
    let stamped = raw
        .strip_prefix(&colour)
        .and_then(|rest| rest.strip_suffix("\x1b[39m"))
        .unwrap_or_else(|| panic!("expected alice's colour {colour:?} and a reset around {raw:?}"));
    assert_eq!(
        seed_time_shape(stamped),
        "[9999-99-99 99:99:99] alice: hello aditya"
    );
}

/// A seed desk whose user takes a while to type a name is silent past the
/// server's wait for a first line, and is served as one of our desks until
/// its first frame: that frame still makes it a seed desk, understood and
/// answered in the seed's look.
#[test]
fn a_seed_desk_silent_at_first_is_a_seed_desk_when_it_speaks() {
    let server = server_process(&[]);
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut aditya = Client::connect_silent(server.addr());
    // Well past the 250 ms after which a silent peer counts as our desk
    // and is sent what waited for it.
    std::thread::sleep(Duration::from_millis(800));
    aditya.send(b"\x1b[92m[2021-10-26 13:08:26] aditya<SEP>hi after a pause\x1b[39m");
    assert_eq!(
        expect_chat(&mut alice, "aditya", "hi after a pause"),
        Color::BrightGreen
    );
    alice.say("alice", "welcome back");
    let raw = aditya.wait_for("alice's line", |line| line.contains("alice: welcome back"));
    let colour = format!("\x1b[{}m", alice_code(&mut alice));
    assert!(
        raw.starts_with(&colour) && raw.ends_with("\x1b[39m"),
        "expected the seed's look, got {raw:?}"
    );
}

/// The colour code a seed desk is sent for alice's lines: her colour, as
/// her `WELCOME` gave it.
fn alice_code(alice: &mut Client) -> u8 {
    let received = String::from_utf8_lossy(alice.received()).into_owned();
    let welcome = received
        .lines()
        .find(|line| line.starts_with("WELCOME<SEP>"))
        .expect("alice was welcomed");
    match ServerLine::parse(welcome) {
        Ok(ServerLine::Welcome { color, .. }) => seed::ansi_code(color),
        other => panic!("expected a WELCOME, got {other:?}"),
    }
}

/// Junk that looks like a seed desk is bounded like any line: a frame that
/// never ends is refused once and dropped as it arrives, and the server goes
/// on serving everyone.
#[test]
fn an_endless_seed_frame_is_refused_and_bounded() {
    let server = server_process(&[]);
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut junk = Client::connect_silent(server.addr());
    junk.send(b"\x1b[34m[2021-10-26 13:07:08] mallory<SEP>");
    for _ in 0..64 {
        junk.send(&[b'x'; 16 * 1024]);
    }
    let (lines, _, _) = junk.drain(Duration::from_millis(500));
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("[!] lines are at most")),
        "expected one refusal in the seed desk's format, got {lines:?}"
    );
    junk.send(b"\x1b[39m\x1b[34m[2021-10-26 13:07:09] mallory<SEP>short\x1b[39m");
    expect_chat(&mut alice, "mallory", "short");
    alice.say("alice", "the room is fine");
}
