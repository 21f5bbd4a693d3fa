//! The holes an office would hit, closed: a log nobody reads, input after
//! `/quit`, control bytes in replies, names that only look alike, a line that
//! never ends, newcomers arriving as others leave, bare `\r` line ends, and
//! shutdown racing a newcomer. Real server, real sockets; each test failed
//! before its fix.

use std::time::{Duration, Instant};

use crate::common::*;
use chat_server::{Config, Mode};

// ---------------------------------------------------------------------------
// 1. The log never stalls the room.
// ---------------------------------------------------------------------------

/// The server's stderr is a pipe nobody reads. 3,000 clients connect and
/// leave, far more log than the pipe holds; two other clients still chat,
/// each line delivered promptly, and the loop's thread is never the one
/// blocked writing to the pipe. Once the pipe is read again, the log says how
/// many lines it dropped.
#[test]
fn stalled_stderr_never_stalls_the_room() {
    let mut server = server_command(&["--rate-limit", "0"])
        .stall_stderr_after_start()
        .start();
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut bob = Client::connect(server.addr());
    bob.join("bob");
    alice.wait_for("JOIN of bob", |line| is_join(line, "bob"));

    for round in 0..10 {
        let churn: Vec<Client> = (0..300)
            .map(|_| Client::connect_silent(server.addr()))
            .collect();
        // Make sure the server took them all before they leave.
        let mut last = Client::connect(server.addr());
        last.send_line("/quit");
        last.wait_for("BYE", |line| line.starts_with("BYE<SEP>"));
        drop(churn);
        for turn in 0..2 {
            let (speaker, listener, name) = if turn == 0 {
                (&mut alice, &mut bob, "alice")
            } else {
                (&mut bob, &mut alice, "bob")
            };
            let text = format!("round {round} from {name}");
            let sent = Instant::now();
            speaker.send_line(&format!("{name}<SEP>{text}"));
            listener.wait_for_within(Duration::from_secs(2), &format!("MSG {text}"), |line| {
                msg(line) == Some((name.to_string(), text.clone()))
            });
            let took = sent.elapsed();
            assert!(
                took < Duration::from_secs(2),
                "expected round {round}'s line delivered within 2 s, took {took:?}"
            );
        }
    }
    let waiting = server.stalled_stderr_bytes();
    assert!(
        waiting >= 60 * 1024,
        "expected the unread stderr pipe to be full (64 KiB), it holds {waiting} bytes"
    );
    let main_thread_wchan =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/wchan", pid = server.pid()))
            .unwrap_or_default();
    assert_ne!(
        main_thread_wchan, "pipe_write",
        "expected the loop's thread not to be blocked writing to stderr"
    );

    server.drain_stderr();
    let log = server.wait_for_log("log lines were dropped while stderr was not being read");
    assert!(
        !log.contains("hello") && !log.contains("round 0 from"),
        "expected no message text in the log, got {log}"
    );
}

// ---------------------------------------------------------------------------
// 2. Hostile and careless input.
// ---------------------------------------------------------------------------

/// `/quit` and a line after it in one write: the client gets `BYE` and the
/// close, and nothing after `/quit` is acted on: no `zed` joins, no ghost line
/// reaches anyone or the history.
fn nothing_after_quit_is_acted_on(mode: Mode) {
    let server = start(Config { mode, ..config() });
    let mut watcher = Client::connect(server.addr());
    watcher.join("watcher");
    let mut quitter = Client::connect(server.addr());
    quitter.send(b"/quit\nzed<SEP>ghost\n");
    let (lines, _, end) = quitter.drain(TIMEOUT);
    assert_eq!(
        lines,
        vec!["BYE<SEP>goodbye".to_string()],
        "expected only BYE"
    );
    assert!(end.is_some(), "expected the connection closed after BYE");

    watcher.say("watcher", "after the quit");
    let mut newcomer = Client::connect_silent(server.addr());
    newcomer.send_line("/ping");
    let history = newcomer.wait_for("PONG", |line| line == "PONG");
    assert_eq!(history, "PONG");
    let seen_by_newcomer = String::from_utf8_lossy(newcomer.received()).into_owned();
    let seen_by_watcher = String::from_utf8_lossy(watcher.received()).into_owned();
    for seen in [&seen_by_newcomer, &seen_by_watcher] {
        assert!(
            !seen.contains("ghost") && !seen.contains("zed"),
            "expected nothing of the line after /quit, got {seen:?}"
        );
    }
    assert!(
        seen_by_newcomer.contains("after the quit"),
        "history replayed: {seen_by_newcomer:?}"
    );
}

#[test]
fn nothing_after_quit_is_acted_on_event_loop() {
    nothing_after_quit_is_acted_on(Mode::Event);
}

#[test]
fn nothing_after_quit_is_acted_on_threads() {
    nothing_after_quit_is_acted_on(Mode::Threads);
}

/// Replies echo what the client sent (an unknown command, a bad colour), and
/// no control byte comes back raw, not even to the sender.
#[test]
fn replies_never_carry_raw_controls() {
    let server = start(config());
    let mut client = Client::connect(server.addr());
    client.send(b"/\x1b[2J\x07dance \xc2\x9b31m \xe2\x80\xae\n");
    let err = client.expect_prefix("ERR<SEP>bad-command<SEP>");
    client.send(b"/join eve \x1b[31mred\x07\n");
    let bad_color = client.expect_prefix("ERR<SEP>bad-color<SEP>");
    for reply in [&err, &bad_color] {
        assert!(
            !reply.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "expected no raw control in {reply:?}"
        );
    }
    assert!(
        err.contains("^[[2J^G"),
        "expected the controls made visible: {err:?}"
    );
    assert!(
        !client.received().iter().any(|&b| b == 0x1b || b == 0x07),
        "expected no ESC or BEL byte at all, got {:?}",
        String::from_utf8_lossy(client.received())
    );
}

