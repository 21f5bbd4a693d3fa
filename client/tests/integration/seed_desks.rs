//! A mixed room, as during a move from the Python chat: the seed project's
//! own client, unchanged (`fixtures/seed/client.py`, transcribed from the
//! report; playsound stubbed), next to the real `chat-client`. Lines flow
//! both ways and each screen shows them its own way. Needs `python3` with
//! colorama (`scripts/setup` installs it).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// How long one expectation about a seed desk's screen may take.
const TIMEOUT: Duration = Duration::from_secs(10);

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
    fn start(server: SocketAddr, color_index: usize, name: &str) -> SeedDesk {
        let runner = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/seed/run_seed_client.py"
        );
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(runner)
            .env("SEED_PORT", server.port().to_string())
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

/// The line of `screen` that ends with `tail`, every digit shown as 9, so a
/// seed-style time compares by its shape.
#[track_caller]
fn line_shape(screen: &str, tail: &str) -> String {
    let line = screen
        .lines()
        .find(|line| line.ends_with(tail))
        .unwrap_or_else(|| panic!("expected a line ending {tail:?} in {screen:?}"));
    line.chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect()
}

/// Two seed desks and two of ours chat in both directions. colorama prints
/// no colour codes to a pipe, so the seed screens are compared without them
/// (the server's tests check the codes on the wire).
#[test]
fn two_seed_desks_and_two_of_ours_chat_both_ways() {
    let server = start_server(20);
    let alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    // Sees the colour each name is announced in, which a client on a pipe
    // does not print.
    let mut wire = RawDesk::connect(server.addr());
    // Until a seed desk has said something it cannot be told from ours (or
    // from nc), so each speaks first, as the report's screenshots show.
    // Colours 4 and 12 of the seed's list are LIGHTBLUE_EX and RED.
    let mut sharan = SeedDesk::start(server.addr(), 4, "sharan");
    let mut kiran = SeedDesk::start(server.addr(), 12, "kiran");
    sharan.type_line("hello there you guys");
    let said = wire.expect_line("MSG<SEP>");
    assert!(
        said.ends_with("<SEP>sharan<SEP>bright-blue<SEP>hello there you guys"),
        "expected sharan in colorama's LIGHTBLUE_EX, got {said:?}"
    );
    kiran.type_line("hey sharan and the other 2");
    let said = wire.expect_line("MSG<SEP>");
    assert!(
        said.ends_with("<SEP>kiran<SEP>red<SEP>hey sharan and the other 2"),
        "expected kiran in colorama's RED, got {said:?}"
    );
    for ours in [&alice, &bob] {
        ours.expect("sharan: hello there you guys");
        ours.expect("kiran: hey sharan and the other 2");
    }
    sharan.wait_for("kiran: hey sharan and the other 2");

    bob.send("hi siri say something");
    for desk in [&sharan, &kiran] {
        let screen = desk.wait_for("bob: hi siri say something");
        assert_eq!(
            line_shape(&screen, "bob: hi siri say something"),
            "[9999-99-99 99:99:99] bob: hi siri say something",
            "expected the seed's look on its own screen"
        );
    }
    kiran.type_line("yes bob i am here , hello guys");
    alice.expect("kiran: yes bob i am here , hello guys");
    bob.expect("kiran: yes bob i am here , hello guys");
    let line = alice
        .stdout()
        .lines()
        .find(|line| line.ends_with("kiran: yes bob i am here , hello guys"))
        .map(str::to_string)
        .unwrap();
    assert!(
        starts_with_timestamp(&line),
        "expected our client's own look, [time] name: text, got {line:?}"
    );
    sharan.quit();
    kiran.quit();
    alice.expect("sharan left");
}

/// A seed desk whose name is taken is told so on its own screen, and its
/// lines are shown to nobody.
#[test]
fn a_seed_desk_with_a_taken_name_is_told_and_not_shown() {
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    let mut impostor = SeedDesk::start(server.addr(), 0, "Alice");
    impostor.type_line("i am the real alice");
    impostor.wait_for("[!] the name Alice is taken; choose another");
    alice.send("still only me");
    alice.expect("alice: still only me");
    assert!(
        !alice.stdout().contains("i am the real alice"),
        "expected the impostor's line shown to nobody"
    );
    impostor.quit();
}
