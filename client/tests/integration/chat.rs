//! End to end: the real client binary against the real server, chatting
//! through piped stdin/stdout.

use crate::common::{join, start_server, starts_with_timestamp, ClientBuilder, RawDesk};
use chat_shared::{Color, ServerLine};

#[test]
fn three_clients_chat_and_see_joins_leaves_and_who() {
    let server = start_server(20);
    let mut alice = ClientBuilder::new("alice", server.addr())
        .name("alice")
        .spawn();
    alice.expect("[*] Connecting to 127.0.0.1:");
    alice.expect("[+] Connected.");
    alice.expect("You are alice");
    assert!(
        !alice.stdout().contains("Enter your name"),
        "--name skips the prompt"
    );

    let mut bob = join("bob", server.addr());
    alice.expect("bob joined");

    let mut carol = join("carol", server.addr());
    alice.expect("carol joined");
    bob.expect("carol joined");

    alice.send("hello there");
    for client in [&alice, &bob, &carol] {
        client.expect("] alice: hello there");
    }
    bob.send("hi alice");
    for client in [&alice, &bob, &carol] {
        client.expect("] bob: hi alice");
    }

    carol.send("/who");
    carol.expect("[*] 3 online: ");
    let who_line = carol
        .stdout()
        .lines()
        .find(|l| l.contains("3 online: "))
        .map(str::to_string)
        .unwrap();
    for name in ["alice", "bob", "carol"] {
        assert!(who_line.contains(name), "{who_line}");
    }

    carol.send("q");
    carol.expect_exit_code(0);
    alice.expect("carol left");
    bob.expect("carol left");

    bob.send("/quit");
    bob.expect_exit_code(0);
    alice.expect("bob left");

    alice.close_stdin();
    alice.expect_exit_code(0);
}

#[test]
fn timestamps_are_shown_in_the_seed_format() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    alice.send("what time is it");
    alice.expect("alice: what time is it");
    let out = alice.stdout();
    let line = out
        .lines()
        .find(|l| l.contains("alice: what time is it"))
        .unwrap();
    assert!(
        starts_with_timestamp(line),
        "expected [YYYY-MM-DD HH:MM:SS] at the start of {line:?}"
    );
    alice.send("q");
    alice.expect_exit_code(0);
}

#[test]
fn newcomer_sees_history_before_the_name_prompt_is_answered_and_before_live_messages() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    alice.send("early one");
    alice.send("early two");
    alice.expect("alice: early two");

    // No name given: carol sits at the prompt, and history still arrives.
    let mut carol = ClientBuilder::new("carol", server.addr()).spawn();
    carol.expect("Enter your name: ");
    carol.expect("alice: early two");
    carol.send("carol");
    carol.expect("You are carol");
    alice.expect("carol joined");
    alice.send("live now");
    carol.expect("alice: live now");

    let out = carol.stdout();
    let header = out.find("Recent messages").expect("history header");
    let prompt = out.find("Enter your name: ").unwrap();
    assert!(
        header < prompt,
        "history is printed before the prompt:\n{out}"
    );
    let first = out.find("alice: early one").unwrap();
    let second = out.find("alice: early two").unwrap();
    let live = out.find("alice: live now").unwrap();
    assert!(
        header < first && first < second && second < live,
        "order wrong:\n{out}"
    );
    carol.send("q");
    carol.expect_exit_code(0);
}

#[test]
fn taken_name_given_with_flag_is_refused_then_asked_again() {
    let server = start_server(20);
    let alice = join("alice", server.addr());

    let mut impostor = ClientBuilder::new("impostor", server.addr())
        .name("alice")
        .spawn();
    impostor.expect("[!] The name \"alice\" is taken; choose another.");
    impostor.expect("Enter your name: ");
    impostor.send("alice2");
    impostor.expect("You are alice2");
    alice.expect("alice2 joined");
    impostor.send("it me");
    alice.expect("alice2: it me");
    impostor.send("q");
    impostor.expect_exit_code(0);
}

#[test]
fn taken_name_typed_at_the_prompt_is_refused_then_asked_again() {
    let server = start_server(20);
    let _alice = join("alice", server.addr());

    let mut second = ClientBuilder::new("second", server.addr()).spawn();
    second.expect("Enter your name: ");
    second.send("alice");
    second.expect("[!] The name \"alice\" is taken; choose another.");
    second.expect_count("Enter your name: ", 2);
    second.send("bob");
    second.expect("You are bob");
    second.close_stdin();
    second.expect_exit_code(0);
}

