//! The seed project's own Python client, unchanged (`fixtures/seed/client.py`,
//! transcribed from the report; playsound stubbed), in our room next to
//! desks that speak our protocol: lines flow both ways, its colour and name
//! come through under our rules, and nothing it sends smuggles escape codes
//! to anyone. Needs `python3` with colorama (`scripts/setup` installs it).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_shared::{seed, Color, ServerLine};
use common::*;

/// One seed desk: `python3 client.py` through the runner that points it at
/// the test server and fixes its colour.
struct SeedDesk {
    child: Child,
    stdin: ChildStdin,
    /// Everything it printed.
    screen: Arc<Mutex<String>>,
}

impl SeedDesk {
    /// Starts it with colour `color_index` (into the seed's list of 15) and
    /// answers its name prompt with `name`.
    #[track_caller]
    fn start(server: &ServerProcess, color_index: usize, name: &str) -> SeedDesk {
        let runner = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/seed/run_seed_client.py"
        );
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(runner)
            .env("SEED_PORT", server.addr().port().to_string())
            .env("SEED_COLOR", color_index.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3: {e}"));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let screen = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut chunk = Vec::new();
            while matches!(reader.read_until(b'\n', &mut chunk), Ok(n) if n > 0) {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&String::from_utf8_lossy(&chunk));
                chunk.clear();
            }
        });
        let mut desk = SeedDesk {
            child,
            stdin,
            screen,
        };
        desk.wait_for("[+] Connected.");
        desk.type_line(name);
        desk
    }

    /// Types a line and presses Enter.
    fn type_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("the seed desk reads its input");
        self.stdin.flush().expect("flush");
    }

    fn screen(&self) -> String {
        self.screen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until its screen shows `needle`; returns the screen.
    #[track_caller]
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "expected the seed desk to show {needle:?}, its screen: {screen:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `q`, as its user would, and waits for it to exit.
    #[track_caller]
    fn quit(mut self) {
        self.type_line("q");
        let status = self.child.wait().expect("the seed desk exits");
        assert!(
            status.success(),
            "expected the seed desk to exit 0, got {status}"
        );
    }
}

impl Drop for SeedDesk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

#[test]
fn seed_desks_and_ours_chat_both_ways() {
    let server = ServerProcess::start(&[]);
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    // Index 4 is colorama's LIGHTBLUE_EX, 12 its RED.
    let mut sharan = SeedDesk::start(&server, 4, "sharan");
    let mut kiran = SeedDesk::start(&server, 12, "kiran");

    // Until a desk has said something it cannot be told from ours (or from
    // nc), so each seed desk speaks first, as the report's screenshots show.
    sharan.type_line("hello there you guys");
    let color = expect_chat(&mut alice, "sharan", "hello there you guys");
    assert_eq!(
        color,
        Color::BrightBlue,
        "expected sharan's colorama colour"
    );
    kiran.type_line("hey sharan");
    assert_eq!(expect_chat(&mut alice, "kiran", "hey sharan"), Color::Red);
    // colorama strips colour codes when the desk's output is not a
    // terminal, as here; the bytes on the wire are checked below.
    sharan.wait_for("] kiran: hey sharan\n");
    sharan.type_line("how is everyone");
    expect_chat(&mut alice, "sharan", "how is everyone");
    kiran.wait_for("] sharan: how is everyone\n");

    // A seed desk's socket, read raw: what the seed client prints.
    let mut wire = Client::connect_silent(server.addr());
    wire.send(b"\x1b[32m[2021-10-26 13:07:08] aditya<SEP>hi siri say something\x1b[39m");
    expect_chat(&mut alice, "aditya", "hi siri say something");

    alice.say("alice", "hi all of you");
    for desk in [&sharan, &kiran] {
        let screen = desk.wait_for("alice: hi all of you");
        let line = screen
            .lines()
            .find(|line| line.contains("alice: hi all of you"))
            .unwrap();
        assert_eq!(
            seed_time_shape(line),
            "[9999-99-99 99:99:99] alice: hi all of you"
        );
    }
    let raw = wire.wait_for("alice's line", |line| line.contains("alice: hi all of you"));
    // The seed's own look: colour, [local time], name: text, reset.
    let code = alice_code(&mut alice);
    let colour = format!("\x1b[{code}m");
    let stamped = raw
        .strip_prefix(&colour)
        .and_then(|rest| rest.strip_suffix("\x1b[39m"))
        .unwrap_or_else(|| panic!("expected alice's colour {colour:?} and a reset around {raw:?}"));
    assert_eq!(
        seed_time_shape(stamped),
        "[9999-99-99 99:99:99] alice: hi all of you"
    );

    // Nothing a seed desk sends reaches anyone raw.
    sharan.type_line("clear \x1b[2J screens \x07");
    expect_chat(&mut alice, "sharan", "clear ^[[2J screens ^G");
    let kiran_screen = kiran.wait_for("sharan: clear ^[[2J screens ^G");
    assert!(!kiran_screen.contains("\x1b[2J") && !kiran_screen.contains('\x07'));

    sharan.quit();
    kiran.quit();
    alice.wait_for("LEAVE of sharan", |line| is_leave(line, "sharan"));
}

/// `line` with every digit shown as 9, to compare times by their shape.
fn seed_time_shape(line: &str) -> String {
    line.chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect()
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

/// A seed desk whose name is taken is told so on its own screen, and its
/// lines never appear under that name.
#[test]
fn a_seed_desk_with_a_taken_name_is_told_and_not_shown() {
    let server = ServerProcess::start(&[]);
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut impostor = SeedDesk::start(&server, 0, "Alice");
    impostor.type_line("i am the real alice");
    impostor.wait_for("[!] the name Alice is taken; choose another");
    alice.say("alice", "still only me");
    assert!(
        !String::from_utf8_lossy(alice.received()).contains("i am the real alice"),
        "expected the impostor's line shown to nobody"
    );
    impostor.quit();
}

/// Junk that looks like a seed desk is bounded like any line: a frame that
/// never ends is refused once and dropped as it arrives, and the server goes
/// on serving everyone.
#[test]
fn an_endless_seed_frame_is_refused_and_bounded() {
    let server = ServerProcess::start(&[]);
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
