//! The redis-server launcher as a tool uses it (the `Result` API): a log
//! file named relative to the current folder, data kept across a restart
//! on the same port, and a stop by SIGTERM. Skipped like the other Redis
//! tests when `redis-server` is not installed, except in CI.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use test_support::{Persistence, RedisError, RedisOptions, RedisServer};

/// Starts one with `options`; `None` (having said why) when Redis is not
/// installed and this is not CI.
fn start_or_skip(options: RedisOptions) -> Option<RedisServer> {
    match RedisServer::start(options) {
        Ok(server) => Some(server),
        Err(RedisError::NotInstalled) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: redis-server is not installed (scripts/setup installs it)");
            None
        }
        Err(err) => panic!("{err}"),
    }
}

/// Sends one command in RESP and returns the raw reply.
fn command(server: &RedisServer, args: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect to Redis");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream
        .write_all(request.as_bytes())
        .expect("send a command");
    let mut reply = [0u8; 256];
    let n = stream.read(&mut reply).expect("read a reply");
    String::from_utf8_lossy(&reply[..n]).into_owned()
}

#[test]
fn a_relative_log_file_is_written_and_the_port_is_never_the_default() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    // Relative to the current folder, as chat-compare's report folder often is.
    let current = std::env::current_dir().expect("the current folder");
    let relative = pathdiff(folder.path(), &current).join("redis.log");
    let Some(server) = start_or_skip(RedisOptions {
        log_file: Some(relative),
        ready_within: Duration::from_secs(5),
        ..RedisOptions::default()
    }) else {
        return;
    };
    assert_ne!(server.port(), 6379);
    assert!(server.pid().is_some());
    assert_eq!(command(&server, &["PING"]), "+PONG\r\n");
    let log = std::fs::read_to_string(folder.path().join("redis.log")).expect("its log file");
    assert!(log.contains("Ready to accept connections"), "{log}");
    assert_eq!(server.log(), log);
}

#[test]
fn a_restart_keeps_the_port_and_the_append_only_file() {
    let Some(mut server) = start_or_skip(RedisOptions {
        persistence: Persistence::AppendFsyncAlways,
        ..RedisOptions::default()
    }) else {
        return;
    };
    let port = server.port();
    assert_eq!(command(&server, &["SET", "kept", "yes"]), "+OK\r\n");
    server.kill();
    assert_eq!(server.pid(), None);
    server
        .restart()
        .unwrap_or_else(|err| panic!("{err}; its log: {}", server.log()));
    assert_eq!(server.port(), port);
    assert_eq!(command(&server, &["GET", "kept"]), "$3\r\nyes\r\n");
}

#[test]
fn stop_ends_it_with_sigterm() {
    let Some(mut server) = start_or_skip(RedisOptions::default()) else {
        return;
    };
    let status = server.stop(Duration::from_secs(5));
    assert!(
        status.is_some_and(|status| status.success()),
        "{status:?}; its log: {}",
        server.log()
    );
    assert_eq!(server.pid(), None);
    assert!(TcpStream::connect(("127.0.0.1", server.port())).is_err());
}

/// `path` relative to `base` (both absolute): `..` up to their common
/// ancestor, then down.
fn pathdiff(path: &std::path::Path, base: &std::path::Path) -> std::path::PathBuf {
    let path: Vec<_> = path.components().collect();
    let base: Vec<_> = base.components().collect();
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut relative = std::path::PathBuf::new();
    for _ in common..base.len() {
        relative.push("..");
    }
    for part in &path[common..] {
        relative.push(part);
    }
    relative
}