#[test]
fn bad_name_at_the_prompt_is_refused_locally() {
    let server = start_server(20);
    let mut client = ClientBuilder::new("client", server.addr()).spawn();
    client.expect("Enter your name: ");
    client.send("two words");
    client.expect("[!] The name \"two words\" is not allowed");
    client.expect_count("Enter your name: ", 2);
    client.send("oneword");
    client.expect("You are oneword");
    client.send("/quit");
    client.expect_exit_code(0);
}

/// Typing `command` leaves cleanly: exit status 0, no "Disconnected".
fn leaves_with_status_zero_on(command: &str) {
    let server = start_server(20);
    let mut client = join("dave", server.addr());
    client.send(command);
    client.expect_exit_code(0);
    assert!(
        !client.stdout().contains("Disconnected"),
        "{}",
        client.stdout()
    );
}

#[test]
fn q_leaves_with_status_zero() {
    leaves_with_status_zero_on("q");
}

#[test]
fn slash_quit_leaves_with_status_zero() {
    leaves_with_status_zero_on("/quit");
}

#[test]
fn end_of_stdin_leaves_with_status_zero() {
    let server = start_server(20);
    let watcher = join("watcher", server.addr());
    let mut client = join("frank", server.addr());
    client.send("last words");
    client.close_stdin();
    client.expect_exit_code(0);
    // The line typed before the end of input was still sent.
    watcher.expect("frank: last words");
    watcher.expect("frank left");
}

#[test]
fn end_of_stdin_at_the_name_prompt_leaves_with_status_zero() {
    let server = start_server(20);
    let mut client = ClientBuilder::new("shy", server.addr()).spawn();
    client.expect("Enter your name: ");
    client.close_stdin();
    client.expect_exit_code(0);
}

/// Typing `command` at the name prompt leaves with status 0, taking no name.
fn name_prompt_leaves_on(command: &str) {
    let server = start_server(20);
    let mut watcher = join("watcher", server.addr());
    let mut client = ClientBuilder::new("shy", server.addr()).spawn();
    client.expect("Enter your name: ");
    client.send(command);
    client.expect_exit_code(0);
    assert!(!client.stdout().contains("You are"), "{}", client.stdout());
    // Nobody joined (as "q" or anything else) on the way out: a join would
    // have reached the watcher before the answer to its /who.
    watcher.send("/who");
    watcher.expect("[*] 1 online: watcher");
    let joins = watcher.count(" joined");
    assert_eq!(joins, 1, "only the watcher joined:\n{}", watcher.stdout());
}

#[test]
fn q_at_the_name_prompt_leaves_with_status_zero() {
    name_prompt_leaves_on("q");
}

#[test]
fn slash_quit_at_the_name_prompt_leaves_with_status_zero() {
    name_prompt_leaves_on("/quit");
}

#[test]
fn control_characters_from_peers_are_shown_not_obeyed() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    let bob = join("bob", server.addr());
    alice.send("red \x1b[31malert\x07");
    bob.expect("alice: red ^[[31malert^G");
    assert!(!bob.stdout().contains('\x1b'), "{:?}", bob.stdout());
    assert!(!bob.stdout().contains('\x07'), "{:?}", bob.stdout());
    alice.send("q");
    alice.expect_exit_code(0);
}

#[test]
fn unknown_command_is_not_sent() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    alice.send("/dance");
    alice.expect("[!] Unknown command /dance; type /help for the commands");
    alice.send("after");
    alice.expect("alice: after");
    assert!(!alice.stdout().contains("alice: /dance"));
    alice.send("q");
    alice.expect_exit_code(0);
}

#[test]
fn a_message_over_the_line_limit_is_not_sent() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    // 4096-byte lines, less "alice" and "<SEP>".
    alice.send(&"x".repeat(4087));
    alice.expect("[!] That message is 4087 bytes; the limit is 4086. Not sent.");
    alice.send(&"y".repeat(4086));
    alice.expect(&format!("alice: {}", "y".repeat(4086)));
    assert!(!alice.stdout().contains(&"x".repeat(4087)));
    alice.send("q");
    alice.expect_exit_code(0);
}

/// The name and text of the next message the watcher receives.
#[track_caller]
fn sent_text(watcher: &mut RawDesk) -> (String, String) {
    let line = watcher.expect_line("MSG<SEP>");
    match ServerLine::parse(&line) {
        Ok(ServerLine::Msg(chat)) => (chat.name.to_string(), chat.text.to_string()),
        other => panic!("expected a MSG, got {other:?} from {line:?}"),
    }
}

