//! What an office conversation needs beyond the room: direct messages (to
//! two desks only, stored with who may read them, replayed to those desks
//! and never to the next holder of a name), `/who` idle times, and `/search`
//! over the durable log. The real binary, real SQLite files, real sockets.

use std::time::Duration;

use crate::common::desks::search;
use crate::common::*;
use chat_shared::ServerLine;

/// Joins as `name`; returns the log's epoch and this desk's secret.
#[track_caller]
fn join(client: &mut Client, name: &str) -> (String, String) {
    client.send_line(&format!("/join {name}"));
    let welcome = client.wait_for("WELCOME", |line| line.starts_with("WELCOME<SEP>"));
    match ServerLine::parse(&welcome) {
        Ok(ServerLine::Welcome { epoch, desk, .. }) => (epoch.to_string(), desk.to_string()),
        other => panic!("expected a WELCOME, got {other:?}"),
    }
}

/// The `DM` or `HISTDM` lines in what `client` received, as
/// `from>to:text`.
fn directs(client: &Client) -> Vec<String> {
    String::from_utf8_lossy(client.received())
        .lines()
        .filter_map(|line| match ServerLine::parse(line) {
            Ok(ServerLine::Direct(d) | ServerLine::DirectHistory(d)) => {
                Some(format!("{}>{}:{}", d.from, d.to, d.text))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_direct_message_reaches_its_reader_and_writer_only() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = server_on(&dir.path().join("room.db"), &[]);
    let mut alice = Client::connect(server.addr());
    join(&mut alice, "alice");
    let mut bob = Client::connect(server.addr());
    join(&mut bob, "bob");
    let mut carol = Client::connect(server.addr());
    join(&mut carol, "carol");

    alice.send_line("/msg Bob lunch at 12<SEP>?");
    for desk in [&mut alice, &mut bob] {
        desk.wait_for("the DM", |line| line.starts_with("DM<SEP>"));
    }
    assert_eq!(directs(&bob), vec!["alice>bob:lunch at 12<SEP>?"]);
    assert_eq!(directs(&alice), vec!["alice>bob:lunch at 12<SEP>?"]);
    carol.say("carol", "anyone?");
    assert!(
        directs(&carol).is_empty(),
        "expected carol to get nothing of it"
    );

    alice.send_line("/msg dave hello");
    let refusal = alice.wait_for("ERR", |line| line.starts_with("ERR<SEP>"));
    assert_eq!(
        refusal,
        "ERR<SEP>no-such-name<SEP>nobody called dave is online"
    );
}

/// Direct messages are stored with the desks they are between: after a
/// restart, bob's desk (proving itself with its secret) gets them back; eve,
/// who took the name `bob` after bob left, does not; a newcomer's history
/// never holds them.
#[test]
fn direct_messages_are_replayed_to_their_desks_and_never_to_the_next_holder_of_a_name() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let mut server = server_on(&db, &[]);
    let mut alice = Client::connect(server.addr());
    let (epoch, _) = join(&mut alice, "alice");
    let mut bob = Client::connect(server.addr());
    let (_, bobs_desk) = join(&mut bob, "bob");
    alice.send_line("/msg bob the code is 4711");
    bob.wait_for("the DM", |line| line.starts_with("DM<SEP>"));
    alice.say("alice", "a room message");
    server.signal(libc::SIGTERM);
    server.wait_exit(TIMEOUT).expect("the server exits");
    drop(server);

    let server = server_on(&db, &[]);
    let mut eve = Client::connect(server.addr());
    join(&mut eve, "bob");
    eve.send_line(&format!("/resume {epoch} 0"));
    eve.send_line("/ping");
    eve.wait_for("PONG", |line| line == "PONG");
    assert!(
        directs(&eve).is_empty(),
        "expected the next holder of the name to get no direct message"
    );
    assert!(!String::from_utf8_lossy(eve.received()).contains("4711"));

    let mut back = Client::connect(server.addr());
    join(&mut back, "bobby");
    back.send_line(&format!("/resume {epoch} 0 {bobs_desk}"));
    back.wait_for("the replayed DM", |line| line.starts_with("HISTDM<SEP>"));
    assert_eq!(directs(&back), vec!["alice>bob:the code is 4711"]);
}

#[test]
fn who_shows_how_long_each_person_has_been_idle() {
    let server = server_process(&[]);
    let mut alice = Client::connect(server.addr());
    alice.join("alice");
    let mut bob = Client::connect(server.addr());
    bob.join("bob");
    std::thread::sleep(Duration::from_millis(1100));
    alice.say("alice", "still here");
    alice.send_line("/who");
    let who = alice.wait_for("WHO", |line| line.starts_with("WHO<SEP>"));
    let Ok(ServerLine::Who { count, people }) = ServerLine::parse(&who) else {
        panic!("expected a WHO line, got {who:?}");
    };
    assert_eq!(count, 2);
    let idle = |name: &str| people.iter().find(|p| p.name == name).unwrap().idle_secs;
    assert_eq!(idle("alice"), 0, "{who}");
    assert!(
        idle("bob") >= 1,
        "expected bob idle for a second, got {who}"
    );
}

/// `/search` finds an old line after a restart, with its own direct
/// messages and never other people's; `--db none` says search needs the
/// log.
#[test]
fn search_finds_old_lines_and_own_direct_messages_only() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let mut server = server_on(&db, &[]);
    let mut alice = Client::connect(server.addr());
    let (epoch, alices_desk) = join(&mut alice, "alice");
    let mut bob = Client::connect(server.addr());
    join(&mut bob, "bob");
    let mut carol = Client::connect(server.addr());
    join(&mut carol, "carol");
    alice.say("alice", "the quarterly report is late");
    bob.say("bob", "which report?");
    alice.send_line("/msg bob the quarterly numbers are bad");
    bob.wait_for("the DM", |line| line.starts_with("DM<SEP>"));
    carol.send_line("/msg bob my quarterly secret");
    bob.wait_for("the DM", |line| line.contains("my quarterly secret"));
    server.signal(libc::SIGTERM);
    server.wait_exit(TIMEOUT).expect("the server exits");
    drop(server);

    let server = server_on(&db, &[]);
    let mut alice = Client::connect(server.addr());
    join(&mut alice, "alice");
    alice.send_line(&format!("/resume {epoch} 0 {alices_desk}"));
    assert_eq!(
        search(&mut alice, "QUARTERLY"),
        vec![
            "alice:the quarterly report is late",
            "alice>bob:the quarterly numbers are bad"
        ]
    );
    assert_eq!(
        search(&mut alice, "report"),
        vec!["alice:the quarterly report is late", "bob:which report?"]
    );
    assert!(search(&mut alice, "\"unbalanced OR NEAR(").is_empty());

    let memory = server_process(&["--db", "none"]);
    let mut desk = Client::connect(memory.addr());
    desk.send_line("/search report");
    let refusal = desk.wait_for("ERR", |line| line.starts_with("ERR<SEP>"));
    assert!(refusal.starts_with("ERR<SEP>needs-log<SEP>"), "{refusal}");
}

/// A log written by the previous version (no direct messages, no search
/// index) is brought up to date at start, and its messages are found.
#[test]
fn an_older_log_is_upgraded_and_searchable() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    {
        let old = rusqlite::Connection::open(&db).unwrap();
        old.execute_batch(
            "PRAGMA application_id = 1128808788;
             PRAGMA user_version = 1;
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES ('epoch', 'feedfacecafebeef');
             CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
                 name TEXT NOT NULL, color TEXT NOT NULL, text TEXT NOT NULL);
             INSERT INTO messages (time, name, color, text)
                 VALUES ('2026-11-24T10:00:00.000Z', 'olga', 'blue', 'budget meeting moved');",
        )
        .unwrap();
    }
    let server = server_on(&db, &[]);
    let mut desk = Client::connect(server.addr());
    join(&mut desk, "pat");
    assert_eq!(
        search(&mut desk, "budget"),
        vec!["olga:budget meeting moved"]
    );
    desk.say("pat", "new budget line");
    assert_eq!(
        search(&mut desk, "budget"),
        vec!["olga:budget meeting moved", "pat:new budget line"]
    );
}

