//! Rooms against the real server: what survives a `kill -9` (rooms, topics,
//! private memberships), what a private room hides from an outsider (list,
//! history, search, resume), each room resumed exactly after a restart, an
//! old log opening with its history in `#main`, and the caps. The real
//! binary, real SQLite files, raw sockets.

use std::time::Duration;

use crate::common::desks::{desk, desk_with, in_room, list, say_in};
use crate::common::*;
use chat_shared::{MessageId, ServerLine};

#[test]
fn rooms_topics_and_private_memberships_survive_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("room.db");
    let mut server = server_on(&db, &[]);
    let mut alice = desk(&server, "alice");
    alice.client.send_line("/room join #dev");
    in_room(&mut alice.client, "#dev");
    alice.client.send_line("/room topic #dev release on friday");
    alice
        .client
        .wait_for("TOPIC", |l| l.starts_with("TOPIC<SEP>#dev<SEP>"));
    alice.client.send_line("/room join #hr private");
    in_room(&mut alice.client, "#hr");
    let said = say_in(&mut alice.client, "#hr", "pay rises in march");
    server.signal(libc::SIGKILL);
    server.wait_exit(TIMEOUT).expect("killed");

    let server = server_on(&db, &[]);
    let mut alice = desk_with(&server, "alice", Some(&alice.secret));
    let dev = in_room(&mut alice.client, "#dev");
    assert_eq!(
        dev,
        "INROOM<SEP>#dev<SEP>public<SEP>1<SEP>release on friday"
    );
    in_room(&mut alice.client, "#hr");
    let history = alice
        .client
        .wait_for("#hr's history", |l| l.starts_with("RHIST<SEP>#hr<SEP>"));
    assert!(history.ends_with("<SEP>pay rises in march"), "{history}");
    assert!(history.contains(&format!("<SEP>{said}<SEP>")), "{history}");
    let mut bob = desk(&server, "bob");
    let rooms = list(&mut bob.client);
    assert_eq!(rooms.len(), 2, "#main and #dev, not #hr: {rooms:?}");
    assert!(rooms[1].starts_with("ROOM<SEP>#dev<SEP>public<SEP>1<SEP>release on friday"));
}

#[test]
fn a_private_room_is_invisible_to_an_outsider() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_on(&dir.path().join("room.db"), &[]);
    let mut alice = desk(&server, "alice");
    let mut eve = desk(&server, "eve");
    alice.client.send_line("/room join #hr private");
    in_room(&mut alice.client, "#hr");
    say_in(&mut alice.client, "#hr", "salaries are confidential");

    assert_eq!(list(&mut eve.client).len(), 1, "only #main");
    eve.client.send_line("/room join #hr");
    eve.client
        .wait_for("not-invited", |l| l.starts_with("ERR<SEP>not-invited<SEP>"));
    eve.client.send_line("/search salaries");
    eve.client
        .wait_for("SEARCH", |l| l.starts_with("SEARCH<SEP>"));
    assert!(
        !String::from_utf8_lossy(eve.client.received()).contains("confidential"),
        "nothing of #hr reached eve"
    );
    eve.client.send_line("/search #hr salaries");
    eve.client.wait_for("no-such-room", |l| {
        l.starts_with("ERR<SEP>no-such-room<SEP>")
    });
    eve.client
        .send_line(&format!("/resume {} 0 {}", eve.epoch, eve.secret));
    let resumed = eve
        .client
        .wait_for("RESUME", |l| l.starts_with("RESUME<SEP>"));
    let (lines, _, _) = eve.client.drain(Duration::from_millis(300));
    assert!(
        !lines.iter().any(|l| l.contains("confidential")),
        "{resumed} then {lines:?}"
    );

    alice.client.send_line("/room invite #hr eve");
    eve.client
        .wait_for("INVITED", |l| l == "INVITED<SEP>#hr<SEP>alice");
    eve.client.send_line("/room join #hr");
    in_room(&mut eve.client, "#hr");
    eve.client.wait_for("#hr's history", |l| {
        l.starts_with("RHIST<SEP>#hr<SEP>") && l.ends_with("salaries are confidential")
    });
}

