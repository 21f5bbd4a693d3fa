//! The client in a real terminal: tmux gives it a pty, so colour is decided
//! the way it is for a person (stdout is a terminal), and `capture-pane -e`
//! shows the escapes the terminal actually received.

mod common;

use std::process::{Command, Output};
use std::thread;
use std::time::Instant;

use common::{start_server, starts_with_timestamp, CLIENT_BIN, STEP_TIMEOUT};

/// A private tmux server (its own socket, no user config), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        match Command::new("tmux").arg("-V").output() {
            Ok(out) if out.status.success() => {}
            _ => panic!(
                "tmux is not installed (or does not run); the real-terminal test needs it. \
                 scripts/setup installs it (apt-get install tmux)."
            ),
        }
        Tmux {
            socket: format!("chat-client-test-{}", std::process::id()),
        }
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts `command` (run by `sh -c`) in a detached 120x30 session. The
    /// shell stays after the client ends, printing its exit status, so a
    /// crash leaves something to read.
    fn start(&self, session: &str, command: &str) {
        let wrapped = format!("{command}; echo \"EXITED $?\"; sleep 60");
        self.run(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "120",
            "-y",
            "30",
            "sh",
            "-c",
            &wrapped,
        ]);
    }

    fn type_line(&self, session: &str, text: &str) {
        self.run(&["send-keys", "-t", session, "-l", text]);
        self.run(&["send-keys", "-t", session, "Enter"]);
    }

    /// The visible screen with its escapes (`-e`).
    fn screen(&self, session: &str) -> String {
        let out = self.run(&["capture-pane", "-p", "-e", "-t", session]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[track_caller]
    fn expect(&self, session: &str, needle: &str) -> String {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let screen = self.screen(session);
            if strip_sgr(&screen).contains(needle) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("{session}: {needle:?} not on screen within {STEP_TIMEOUT:?}:\n{screen}");
            }
            thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let tmux = |args: &[&str]| {
            Command::new("tmux")
                .args(["-L", &self.socket])
                .args(args)
                .output()
        };
        // Ask where the socket is while the server still runs; tmux leaves
        // the file behind after kill-server.
        let socket_path = tmux(&["display-message", "-p", "#{socket_path}"])
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|path| !path.is_empty());
        let _ = tmux(&["kill-server"]);
        if let Some(path) = socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The text without SGR sequences (`ESC [ ... m`).
fn strip_sgr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            for next in chars.by_ref() {
                if next == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn client_command(port: u16, args: &str) -> String {
    // The environment must not decide colour for us.
    format!(
        "env -u NO_COLOR -u CLICOLOR -u CLICOLOR_FORCE '{CLIENT_BIN}' --port {port} --mute {args}"
    )
}

#[test]
fn names_are_coloured_in_a_real_terminal_and_q_leaves() {
    let tmux = Tmux::new();
    let server = start_server(20);
    let port = server.addr().port();
    let alice = "alice";
    let bob = "bob";
    tmux.start(alice, &client_command(port, "--name alice --color red"));
    tmux.expect(alice, "You are alice");
    tmux.start(bob, &client_command(port, "--name bob --no-color"));
    tmux.expect(bob, "You are bob");

    tmux.type_line(alice, "hello from tmux");
    let screen = tmux.expect(alice, "alice: hello from tmux");
    // The typed line is echoed too; the message is the line with the name.
    let line = screen
        .lines()
        .find(|l| strip_sgr(l).contains("alice: hello from tmux"))
        .unwrap();
    assert!(
        line.contains("\x1b[31malice\x1b["),
        "name not wrapped in red SGR: {line:?}"
    );
    assert!(
        starts_with_timestamp(&strip_sgr(line)),
        "no [YYYY-MM-DD HH:MM:SS] at the start: {line:?}"
    );

    // --no-color wins even on a terminal.
    let bob_screen = tmux.expect(bob, "alice: hello from tmux");
    assert!(
        !bob_screen.contains("\x1b[31m"),
        "bob asked for no colour: {bob_screen:?}"
    );

    tmux.type_line(alice, "q");
    tmux.expect(alice, "EXITED 0");
    tmux.expect(bob, "alice left");
    tmux.type_line(bob, "/quit");
    tmux.expect(bob, "EXITED 0");
}
