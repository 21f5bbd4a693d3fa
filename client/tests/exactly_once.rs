//! Exactly-once sends (`/tx`) against the real `chat-server` binary: a
//! line the server cannot confirm is kept pending and sent again under the
//! same ID until the server says it is stored, so every desk shows it once
//! and its writer is never told it was lost. Once with a real
//! `redis-server` frozen (SIGSTOP) under the server, once with the server
//! itself frozen and killed before it read the line.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::{join, signal, Client, RedisProcess, ServerProcess, TempDir, STEP_TIMEOUT};

/// Runs one command on the `redis-server` behind `url` and returns its
/// answer's lines: the bulk strings of an array, or the one line of a
/// simple answer.
fn redis(url: &str, command: &[&str]) -> Vec<String> {
    let addr = url.trim_start_matches("redis://");
    let mut stream = TcpStream::connect(addr).expect("connect to redis-server");
    stream
        .set_read_timeout(Some(STEP_TIMEOUT))
        .expect("set a read timeout");
    let mut request = format!("*{}\r\n", command.len());
    for word in command {
        request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
    }
    stream
        .write_all(request.as_bytes())
        .expect("ask redis-server");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("read redis's answer");
    let bulk = |reader: &mut BufReader<TcpStream>, header: &str| -> String {
        let len: usize = header[1..].trim_end().parse().expect("a bulk length");
        let mut bytes = vec![0; len + 2];
        reader.read_exact(&mut bytes).expect("read a bulk string");
        String::from_utf8_lossy(&bytes[..len]).into_owned()
    };
    match line.as_bytes().first() {
        Some(b'*') => {
            let count: usize = line[1..].trim_end().parse().expect("an array length");
            (0..count)
                .map(|_| {
                    let mut header = String::new();
                    reader.read_line(&mut header).expect("read a bulk header");
                    bulk(&mut reader, &header)
                })
                .collect()
        }
        Some(b'$') => vec![bulk(&mut reader, &line)],
        _ => vec![line.trim_end().to_string()],
    }
}

/// The process id of the `redis-server` behind `url`, as its `INFO` says.
fn redis_pid(url: &str) -> u32 {
    let info = redis(url, &["INFO", "server"]).concat();
    info.lines()
        .find_map(|line| line.trim_end().strip_prefix("process_id:"))
        .expect("a process_id in INFO")
        .parse()
        .expect("a process id")
}

/// Once every desk shows `alice`'s `line` (and a line of bob's sent
/// after it, so any late copy had its chance): asserts each shows it once,
/// and alice was never told it was lost.
#[track_caller]
fn assert_shown_once_and_never_lost(alice: &Client, bob: &mut Client, line: &str) {
    bob.send("a line after it");
    alice.expect("bob: a line after it");
    for desk in [alice, &*bob] {
        let out = desk.stdout();
        assert_eq!(out.matches(line).count(), 1, "{out}");
    }
    let out = alice.stdout();
    for lost in ["not sent", "not saved", "nobody got it"] {
        assert!(!out.contains(lost), "alice was told {lost:?}:\n{out}");
    }
}

#[test]
fn a_line_typed_while_redis_is_frozen_reaches_every_desk_once_and_is_never_called_lost() {
    let Some(redis_server) = RedisProcess::start_or_skip() else {
        return;
    };
    let url = redis_server.url();
    let server = ServerProcess::start_args(&["--redis", &url]);
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    alice.expect("bob joined");
    alice.send("before the freeze");
    bob.expect("alice: before the freeze");

    let pid = redis_pid(&url);
    signal(pid, libc::SIGSTOP);
    let text = "typed while redis is frozen";
    alice.send(text);
    // The server's log does not answer: the line is pending, not lost.
    alice.expect(&format!("[*] pending: \"{text}\""));
    thread::sleep(Duration::from_secs(6));
    signal(pid, libc::SIGCONT);

    let line = format!("alice: {text}");
    for desk in [&alice, &bob] {
        desk.expect_within(&line, Duration::from_secs(30));
    }
    // Long enough for a resend still on its way to come back.
    thread::sleep(Duration::from_secs(5));
    assert_shown_once_and_never_lost(&alice, &mut bob, &line);
    // Each of the three lines was stored under its desk's own ID, once.
    let tagged = redis(&url, &["KEYS", "chat:{main}:tx:*"]);
    assert_eq!(tagged.len(), 3, "{tagged:?}");

    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn a_line_the_server_never_read_goes_again_after_the_reconnect_and_is_shown_once() {
    let dir = TempDir::new("tx-restart");
    let mut server = ServerProcess::start(&dir.path().join("room.db"));
    let mut alice = join("alice", server.addr());
    let mut bob = join("bob", server.addr());
    alice.expect("bob joined");
    alice.send("before the freeze");
    bob.expect("alice: before the freeze");
    alice.expect("alice: before the freeze");

    // The line reaches the frozen server's socket, and dies with it.
    signal(server.pid(), libc::SIGSTOP);
    let text = "typed into a frozen server";
    alice.send(text);
    common::settle();
    server.kill();
    server.restart();
    for desk in [&alice, &bob] {
        desk.expect("[+] reconnected");
    }

    let line = format!("alice: {text}");
    for desk in [&alice, &bob] {
        desk.expect(&line);
    }
    assert_shown_once_and_never_lost(&alice, &mut bob, &line);

    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}
