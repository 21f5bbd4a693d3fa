//! The client in a real terminal: tmux gives it a pty, so colour is decided
//! the way it is for a person (stdout is a terminal), the line editor runs
//! as it does for a person, and `capture-pane` shows what the screen holds
//! (`-e`: with the escapes the terminal actually received).

use crate::common::{
    add_account, join, run_server, server_process, start_server, starts_with_timestamp, TempDir,
};
use crate::tmux::{client_command, input_line, strip_sgr, Tmux};

/// How many lines of `screen` contain `needle`.
fn lines_with(screen: &str, needle: &str) -> usize {
    strip_sgr(screen)
        .lines()
        .filter(|line| line.contains(needle))
        .count()
}

#[test]
fn names_are_coloured_in_a_real_terminal_and_q_leaves() {
    let tmux = Tmux::new();
    let server = start_server(20);
    let port = server.addr().port();
    let alice = "alice";
    let bob = "bob";
    tmux.join(alice, port, "--color red");
    tmux.join(bob, port, "--no-color");

    tmux.type_line(alice, "hello from tmux");
    let screen = tmux.expect(alice, "alice: hello from tmux");
    let line = screen
        .lines()
        .find(|l| strip_sgr(l).contains("alice: hello from tmux"))
        .unwrap();
    assert!(
        line.contains("\x1b[38;2;215;0;0malice\x1b["),
        "name not in the palette's red (215, 0, 0): {line:?}"
    );
    assert!(
        starts_with_timestamp(&strip_sgr(line)),
        "no [YYYY-MM-DD HH:MM:SS] at the start: {line:?}"
    );

    // --no-color wins even on a terminal.
    let bob_screen = tmux.expect(bob, "alice: hello from tmux");
    assert!(
        !bob_screen.contains("\x1b["),
        "bob asked for no colour: {bob_screen:?}"
    );

    tmux.quit(alice);
    tmux.expect(bob, "alice left");
    tmux.type_line(bob, "/quit");
    tmux.expect(bob, "EXITED 0");
}

#[test]
fn a_half_typed_line_stays_while_messages_arrive_and_is_sent_intact_once() {
    let tmux = Tmux::new();
    let server = start_server(20);
    let alice = "alice";
    tmux.join(alice, server.addr().port(), "--no-color");
    let mut bob = join("bob", server.addr());

    tmux.type_text(alice, "hello wor");
    tmux.expect_input_line(alice, "> hello wor");
    bob.send("a word from bob");
    let screen = tmux.expect(alice, "bob: a word from bob");
    // The message is printed above the line being typed, which is intact.
    assert_eq!(input_line(&screen), "> hello wor", "{screen}");

    tmux.type_line(alice, "ld");
    bob.expect("alice: hello world");
    let screen = tmux.expect_input_line(alice, ">");
    // Shown once: the server's copy, not also the typed echo.
    assert_eq!(lines_with(&screen, "hello world"), 1, "{screen}");
    assert_eq!(lines_with(&screen, "alice: hello world"), 1, "{screen}");

    // Up-arrow brings the line back.
    tmux.press(alice, "Up");
    tmux.expect_input_line(alice, "> hello world");
    tmux.press(alice, "C-u");
    tmux.expect_input_line(alice, ">");

    // Ctrl-C leaves like q.
    tmux.press(alice, "C-c");
    tmux.expect(alice, "EXITED 0");
    bob.expect("alice left");
}

/// Lines typed faster than the desk answers (a quick typist, a paste of
/// several lines): each is sent, once, in order. rustyline's reader keeps
/// what it read ahead between two lines only with its `buffer-redux`
/// feature; without it every line after the first was lost.
#[test]
fn lines_typed_ahead_are_all_sent_in_order() {
    let tmux = Tmux::new();
    let server = start_server(20);
    let alice = "alice";
    tmux.join(alice, server.addr().port(), "--no-color");
    let bob = join("bob", server.addr());

    tmux.run(&[
        "send-keys",
        "-t",
        alice,
        "one",
        "Enter",
        "two",
        "Enter",
        "three",
        "Enter",
    ]);
    bob.expect("alice: three");
    // In order, once each, as the room got them: bob's desk prints what
    // it receives in the order it receives it.
    let out = bob.stdout();
    let at: Vec<Option<usize>> = ["alice: one", "alice: two", "alice: three"]
        .iter()
        .map(|said| out.find(said))
        .collect();
    assert!(at.iter().all(Option::is_some), "{out}");
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{out}");
    // And once each on alice's own screen.
    let screen = tmux.expect(alice, "alice: three");
    let mut said: Vec<String> = said_lines(&screen)
        .into_iter()
        .filter_map(|(text, _)| Some(text.strip_prefix("alice: ")?.to_string()))
        .collect();
    said.sort();
    assert_eq!(said, ["one", "three", "two"], "{screen}");
}

