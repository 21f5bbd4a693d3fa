//! Desks with several servers (`--host a,b`): the real `chat-server`
//! binary twice, each with its room in memory (`--db none`), which is
//! enough for the mechanics: the desk starts on the first server that
//! answers, and when its server dies (`kill -9`) it moves to the next one
//! and goes on chatting there. With both servers on one room in a real
//! `redis-server`, the desk also resumes there from the last message it
//! showed, missing nothing and repeating nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{join, server_process, server_process_args, ClientBuilder};
use test_support::{Persistence, RedisServer};

#[test]
fn when_its_server_is_killed_the_desk_moves_to_the_next_and_keeps_chatting() {
    let mut first = server_process(Path::new("none"), &[]);
    let second = server_process(Path::new("none"), &[]);
    let mut alice = ClientBuilder::failover("alice", &[first.addr(), second.addr()])
        .name("alice")
        .spawn();
    alice.expect(&format!("[*] Connecting to {}...", first.addr()));
    alice.expect("You are alice");
    let mut bob = join("bob", second.addr());
    assert!(
        !bob.stdout().contains("alice"),
        "alice is on the first server"
    );

    let killed = Instant::now();
    first.kill();
    alice.expect(&format!("[+] reconnected as alice to {}", second.addr()));
    let away = killed.elapsed();
    // A desk coming back with its secret is not news (no "alice joined"):
    // what bob sees of her is what she says.
    alice.send("still here");
    bob.expect("alice: still here");
    bob.send("welcome over");
    alice.expect("bob: welcome over");
    eprintln!("failover took {away:?}");

    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn a_server_that_does_not_answer_at_start_is_skipped() {
    let dead = server_process(Path::new("none"), &[]);
    let dead_addr = dead.addr();
    drop(dead);
    let live = server_process(Path::new("none"), &[]);
    let mut alice = ClientBuilder::failover("alice", &[dead_addr, live.addr()])
        .name("alice")
        .spawn();
    alice.expect(&format!("[!] {dead_addr} does not answer"));
    alice.expect("You are alice");
    alice.send("q");
    alice.expect_exit_code(0);
}

#[test]
fn the_desk_goes_round_the_list_back_to_a_server_that_returned() {
    let mut first = server_process(Path::new("none"), &[]);
    let mut second = server_process(Path::new("none"), &[]);
    let mut alice = ClientBuilder::failover("alice", &[first.addr(), second.addr()])
        .name("alice")
        .spawn();
    alice.expect("You are alice");
    first.kill();
    alice.expect(&format!("[+] reconnected as alice to {}", second.addr()));
    first.restart();
    second.kill();
    alice.expect(&format!("[+] reconnected as alice to {}", first.addr()));
    let mut bob = join("bob", first.addr());
    alice.expect("bob joined");
    bob.send("back on the first");
    alice.expect("bob: back on the first");
    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}

#[test]
fn with_one_room_on_redis_a_killed_servers_desk_resumes_on_the_other_missing_nothing() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let url = redis.url();
    let mut first = server_process_args(&["--redis", &url]);
    let second = server_process_args(&["--redis", &url]);
    let mut alice = ClientBuilder::failover("alice", &[first.addr(), second.addr()])
        .name("alice")
        .spawn();
    alice.expect("You are alice");
    let mut bob = join("bob", second.addr());
    alice.send("before the crash");
    bob.expect("alice: before the crash");

    // alice's server dies while she is away (frozen), and the room goes on.
    alice.freeze();
    first.kill();
    for text in ["missed one", "missed two", "missed three"] {
        bob.send(text);
    }
    bob.expect("bob: missed three");
    alice.resume();

    // The dead server's claim on the name lasts until it expires in Redis
    // (20 s): until then the desk tries the name again every second.
    alice.expect_within(
        &format!("[+] reconnected as alice to {}", second.addr()),
        Duration::from_secs(45),
    );
    alice.expect("bob: missed three");
    alice.send("after the move");
    bob.expect("alice: after the move");
    alice.expect("alice: after the move");

    let out = alice.stdout();
    let once = |needle: &str| {
        assert_eq!(out.matches(needle).count(), 1, "{needle:?}:\n{out}");
        out.find(needle).unwrap()
    };
    let header = once("[*] While you were away:");
    let positions = [
        once("alice: before the crash"),
        header,
        once("bob: missed one"),
        once("bob: missed two"),
        once("bob: missed three"),
        once("alice: after the move"),
    ];
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "out of order:\n{out}"
    );
    assert!(!out.contains("new room log"), "{out}");

    for desk in [&mut alice, &mut bob] {
        desk.send("q");
        desk.expect_exit_code(0);
    }
}
