//! Integration tests of `chat-server`: a real server on port 0 and real
//! sockets, asserting on the bytes clients receive.
//!
//! Most tests run the server in this process through
//! [`chat_server::RunningServer`]. Tests about what only a process shows
//! (signals, fd limits, thread count, memory, the command line) start the
//! real binary through [`crate::common::ServerProcess`]; memory is read from the
//! child's `/proc/PID/status`, which other tests running in parallel in this
//! process cannot disturb.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use chat_server::config::{parse_args, Command};
use chat_server::{Config, Mode};
use chat_shared::message::parse_timestamp;
use chat_shared::ServerLine;

use crate::common::{
    config, cpu_time, is_join, is_leave, msg, run_cli, server_command, server_process, start,
    status_field, status_kib_field, Client, Next, ServerProcess, TIMEOUT,
};

/// Growth of the server's peak RSS that counts as "bounded". Loose on
/// purpose: allocator slack and thread stacks vary, and the failures these
/// bounds catch (buffering an endless line, an unbounded queue) grow by far
/// more.
const RSS_GROWTH_BOUND_BYTES: u64 = 16 * 1024 * 1024;

/// Checks one `MSG` line exactly: the kind, a real timestamp, the name, a
/// colour, and the text unchanged to the last byte.
#[track_caller]
fn assert_msg(line: &str, name: &str, text: &str) {
    match ServerLine::parse(line) {
        Ok(ServerLine::Msg(chat)) => {
            assert!(
                parse_timestamp(chat.time).is_some(),
                "expected an RFC 3339 time in {line:?}"
            );
            assert_eq!(
                (chat.name, chat.text),
                (name, text),
                "expected a MSG from {name} saying {text:?}, got {line:?}"
            );
            let expected = format!(
                "MSG<SEP>{}<SEP>{}<SEP>{name}<SEP>{}<SEP>{text}",
                chat.id, chat.time, chat.color
            );
            assert_eq!(line, expected, "expected the exact MSG line, got {line:?}");
        }
        other => panic!("expected a MSG from {name} saying {text:?}, got {line:?} ({other:?})"),
    }
}

// ---------------------------------------------------------------------------
// 1 and 11. The contract, in both modes.
// ---------------------------------------------------------------------------

/// A connection that writes `alice<SEP>hello` with no handshake is joined and
/// its line reaches every client (the sender, a named one, one that never gave
/// a name) with the text unchanged; `<SEP>` inside the text survives; `\r\n`
/// is accepted. This is the seed project's `nc` habit, which desks rely on.
fn contract(mode: Mode) {
    let server = start(Config { mode, ..config() });
    let mut anon = Client::connect(server.addr());
    let mut bob = Client::connect(server.addr());
    bob.join("bob");
    anon.expect_prefix("JOIN<SEP>");

    let mut alice = Client::connect_silent(server.addr());
    alice.send(b"alice<SEP>hello\n");
    let welcome = alice.expect_prefix("WELCOME<SEP>alice<SEP>");
    assert!(
        matches!(
            ServerLine::parse(&welcome),
            Ok(ServerLine::Welcome { online: 2, .. })
        ),
        "expected 2 people online after alice joined, got {welcome:?}"
    );
    for client in [&mut alice, &mut bob, &mut anon] {
        let join = client.line();
        assert!(
            is_join(&join, "alice"),
            "expected JOIN of alice, got {join:?}"
        );
        assert_msg(&client.line(), "alice", "hello");
    }

    alice.send(b"alice<SEP>a<SEP>b<SEP><SEP>c\n");
    for client in [&mut alice, &mut bob, &mut anon] {
        assert_msg(&client.line(), "alice", "a<SEP>b<SEP><SEP>c");
    }

    alice.send(b"alice<SEP>crlf ending\r\n");
    for client in [&mut alice, &mut bob, &mut anon] {
        assert_msg(&client.line(), "alice", "crlf ending");
    }
}

/// See [`contract`]: the event loop, the product.
#[test]
fn contract_event_loop() {
    contract(Mode::Event);
}

/// See [`contract`]: the thread-per-client baseline must speak the same
/// protocol, or the comparison between the modes is meaningless.
#[test]
fn contract_threads() {
    contract(Mode::Threads);
}

/// Others see JOIN when someone takes a name and LEAVE when they go, both by
/// closing the socket and by `/quit` (which answers `BYE` and then closes).
fn join_and_leave(mode: Mode) {
    let server = start(Config { mode, ..config() });
    let mut watcher = Client::connect(server.addr());
    watcher.join("watcher");

    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let line = watcher.line();
    assert!(
        is_join(&line, "alice"),
        "expected JOIN of alice, got {line:?}"
    );
    drop(alice);
    let line = watcher.line();
    assert!(
        is_leave(&line, "alice"),
        "expected LEAVE of alice, got {line:?}"
    );

    let mut bob = Client::connect(server.addr());
    bob.join("bob");
    let line = watcher.line();
    assert!(is_join(&line, "bob"), "expected JOIN of bob, got {line:?}");
    bob.send_line("/quit");
    bob.expect_prefix("BYE<SEP>");
    bob.expect_closed();
    let line = watcher.line();
    assert!(
        is_leave(&line, "bob"),
        "expected LEAVE of bob, got {line:?}"
    );
}

