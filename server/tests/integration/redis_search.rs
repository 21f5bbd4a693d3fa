//! `/search` on servers sharing an office on Redis: real `chat-server`
//! processes on one real `redis-server`. Each server searches its own index
//! of the stream: it finds what was said on another server, shows each desk
//! only what it may see (its rooms, its own direct messages), indexes what
//! the stream kept before it started, keeps answering with Redis frozen or
//! gone, and a storm of searches does not hold up the messages.

use std::time::{Duration, Instant};

use crate::common::desks::{
    desk, desk_with, in_room, join_room, say_in, search, wait_for_text, Desk,
};
use crate::common::{office_server, server_process, Client, Next, ServerProcess, TIMEOUT};
use crate::frozen_redis::Frozen;
use test_support::{Persistence, RedisServer};

/// The office the tests' servers share.
const OFFICE: &str = "search-test";

/// How long the server waits for Redis before it counts as away (its
/// `CONNECT_TIMEOUT`, for connecting, reading and writing alike). An answer
/// that came sooner did not wait on a frozen Redis.
const REDIS_WAIT: Duration = Duration::from_secs(2);

/// How long the loop may take to answer a line that needs no store, on a
/// loaded machine: far below [`REDIS_WAIT`].
const PROMPTLY: Duration = Duration::from_millis(500);

/// A server on `redis`'s office whose search index is filled.
#[track_caller]
fn server_on(redis: &RedisServer) -> ServerProcess {
    office_server(redis, OFFICE)
}

#[test]
fn a_search_finds_what_was_said_on_another_server_as_the_desk_may_see_it() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b) = (server_on(&redis), server_on(&redis));
    let mut alice = desk(&a, "alice").client;
    let mut carol = desk(&a, "carol").client;
    let mut bob = desk(&b, "bob").client;
    let mut eve = desk(&b, "eve").client;
    alice.wait_for("bob's JOIN", |line| crate::common::is_join(line, "bob"));

    alice.send_line("alice<SEP>quarterly report due friday");
    wait_for_text(&mut bob, "quarterly report due friday");
    join_room(&mut alice, "#dev");
    join_room(&mut bob, "#dev");
    alice.send_line("/to #dev quarterly build goes out");
    wait_for_text(&mut bob, "quarterly build goes out");
    alice.send_line("/room join #hr private");
    alice.wait_for("INROOM for #hr", |line| {
        line.starts_with("INROOM<SEP>#hr<SEP>")
    });
    alice.send_line("/room invite #hr bob");
    bob.wait_for("INVITED", |line| line == "INVITED<SEP>#hr<SEP>alice");
    join_room(&mut bob, "#hr");
    alice.send_line("/to #hr quarterly salaries are confidential");
    wait_for_text(&mut bob, "quarterly salaries are confidential");
    alice.send_line("/msg bob quarterly secret plan");
    wait_for_text(&mut bob, "quarterly secret plan");

    // Bob has seen all four, so server B has them in its index.
    assert_eq!(
        search(&mut bob, "QUARTERLY"),
        [
            "alice:quarterly report due friday",
            "#dev alice:quarterly build goes out",
            "#hr alice:quarterly salaries are confidential",
            "alice>bob:quarterly secret plan",
        ]
    );
    assert_eq!(
        search(&mut bob, "#hr quarterly"),
        ["#hr alice:quarterly salaries are confidential"]
    );
    // On the same server, eve is in #main only: no private room, no
    // direct message of others.
    assert_eq!(
        search(&mut eve, "quarterly"),
        ["alice:quarterly report due friday"]
    );
    eve.send_line("/search #hr salaries");
    eve.wait_for("no-such-room", |line| {
        line.starts_with("ERR<SEP>no-such-room<SEP>")
    });
    assert!(
        !String::from_utf8_lossy(eve.received()).contains("confidential")
            && !String::from_utf8_lossy(eve.received()).contains("secret plan"),
        "nothing of #hr or of the direct message reached eve"
    );
    // On server A, where #hr was made and its lines said, carol is an
    // outsider too; the direct message is the writer's, and nobody else's.
    assert_eq!(
        search(&mut alice, "secret"),
        ["alice>bob:quarterly secret plan"]
    );
    assert_eq!(
        search(&mut carol, "quarterly"),
        ["alice:quarterly report due friday"]
    );
    assert!(search(&mut carol, "salaries").is_empty());
    carol.send_line("/search #hr salaries");
    carol.wait_for("no-such-room", |line| {
        line.starts_with("ERR<SEP>no-such-room<SEP>")
    });
    assert!(
        !String::from_utf8_lossy(carol.received()).contains("confidential")
            && !String::from_utf8_lossy(carol.received()).contains("secret plan"),
        "nothing of #hr or of the direct message reached carol"
    );
}