#[test]
fn after_a_restart_each_room_is_resumed_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("room.db");
    let mut server = server_on(&db, &[]);
    let mut alice = desk(&server, "alice");
    let mut bob = desk(&server, "bob");
    for room in ["#dev", "#ops"] {
        for desk in [&mut alice, &mut bob] {
            desk.client.send_line(&format!("/room join {room}"));
            in_room(&mut desk.client, room);
        }
    }
    let seen = say_in(&mut bob.client, "#dev", "before");
    alice
        .client
        .wait_for("before", |l| l.ends_with("<SEP>before"));
    // Alice is away while the room goes on, and the server dies.
    drop(alice.client);
    let mut missed = Vec::new();
    for n in 0..3 {
        for room in ["#dev", "#ops"] {
            let text = format!("{room} while away {n}");
            missed.push((say_in(&mut bob.client, room, &text), text));
        }
    }
    bob.client.send_line("bob<SEP>in main too");
    bob.client.expect_msg("bob", "in main too");
    server.signal(libc::SIGKILL);
    server.wait_exit(TIMEOUT).expect("killed");

    let server = server_on(&db, &[]);
    let mut alice = desk_with(&server, "alice", Some(&alice.secret));
    in_room(&mut alice.client, "#dev");
    in_room(&mut alice.client, "#ops");
    alice
        .client
        .send_line(&format!("/resume {} {seen} {}", alice.epoch, alice.secret));
    let resumed = alice
        .client
        .wait_for("RESUME", |l| l.starts_with("RESUME<SEP>"));
    assert!(
        resumed.ends_with("<SEP>0<SEP>7"),
        "7 missed, none skipped: {resumed}"
    );
    let replayed: Vec<(MessageId, String)> = (0..7)
        .filter_map(|_| match ServerLine::parse(&alice.client.line()) {
            Ok(ServerLine::RoomHistory(m)) => Some((m.chat.id, m.chat.text.to_string())),
            Ok(ServerLine::History(chat)) => {
                assert_eq!(chat.text, "in main too");
                None
            }
            other => panic!("expected a replayed line, got {other:?}"),
        })
        .collect();
    assert_eq!(replayed, missed, "each room's messages once, in order");
}

#[test]
fn an_old_log_opens_with_its_history_in_main() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("room.db");
    {
        let server = server_on(&db, &[]);
        let mut alice = desk(&server, "alice");
        alice.client.send_line("alice<SEP>from the old days");
        alice.client.expect_msg("alice", "from the old days");
    }
    // Take the file back to schema 4, before rooms.
    let old = rusqlite::Connection::open(&db).unwrap();
    old.execute_batch(
        "DROP INDEX messages_room; ALTER TABLE messages DROP COLUMN room;
         DROP TABLE rooms; DROP TABLE room_holders; PRAGMA user_version = 4;",
    )
    .unwrap();
    drop(old);
    let server = server_on(&db, &[]);
    let mut bob = Client::connect_silent(server.addr());
    bob.wait_for("the old history", |l| {
        l.starts_with("HIST<SEP>") && l.ends_with("<SEP>from the old days")
    });
    let mut carol = desk(&server, "carol");
    carol.client.send_line("/room join #new");
    in_room(&mut carol.client, "#new");
}

#[test]
fn joining_thousands_of_rooms_stops_at_the_cap_and_hurts_nobody() {
    let server = server_process(&["--db", "none", "--rate-limit", "0"]);
    let mut greedy = desk(&server, "greedy");
    let mut calm = desk(&server, "calm");
    let mut codes = std::collections::BTreeMap::new();
    for n in 0..2000 {
        greedy.client.send_line(&format!("/room join #r{n}"));
    }
    // Refusals are answered at once; the five joins come back when the
    // store has written them, which may be after the ping's answer.
    greedy.client.send_line("/ping");
    let mut ponged = false;
    while !ponged || codes.get("INROOM") != Some(&5) {
        let line = greedy.client.line();
        if line == "PONG" {
            ponged = true;
            continue;
        }
        let kind = match line.split("<SEP>").collect::<Vec<_>>()[..] {
            ["ERR", code, ..] => format!("ERR {code}"),
            [kind, ..] => kind.to_string(),
            [] => String::new(),
        };
        *codes.entry(kind).or_insert(0) += 1;
    }
    assert_eq!(codes.get("INROOM"), Some(&5), "{codes:?}");
    assert_eq!(codes.get("ERR rooms-too-fast"), Some(&1995), "{codes:?}");
    calm.client.send_line("calm<SEP>still fine");
    calm.client.expect_msg("calm", "still fine");
    greedy.client.send_line("/room list");
    let head = greedy
        .client
        .wait_for("ROOMS", |l| l.starts_with("ROOMS<SEP>"));
    assert_eq!(head, "ROOMS<SEP>6");
}