/// See [`join_and_leave`].
#[test]
fn join_and_leave_event_loop() {
    join_and_leave(Mode::Event);
}

/// See [`join_and_leave`].
#[test]
fn join_and_leave_threads() {
    join_and_leave(Mode::Threads);
}

// ---------------------------------------------------------------------------
// 2. Who, history, ping, quit, names.
// ---------------------------------------------------------------------------

/// `/who` gives the exact count and the names, sorted without regard to case,
/// and a connection without a name is not counted.
#[test]
fn who_lists_names_with_count() {
    let server = start(config());
    let mut bob = Client::connect(server.addr());
    bob.join("bob");
    let mut alice = Client::connect(server.addr());
    alice.join("Alice");
    let mut anon = Client::connect(server.addr());
    anon.send_line("/who");
    let who = anon.line();
    let Ok(ServerLine::Who { count, people }) = ServerLine::parse(&who) else {
        panic!("expected a WHO line, got {who:?}");
    };
    let names: Vec<&str> = people.iter().map(|person| person.name).collect();
    assert_eq!((count, names), (2, vec!["Alice", "bob"]), "{who}");
}

/// A newcomer gets exactly the last `history` messages, oldest first, as HIST
/// lines, before any live line: with a limit of 3 and 5 messages sent, the
/// last three and nothing else.
#[test]
fn newcomer_gets_the_last_messages_before_live_ones() {
    let server = start(Config {
        history: 3,
        ..config()
    });
    let mut alice = Client::connect(server.addr());
    for n in 1..=5 {
        alice.say("alice", &format!("message {n}"));
    }
    let mut newcomer = Client::connect_silent(server.addr());
    for n in 3..=5 {
        let line = newcomer.line();
        match ServerLine::parse(&line) {
            Ok(ServerLine::History(chat)) => assert_eq!(
                (chat.name, chat.text),
                ("alice", format!("message {n}").as_str()),
                "expected HIST of message {n}, got {line:?}"
            ),
            _ => panic!("expected HIST of message {n}, got {line:?}"),
        }
    }
    // Proves the newcomer is served before saying something live, and that
    // nothing else is replayed.
    newcomer.send_line("/ping");
    newcomer.expect_line("PONG");
    alice.say("alice", "live");
    assert_msg(&newcomer.line(), "alice", "live");
}

/// `/ping` is answered with exactly `PONG`.
#[test]
fn ping_gets_pong() {
    let server = start(config());
    let mut client = Client::connect_silent(server.addr());
    client.send_line("/ping");
    client.expect_line("PONG");
}

/// `/quit` is answered with a BYE line, then the server closes the
/// connection (EOF, not a hang).
#[test]
fn quit_says_bye_then_closes() {
    let server = start(config());
    let mut client = Client::connect_silent(server.addr());
    client.send_line("/quit");
    client.expect_prefix("BYE<SEP>");
    client.expect_closed();
}

/// A name in use is refused whatever its case, with `ERR<SEP>name-taken`, and
/// the refused message goes nowhere; once the owner leaves, the name is free.
#[test]
fn taken_name_is_refused_until_its_owner_leaves() {
    let server = start(config());
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut other = Client::connect(server.addr());

    other.send_line("ALICE<SEP>I am alice too");
    other.expect_prefix("ERR<SEP>name-taken<SEP>");
    other.send_line("/join Alice");
    other.expect_prefix("ERR<SEP>name-taken<SEP>");
    // alice saw nothing of it: the next thing she gets is her own PONG.
    alice.send_line("/ping");
    alice.expect_line("PONG");

    alice.send_line("/quit");
    let line = other.line();
    assert!(
        is_leave(&line, "alice"),
        "expected LEAVE of alice, got {line:?}"
    );
    other.send_line("ALICE<SEP>now it is mine");
    other.expect_prefix("WELCOME<SEP>ALICE<SEP>");
    let line = other.line();
    assert!(
        is_join(&line, "ALICE"),
        "expected JOIN of ALICE, got {line:?}"
    );
    assert_msg(&other.line(), "ALICE", "now it is mine");
}

// ---------------------------------------------------------------------------
// 3. Bad input.
// ---------------------------------------------------------------------------

