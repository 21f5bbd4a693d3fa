//! Trust: TLS inside the event loop, and accounts (`--auth token`), tested on
//! the real binary over real sockets with a real rustls client: plain and TLS
//! desks in one room, a certificate kept across restarts, a burst written
//! through TLS to a desk that was not reading, refusals of plain text and of
//! garbage, handshakes that stall, bad certificate files; and logins that are
//! refused, throttled, bound to their name, deaf to the room until accepted,
//! and revoked.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use chat_shared::Fingerprint;

use crate::common::tls::{fingerprint_of, pinning, trusting};
use crate::common::{cpu_time, run_cli, server_process, Client, ServerProcess, TIMEOUT};

/// A server with `--tls` (and `args`), and a config that pins the
/// certificate it printed.
fn tls_server(args: &[&str]) -> (ServerProcess, std::sync::Arc<rustls::ClientConfig>) {
    let mut all = vec!["--tls"];
    all.extend_from_slice(args);
    let server = server_process(&all);
    let pin = fingerprint_of(&server);
    (server, pinning(pin))
}

#[test]
fn tls_and_plain_desks_share_one_room() {
    let (server, tls) = tls_server(&[]);
    let mut alice = Client::connect_tls(server.addr(), tls, "localhost");
    alice.join("alice");
    let mut bob = Client::connect(server.addr());
    bob.join("bob");
    alice.say("alice", "over TLS");
    bob.expect_msg("alice", "over TLS");
    bob.say("bob", "in plain text");
    alice.expect_msg("bob", "in plain text");
    assert!(
        server.log().contains("TLS and plain on one port"),
        "{}",
        server.log()
    );
}

#[test]
fn the_kept_certificate_is_a_root_desks_can_trust_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let db = db.to_str().unwrap();
    let cert = dir.path().join("tls-cert.pem");
    let first = server_process(&["--tls", "--db", db]);
    let printed = fingerprint_of(&first);
    let pem = std::fs::read(&cert).expect("the certificate is kept beside the log");
    let key = dir.path().join("tls-key.pem");
    let mode = std::fs::metadata(&key)
        .expect("the key is kept")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077,
        0,
        "the key must be readable by its owner only"
    );
    let mut alice = Client::connect_tls(first.addr(), trusting(&cert), "localhost");
    alice.say("alice", "trusted by --ca");
    drop(alice);
    drop(first);

    let second = server_process(&["--tls", "--db", db]);
    assert_eq!(fingerprint_of(&second), printed);
    assert_eq!(std::fs::read(&cert).unwrap(), pem);
    let mut alice = Client::connect_tls(second.addr(), trusting(&cert), "127.0.0.1");
    alice.say("alice", "still trusted after a restart");
}

#[test]
fn a_desk_pinned_to_another_certificate_cannot_connect() {
    let (server, _) = tls_server(&[]);
    let mut stranger = Client::connect_tls_silent(
        server.addr(),
        pinning(Fingerprint::of_certificate(b"some other certificate")),
        "localhost",
    );
    let refused = stranger.try_send(b"/ping\n");
    assert!(refused.is_err(), "expected the handshake to fail");
    // The server is unharmed.
    let mut bob = Client::connect(server.addr());
    bob.say("bob", "still here");
}

/// A TLS desk that does not read while a burst far larger than the socket
/// buffers is sent: the loop must stop at WouldBlock with records pending,
/// wait for WRITABLE, and deliver every line, in order, once the desk reads.
#[test]
fn a_burst_reaches_a_tls_desk_that_was_not_reading() {
    let (server, tls) = tls_server(&["--rate-limit", "0", "--max-queue", "8388608"]);
    let mut reader = Client::connect_tls(server.addr(), tls, "localhost");
    reader.join("reader");
    let mut writer = Client::connect(server.addr());
    writer.join("writer");
    let filler = "x".repeat(2000);
    const LINES: usize = 600;
    for i in 0..LINES {
        writer.send_line(&format!("writer<SEP>{i} {filler}"));
    }
    for i in 0..LINES {
        writer.expect_msg("writer", &format!("{i} {filler}"));
    }
    for i in 0..LINES {
        reader.expect_msg("writer", &format!("{i} {filler}"));
    }
}

