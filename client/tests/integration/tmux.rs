//! A private tmux server for the tests that run the desk in a real
//! terminal: tmux gives it a pty, so colour and the line editor behave as
//! they do for a person, and `capture-pane` shows what the screen holds.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use crate::common::{CLIENT_BIN, TIMEOUT};

/// A private tmux server (its own socket, no user config), killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn new() -> Tmux {
        match Command::new("tmux").arg("-V").output() {
            Ok(out) if out.status.success() => {}
            _ => panic!(
                "tmux is not installed (or does not run); the real-terminal test needs it. \
                 scripts/setup installs it (apt-get install tmux)."
            ),
        }
        // One tmux server per test: tests run in parallel, and dropping
        // one kills its server.
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        Tmux {
            socket: format!(
                "chat-client-test-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
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
    pub fn start(&self, session: &str, command: &str) {
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

    /// Starts the client in session `name` as `--name NAME` with `flags`,
    /// and waits until it says "You are NAME".
    #[track_caller]
    pub fn join(&self, name: &str, port: u16, flags: &str) {
        let args = format!("--name {name} {flags}");
        self.start(name, &client_command(port, args.trim_end()));
        self.expect(name, &format!("You are {name}"));
    }

    /// Types `q` in `session` and waits for the client to exit with 0.
    #[track_caller]
    pub fn quit(&self, session: &str) {
        self.type_line(session, "q");
        self.expect(session, "EXITED 0");
    }

    pub fn type_line(&self, session: &str, text: &str) {
        self.type_text(session, text);
        self.press(session, "Enter");
    }

    /// Types `text` without pressing Enter.
    pub fn type_text(&self, session: &str, text: &str) {
        self.run(&["send-keys", "-t", session, "-l", text]);
    }

    /// Presses one key, by tmux's name for it (`Enter`, `Up`, `C-c`).
    pub fn press(&self, session: &str, key: &str) {
        self.run(&["send-keys", "-t", session, key]);
    }

    /// The visible screen with its escapes (`-e`).
    pub fn screen(&self, session: &str) -> String {
        let out = self.run(&["capture-pane", "-p", "-e", "-t", session]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[track_caller]
    pub fn expect(&self, session: &str, needle: &str) -> String {
        self.expect_screen(session, &format!("{needle:?} on screen"), |screen| {
            screen.contains(needle)
        })
    }

    /// Waits until the screen's last non-blank line (the one the cursor is
    /// on) is `line`.
    #[track_caller]
    pub fn expect_input_line(&self, session: &str, line: &str) -> String {
        self.expect_screen(session, &format!("input line {line:?}"), |screen| {
            input_line(screen) == line
        })
    }

    /// Waits until `ready` holds for the screen without its SGR escapes;
    /// returns the screen with them.
    #[track_caller]
    pub fn expect_screen(&self, session: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let screen = self.screen(session);
            if ready(&strip_sgr(&screen)) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("{session}: no {what} within {TIMEOUT:?}:\n{screen}");
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
pub fn strip_sgr(text: &str) -> String {
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

/// The screen's last non-blank line, where the editor shows its prompt and
/// what is typed.
pub fn input_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .trim_end()
}

/// The desk's command line for `sh -c`: the client on `port`, muted, with
/// `args`.
pub fn client_command(port: u16, args: &str) -> String {
    // The environment must not decide colour for us.
    format!(
        "env -u NO_COLOR -u CLICOLOR -u CLICOLOR_FORCE '{CLIENT_BIN}' --port {port} --mute {args}"
    )
}