/// A 1 MiB line without a newline gets exactly one `ERR<SEP>line-too-long`
/// and the connection goes on working: after the newline that ends the
/// monster, a ping and a normal message are served as usual.
#[test]
fn endless_line_gets_one_error_and_the_connection_survives() {
    let server = start(config());
    let mut watcher = Client::connect(server.addr());
    let mut client = Client::connect_silent(server.addr());
    client.send(&vec![b'x'; 1024 * 1024]);
    client.send(b"\n/ping\n");
    client.expect_prefix("ERR<SEP>line-too-long<SEP>");
    // Exactly one: the very next line is the answer to the ping.
    client.expect_line("PONG");
    client.send(b"alice<SEP>after the monster\n");
    client.expect_prefix("WELCOME<SEP>alice<SEP>");
    client.expect_prefix("JOIN<SEP>");
    assert_msg(&client.line(), "alice", "after the monster");
    watcher.expect_prefix("JOIN<SEP>");
    assert_msg(&watcher.line(), "alice", "after the monster");
}

/// An endless line is discarded as it arrives, not buffered: 64 MiB without
/// a newline leaves the server's peak RSS (VmHWM, so a transient buffer
/// counts too) within a loose bound. Uses the real binary so the reading is
/// the server's alone.
#[test]
fn endless_line_does_not_grow_memory() {
    let server = server_process(&["--rate-limit", "0"]);
    let mut client = Client::connect(server.addr());
    let peak_before = status_kib_field(server.pid(), "VmHWM");
    let chunk = vec![b'x'; 1024 * 1024];
    for _ in 0..64 {
        client.send(&chunk);
    }
    client.send(b"\n/ping\n");
    client.expect_prefix("ERR<SEP>line-too-long<SEP>");
    client.expect_line("PONG");
    let peak_after = status_kib_field(server.pid(), "VmHWM");
    let growth = peak_after.saturating_sub(peak_before);
    assert!(
        growth < RSS_GROWTH_BOUND_BYTES,
        "expected the peak RSS to grow by less than {RSS_GROWTH_BOUND_BYTES} bytes, \
         got {growth} ({peak_before} -> {peak_after})"
    );
}

/// A line dripped one byte per write, with pauses, arrives intact, including
/// multi-byte UTF-8 characters whose bytes come in separate segments.
#[test]
fn line_dripped_byte_by_byte_arrives_intact() {
    let server = start(config());
    let mut watcher = Client::connect(server.addr());
    let mut dripper = Client::connect_silent(server.addr());
    let text = "drip é € 😀 done";
    let line = format!("alice<SEP>{text}\n");
    for byte in line.as_bytes() {
        dripper.send(&[*byte]);
        // The pause is the behaviour under test (each byte its own segment,
        // thanks to TCP_NODELAY), not a wait for the server.
        thread::sleep(Duration::from_millis(2));
    }
    dripper.expect_prefix("WELCOME<SEP>alice<SEP>");
    dripper.expect_prefix("JOIN<SEP>");
    assert_msg(&dripper.line(), "alice", text);
    watcher.expect_prefix("JOIN<SEP>");
    assert_msg(&watcher.line(), "alice", text);
}

/// Invalid UTF-8 is replaced with U+FFFD, not relayed raw and not fatal: the
/// connection stays open and is served afterwards.
#[test]
fn invalid_utf8_is_replaced_and_the_connection_stays() {
    let server = start(config());
    let mut watcher = Client::connect(server.addr());
    let mut client = Client::connect_silent(server.addr());
    client.send(b"alice<SEP>ok\xff\xfe!\n");
    watcher.expect_prefix("JOIN<SEP>");
    assert_msg(&watcher.line(), "alice", "ok\u{FFFD}\u{FFFD}!");
    client.expect_prefix("WELCOME<SEP>");
    client.expect_prefix("JOIN<SEP>");
    assert_msg(&client.line(), "alice", "ok\u{FFFD}\u{FFFD}!");
    client.send_line("/ping");
    client.expect_line("PONG");
}

/// Escape sequences and control characters in text never reach other
/// clients raw (one user must not recolour, clear or beep everyone's
/// terminal): ESC, BEL, NUL, the C1 CSI U+009B and the bidi override U+202E
/// arrive made visible, and not one raw byte of them is in what a receiver
/// got.
#[test]
fn controls_in_text_never_reach_others_raw() {
    let server = start(config());
    let mut watcher = Client::connect(server.addr());
    let mut sender = Client::connect(server.addr());
    sender.send("alice<SEP>\x1b[31mred\x07bell\0nul\u{9b}2Jc1\u{202E}bidi\n".as_bytes());
    sender.send_line("alice<SEP>end");
    watcher.expect_prefix("JOIN<SEP>");
    assert_msg(
        &watcher.line(),
        "alice",
        "^[[31mred^Gbell^@nul<U+009B>2Jc1<U+202E>bidi",
    );
    assert_msg(&watcher.line(), "alice", "end");
    assert_no_raw_controls(watcher.received());
}