#[test]
fn plain_text_to_a_tls_only_server_gets_one_line_and_a_close_without_spinning() {
    let server = server_process(&["--require-tls"]);
    let cpu_before = cpu_time(server.pid());
    let started = Instant::now();
    for attempt in [
        "alice<SEP>hello\n",
        "GET / HTTP/1.0\r\n\r\n",
        "\x00\x01\x02garbage\n",
    ] {
        let mut plain = Client::connect_silent(server.addr());
        plain.send(attempt.as_bytes());
        let refusal = plain.line();
        assert!(
            refusal.starts_with("ERR<SEP>tls-required<SEP>"),
            "expected a refusal for {attempt:?}, got {refusal:?}"
        );
        plain.expect_closed();
    }
    thread::sleep(Duration::from_millis(1000).saturating_sub(started.elapsed()));
    let cpu = (cpu_time(server.pid()) - cpu_before).as_secs_f64();
    let wall = started.elapsed().as_secs_f64();
    assert!(
        cpu < 0.25 * wall,
        "expected an idle server after the refusals, it used {cpu:.2} s of CPU in {wall:.2} s"
    );
    let mut tls = Client::connect_tls(server.addr(), pinning(fingerprint_of(&server)), "localhost");
    tls.say("alice", "TLS is welcome");
}

#[test]
fn garbage_in_place_of_a_client_hello_is_refused() {
    let (server, tls) = tls_server(&[]);
    let mut garbage = Client::connect_silent(server.addr());
    let mut bytes = vec![0x16];
    bytes.extend(std::iter::repeat_n(0xAB, 300));
    garbage.send(&bytes);
    let (lines, _, end) = garbage.drain(TIMEOUT);
    assert!(end.is_some(), "expected the server to close the connection");
    assert!(
        lines.is_empty(),
        "no plain line may reach a TLS peer: {lines:?}"
    );
    let mut alice = Client::connect_tls(server.addr(), tls, "localhost");
    alice.say("alice", "unharmed");
}

#[test]
fn a_handshake_that_stops_halfway_is_closed_at_the_deadline() {
    let (server, _) = tls_server(&["--login-timeout", "2"]);
    let started = Instant::now();
    // The first bytes of a ClientHello record, and then nothing.
    let mut stalled = Client::connect_silent(server.addr());
    stalled.send(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]);
    // A TLS-capable server sends a silent newcomer nothing: plain lines
    // would garble a handshake.
    let mut silent = Client::connect_silent(server.addr());
    for client in [&mut stalled, &mut silent] {
        let (lines, rest, end) = client.drain(Duration::from_secs(8));
        assert!(end.is_some(), "expected a close at the deadline");
        assert!(
            lines.is_empty() && rest.is_empty(),
            "sent {lines:?} {rest:?}"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1900),
        "closed after {waited:?}, before the deadline"
    );
    server.wait_for_log("not in the room 2 s after connecting");
}

#[test]
fn a_bad_certificate_or_key_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (not_pem.to_str().unwrap(), not_pem.to_str().unwrap()),
        (missing.to_str().unwrap(), missing.to_str().unwrap()),
    ];
    for (cert, key) in cases {
        let output = run_cli(&[
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            "none",
            "--tls-cert",
            cert,
            "--tls-key",
            key,
        ]);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("chat-server: TLS file ") && last.contains(cert),
            "expected one line naming {cert}, got {stderr:?}"
        );
    }
}

/// Makes an account with the real `user add` and returns its token.
fn add_account(db: &Path, name: &str) -> String {
    let output = run_cli(&["user", "add", name, "--db", db.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "expected a 256-bit token, got {token:?}");
    token
}

/// A `--auth token` server on a log in `dir`.
fn auth_server(dir: &Path, args: &[&str]) -> ServerProcess {
    let db = dir.join("room.db");
    let mut all = vec!["--db", db.to_str().unwrap(), "--auth", "token"];
    all.extend_from_slice(args);
    server_process(&all)
}

/// Logs in with `/auth` and waits for the server to answer a ping.
fn log_in(client: &mut Client, name: &str, token: &str) {
    client.send_line(&format!("/auth {name} {token}"));
    client.send_line("/ping");
    client.wait_for("PONG after logging in", |line| {
        assert!(!line.starts_with("ERR"), "login refused: {line}");
        line == "PONG"
    });
}

#[test]
fn a_wrong_token_is_refused_and_the_address_must_wait() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let token = add_account(&db, "alice");
    let server = auth_server(dir.path(), &[]);

    let mut guesser = Client::connect_silent(server.addr());
    guesser.send_line("/auth alice 0000");
    assert!(guesser.line().starts_with("ERR<SEP>auth-failed<SEP>"));
    guesser.expect_closed();

    // The right token, at once from the same address, is not even checked.
    let mut hurried = Client::connect_silent(server.addr());
    hurried.send_line(&format!("/auth alice {token}"));
    assert!(hurried.line().starts_with("ERR<SEP>auth-failed<SEP>"));
    hurried.expect_closed();

    thread::sleep(Duration::from_millis(1100));
    let mut alice = Client::connect_silent(server.addr());
    log_in(&mut alice, "alice", &token);
    alice.join("alice");

    let log = server.log();
    let refusals = log
        .lines()
        .filter(|line| line.starts_with("[!]") && line.contains("login refused"));
    assert_eq!(refusals.count(), 2, "{log}");
    for line in log.lines().filter(|line| line.contains("refused")) {
        assert!(
            line.contains("127.0.0.1:"),
            "failures name the address: {line}"
        );
        assert!(
            !line.contains("alice"),
            "a failure never names the account: {line}"
        );
    }
    assert!(!log.contains(&token), "the token must never be logged");
}