/// A line is found by `/search` as soon as anyone sees it, even the last of
/// a burst: the log indexes each commit after the loop has it, off the
/// message's way to the room, and a search waits for what was stored
/// before it was asked (that wait itself is tested in `search.rs`: here
/// the index is rarely behind by the time a search runs).
#[test]
fn a_line_is_found_as_soon_as_it_is_shown() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let server = server_on(&dir.path().join("room.db"), &[]);
    let mut alice = Client::connect(server.addr());
    join(&mut alice, "alice");
    let mut bob = Client::connect(server.addr());
    join(&mut bob, "bob");
    for round in 0..5 {
        // Sent at once, so that the log commits them in a few large
        // batches and indexes each batch while the room gets it.
        let words: String = (0..60).map(|w| format!(" w{round}y{w}")).collect();
        let burst: String = (0..300)
            .map(|n| format!("bob<SEP>burst{round}x{n}{words}\n"))
            .collect();
        bob.send(burst.as_bytes());
        let last = format!("burst{round}x299{words}");
        alice.expect_msg("bob", &last);
        assert_eq!(
            search(&mut alice, &format!("burst{round}x299")),
            vec![format!("bob:{last}")]
        );
    }
}

/// What a server killed between a commit and its indexing leaves behind,
/// a row stored and not indexed, is indexed at the next start; a log of
/// schema 5, whose trigger indexed each row in its commit, keeps its index
/// and has no row indexed twice.
#[test]
fn rows_stored_and_not_indexed_are_found_after_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("room.db");
    let mut server = server_on(&db, &[]);
    let mut alice = Client::connect(server.addr());
    join(&mut alice, "alice");
    alice.say("alice", "budget before the crash");
    server.kill();
    {
        let log = rusqlite::Connection::open(&db).unwrap();
        log.execute(
            "INSERT INTO messages (time, name, color, text)
                 VALUES ('2026-12-07T10:00:00.000Z', 'olga', 'blue', 'budget stored unindexed')",
            [],
        )
        .unwrap();
    }
    server.restart();
    let mut desk = Client::connect(server.addr());
    join(&mut desk, "pat");
    assert_eq!(
        search(&mut desk, "budget"),
        vec![
            "alice:budget before the crash",
            "olga:budget stored unindexed"
        ]
    );
    server.terminate();

    // Schema 5: the trigger, and no record of what is indexed.
    {
        let log = rusqlite::Connection::open(&db).unwrap();
        log.execute_batch(
            "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
                 INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
             END;
             DELETE FROM meta WHERE key = 'indexed_upto';
             PRAGMA user_version = 5;
             INSERT INTO messages (time, name, color, text)
                 VALUES ('2026-12-07T11:00:00.000Z', 'olga', 'blue', 'budget from schema 5');",
        )
        .unwrap();
    }
    server.restart();
    let mut desk = Client::connect(server.addr());
    join(&mut desk, "pat");
    desk.say("pat", "budget after the upgrade");
    assert_eq!(
        search(&mut desk, "budget"),
        vec![
            "alice:budget before the crash",
            "olga:budget stored unindexed",
            "olga:budget from schema 5",
            "pat:budget after the upgrade"
        ]
    );
}