/// Names holding control or invisible formatting characters are refused with
/// `ERR<SEP>bad-name`, by both ways of taking a name, and nobody else hears
/// of them.
#[test]
fn names_with_controls_are_refused() {
    let server = start(config());
    let mut watcher = Client::connect(server.addr());
    let mut sender = Client::connect(server.addr());
    for name in [
        "ev\x1b[31mil",
        "bel\x07l",
        "nu\0l",
        "c1\u{9b}x",
        "bi\u{202E}di",
    ] {
        sender.send_line(&format!("{name}<SEP>hello"));
        sender.expect_prefix("ERR<SEP>bad-name<SEP>");
        sender.send_line(&format!("/join {name}"));
        sender.expect_prefix("ERR<SEP>bad-name<SEP>");
    }
    // Nothing was broadcast: the watcher's next line is its own PONG.
    watcher.send_line("/ping");
    watcher.expect_line("PONG");
    assert_no_raw_controls(watcher.received());
}

#[track_caller]
fn assert_no_raw_controls(received: &[u8]) {
    for (bytes, what) in [
        (&b"\x1b"[..], "ESC"),
        (b"\x07", "BEL"),
        (b"\0", "NUL"),
        ("\u{9b}".as_bytes(), "U+009B"),
        ("\u{202E}".as_bytes(), "U+202E"),
    ] {
        assert!(
            !received.windows(bytes.len()).any(|w| w == bytes),
            "expected no raw {what} in what a receiver got, got {:?}",
            String::from_utf8_lossy(received)
        );
    }
}

// ---------------------------------------------------------------------------
// 4 and 5. Slow and vanishing readers.
// ---------------------------------------------------------------------------

/// A client of [`chat`]: its name and the MSG texts it has seen, in
/// order.
struct Chatter {
    client: Client,
    name: &'static str,
    texts: Vec<String>,
    /// Names it has seen LEAVE.
    left: Vec<String>,
}

impl Chatter {
    #[track_caller]
    fn new(addr: std::net::SocketAddr, name: &'static str) -> Chatter {
        let mut client = Client::connect(addr);
        client.join(name);
        Chatter {
            client,
            name,
            texts: Vec::new(),
            left: Vec::new(),
        }
    }

    /// Reads until the MSG saying `text`, recording every MSG and LEAVE.
    #[track_caller]
    fn read_until(&mut self, text: &str) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.client.next(left) {
                Next::Line(line) => line,
                other => panic!(
                    "{}: expected a MSG saying {text:?}, got {other:?}",
                    self.name
                ),
            };
            if let Some((_, got)) = msg(&line) {
                self.texts.push(got.clone());
                if got == text {
                    return;
                }
            } else if let Ok(ServerLine::Leave(p)) = ServerLine::parse(&line) {
                self.left.push(p.name.to_string());
            }
        }
    }
}

/// The text of message `n` in [`chat`]: numbered, padded to ~200
/// bytes.
fn numbered(n: usize) -> String {
    format!("{n:06} {}", "x".repeat(193))
}

/// Two chatters take turns from message number `from`, each waiting for its
/// own echo before the next message, for at least `at_least` messages and
/// then until `done` says so (at most `at_most`). Returns the number of the
/// next message; by then both have read every message.
#[track_caller]
fn chat(
    a: &mut Chatter,
    b: &mut Chatter,
    from: usize,
    at_least: usize,
    at_most: usize,
    mut done: impl FnMut(&Chatter, &Chatter) -> bool,
) -> usize {
    let mut next = from;
    while next - from < at_least || (next - from < at_most && !done(a, b)) {
        let text = numbered(next);
        let speaker = if next.is_multiple_of(2) {
            &mut *a
        } else {
            &mut *b
        };
        speaker
            .client
            .send_line(&format!("{}<SEP>{text}", speaker.name));
        speaker.read_until(&text);
        next += 1;
    }
    let last = numbered(next - 1);
    for chatter in [a, b] {
        if chatter.texts.last() != Some(&last) {
            chatter.read_until(&last);
        }
    }
    next
}

#[track_caller]
fn assert_all_in_order(chatter: &Chatter, sent: usize) {
    let expected: Vec<String> = (0..sent).map(numbered).collect();
    if chatter.texts != expected {
        let first_bad = chatter
            .texts
            .iter()
            .zip(&expected)
            .position(|(got, want)| got != want)
            .unwrap_or(chatter.texts.len().min(expected.len()));
        panic!(
            "{}: expected all {sent} messages in order, got {} messages, first difference at \
             #{first_bad}: expected {:?}, got {:?}",
            chatter.name,
            chatter.texts.len(),
            expected.get(first_bad),
            chatter.texts.get(first_bad)
        );
    }
}

