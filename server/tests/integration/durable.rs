//! The room's log: message IDs, history that survives restarts (and
//! `kill -9`), resuming desks, and the log's bad days (a path that cannot be
//! used, a damaged or foreign file, a second server, a full disk). The real
//! binary, real SQLite files in temporary folders, real sockets.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;
use chat_shared::{MessageId, ServerLine};

/// Stops the server cleanly (SIGTERM) and waits for it to exit.
#[track_caller]
fn stop(mut server: ServerProcess) {
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(TIMEOUT).expect("the server exits");
    assert!(status.success(), "expected exit 0, got {status}");
}

/// The epoch a `WELCOME` names.
#[track_caller]
fn epoch_of(welcome: &str) -> String {
    match ServerLine::parse(welcome) {
        Ok(ServerLine::Welcome { epoch, .. }) => epoch.to_string(),
        other => panic!("expected a WELCOME, got {welcome:?} ({other:?})"),
    }
}

/// A message line's ID and text, for `MSG` and `HIST` alike.
fn id_and_text(line: &str) -> Option<(MessageId, String)> {
    match ServerLine::parse(line) {
        Ok(ServerLine::Msg(chat) | ServerLine::History(chat)) => {
            Some((chat.id, chat.text.to_string()))
        }
        _ => None,
    }
}

/// Joins as `name` and returns the log's epoch.
#[track_caller]
fn join_for_epoch(client: &mut Client, name: &str) -> String {
    client.send_line(&format!("/join {name}"));
    let welcome = client.wait_for("WELCOME", |line| line.starts_with("WELCOME<SEP>"));
    epoch_of(&welcome)
}

/// Says `count` numbered lines and returns each one's ID, as its echo says.
#[track_caller]
fn say_numbered(client: &mut Client, name: &str, from: usize, count: usize) -> Vec<MessageId> {
    (from..from + count)
        .map(|n| {
            let text = format!("message {n}");
            client.send_line(&format!("{name}<SEP>{text}"));
            let echo = client.wait_for(&format!("MSG {text}"), |line| {
                id_and_text(line).is_some_and(|(_, t)| t == text)
            });
            id_and_text(&echo).expect("a message line").0
        })
        .collect()
}

/// Resumes after `after` on log `epoch`; returns the `RESUME` line's
/// skipped count and the replayed messages, in order.
#[track_caller]
fn resume(
    client: &mut Client,
    epoch: &str,
    after: MessageId,
) -> (String, u64, Vec<(MessageId, String)>) {
    client.send_line(&format!("/resume {epoch} {after}"));
    let reply = client.wait_for("RESUME", |line| line.starts_with("RESUME<SEP>"));
    let Ok(ServerLine::Resumed {
        epoch,
        skipped,
        replayed,
    }) = ServerLine::parse(&reply)
    else {
        panic!("expected a RESUME line, got {reply:?}");
    };
    let epoch = epoch.to_string();
    let replayed = replayed as usize;
    client.send_line("/ping");
    let mut history = Vec::new();
    loop {
        let line = client.line();
        if line == "PONG" {
            assert_eq!(
                history.len(),
                replayed,
                "expected as many HIST lines as RESUME said"
            );
            return (epoch, skipped, history);
        }
        if line.starts_with("HIST<SEP>") {
            history.push(id_and_text(&line).expect("a HIST line"));
        }
    }
}

// ---------------------------------------------------------------------------
// 1. IDs, and history across restarts.
// ---------------------------------------------------------------------------