#[test]
fn a_server_started_later_indexes_what_the_stream_kept() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let a = server_on(&redis);
    let mut alice = desk(&a, "alice").client;
    let Desk {
        client: mut bob,
        secret: bob_secret,
        ..
    } = desk(&a, "bob");
    // More than one page of the fill (500 entries).
    const SAID: usize = 520;
    for n in 0..SAID {
        alice.send_line(&format!("alice<SEP>line {n} marker{n}"));
    }
    wait_for_text(&mut bob, &format!("line {} marker{}", SAID - 1, SAID - 1));
    alice.send_line("/msg bob the old secret");
    wait_for_text(&mut bob, "the old secret");
    drop(bob);

    let c = server_on(&redis);
    let log = c.wait_for_log("[*] Search index ready");
    let indexed: usize = log
        .split("[*] Search index ready messages=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("expected a count of messages indexed in {log:?}"));
    assert_eq!(indexed, SAID + 1, "{log}");
    let mut back = desk_with(&c, "bob", Some(&bob_secret)).client;
    assert_eq!(search(&mut back, "marker0"), ["alice:line 0 marker0"]);
    assert_eq!(search(&mut back, "marker519"), ["alice:line 519 marker519"]);
    assert_eq!(search(&mut back, "secret"), ["alice>bob:the old secret"]);
    let mut stranger = desk(&c, "mallory").client;
    assert!(search(&mut stranger, "secret").is_empty());
}

/// The index is a temporary file each run of the server deletes: a server
/// that restarts builds it again from the stream, with what was said while
/// it was down, and a desk that comes back searches its rooms as before.
#[test]
fn after_a_restart_the_index_is_built_again_from_the_stream() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (mut a, b) = (server_on(&redis), server_on(&redis));
    let mut alice = desk(&a, "alice");
    let mut bob = desk(&b, "bob").client;
    alice
        .client
        .send_line("alice<SEP>the roadmap before the restart");
    wait_for_text(&mut bob, "the roadmap before the restart");
    join_room(&mut alice.client, "#dev");
    say_in(&mut alice.client, "#dev", "the roadmap of #dev");
    a.signal(libc::SIGKILL);
    a.wait_exit(TIMEOUT).expect("killed");
    bob.send_line("bob<SEP>the roadmap while A was down");
    wait_for_text(&mut bob, "the roadmap while A was down");

    let a = server_on(&redis);
    let mut alice = desk_with(&a, "alice", Some(&alice.secret)).client;
    in_room(&mut alice, "#dev");
    assert_eq!(
        search(&mut alice, "roadmap"),
        [
            "alice:the roadmap before the restart",
            "#dev alice:the roadmap of #dev",
            "bob:the roadmap while A was down",
        ]
    );
    let mut carol = desk(&a, "carol").client;
    assert_eq!(
        search(&mut carol, "roadmap"),
        [
            "alice:the roadmap before the restart",
            "bob:the roadmap while A was down",
        ],
        "#dev is searched by its members only"
    );
}