/// A reader that never reads (small SO_RCVBUF, 64 KiB server queue) does not
/// hold anyone back: two others exchange at least 2000 messages of ~200
/// bytes and each gets every one, in order; the stuck reader is dropped
/// (others see its LEAVE; its socket, once drained, ends) and the server's
/// memory stays bounded. The real binary, so its RSS is its own.
#[test]
fn reader_that_never_reads_is_dropped_and_others_get_everything() {
    let server = server_process(&["--max-queue", "65536", "--rate-limit", "0"]);
    let mut a = Chatter::new(server.addr(), "alice");
    let mut b = Chatter::new(server.addr(), "bob");
    let mut stuck = Client::connect_with_rcvbuf(server.addr(), 4096);
    stuck.send_line("/join stuck");
    a.client
        .wait_for("JOIN of stuck", |line| is_join(line, "stuck"));
    b.client
        .wait_for("JOIN of stuck", |line| is_join(line, "stuck"));
    let peak_before = status_kib_field(server.pid(), "VmHWM");

    let dropped = |a: &Chatter, b: &Chatter| {
        a.left.iter().any(|n| n == "stuck") && b.left.iter().any(|n| n == "stuck")
    };
    let sent = chat(&mut a, &mut b, 0, 2000, 20_000, dropped);
    assert!(
        dropped(&a, &b),
        "expected the reader that never reads to be dropped (LEAVE of stuck) within {sent} \
         messages; the server's log: {}",
        server.log()
    );
    assert_all_in_order(&a, sent);
    assert_all_in_order(&b, sent);
    server.wait_for_log("too slow");

    let peak_after = status_kib_field(server.pid(), "VmHWM");
    let growth = peak_after.saturating_sub(peak_before);
    assert!(
        growth < RSS_GROWTH_BOUND_BYTES,
        "expected the peak RSS to grow by less than {RSS_GROWTH_BOUND_BYTES} bytes, \
         got {growth} ({peak_before} -> {peak_after})"
    );

    // What the stuck reader did get is the start of the conversation, in
    // order; then its connection ends.
    let (lines, _unfinished, end) = stuck.drain(TIMEOUT);
    assert!(
        end.is_some(),
        "expected the stuck reader's connection to end after draining, it stayed open \
         ({} lines read)",
        lines.len()
    );
    let texts: Vec<String> = lines
        .iter()
        .filter_map(|l| msg(l))
        .map(|(_, t)| t)
        .collect();
    let expected: Vec<String> = (0..texts.len()).map(numbered).collect();
    assert!(
        texts == expected,
        "expected the stuck reader to have got a prefix of the conversation in order, \
         got {} messages not matching",
        texts.len()
    );
    assert!(
        texts.len() < sent,
        "expected the stuck reader to miss the end of the conversation, it got all {sent}"
    );
}

/// A peer with a lot queued for it that vanishes with a reset (SO_LINGER 0)
/// costs nobody else anything: the server logs its disconnection and nothing
/// fatal, stays up, and the others go on receiving new messages.
#[test]
fn peer_vanishing_mid_write_harms_nobody() {
    let mut server = server_process(&["--max-queue", "4194304", "--rate-limit", "0"]);
    let mut a = Chatter::new(server.addr(), "alice");
    let mut b = Chatter::new(server.addr(), "bob");
    let mut victim = Client::connect_with_rcvbuf(server.addr(), 4096);
    let victim_addr = victim.stream().local_addr().expect("a local address");
    victim.send_line("/join victim");
    a.client
        .wait_for("JOIN of victim", |line| is_join(line, "victim"));
    b.client
        .wait_for("JOIN of victim", |line| is_join(line, "victim"));

    // ~400 KB for a reader with a 4 KiB window: most of it waits in the
    // server when the reset comes.
    let before = chat(&mut a, &mut b, 0, 1500, 1500, |_, _| true);
    victim.reset();
    let gone = |a: &Chatter, b: &Chatter| {
        a.left.iter().any(|n| n == "victim") && b.left.iter().any(|n| n == "victim")
    };
    let after = chat(&mut a, &mut b, before, 50, 5000, gone);
    assert!(
        gone(&a, &b),
        "expected both others to see the victim LEAVE within {} messages after the reset",
        after - before
    );
    assert_all_in_order(&a, after);
    assert_all_in_order(&b, after);
    let log = server.wait_for_log(&format!("[-] disconnected peer={victim_addr} name=victim"));
    assert!(
        !log.contains("panicked") && !log.contains("chat-server:"),
        "expected nothing fatal in the server's log, got {log}"
    );
    assert!(server.is_running(), "expected the server to stay up");
}

// ---------------------------------------------------------------------------
// 6. Floods.
// ---------------------------------------------------------------------------