/// Every message gets an ID, strictly increasing; after a clean restart on
/// the same file, a newcomer's history holds the same messages with the same
/// IDs, and new messages continue after them.
#[test]
fn history_and_ids_survive_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let server = server_on(&db, &[]);
    assert!(
        server
            .log()
            .contains(&format!("[*] Room log: {}", db.display())),
        "expected the start-up line to say where the log is: {}",
        server.log()
    );
    let mut alice = Client::connect(server.addr());
    let epoch = join_for_epoch(&mut alice, "alice");
    let ids = say_numbered(&mut alice, "alice", 0, 5);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "expected increasing IDs, got {ids:?}"
    );
    stop(server);

    let server = server_on(&db, &[]);
    let mut newcomer = Client::connect_silent(server.addr());
    newcomer.send_line("/ping");
    newcomer.wait_for("PONG", |line| line == "PONG");
    let history: Vec<(MessageId, String)> = String::from_utf8_lossy(newcomer.received())
        .lines()
        .filter_map(id_and_text)
        .collect();
    let expected: Vec<(MessageId, String)> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| (*id, format!("message {n}")))
        .collect();
    assert_eq!(
        history, expected,
        "expected the same history, same IDs, after a restart"
    );
    let mut bob = Client::connect(server.addr());
    assert_eq!(
        join_for_epoch(&mut bob, "bob"),
        epoch,
        "expected the same log epoch"
    );
    let next = say_numbered(&mut bob, "bob", 5, 1);
    assert!(
        next[0] > ids[4],
        "expected new IDs after the old ones, got {next:?} after {ids:?}"
    );
}

/// `kill -9` in the middle of a conversation: every message any desk
/// received is in the log after the restart, with the same ID, and a desk
/// resuming from the start gets exactly those, in order.
#[test]
fn kill_dash_nine_loses_nothing_a_desk_has_seen() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let server = server_on(&db, &[]);
    let mut talker = Client::connect(server.addr());
    let epoch = join_for_epoch(&mut talker, "talker");
    let mut listener = Client::connect(server.addr());
    listener.join("listener");
    // Sent without waiting, so the kill lands while messages are in flight.
    for n in 0..300 {
        talker.send_line(&format!("talker<SEP>burst {n}"));
    }
    let mut seen: Vec<(MessageId, String)> = Vec::new();
    while seen.len() < 100 {
        if let Some(message) = id_and_text(&listener.line()) {
            seen.push(message);
        }
    }
    server.signal(libc::SIGKILL);
    let (lines, _, _) = listener.drain(Duration::from_secs(2));
    seen.extend(lines.iter().filter_map(|line| id_and_text(line)));
    drop(server);

    let server = server_on(&db, &[]);
    let mut desk = Client::connect(server.addr());
    let (resumed_epoch, skipped, replayed) = resume(&mut desk, &epoch, MessageId::ZERO);
    assert_eq!((resumed_epoch.as_str(), skipped), (epoch.as_str(), 0));
    let stored: BTreeMap<MessageId, String> = replayed.iter().cloned().collect();
    assert_eq!(
        stored.len(),
        replayed.len(),
        "expected no ID twice in the replay"
    );
    assert!(
        replayed.windows(2).all(|w| w[0].0 < w[1].0),
        "expected the replay in ID order"
    );
    for (id, text) in &seen {
        assert_eq!(
            stored.get(id),
            Some(text),
            "expected message {id} ({text:?}), which a desk showed, in the log after kill -9"
        );
    }
}

/// While messages arrive, the log's WAL is checkpointed into its database
/// file about once a second (by the syncer, beside the storage thread), so
/// the file alone holds them: what a power cut keeps. Read here from a copy
/// of the database file without its WAL, while the server runs.
#[test]
fn the_database_file_alone_holds_the_messages_within_seconds() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let server = server_on(&db, &[]);
    let mut talker = Client::connect(server.addr());
    talker.join("talker");
    let ids = say_numbered(&mut talker, "talker", 0, 20);
    let copy = dir.path().join("copy.db");
    let deadline = std::time::Instant::now() + TIMEOUT;
    let in_file = loop {
        std::fs::copy(&db, &copy).expect("a copy of the database file");
        let count: i64 = rusqlite::Connection::open(&copy)
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM messages WHERE text LIKE 'message %'",
                    [],
                    |row| row.get(0),
                )
            })
            .unwrap_or(0); // before the first checkpoint even the schema is in the WAL
        if count as usize >= ids.len() || std::time::Instant::now() > deadline {
            break count;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        in_file as usize,
        ids.len(),
        "expected the database file itself to hold every message within {TIMEOUT:?}"
    );
    stop(server);
}