#[test]
fn me_shows_an_action_on_every_desk_and_travels_as_text() {
    let server = start_server(20);
    let mut watcher = RawDesk::connect(server.addr());
    let mut alice = join("alice", server.addr());
    let bob = join("bob", server.addr());
    alice.send("/me waves");
    for client in [&alice, &bob] {
        client.expect("] * alice waves");
    }
    // On the wire it is an ordinary message whose text starts with "/me ".
    assert_eq!(
        sent_text(&mut watcher),
        ("alice".to_string(), "/me waves".to_string())
    );
    // A newcomer's history shows it the same way.
    let carol = join("carol", server.addr());
    carol.expect("] * alice waves");

    alice.send("/me");
    alice.expect("[!] Usage: /me ACTION");
    alice.send("q");
    alice.expect_exit_code(0);
    assert_eq!(bob.count("* alice"), 1, "{}", bob.stdout());
}

#[test]
fn a_double_slash_sends_a_line_that_starts_with_a_slash() {
    let server = start_server(20);
    let mut watcher = RawDesk::connect(server.addr());
    let mut alice = join("alice", server.addr());
    let bob = join("bob", server.addr());
    alice.send("/etc/hosts is broken");
    alice.expect("[!] Unknown command /etc/hosts; type /help");
    alice.send("//etc/hosts is broken");
    bob.expect("] alice: /etc/hosts is broken");
    assert_eq!(
        sent_text(&mut watcher),
        ("alice".to_string(), "/etc/hosts is broken".to_string())
    );
    assert_eq!(bob.count("/etc/hosts"), 1, "sent once:\n{}", bob.stdout());
    alice.send("q");
    alice.expect_exit_code(0);
}

#[test]
fn help_lists_every_command_and_sends_nothing() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    let bob = join("bob", server.addr());
    alice.send("/help");
    alice.expect("[*] Commands:");
    for command in [
        "/who",
        "/msg NAME TEXT",
        "/r or /reply TEXT",
        "/me ACTION",
        "/search WORDS",
        "//TEXT",
        "/notify",
        "/help",
        "q or /quit",
    ] {
        alice.expect(&format!("    {command}"));
    }
    alice.send("after");
    bob.expect("alice: after");
    let out = bob.stdout();
    assert!(
        !out.contains("Commands") && !out.contains("alice: /help"),
        "{out}"
    );
    alice.send("q");
    alice.expect_exit_code(0);
}

/// The line of `out` that ends with `tail`.
#[track_caller]
fn line_ending(out: &str, tail: &str) -> String {
    out.lines()
        .find(|line| line.ends_with(tail))
        .unwrap_or_else(|| panic!("no line ending {tail:?} in:\n{out}"))
        .to_string()
}

#[test]
fn a_line_naming_you_is_marked_on_your_desk_only() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    for text in [
        "hi bob",
        "@Bob: look",
        "/me nudges bob",
        "kebob and bobby",
        "end",
    ] {
        alice.send(text);
    }
    bob.send("bob here");
    bob.expect("alice: end");
    bob.expect("bob: bob here");
    let out = bob.stdout();
    for tail in ["alice: hi bob", "alice: @Bob: look", "* alice nudges bob"] {
        let line = line_ending(&out, tail);
        let rest = line
            .strip_prefix(">> ")
            .unwrap_or_else(|| panic!("expected {line:?} marked >>"));
        assert!(starts_with_timestamp(rest), "{line:?}");
    }
    for tail in ["alice: kebob and bobby", "alice: end", "bob: bob here"] {
        let line = line_ending(&out, tail);
        assert!(starts_with_timestamp(&line), "not a mention: {line:?}");
    }
    alice.expect("alice: end");
    assert!(!alice.stdout().contains(">> "), "{}", alice.stdout());
    bob.send("q");
    bob.expect_exit_code(0);
    alice.send("q");
    alice.expect_exit_code(0);
}

/// The colour the server announced `name` in, from the watcher's next
/// `JOIN` line.
#[track_caller]
fn joined_color(watcher: &mut RawDesk, name: &str) -> Color {
    let line = watcher.expect_line("JOIN<SEP>");
    match ServerLine::parse(&line) {
        Ok(ServerLine::Join(who)) if who.name == name => who.color,
        other => panic!("expected {name} joining, got {other:?} from {line:?}"),
    }
}

#[test]
fn a_desk_is_in_the_colour_its_name_gives_every_run_unless_it_chooses() {
    let server = start_server(20);
    let mut watcher = RawDesk::connect(server.addr());
    for _run in 0..2 {
        let mut alice = join("alice", server.addr());
        assert_eq!(
            joined_color(&mut watcher, "alice"),
            Color::for_name("alice")
        );
        alice.send("q");
        alice.expect_exit_code(0);
    }
    let mut chooser = ClientBuilder::new("alice", server.addr())
        .name("alice")
        .args(&["--color", "bright-blue"])
        .spawn();
    chooser.expect("You are alice");
    assert_eq!(joined_color(&mut watcher, "alice"), Color::BrightBlue);
    chooser.send("q");
    chooser.expect_exit_code(0);
}