/// One client writes 10,000 lines as fast as it can while the default rate
/// limit (20 lines/s, bursts of 40) is on: another client's messages still
/// get through within 2 s each, and the flood reaches others paced at the
/// limit rather than all at once.
#[test]
fn flood_does_not_starve_others() {
    let server = start(config());
    let mut calm = Client::connect(server.addr());
    calm.join("calm");
    let mut flooder = TcpStream::connect(server.addr()).expect("connect the flooder");
    let flooder_for_shutdown = flooder.try_clone().expect("clone the flooder");
    let flood_started = Instant::now();
    let writer = thread::spawn(move || {
        for n in 0..10_000 {
            // Blocks once the buffers are full and the server reads at its
            // rate limit; fails when the test shuts the socket down.
            if flooder
                .write_all(format!("flood<SEP>line {n}\n").as_bytes())
                .is_err()
            {
                return;
            }
        }
    });

    let mut flood_seen = 0;
    for round in 0..5 {
        // Let the flood run for a while, counting what reaches us.
        let until = Instant::now() + Duration::from_millis(700);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match calm.next(left) {
                Next::Line(line) if msg(&line).is_some_and(|(name, _)| name == "flood") => {
                    flood_seen += 1
                }
                Next::Line(_) | Next::TimedOut => {}
                Next::Closed(end) => panic!("expected the calm client to stay, got {end:?}"),
            }
        }
        let text = format!("still here {round}");
        let sent_at = Instant::now();
        calm.send_line(&format!("calm<SEP>{text}"));
        calm.wait_for_within(Duration::from_secs(2), "our own echo", |line| {
            if msg(line).is_some_and(|(name, _)| name == "flood") {
                flood_seen += 1;
            }
            msg(line) == Some(("calm".to_string(), text.clone()))
        });
        assert!(sent_at.elapsed() < Duration::from_secs(2));
    }
    let elapsed = flood_started.elapsed().as_secs_f64();
    // 40 at once, then 20 a second; 10 lines of slack for timing.
    let allowed = 40.0 + 20.0 * elapsed + 10.0;
    assert!(
        (flood_seen as f64) <= allowed,
        "expected the flood paced at 20 lines/s (at most {allowed:.0} lines in {elapsed:.1} s), \
         got {flood_seen}"
    );
    assert!(
        flood_seen >= 40,
        "expected at least the flooder's burst of 40 lines in {elapsed:.1} s, got {flood_seen}"
    );
    let _ = flooder_for_shutdown.shutdown(std::net::Shutdown::Both);
    writer.join().expect("the flood thread");
}