// ---------------------------------------------------------------------------
// 2. Resume.
// ---------------------------------------------------------------------------

/// A desk that comes back gets exactly what came after the last message it
/// showed, once, in order, across a restart; one that knew another log (or
/// the in-memory room of a previous run) gets the recent history and the new
/// epoch instead.
#[test]
fn resume_replays_exactly_what_was_missed() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let server = server_on(&db, &[]);
    let mut alice = Client::connect(server.addr());
    let epoch = join_for_epoch(&mut alice, "alice");
    let ids = say_numbered(&mut alice, "alice", 0, 10);
    stop(server);

    let server = server_on(&db, &[]);
    let mut back = Client::connect(server.addr());
    back.send_line("/join alice");
    let (resumed_epoch, skipped, replayed) = resume(&mut back, &epoch, ids[6]);
    assert_eq!(resumed_epoch, epoch);
    assert_eq!(skipped, 0);
    let expected: Vec<(MessageId, String)> =
        (7..10).map(|n| (ids[n], format!("message {n}"))).collect();
    assert_eq!(replayed, expected, "expected exactly messages 7, 8 and 9");

    let mut stranger = Client::connect(server.addr());
    let (other_epoch, _, history) = resume(&mut stranger, "0123456789abcdef", ids[9]);
    assert_eq!(
        other_epoch, epoch,
        "expected the server's epoch in the answer"
    );
    assert_eq!(
        history.len(),
        10,
        "expected the recent history for another log's desk"
    );
}

/// More missed than a replay holds: the newest 1,000 come, oldest first, and
/// the `RESUME` line counts the rest. With `--db none` the room keeps as many
/// in memory for desks that resume.
#[test]
fn resume_is_bounded_and_says_how_many_more_were_missed() {
    for db in ["none", "file"] {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("room.db");
        let db_arg = if db == "none" {
            "none"
        } else {
            path.to_str().unwrap()
        };
        let server = server_process(&["--db", db_arg, "--rate-limit", "0"]);
        let mut alice = Client::connect(server.addr());
        let epoch = join_for_epoch(&mut alice, "alice");
        let lines: String = (0..1100).map(|n| format!("alice<SEP>bulk {n}\n")).collect();
        alice.send(lines.as_bytes());
        alice.wait_for("the last echo", |line| line.ends_with("<SEP>bulk 1099"));
        let mut back = Client::connect(server.addr());
        let (_, skipped, replayed) = resume(&mut back, &epoch, MessageId::ZERO);
        assert_eq!(skipped, 100, "{db}: expected 100 counted as missed");
        assert_eq!(replayed.len(), 1000, "{db}: expected 1,000 replayed");
        assert_eq!(replayed[0].1, "bulk 100", "{db}: expected the newest 1,000");
        assert_eq!(replayed[999].1, "bulk 1099");
    }
}

// ---------------------------------------------------------------------------
// 3. The log's bad days.
// ---------------------------------------------------------------------------

/// Runs the server to completion on `db` (it must refuse to start) and
/// returns its stderr, checking it failed with one line about the log.
#[track_caller]
fn refused_start(db: &str) -> String {
    let out = run_cli(&["--host", "127.0.0.1", "--port", "0", "--db", db]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected a non-zero exit for --db {db}, got {} with {stderr:?}",
        out.status
    );
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("chat-server: the room's log "),
        "expected a one-line error about the log, got {stderr:?}"
    );
    assert!(
        !stderr.contains("Listening"),
        "expected no listening, got {stderr:?}"
    );
    last.to_string()
}

#[test]
fn a_path_that_cannot_be_used_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a folder").unwrap();
    let under_a_file = file.join("room.db");
    let error = refused_start(under_a_file.to_str().unwrap());
    assert!(error.contains("cannot create its folder"), "{error}");
    let error = refused_start(dir.path().to_str().unwrap());
    assert!(error.contains("is a directory"), "{error}");
}