#[test]
fn a_half_typed_line_stays_across_a_server_restart() {
    let tmux = Tmux::new();
    let dir = TempDir::new("tmux-restart");
    let mut server = server_process(&dir.path().join("room.db"), &[]);
    let alice = "alice";
    tmux.join(alice, server.addr().port(), "--no-color");
    let mut bob = join("bob", server.addr());
    tmux.type_text(alice, "half typed");
    tmux.expect_input_line(alice, "> half typed");

    server.kill();
    let screen = tmux.expect(alice, "[!] connection lost; reconnecting...");
    assert_eq!(input_line(&screen), "> half typed", "{screen}");
    server.restart();
    bob.expect("[+] reconnected");
    tmux.expect(alice, "[+] reconnected as alice");
    bob.send("welcome back");
    let screen = tmux.expect(alice, "bob: welcome back");
    assert_eq!(input_line(&screen), "> half typed", "{screen}");

    tmux.type_line(alice, " line");
    bob.expect("alice: half typed line");
    let screen = tmux.expect(alice, "alice: half typed line");
    assert_eq!(lines_with(&screen, "half typed line"), 1, "{screen}");
    assert_eq!(lines_with(&screen, "connection lost"), 1, "{screen}");
    tmux.quit(alice);
}

#[test]
fn a_line_naming_you_stands_out_by_more_than_colour() {
    let tmux = Tmux::new();
    let server = start_server(20);
    let alice = "alice";
    tmux.join(alice, server.addr().port(), "");
    let mut bob = join("bob", server.addr());
    bob.send("just chatting");
    bob.send("hi @alice");
    let screen = tmux.expect(alice, "bob: hi @alice");
    let line_with = |needle: &str| {
        screen
            .lines()
            .find(|l| strip_sgr(l).contains(needle))
            .unwrap()
            .to_string()
    };
    let mention = line_with("bob: hi @alice");
    let ordinary = line_with("bob: just chatting");
    for attribute in [BOLD, REVERSE] {
        assert!(
            attributes(&mention).contains(&attribute),
            "expected SGR {attribute} on {mention:?}"
        );
        assert!(
            !attributes(&ordinary).contains(&attribute),
            "expected no SGR {attribute} on {ordinary:?}"
        );
    }
    tmux.quit(alice);
}

/// The "done when": alice and bob talk in the room, carol sends bob
/// a direct message and mentions alice; each of the three screens shows
/// exactly what it should, with the right highlights: the mention in bold
/// reverse on alice's screen only, the direct message on bob's and carol's
/// only, in italics, bold on bob's (it is for him).
#[test]
fn three_desks_show_the_room_a_direct_message_and_a_mention_each_as_it_should() {
    let tmux = Tmux::new();
    let server = start_server(20);
    let desks = ["alice", "bob", "carol"];
    for desk in desks {
        tmux.join(desk, server.addr().port(), "");
    }
    let said = |desk: &str, line: &str, shown_on: &[&str], shown: &str| {
        tmux.type_line(desk, line);
        for on in shown_on {
            tmux.expect(on, shown);
        }
    };
    let everyone = &desks[..];
    said("alice", "coffee?", everyone, "alice: coffee?");
    said("bob", "yes please", everyone, "bob: yes please");
    said(
        "carol",
        "/msg bob psst, cake in the kitchen",
        &["carol"],
        "you \u{2192} bob: psst, cake in the kitchen",
    );
    tmux.expect("bob", "carol \u{2192} you: psst, cake in the kitchen");
    said(
        "carol",
        "alice, the report is ready",
        everyone,
        "carol: alice, the report is ready",
    );

    let room = ["alice: coffee?", "bob: yes please"];
    let mention = "carol: alice, the report is ready";
    let expected = [
        ("alice", vec![room[0], room[1], mention]),
        (
            "bob",
            vec![
                room[0],
                room[1],
                "carol \u{2192} you: psst, cake in the kitchen",
                mention,
            ],
        ),
        (
            "carol",
            vec![
                room[0],
                room[1],
                "you \u{2192} bob: psst, cake in the kitchen",
                mention,
            ],
        ),
    ];
    for (desk, lines) in expected {
        let screen = tmux.screen(desk);
        let shown = said_lines(&screen);
        let texts: Vec<&str> = shown.iter().map(|(text, _)| text.as_str()).collect();
        assert_eq!(texts, lines, "{desk}'s screen:\n{}", strip_sgr(&screen));
        for (text, line) in &shown {
            let attrs = attributes(line);
            let (want, unwanted): (&[u16], &[u16]) = match (desk, text.as_str()) {
                ("alice", t) if t == mention => (&[BOLD, REVERSE], &[ITALIC]),
                ("bob", t) if t.contains("\u{2192} you") => (&[BOLD, ITALIC], &[REVERSE]),
                ("carol", t) if t.contains("you \u{2192}") => (&[ITALIC], &[BOLD, REVERSE]),
                _ => (&[], &[BOLD, REVERSE, ITALIC]),
            };
            for attribute in want {
                assert!(
                    attrs.contains(attribute),
                    "{desk}: SGR {attribute} on {line:?}"
                );
            }
            for attribute in unwanted {
                assert!(
                    !attrs.contains(attribute),
                    "{desk}: no SGR {attribute} on {line:?}"
                );
            }
        }
    }
    for desk in desks {
        tmux.quit(desk);
    }
}

