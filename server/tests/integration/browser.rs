//! The browser desk in a real browser: runs `tests/browser/desk_test.py`
//! (Selenium driving Debian's headless Chromium) against this build's
//! `chat-server`, with `chat-client` as the terminal desk. The script
//! starts and stops the server (by PID, with a `kill -9` and a restart on
//! the way), the terminal desk and the browsers (through their drivers);
//! this test bounds it in time and reports what it said.
//!
//! It runs from here, with every other test, so `cargo test` (and so
//! `scripts/test` and CI) runs it without a second runner. Without
//! Chromium, chromedriver or Selenium it is skipped on a developer's
//! machine, saying so, and fails in CI (`CI` set), where `scripts/setup`
//! installs them.
//!
//! `BROWSER_DESK_SCREENSHOTS=DIR` keeps the screenshots there (the
//! README's come from `server/web/screenshots/`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole run, a kill -9 and a restart included, takes about half a
/// minute on a loaded two-core machine.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// What the browser test needs that `scripts/setup` installs, if missing.
fn missing_tools() -> Vec<&'static str> {
    let mut missing = Vec::new();
    for binary in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !Path::new(binary).exists() {
            missing.push(binary);
        }
    }
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !selenium.is_ok_and(|status| status.success()) {
        missing.push("python3 with selenium");
    }
    missing
}

#[test]
fn the_browser_desk_in_headless_chromium() {
    let missing = missing_tools();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser tests need {} (scripts/setup installs them), and CI must run them",
            missing.join(", ")
        );
        eprintln!(
            "skipped: {} missing (scripts/setup installs them)",
            missing.join(", ")
        );
        return;
    }
    let out = tempfile::tempdir().expect("a scratch folder");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/desk_test.py");
    // Its words go to a file, so a chatty run can never block on a pipe.
    let said_path = out.path().join("desk_test.out");
    let said_file = std::fs::File::create(&said_path).expect("a file for its output");
    let mut command = Command::new("python3");
    command
        .arg(&script)
        .arg("--server")
        .arg(env!("CARGO_BIN_EXE_chat-server"))
        .arg("--client")
        .arg(test_support::workspace_binary("chat-client"))
        .arg("--out")
        .arg(out.path())
        .stdin(Stdio::null())
        .stdout(said_file.try_clone().expect("its output file"))
        .stderr(said_file);
    if let Some(shots) = std::env::var_os("BROWSER_DESK_SCREENSHOTS") {
        command.arg("--screenshots").arg(shots);
    }
    let mut child = command.spawn().expect("start python3");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the browser test") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            // It stops its server and browsers on the way out; what it
            // cannot stop dies with its process group's session.
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser test ran past {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let said = std::fs::read_to_string(&said_path).unwrap_or_default();
    let server_log = std::fs::read_to_string(out.path().join("server.log")).unwrap_or_default();
    assert!(
        status.success(),
        "the browser test failed ({status}):\n{said}\n--- server log (last lines) ---\n{}",
        last_lines(&server_log, 40)
    );
    assert!(said.contains("all checks passed"), "{said}");
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}