#[test]
fn a_damaged_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let junk: Vec<u8> = (0..8192u32).map(|n| (n * 7 + 13) as u8).collect();
    std::fs::write(&db, &junk).unwrap();
    let error = refused_start(db.to_str().unwrap());
    assert!(
        error.contains("not a SQLite database, or is damaged"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        junk,
        "expected the file unchanged"
    );
}

#[test]
fn another_programs_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("accounts.db");
    {
        let other = rusqlite::Connection::open(&db).unwrap();
        other
            .execute_batch("CREATE TABLE invoices (n INTEGER); INSERT INTO invoices VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let error = refused_start(db.to_str().unwrap());
    assert!(error.contains("another program's database"), "{error}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "expected the file unchanged"
    );
}

#[test]
fn a_second_server_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let first = server_on(&db, &[]);
    let error = refused_start(db.to_str().unwrap());
    assert!(error.contains("in use by another chat-server"), "{error}");
    let mut client = Client::connect(first.addr());
    client.say("alice", "the first server still serves");
}

/// The disk fills up while the room is in use (a small tmpfs the test mounts
/// itself): the sender is told its message was not saved, every desk is told
/// once, nobody receives the unsaved message, the server stays up, and once
/// there is room again messages flow and are saved.
#[test]
fn a_full_disk_refuses_messages_and_the_room_recovers() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mount = dir.path();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(mount)
        .status()
        .is_ok_and(|status| status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root); the full-disk path is not exercised");
        return;
    }
    let unmount = Unmount(mount.to_path_buf());
    let db = mount.join("room.db");
    let server = server_on(&db, &[]);
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut bob = Client::connect(server.addr());
    bob.join("bob");
    // Leave the log almost no room.
    let filler = mount.join("filler");
    let mut fill = std::fs::File::create(&filler).unwrap();
    for chunk in [64 * 1024, 4096, 512] {
        while std::io::Write::write_all(&mut fill, &vec![b'x'; chunk]).is_ok() {}
    }
    drop(fill);
    let text = "y".repeat(3000);
    let mut refused = None;
    for n in 0..200 {
        alice.send_line(&format!("alice<SEP>{n} {text}"));
        let reply = alice.wait_for("its echo or a refusal", |line| {
            line.starts_with("ERR<SEP>not-saved<SEP>")
                || line.ends_with(&format!("<SEP>{n} {text}"))
        });
        if reply.starts_with("ERR<SEP>") {
            refused = Some(n);
            break;
        }
    }
    let refused = refused.expect("expected a message refused once the disk is full");
    // A tagged line is refused by its tag, in words for a person, not
    // SQLite's.
    alice.send_line(&format!("/tx full-1 alice<SEP>tagged {text}"));
    let unsent = alice.wait_for("UNSENT", |line| line.starts_with("UNSENT<SEP>full-1<SEP>"));
    assert!(!unsent.to_lowercase().contains("disk is full"), "{unsent}");
    let note = bob.wait_for("NOTE", |line| line.starts_with("NOTE<SEP>"));
    assert!(note.contains("cannot save"), "{note}");
    alice.send_line("/ping");
    alice.wait_for("PONG", |line| line == "PONG");
    let refused_text = format!("<SEP>{refused} {text}");
    assert!(
        !String::from_utf8_lossy(bob.received()).contains(&refused_text),
        "expected nobody to receive the unsaved message"
    );

    std::fs::remove_file(&filler).unwrap();
    alice.send_line("alice<SEP>room again");
    let back = bob.wait_for("NOTE or the message", |line| line.starts_with("NOTE<SEP>"));
    assert!(back.contains("saved and delivered again"), "{back}");
    bob.expect_msg("alice", "room again");
    drop(server);
    drop(unmount);
}

/// Unmounts the test's tmpfs, even when the test fails.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