/// With Redis frozen, a search is answered from the local index before any
/// wait on Redis could have ended, and the loop goes on answering the
/// desks while a message waits for Redis; with Redis gone, the same.
#[test]
fn with_redis_frozen_or_gone_a_search_answers_from_the_local_index() {
    let Some(mut redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let a = server_on(&redis);
    let mut alice = desk(&a, "alice").client;
    alice.send_line("alice<SEP>said before the outage");
    wait_for_text(&mut alice, "said before the outage");

    let mut bob = desk(&a, "bob").client;

    let frozen = Frozen::freeze(&redis);
    // The writer now waits on Redis with this message.
    bob.send_line("bob<SEP>said during the outage");
    let asked = Instant::now();
    assert_eq!(
        search(&mut alice, "outage"),
        ["alice:said before the outage"]
    );
    assert!(
        asked.elapsed() < REDIS_WAIT,
        "the search took {:?}",
        asked.elapsed()
    );
    bob.send_line("/who");
    bob.wait_for_within(PROMPTLY, "WHO while Redis is frozen", |line| {
        line.starts_with("WHO<SEP>")
    });
    // Killed while frozen: the message waiting on it is never stored (a
    // thawed Redis would take it first).
    redis.kill();
    drop(frozen);
    alice.wait_for("the NOTE that messages cannot be saved", |line| {
        line.starts_with("NOTE<SEP>") && line.contains("cannot save")
    });
    assert_eq!(
        search(&mut alice, "outage"),
        ["alice:said before the outage"]
    );
}

/// While the index cannot be filled a search is refused as still
/// indexing (`search-busy`), and with Redis frozen too it is refused as
/// soon as it is asked: the fill waits on Redis, searches do not. The
/// server's Redis user here may not run XRANGE, which only the fill uses,
/// so the index stays unfilled for as long as the test needs.
#[test]
fn while_the_index_cannot_fill_searches_are_refused_at_once_even_with_redis_frozen() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let earlier = server_on(&redis);
    let mut alice = desk(&earlier, "alice").client;
    alice.send_line("alice<SEP>a line the fill would read");
    wait_for_text(&mut alice, "a line the fill would read");
    drop((alice, earlier));
    assert_eq!(
        redis.command(&[
            "ACL", "SETUSER", "nofill", "on", ">secret", "~*", "&*", "+@all", "-xrange"
        ]),
        "+OK"
    );
    let url = redis.url().replace("redis://", "redis://nofill:secret@");
    let server = server_process(&["--redis", &url, "--office", OFFICE]);
    server.wait_for_log("[!] The search index cannot read the stream yet");
    let mut searchers: Vec<Client> = (0..3)
        .map(|n| desk(&server, &format!("searcher{n}")).client)
        .collect();
    let mut bob = desk(&server, "bob").client;
    let refused =
        |line: &str| line.starts_with("ERR<SEP>search-busy<SEP>") && line.contains("indexing");
    searchers[0].send_line("/search line");
    searchers[0].wait_for("still indexing", refused);

    let _frozen = Frozen::freeze(&redis);
    // Whatever the fill is waiting for, the searches do not wait for it:
    // all are refused before one wait on Redis could end (not one wait
    // each, as when the fill ran in front of each search).
    let asked = Instant::now();
    for searcher in &mut searchers {
        searcher.send_line("/search line");
    }
    bob.send_line("/who");
    bob.wait_for_within(PROMPTLY, "WHO while Redis is frozen", |line| {
        line.starts_with("WHO<SEP>")
    });
    for searcher in &mut searchers {
        searcher.wait_for("still indexing", refused);
    }
    assert!(
        asked.elapsed() < REDIS_WAIT,
        "three searches took {:?}",
        asked.elapsed()
    );
}

/// Forty desks ask two hundred searches at once on one server while a desk
/// on the other server talks: every message arrives, in order, and every
/// search is answered (results, or `search-busy`).
#[test]
fn a_storm_of_searches_does_not_hold_up_the_messages() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b) = (server_on(&redis), server_on(&redis));
    let mut alice = desk(&a, "alice").client;
    let mut bob = desk(&b, "bob").client;
    for n in 0..50 {
        alice.send_line(&format!("alice<SEP>warm-up {n} about lunch"));
    }
    wait_for_text(&mut bob, "warm-up 49 about lunch");

    const SEARCHERS: usize = 40;
    const EACH: usize = 5;
    const SAID: usize = 100;
    let mut searchers: Vec<Client> = (0..SEARCHERS)
        .map(|n| desk(&b, &format!("searcher{n}")).client)
        .collect();
    for searcher in &mut searchers {
        for _ in 0..EACH {
            searcher.send_line("/search lunch");
        }
    }
    for n in 0..SAID {
        alice.send_line(&format!("alice<SEP>during the storm {n}"));
    }
    let mut said = Vec::new();
    while said.len() < SAID {
        match bob.next(TIMEOUT) {
            Next::Line(line) => {
                if let Some((_, text)) = crate::common::msg(&line) {
                    if text.starts_with("during the storm ") {
                        said.push(text);
                    }
                }
            }
            other => panic!("expected the storm's messages, got {other:?} after {said:?}"),
        }
    }
    let expected: Vec<String> = (0..SAID).map(|n| format!("during the storm {n}")).collect();
    assert_eq!(said, expected, "every message, in order");

    let mut found = 0;
    for searcher in &mut searchers {
        for answer in 0..EACH {
            let line = searcher.wait_for("an answer to a search", |line| {
                line.starts_with("SEARCH<SEP>") || line.starts_with("ERR<SEP>")
            });
            assert!(
                line.starts_with("SEARCH<SEP>") || line.starts_with("ERR<SEP>search-busy<SEP>"),
                "answer {answer}: {line}"
            );
            if line == "SEARCH<SEP>20" {
                found += 1;
            }
        }
    }
    assert!(found > 0, "no search found the warm-up's lunch");
}