/// Lines over the rate limit are read later, not dropped: 1000 lines written
/// at once at 200 lines/s (bursts of 400) all arrive, in order, and take at
/// least the (1000 - 400) / 200 = 3 s the limit implies (2.5 s allowed for
/// clock slack). 200/s rather than the default 20/s keeps the test short
/// while still making pacing visible; 10,000 lines at 20/s would take 8
/// minutes.
#[test]
fn flooded_lines_are_paced_not_lost() {
    let server = start(Config {
        rate_limit: Some(200),
        ..config()
    });
    let mut receiver = Client::connect(server.addr());
    let mut flooder = Client::connect_silent(server.addr());
    let all: String = (0..1000).map(|n| format!("flood<SEP>line {n}\n")).collect();
    let started = Instant::now();
    flooder.send(all.as_bytes());
    // The flooder's own echoes must not back up into its server queue; a
    // thread reads them until the server goes at the end of the test.
    thread::spawn(move || flooder.drain(Duration::from_secs(120)));
    let deadline = started + Duration::from_secs(60);
    let mut next = 0;
    while next < 1000 {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.next(left) {
            Next::Line(line) => {
                if let Some((name, text)) = msg(&line) {
                    assert_eq!(
                        (name.as_str(), text.as_str()),
                        ("flood", format!("line {next}").as_str()),
                        "expected flood line {next} next, got {line:?}"
                    );
                    next += 1;
                }
            }
            other => panic!("expected flood line {next} of 1000, got {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(2500),
        "expected 1000 lines at 200/s with bursts of 400 to take about 3 s, took {elapsed:?}"
    );
}

// ---------------------------------------------------------------------------
// 7. Too many clients.
// ---------------------------------------------------------------------------

/// How a connection opened beyond the server's means was treated.
#[derive(Debug, PartialEq, Eq)]
enum Fate {
    /// It is a client like any other: its ping was answered.
    Served,
    /// It got a BYE refusal line, and was closed.
    Refused,
    /// It was closed without a line.
    Closed,
}

/// Pings `client` and waits for what the server does with it; `None` for a
/// connection left hanging.
fn fate_of(client: &mut Client) -> Option<Fate> {
    // The write may fail if the refusal already closed it; the read tells.
    let _ = client.try_send(b"/ping\n");
    loop {
        match client.next(TIMEOUT) {
            Next::Line(line) if line == "PONG" => return Some(Fate::Served),
            Next::Line(line) if line.starts_with("BYE<SEP>") => {
                return match client.next(TIMEOUT) {
                    Next::Closed(_) => Some(Fate::Refused),
                    _ => None,
                };
            }
            Next::Line(_) => {} // history or chat, for a served one
            Next::Closed(_) => return Some(Fate::Closed),
            Next::TimedOut => return None,
        }
    }
}

/// The fate of each of `clients`; fails, with the server's log, if one was
/// left hanging.
#[track_caller]
fn fates_of(clients: &mut [Client], server: &ServerProcess) -> Vec<Fate> {
    let mut fates = Vec::new();
    for (n, client) in clients.iter_mut().enumerate() {
        match fate_of(client) {
            Some(fate) => fates.push(fate),
            None => panic!(
                "expected surplus connection #{n} to be served, refused or closed within \
                 {TIMEOUT:?}, it was left hanging (fates so far: {fates:?}); the server's log:\n{}",
                server.log()
            ),
        }
    }
    fates
}

/// With the fd limit at 64 and `--max-clients 1000` (so accept itself hits
/// EMFILE), a flood of 150 connections: the three chatting clients go on
/// being served, every surplus connection is served or refused (a BYE line,
/// or closed) rather than left hanging, the server does not spin while out of
/// descriptors (< 50% of a core over 1.5 s, new connections arriving
/// meanwhile), and once the flood is gone a newcomer can connect and chat.
#[test]
fn connect_flood_up_to_the_fd_limit() {
    let server = server_command(&["--max-clients", "1000"])
        .fd_limit(64)
        .start();
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut bob = Client::connect(server.addr());
    bob.join("bob");
    let mut carol = Client::connect(server.addr());
    carol.join("carol");
    alice.say("alice", "before the flood");

    let mut flood: Vec<Client> = (0..150)
        .map(|_| Client::connect_silent(server.addr()))
        .collect();
    let fates = fates_of(&mut flood, &server);
    let served = fates.iter().filter(|f| **f == Fate::Served).count();
    assert!(
        served < 64 && served < fates.len(),
        "expected the fd limit of 64 to stop the server serving all 150, it served {served}"
    );
    server.wait_for_log("Out of file descriptors");

    alice.say("alice", "during the flood");
    bob.expect_msg("alice", "during the flood");
    carol.expect_msg("alice", "during the flood");

    // Out of descriptors, with newcomers still arriving: it must neither
    // spin nor leave them hanging.
    let cpu_before = cpu_time(server.pid());
    let wall_before = Instant::now();
    let mut late: Vec<Client> = (0..20)
        .map(|_| Client::connect_silent(server.addr()))
        .collect();
    let late_fates = fates_of(&mut late, &server);
    assert!(
        !late_fates.contains(&Fate::Served),
        "expected no room for late newcomers, got {late_fates:?}"
    );
    // The measuring window itself, not a wait for the server.
    thread::sleep(Duration::from_millis(1500).saturating_sub(wall_before.elapsed()));
    let cpu = (cpu_time(server.pid()) - cpu_before).as_secs_f64();
    let wall = wall_before.elapsed().as_secs_f64();
    assert!(
        cpu < 0.5 * wall,
        "expected the server to stay below half a core while out of descriptors, \
         it used {cpu:.2} s of CPU in {wall:.2} s"
    );

    // Name the served surplus so their going shows as LEAVE lines, which the
    // server sends after it has closed their descriptors.
    let mut names = Vec::new();
    for (n, (client, fate)) in flood.iter_mut().zip(&fates).enumerate() {
        if *fate == Fate::Served {
            let name = format!("surplus{n}");
            client.join(&name);
            names.push(name);
        }
    }
    drop(flood);
    let mut still_here: Vec<&String> = names.iter().collect();
    alice.wait_for("LEAVE of every served surplus client", |line| {
        still_here.retain(|name| !is_leave(line, name));
        still_here.is_empty()
    });

    let mut dave = Client::connect(server.addr());
    dave.join("dave");
    dave.say("dave", "after the flood");
    alice.expect_msg("dave", "after the flood");
    bob.expect_msg("dave", "after the flood");
}

/// `--max-clients 2`: the third client gets a BYE saying the server is full,
/// then the connection closes (a refusal, not a hang).
#[test]
fn third_client_over_max_clients_is_refused() {
    let server = server_process(&["--max-clients", "2"]);
    let _first = Client::connect(server.addr());
    let _second = Client::connect(server.addr());
    let mut third = Client::connect_silent(server.addr());
    let bye = third.expect_prefix("BYE<SEP>");
    assert!(
        bye.contains("full"),
        "expected a BYE saying the server is full, got {bye:?}"
    );
    third.expect_closed();
}

// ---------------------------------------------------------------------------
// 8. Signals.
// ---------------------------------------------------------------------------

/// On `signal`, every client is told `BYE<SEP>the server is going down`, its
/// connection closes, and the process exits with status 0 within a few
/// seconds: a restart tells the office instead of cutting it off.
fn shuts_down_cleanly_on(signal: libc::c_int) {
    let mut server = server_process(&[]);
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut bob = Client::connect(server.addr());
    bob.join("bob");
    alice.wait_for("JOIN of bob", |line| is_join(line, "bob"));
    server.signal(signal);
    for client in [&mut alice, &mut bob] {
        client.expect_line("BYE<SEP>the server is going down");
        client.expect_closed();
    }
    match server.wait_exit(Duration::from_secs(5)) {
        Some(status) => assert!(
            status.success(),
            "expected exit status 0, got {status}; log: {}",
            server.log()
        ),
        None => panic!("expected the server to exit within 5 s of the signal, it did not"),
    }
}

/// See [`shuts_down_cleanly_on`].
#[test]
fn sigterm_says_bye_and_exits_zero() {
    shuts_down_cleanly_on(libc::SIGTERM);
}

/// See [`shuts_down_cleanly_on`]: Ctrl-C.
#[test]
fn sigint_says_bye_and_exits_zero() {
    shuts_down_cleanly_on(libc::SIGINT);
}

// ---------------------------------------------------------------------------
// 9. Idle timeout.
// ---------------------------------------------------------------------------

/// With a 1 s idle timeout, a silent client is told BYE (saying "idle") and
/// closed within a few seconds, while a client that pings every 300 ms stays
/// for well past the timeout. The silent client's own socket paces the pings,
/// so nothing sleeps.
#[test]
fn idle_client_is_closed_and_a_pinging_one_stays() {
    let server = start(Config {
        idle_timeout: Some(Duration::from_secs(1)),
        ..config()
    });
    let started = Instant::now();
    let mut silent = Client::connect_silent(server.addr());
    let mut pinger = Client::connect_silent(server.addr());
    let ping = |pinger: &mut Client| {
        pinger.send_line("/ping");
        pinger.expect_line("PONG");
    };
    let bye = loop {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "expected the silent client to be closed within 5 s, it was not"
        );
        match silent.next(Duration::from_millis(300)) {
            Next::Line(line) => break line,
            Next::TimedOut => ping(&mut pinger),
            Next::Closed(end) => panic!("expected a BYE before the close, got {end:?}"),
        }
    };
    let closed_after = started.elapsed();
    assert!(
        bye.starts_with("BYE<SEP>") && bye.contains("idle"),
        "expected a BYE saying idle, got {bye:?}"
    );
    silent.expect_closed();
    assert!(
        closed_after >= Duration::from_millis(900),
        "expected no close before the 1 s timeout, got one after {closed_after:?}"
    );
    // The pinger outlives three timeouts.
    while started.elapsed() < Duration::from_secs(3) {
        match pinger.next(Duration::from_millis(300)) {
            Next::TimedOut => ping(&mut pinger),
            other => panic!("expected the pinging client to stay, got {other:?}"),
        }
    }
    ping(&mut pinger);
}

// ---------------------------------------------------------------------------
// 10. Many clients, one thread.
// ---------------------------------------------------------------------------

/// 300 named clients on the real binary: one broadcast reaches all 300, and
/// the server runs them all on exactly one thread (the design's promise; the
/// signal handling through signal-hook-mio needs no thread either); the only
/// other thread writes the log, so a stalled stderr cannot stall the loop.
#[test]
fn three_hundred_clients_on_one_thread() {
    let server = server_process(&[]);
    let mut clients: Vec<Client> = (0..300)
        .map(|n| {
            let mut client = Client::connect_silent(server.addr());
            client.send_line(&format!("/join user{n:03}"));
            client.wait_for("WELCOME", |line| line.starts_with("WELCOME<SEP>"));
            client
        })
        .collect();
    clients[0].send_line("user000<SEP>hello, everyone");
    for client in &mut clients {
        client.expect_msg("user000", "hello, everyone");
    }
    let threads = status_field(server.pid(), "Threads");
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
                .map(|name| name.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    assert_eq!(
        (threads.as_str(), names.clone()),
        (
            "2",
            vec!["chat-server".to_string(), "chat-server-log".to_string()]
        ),
        "expected one thread for every client and one writing the log, got {threads} ({names:?})"
    );
}

// ---------------------------------------------------------------------------
// 12. The command line.
// ---------------------------------------------------------------------------

/// `--help` exits 0 and prints the help text the flag parser builds (whose
/// unit test checks that it lists every flag).
#[test]
fn help_prints_the_parsers_help() {
    let out = run_cli(&["--help"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "expected exit 0, got {}",
        out.status
    );
    let Ok(Command::Help(expected)) = parse_args(&["--help"]) else {
        panic!("parse_args(--help) is not Help");
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

/// A bad value exits 2 with a one-line error naming the problem, then the
/// usage line, on stderr, and nothing on stdout.
#[test]
fn bad_port_is_a_usage_error() {
    let out = run_cli(&["--port", "nope"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected exit 2, got {}",
        out.status
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "expected an error line and a usage line, got {stderr:?}"
    );
    assert!(
        lines[0].starts_with("chat-server: ") && lines[0].contains("nope"),
        "expected the error to name the bad value, got {:?}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("Usage:"),
        "expected a usage line, got {:?}",
        lines[1]
    );
    assert!(
        out.stdout.is_empty(),
        "expected nothing on stdout, got {:?}",
        out.stdout
    );
}

/// `--version` exits 0 and prints the name and version.
#[test]
fn version_prints_the_version() {
    let out = run_cli(&["--version"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "expected exit 0, got {}",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("chat-server {}", env!("CARGO_PKG_VERSION"))
    );
}