/// A name that only looks like an online one is taken (Cyrillic `а` for
/// Latin `a`, capital `I` for `l`, other case); one hiding an invisible
/// character is refused outright.
#[test]
fn names_that_only_look_alike_are_the_same_name() {
    let server = start(config());
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut other = Client::connect(server.addr());
    for lookalike in ["\u{430}lice", "AIice", "ALICE", "al\u{456}ce"] {
        other.send_line(&format!("/join {lookalike}"));
        let reply = other.line();
        assert!(
            reply.starts_with("ERR<SEP>name-taken<SEP>"),
            "expected {lookalike:?} taken while alice is online, got {reply:?}"
        );
    }
    for hidden in [
        "al\u{200b}ice",
        "bo\u{200d}b",
        "\u{2066}carol",
        "dave\u{feff}",
    ] {
        other.send_line(&format!("/join {hidden}"));
        let reply = other.line();
        assert!(
            reply.starts_with("ERR<SEP>bad-name<SEP>"),
            "expected {hidden:?} refused as bad-name, got {reply:?}"
        );
    }
    other.send_line("/join alicia");
    other.expect_prefix("WELCOME<SEP>alicia<SEP>");
}

/// A client dripping bytes of a line that never ends is idle, not active:
/// `--idle-timeout` closes it as it closes a silent one.
#[test]
fn a_line_that_never_ends_is_not_activity() {
    let server = start(Config {
        idle_timeout: Some(Duration::from_secs(1)),
        ..config()
    });
    let mut dripper = Client::connect_silent(server.addr());
    let started = Instant::now();
    let bye = loop {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "expected the dripping client closed within 5 s, it was not"
        );
        if dripper.try_send(b"x").is_err() {
            panic!("expected a BYE before the close");
        }
        match dripper.next(Duration::from_millis(200)) {
            Next::Line(line) => break line,
            Next::TimedOut => {}
            Next::Closed(end) => panic!("expected a BYE before the close, got {end:?}"),
        }
    };
    assert!(
        bye.starts_with("BYE<SEP>") && bye.contains("idle"),
        "expected a BYE saying idle, got {bye:?}"
    );
}

/// Newcomers that arrive in the same pass as departures are judged against
/// the room without the departed: with `--max-clients 5` full, five leave and
/// one arrives while the server is stopped (so the loop sees both at once);
/// the newcomer is let in.
#[test]
fn newcomer_arriving_with_departures_is_not_refused_as_full() {
    let server = server_process(&["--max-clients", "5"]);
    let clients: Vec<Client> = (0..5).map(|_| Client::connect(server.addr())).collect();
    server.signal(libc::SIGSTOP);
    drop(clients);
    let mut newcomer = Client::connect_silent(server.addr());
    newcomer.send_line("/ping");
    server.signal(libc::SIGCONT);
    let reply = newcomer.line();
    assert_eq!(reply, "PONG", "expected the newcomer let in, got {reply:?}");
}

/// A bare `\r` ends a line as `\r\n` and `\n` do.
#[test]
fn bare_carriage_return_ends_a_line() {
    let server = start(config());
    let mut client = Client::connect(server.addr());
    client.send(b"alice<SEP>one\ralice<SEP>two\r\nalice<SEP>three\n");
    for text in ["one", "two", "three"] {
        client.expect_msg("alice", text);
    }
    client.send_line("/who");
    let who = client.wait_for("WHO", |line| line.starts_with("WHO<SEP>"));
    assert!(
        who.starts_with("WHO<SEP>1<SEP>alice "),
        "expected alice alone, no stray empty lines, got {who:?}"
    );
}

// ---------------------------------------------------------------------------
// 3. Shutdown lets nobody new in.
// ---------------------------------------------------------------------------

/// Once shutdown has begun, nobody new gets in: while the server waits for a
/// reader that does not read to take its goodbye, a newcomer is refused by
/// the system at once, instead of being let in (or left waiting in the
/// backlog) until the server exits.
#[test]
fn shutdown_lets_nobody_new_in() {
    let mut server = server_process(&["--rate-limit", "0", "--max-queue", "4194304"]);
    let mut talker = Client::connect(server.addr());
    talker.join("talker");
    let mut stuck = Client::connect_with_rcvbuf(server.addr(), 4096);
    stuck.send_line("/ping");
    stuck.expect_line("PONG");
    // Far more than the socket buffers hold, so the stuck reader's goodbye
    // cannot be written and shutdown waits its full 2 s for it.
    let text = "x".repeat(1000);
    for n in 0..400 {
        talker.send_line(&format!("talker<SEP>{n} {text}"));
    }
    talker.expect_msg("talker", &format!("399 {text}"));
    server.signal(libc::SIGTERM);
    talker.wait_for("BYE", |line| line.starts_with("BYE<SEP>"));
    assert!(
        server.is_running(),
        "expected shutdown still waiting on the stuck reader: {}",
        server.log()
    );
    let refused = std::net::TcpStream::connect(server.addr());
    assert!(
        matches!(&refused, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "expected a newcomer refused once shutdown began, got {refused:?}"
    );
    assert!(
        server.is_running(),
        "expected the refusal to come from a live server"
    );
    let status = server.wait_exit(TIMEOUT).expect("the server exits");
    assert!(status.success(), "expected exit 0, got {status}");
    drop(stuck);
}
