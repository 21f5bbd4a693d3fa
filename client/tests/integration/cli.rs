//! The command line: help, version, bad flags and an unreachable server.

use crate::common::run_client;
use test_support::free_port;

#[test]
fn help_goes_to_stdout_and_exits_zero() {
    let (code, out, err) = run_client(&["--help"]);
    assert_eq!(code, Some(0), "{err}");
    for text in [
        "--host",
        "--port",
        "--name",
        "--color",
        "--mute",
        "--notify",
        "--no-color",
        "--keepalive",
        "/who",
        "/quit",
        "/msg NAME TEXT",
        "/r or /reply TEXT",
        "/search WORDS",
        "/me ACTION",
        "//TEXT",
        "/notify [all|mentions|off]",
        "/help",
        "Up-arrow",
        "reconnects",
    ] {
        assert!(out.contains(text), "help lacks {text}:\n{out}");
    }
    assert!(err.is_empty(), "{err}");
}

#[test]
fn version() {
    let (code, out, _) = run_client(&["--version"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out.trim(),
        format!("chat-client {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_flag_exits_two_with_usage() {
    let (code, out, err) = run_client(&["--loud"]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty(), "{out}");
    let first = err.lines().next().unwrap_or("");
    assert!(first.starts_with("chat-client: "), "{err}");
    assert!(first.contains("loud"), "{err}");
    assert!(err.contains("Usage: chat-client"), "{err}");
}

#[test]
fn bad_values_exit_two() {
    for args in [
        &["--port", "banana"][..],
        &["--port", "0"],
        &["--name", "two words"],
        &["--color", "mauve"],
        &["--color", "white"],
        &["--color", "bright-black"],
        &["--notify", "loud"],
        &["--mute", "--notify", "all"],
        &["stray"],
    ] {
        let (code, _, err) = run_client(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.starts_with("chat-client: "), "{args:?}: {err}");
        assert!(err.contains("Usage: chat-client"), "{args:?}: {err}");
    }
    let (_, _, err) = run_client(&["--color", "mauve"]);
    assert!(
        err.contains("bright-yellow"),
        "the choices are listed: {err}"
    );
}

#[test]
fn refused_connection_exits_one() {
    // Bind then drop: the port is (almost surely) closed right after.
    let port = free_port().expect("a free port").to_string();
    let (code, out, err) = run_client(&["--port", &port, "--mute"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains(&format!("[*] Connecting to 127.0.0.1:{port}...")),
        "{out}"
    );
    assert!(
        err.starts_with(&format!(
            "chat-client: cannot connect to 127.0.0.1:{port}: "
        )),
        "{err}"
    );
}