#[test]
fn a_token_joins_as_its_own_name_only() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let token = add_account(&db, "alice");
    add_account(&db, "bob");
    let server = auth_server(dir.path(), &[]);
    let mut alice = Client::connect_silent(server.addr());
    log_in(&mut alice, "alice", &token);
    for attempt in ["bob<SEP>it is me, bob", "/join bob", "/join mallory"] {
        alice.send_line(attempt);
        let reply = alice.line();
        assert!(
            reply.starts_with("ERR<SEP>wrong-name<SEP>"),
            "{attempt}: {reply}"
        );
    }
    alice.say("alice", "as myself");
}

#[test]
fn nobody_hears_the_room_before_logging_in() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let token = add_account(&db, "alice");
    let server = auth_server(dir.path(), &["--login-timeout", "3"]);
    let mut alice = Client::connect_silent(server.addr());
    log_in(&mut alice, "alice", &token);
    alice.say("alice", "history a stranger must not get");

    let mut eve = Client::connect_silent(server.addr());
    for line in ["/who", "eve<SEP>hello?", "/search history", "/join eve"] {
        eve.send_line(line);
    }
    alice.say("alice", "live traffic a stranger must not get");
    let (lines, rest, end) = eve.drain(Duration::from_secs(8));
    assert_eq!(lines.len(), 5, "four refusals and a goodbye: {lines:?}");
    for line in &lines[..4] {
        assert!(line.starts_with("ERR<SEP>auth-required<SEP>"), "{line}");
    }
    assert!(lines[4].starts_with("BYE<SEP>"), "{lines:?}");
    assert!(
        rest.is_empty() && end.is_some(),
        "closed at the login deadline"
    );
}

#[test]
fn removing_an_account_closes_its_desks_and_ends_its_access() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let token = add_account(&db, "alice");
    let bob_token = add_account(&db, "bob");
    let server = auth_server(dir.path(), &[]);
    let mut alice = Client::connect_silent(server.addr());
    log_in(&mut alice, "alice", &token);
    alice.join("alice");
    let mut bob = Client::connect_silent(server.addr());
    log_in(&mut bob, "bob", &bob_token);
    bob.join("bob");

    let output = run_cli(&["user", "remove", "alice", "--db", db.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    alice.wait_for("the revocation", |line| {
        line.starts_with("ERR<SEP>revoked<SEP>")
    });
    alice.expect_closed();
    bob.wait_for("alice leaving", |line| {
        crate::common::is_leave(line, "alice")
    });
    bob.say("bob", "still here");

    let mut again = Client::connect_silent(server.addr());
    again.send_line(&format!("/auth alice {token}"));
    assert!(again.line().starts_with("ERR<SEP>auth-failed<SEP>"));
}

#[test]
fn accounts_need_the_log_and_the_user_commands_say_what_is_wrong() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let db = db.to_str().unwrap();
    let output = run_cli(&["user", "remove", "nobody", "--db", db]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no room's log at"));
    add_account(Path::new(db), "alice");
    let output = run_cli(&["user", "add", "ALICE", "--db", db]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("already an account for alice"));
    let output = run_cli(&["user", "list", "--db", db]);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("alice  (added "));
    let output = run_cli(&["--auth", "token", "--db", "none"]);
    assert_eq!(output.status.code(), Some(2));
}
