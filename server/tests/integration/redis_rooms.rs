//! Rooms on servers sharing an office on Redis: real `chat-server`
//! processes on one real `redis-server`, raw sockets. A room made on one
//! server exists on the other (listed, entered with its history), its
//! messages reach its members on both servers and nobody else, its topic
//! is the same everywhere, and a private room stays hidden from an outsider
//! on the other server: list, entry, history, search and resume.

use std::time::Duration;

use crate::common::desks::{desk, in_room, join_room, list, say_in, search, wait_for_text};
use crate::common::{office_server, Client};
use test_support::{Persistence, RedisServer};

/// The office the tests' servers share.
const OFFICE: &str = "rooms-test";

/// Says `text` in `#main` from `from` and waits for it at `to`: what the
/// stream held before it has then reached `to`'s server too (a server
/// reads the stream in order).
#[track_caller]
fn in_step(from: &mut Client, name: &str, to: &mut Client, text: &str) {
    from.send_line(&format!("{name}<SEP>{text}"));
    wait_for_text(to, text);
}

/// True if anything `client` received mentions `what`.
fn heard(client: &Client, what: &str) -> bool {
    String::from_utf8_lossy(client.received()).contains(what)
}

#[test]
fn a_room_made_on_one_server_is_the_offices_on_every_server() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b) = (office_server(&redis, OFFICE), office_server(&redis, OFFICE));
    let mut alice = desk(&a, "alice").client;
    let mut bob = desk(&b, "bob").client;
    // On server B too, in #main only.
    let mut carol = desk(&b, "carol").client;

    join_room(&mut alice, "#dev");
    say_in(&mut alice, "#dev", "the build is green");
    in_step(&mut alice, "alice", &mut bob, "the room is made");
    let rooms = list(&mut bob);
    assert_eq!(rooms.len(), 2, "#main and #dev: {rooms:?}");
    assert_eq!(rooms[1], "ROOM<SEP>#dev<SEP>public<SEP>1<SEP>");
    let entered = join_room(&mut bob, "#dev");
    assert_eq!(entered, "INROOM<SEP>#dev<SEP>public<SEP>2<SEP>");
    bob.wait_for("#dev's history", |line| {
        line.starts_with("RHIST<SEP>#dev<SEP>")
            && line.contains("<SEP>alice<SEP>")
            && line.ends_with("<SEP>the build is green")
    });
    alice.wait_for("bob entering #dev", |line| {
        line.starts_with("ENTER<SEP>#dev<SEP>") && line.contains("<SEP>bob<SEP>")
    });
    // Who is in the room is asked of either server alike.
    for (asker, what) in [(&mut alice, "on server A"), (&mut bob, "on server B")] {
        asker.send_line("/room who #dev");
        let who = asker.wait_for(what, |line| line.starts_with("WHO<SEP>"));
        let names: Vec<&str> = who
            .split("<SEP>")
            .skip(2)
            .map(|person| person.split(' ').next().unwrap_or(""))
            .collect();
        assert!(who.starts_with("WHO<SEP>2<SEP>"), "{what}: {who}");
        assert_eq!(names, ["alice", "bob"], "{what}: {who}");
    }

    say_in(&mut alice, "#dev", "release at noon");
    bob.wait_for("#dev's message from server A", |line| {
        line.starts_with("RMSG<SEP>#dev<SEP>") && line.ends_with("<SEP>release at noon")
    });
    in_step(&mut alice, "alice", &mut carol, "after the release note");
    assert!(
        !heard(&carol, "#dev"),
        "carol, in #main only, got nothing of #dev: {:?}",
        String::from_utf8_lossy(carol.received())
    );

    // The room's maker (on server A) runs it on every server: its -t
    // reaches server B, where bob may then set the topic.
    bob.send_line("/room topic #dev too early");
    bob.wait_for("not-operator", |line| {
        line.starts_with("ERR<SEP>not-operator<SEP>")
    });
    alice.send_line("/room mode #dev -t");
    bob.wait_for("alice's -t on server B", |line| {
        line == "MODE<SEP>#dev<SEP>alice<SEP>-t"
    });
    bob.send_line("/room topic #dev ship it on friday");
    let topic = alice.wait_for("the topic set on server B", |line| {
        line.starts_with("TOPIC<SEP>#dev<SEP>")
    });
    assert!(topic.ends_with("<SEP>bob<SEP>ship it on friday"), "{topic}");
    assert_eq!(
        list(&mut alice)[1],
        "ROOM<SEP>#dev<SEP>public<SEP>2<SEP>ship it on friday"
    );
    in_step(&mut bob, "bob", &mut carol, "after the topic");
    assert_eq!(
        list(&mut carol)[1],
        "ROOM<SEP>#dev<SEP>public<SEP>2<SEP>ship it on friday"
    );

    bob.send_line("/room part #dev");
    bob.wait_for("PARTED", |line| line == "PARTED<SEP>#dev");
    alice.wait_for("bob leaving #dev", |line| {
        line.starts_with("EXIT<SEP>#dev<SEP>") && line.contains("<SEP>bob<SEP>")
    });
    say_in(&mut alice, "#dev", "bob is gone");
    in_step(&mut alice, "alice", &mut bob, "after bob left the room");
    assert!(!heard(&bob, "bob is gone"), "bob left #dev");
}

#[test]
fn a_private_room_made_on_one_server_is_hidden_from_an_outsider_on_the_other() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b) = (office_server(&redis, OFFICE), office_server(&redis, OFFICE));
    let mut alice = desk(&a, "alice").client;
    let mut bob = desk(&b, "bob").client;
    let mut eve = desk(&b, "eve");

    alice.send_line("/room join #hr private");
    in_room(&mut alice, "#hr");
    say_in(&mut alice, "#hr", "salaries are confidential");
    alice.send_line("/room invite #hr bob");
    bob.wait_for("INVITED", |line| line == "INVITED<SEP>#hr<SEP>alice");
    bob.send_line("/room join #hr");
    assert_eq!(
        in_room(&mut bob, "#hr"),
        "INROOM<SEP>#hr<SEP>private<SEP>2<SEP>"
    );
    bob.wait_for("#hr's history", |line| {
        line.starts_with("RHIST<SEP>#hr<SEP>") && line.ends_with("<SEP>salaries are confidential")
    });
    in_step(
        &mut alice,
        "alice",
        &mut eve.client,
        "the private room is made",
    );

    assert_eq!(list(&mut eve.client).len(), 1, "only #main");
    eve.client.send_line("/room join #hr");
    eve.client.wait_for("not-invited", |line| {
        line.starts_with("ERR<SEP>not-invited<SEP>")
    });
    assert!(search(&mut eve.client, "salaries").is_empty());
    eve.client.send_line("/search #hr salaries");
    eve.client.wait_for("no-such-room", |line| {
        line.starts_with("ERR<SEP>no-such-room<SEP>")
    });
    eve.client
        .send_line(&format!("/resume {} 0 {}", eve.epoch, eve.secret));
    eve.client
        .wait_for("RESUME", |line| line.starts_with("RESUME<SEP>"));
    let (replayed, _, _) = eve.client.drain(Duration::from_millis(300));
    assert!(
        !replayed.iter().any(|line| line.contains("confidential")),
        "{replayed:?}"
    );
    assert!(
        !heard(&eve.client, "confidential") && !heard(&eve.client, "INVITED"),
        "nothing of #hr reached eve: {:?}",
        String::from_utf8_lossy(eve.client.received())
    );
    // Bob, its member on the same server, finds it.
    assert_eq!(
        search(&mut bob, "salaries"),
        ["#hr alice:salaries are confidential"]
    );
}
