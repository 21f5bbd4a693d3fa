//! The desk over TLS against the real `chat-server --tls` binary: trusting
//! the certificate on first use (and remembering it in the known-hosts file
//! under `XDG_CONFIG_HOME`), trusting the server's certificate file with
//! `--ca`, pinning it with `--fingerprint`, refusing loudly and for good a
//! certificate that changed, and a plain desk told to use `--tls` by a
//! `--require-tls` server. A server run with `--db none` makes a new
//! certificate at every start, which is how a certificate "changes" here.

use std::fs;
use std::path::Path;

use crate::common::{server_process, Client, ClientBuilder, ServerProcess, TempDir};

/// A muted client of `server` that joins as `name`, with `args`, its
/// known-hosts file under `config_home`.
fn desk(server: &ServerProcess, name: &str, config_home: &Path, args: &[&str]) -> Client {
    ClientBuilder::new(name, server.addr())
        .name(name)
        .args(args)
        .env("XDG_CONFIG_HOME", config_home.to_str().unwrap())
        .spawn()
}

fn known_hosts(config_home: &Path) -> std::path::PathBuf {
    config_home.join("chat-client").join("known_hosts")
}

#[test]
fn first_use_trusts_and_remembers_the_certificate_and_chats_over_tls_beside_a_plain_desk() {
    let dir = TempDir::new("tls-first-use");
    let server = server_process(Path::new("none"), &["--tls"]);
    let fingerprint = server.fingerprint();
    let home = dir.path();

    let mut alice = desk(&server, "alice", home, &["--tls"]);
    alice.expect(&format!(
        "[*] First TLS connection to {}: trusting its certificate {fingerprint}",
        server.addr()
    ));
    alice.expect("You are alice");
    let file = fs::read_to_string(known_hosts(home)).expect("the known-hosts file");
    assert_eq!(file, format!("{} {fingerprint}\n", server.addr()));

    // A second TLS desk finds the server known; a plain one shares the port.
    let mut carol = desk(&server, "carol", home, &["--tls"]);
    carol.expect("You are carol");
    let mut bob = desk(&server, "bob", home, &[]);
    bob.expect("You are bob");
    alice.send("secret plans");
    bob.expect("alice: secret plans");
    carol.expect("alice: secret plans");
    bob.send("in the clear");
    alice.expect("bob: in the clear");
    carol.send("over tls too");
    alice.expect("carol: over tls too");
    assert!(
        !carol.stdout().contains("First TLS connection"),
        "{}",
        carol.stdout()
    );
    // A newcomer over TLS gets the history first, then the name prompt.
    let mut dave = ClientBuilder::new("dave", server.addr())
        .args(&["--tls"])
        .env("XDG_CONFIG_HOME", home.to_str().unwrap())
        .spawn();
    dave.expect("[*] Recent messages:");
    dave.expect("alice: secret plans");
    dave.expect("Enter your name");
    dave.send("dave");
    dave.expect("You are dave");
    for desk in [&mut alice, &mut bob, &mut carol, &mut dave] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn with_ca_the_servers_own_certificate_file_is_trusted_and_nothing_is_pinned() {
    let dir = TempDir::new("tls-ca");
    let db = dir.path().join("room.db");
    let server = server_process(&db, &["--tls"]);
    let cert = dir.path().join("tls-cert.pem");
    assert!(cert.exists(), "the kept certificate: {}", server.log());
    let home = dir.path().join("config");

    let ca = ["--ca", cert.to_str().unwrap()];
    let mut alice = desk(&server, "alice", &home, &ca);
    let mut bob = desk(&server, "bob", &home, &ca);
    alice.expect("You are alice");
    bob.expect("You are bob");
    alice.send("signed and sealed");
    bob.expect("alice: signed and sealed");
    assert!(!known_hosts(&home).exists());
    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn a_certificate_that_changed_is_refused_loudly_at_start_and_on_reconnect_without_retrying() {
    let dir = TempDir::new("tls-changed");
    let mut server = server_process(Path::new("none"), &["--tls"]);
    let old = server.fingerprint();
    let home = dir.path();
    let mut alice = desk(&server, "alice", home, &["--tls"]);
    alice.expect("You are alice");

    // A new certificate behind the same address, as an impostor would have.
    server.kill();
    alice.expect("[!] connection lost; reconnecting...");
    server.restart();
    let new = server.fingerprint();
    assert_ne!(old, new);

    // The connected desk gives up at its next try, and says why.
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", alice.stderr());
    let file = known_hosts(home);
    let expected = [
        format!("THE CERTIFICATE OF {} HAS CHANGED", server.addr()),
        format!("trusted:   {old}"),
        format!("presented: {new}"),
        format!("delete line 1 of {}", file.display()),
    ];
    for needle in &expected {
        assert!(
            alice.stderr().contains(needle.as_str()),
            "{needle}:\n{}",
            alice.stderr()
        );
    }
    assert!(
        !alice.stdout().contains("[+] reconnected"),
        "{}",
        alice.stdout()
    );

    // A desk starting now is refused the same way, before anything is sent.
    let mut bob = desk(&server, "bob", home, &["--tls"]);
    let status = bob.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", bob.stderr());
    for needle in &expected {
        assert!(
            bob.stderr().contains(needle.as_str()),
            "{needle}:\n{}",
            bob.stderr()
        );
    }
    assert!(!bob.stdout().contains("You are bob"), "{}", bob.stdout());
    // The file still holds the old certificate only.
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        format!("{} {old}\n", server.addr())
    );
}

#[test]
fn fingerprint_pins_exactly_that_certificate() {
    let dir = TempDir::new("tls-pin");
    let server = server_process(Path::new("none"), &["--tls"]);
    let fingerprint = server.fingerprint();
    let home = dir.path();

    let mut alice = desk(&server, "alice", home, &["--fingerprint", &fingerprint]);
    alice.expect("You are alice");
    assert!(!known_hosts(home).exists());
    alice.send("q");
    alice.expect_exit_code(0);

    let other = format!("SHA256:{}", ["00"; 32].join(":"));
    let mut mallory = desk(&server, "mallory", home, &["--fingerprint", &other]);
    let status = mallory.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", mallory.stderr());
    assert!(
        mallory.stderr().contains("DOES NOT MATCH --fingerprint"),
        "{}",
        mallory.stderr()
    );
    assert!(
        mallory.stderr().contains(&fingerprint),
        "{}",
        mallory.stderr()
    );
}

#[test]
fn a_plain_desk_at_a_server_requiring_tls_shows_the_reason_and_suggests_tls() {
    let dir = TempDir::new("tls-required");
    let server = server_process(Path::new("none"), &["--require-tls"]);
    let mut alice = desk(&server, "alice", dir.path(), &[]);
    let status = alice.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", alice.stderr());
    let stderr = alice.stderr();
    assert!(
        stderr.contains(&format!("{} takes TLS connections only", server.addr())),
        "{stderr}"
    );
    assert!(stderr.contains("connect with --tls"), "{stderr}");
    assert!(
        !alice.stdout().contains("reconnecting"),
        "{}",
        alice.stdout()
    );

    // And with --tls the same desk gets in.
    let mut alice = desk(&server, "alice", dir.path(), &["--tls"]);
    alice.expect("You are alice");
    alice.send("q");
    alice.expect_exit_code(0);
}