/// The lines of `screen` where someone said something (a timestamp, then
/// `NAME: ` or `A \u{2192} B: `; not a join or a notice): the text after
/// the timestamp, and the line with its escapes.
fn said_lines(screen: &str) -> Vec<(String, String)> {
    screen
        .lines()
        .filter_map(|line| {
            let plain = strip_sgr(line);
            let text = plain.split_once("] ").map(|(_, text)| text.trim_end())?;
            (starts_with_timestamp(&plain) && text.contains(": "))
                .then(|| (text.to_string(), line.to_string()))
        })
        .collect()
}

/// SGR bold.
const BOLD: u16 = 1;
/// SGR italic.
const ITALIC: u16 = 3;
/// SGR reverse video.
const REVERSE: u16 = 7;

/// The SGR attributes `line` sets, without colour values (the numbers
/// after `38;2`, `38;5` and their background forms are not attributes).
fn attributes(line: &str) -> Vec<u16> {
    let mut found = Vec::new();
    for sequence in line.split("\x1b[").skip(1) {
        let Some((params, _)) = sequence.split_once('m') else {
            continue;
        };
        let mut params = params.split(';').map(|p| p.parse::<u16>().unwrap_or(0));
        while let Some(param) = params.next() {
            match param {
                38 | 48 => {
                    let skip = if params.next() == Some(2) { 3 } else { 1 };
                    params.by_ref().take(skip).for_each(drop);
                }
                other => found.push(other),
            }
        }
    }
    found
}

#[test]
fn a_token_asked_for_is_not_shown_and_a_desk_revoked_at_its_prompt_leaves_the_terminal_sane() {
    let tmux = Tmux::new();
    let dir = TempDir::new("terminal-token");
    let db = dir.path().join("room.db");
    let token_file = add_account(&db, "alice", dir.path());
    let token = std::fs::read_to_string(token_file).unwrap();
    let token = token.trim();
    let server = server_process(&db, &["--auth", "token"]);
    // After the client: the terminal's canonical mode, which raw mode turns off.
    let command = format!(
        "{}; s=$?; echo MODE $(stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon); (exit $s)",
        client_command(server.addr().port(), "--name alice")
    );
    tmux.start("alice", &command);
    tmux.expect("alice", "This server requires an account");
    tmux.expect("alice", "Token for alice (not shown):");
    tmux.type_line("alice", token);
    tmux.expect("alice", "You are alice");
    assert!(
        !tmux.screen("alice").contains(token),
        "the token was echoed"
    );
    tmux.expect_input_line("alice", ">");

    let db_arg = db.to_str().unwrap();
    let (code, out, err) = run_server(&["user", "remove", "alice", "--db", db_arg]);
    assert_eq!(code, Some(0), "{out}{err}");
    tmux.expect("alice", "revoked the account alice");
    tmux.expect("alice", "MODE icanon");
    tmux.expect("alice", "EXITED 1");
}
