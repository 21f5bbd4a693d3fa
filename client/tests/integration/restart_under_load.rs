//! `kill -9` of the server while a sender streams messages and two real
//! desks listen; the server is started again on the same log. The log is
//! the truth: every message in it is shown by each desk exactly once, in ID
//! order, and nothing else is, however the kill cut the stream.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{join, server_process, TempDir, TIMEOUT};
use chat_shared::{MessageId, ServerLine};

/// Messages the sender tries to send, one every [`SEND_GAP`].
const ATTEMPTS: usize = 300;
const SEND_GAP: Duration = Duration::from_millis(5);

/// Streams `carol<SEP>m N` for N in 0..ATTEMPTS; when the server is gone it
/// reconnects and goes on (what was lost in the kill is simply not in the
/// log). Returns once every attempt was made.
fn stream_messages(addr: SocketAddr, server_back: Arc<AtomicBool>) {
    let mut stream: Option<TcpStream> = None;
    for n in 0..ATTEMPTS {
        thread::sleep(SEND_GAP);
        let line = format!("carol<SEP>m {n}\n");
        let sent = stream
            .as_mut()
            .is_some_and(|s| s.write_all(line.as_bytes()).is_ok());
        if !sent {
            stream = None;
            // Wait for the restart rather than hammering a closed port.
            if server_back.load(Ordering::SeqCst) {
                stream = TcpStream::connect(addr).ok();
            }
        }
    }
}

/// Everything in the log after a `/resume` from the start, in order.
fn whole_log(addr: SocketAddr) -> Vec<(MessageId, String)> {
    let stream = TcpStream::connect(addr).expect("connect the checker");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut lines = BufReader::new(stream).lines();
    writer.write_all(b"/join checker\n").unwrap();
    let epoch = loop {
        let line = lines.next().expect("a line").expect("read");
        if let Ok(ServerLine::Welcome { epoch, .. }) = ServerLine::parse(&line) {
            break epoch.to_string();
        }
    };
    writer
        .write_all(format!("/resume {epoch} 0\n").as_bytes())
        .unwrap();
    let replayed = loop {
        let line = lines.next().expect("a line").expect("read");
        if let Ok(ServerLine::Resumed {
            replayed, skipped, ..
        }) = ServerLine::parse(&line)
        {
            assert_eq!(skipped, 0, "expected the whole log replayed");
            break replayed;
        }
    };
    (0..replayed)
        .map(|_| {
            let line = lines.next().expect("a HIST line").expect("read");
            match ServerLine::parse(&line) {
                Ok(ServerLine::History(chat)) => (chat.id, chat.text.to_string()),
                other => panic!("expected a HIST line, got {other:?}"),
            }
        })
        .collect()
}

/// The texts of carol's messages a desk printed, in the order printed.
fn shown_by(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| {
            line.split_once("] carol: ")
                .map(|(_, text)| text.to_string())
        })
        .collect()
}

#[test]
fn every_message_in_the_log_is_shown_once_in_order_across_kill_dash_nine() {
    let dir = TempDir::new("restart-under-load");
    let mut server = server_process(&dir.path().join("room.db"), &[]);
    let alice = join("alice", server.addr());
    let bob = join("bob", server.addr());
    let server_back = Arc::new(AtomicBool::new(true));
    let sender = {
        let (addr, back) = (server.addr(), Arc::clone(&server_back));
        thread::spawn(move || stream_messages(addr, back))
    };
    // Kill once the stream is well under way.
    let started = Instant::now();
    while !alice.stdout().contains("carol: m 80") {
        assert!(started.elapsed() < TIMEOUT, "expected the stream to flow");
        thread::sleep(Duration::from_millis(10));
    }
    server_back.store(false, Ordering::SeqCst);
    server.kill();
    thread::sleep(Duration::from_millis(300));
    server.restart();
    server_back.store(true, Ordering::SeqCst);
    sender.join().expect("the sender finishes");

    let log: Vec<String> = whole_log(server.addr())
        .into_iter()
        .filter(|(_, text)| text.starts_with("m "))
        .map(|(_, text)| text)
        .collect();
    assert!(
        log.len() > 100 && log.len() <= ATTEMPTS,
        "expected most of the stream in the log, got {} messages",
        log.len()
    );
    let last = log.last().expect("a message");
    for desk in [&alice, &bob] {
        desk.expect(&format!("carol: {last}"));
        desk.expect("[+] reconnected");
        assert_eq!(
            shown_by(&desk.stdout()),
            log,
            "expected every logged message once, in order"
        );
    }
}
