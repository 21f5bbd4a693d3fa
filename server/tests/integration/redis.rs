//! One room, many servers (`--redis`): real `chat-server` processes on one
//! real `redis-server`, real sockets speaking the protocol. Every wait is
//! bounded; deadlines are generous, never asserted timings.

use std::time::{Duration, Instant};

use chat_shared::{MessageId, ServerLine};

use crate::common::{run_cli, server_process, Client, ServerProcess, TIMEOUT};
use crate::frozen_redis::Frozen;
use test_support::{free_port, Persistence, RedisServer};

/// How long a dead server's desks may take to leave for the others, and its
/// names to be free again: the bound.
const DEAD_SERVER_DEADLINE: Duration = Duration::from_secs(30);

/// A chat-server on `redis`'s room.
#[track_caller]
fn server_on(redis: &RedisServer) -> ServerProcess {
    server_process(&["--redis", &redis.url(), "--room", "test"])
}

/// A message as a desk saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    id: MessageId,
    name: String,
    text: String,
}

/// The `MSG` (or, with `history`, `HIST`) in `line`.
fn seen(line: &str, history: bool) -> Option<Seen> {
    match ServerLine::parse(line) {
        Ok(ServerLine::Msg(chat)) => Some(Seen {
            id: chat.id,
            name: chat.name.to_string(),
            text: chat.text.to_string(),
        }),
        Ok(ServerLine::History(chat)) if history => Some(Seen {
            id: chat.id,
            name: chat.name.to_string(),
            text: chat.text.to_string(),
        }),
        _ => None,
    }
}

/// A desk that keeps every message it was sent, in order.
struct Desk {
    client: Client,
    name: String,
    /// The epoch its `WELCOME` named.
    epoch: String,
    /// Its desk secret, from its `WELCOME`.
    secret: String,
    messages: Vec<Seen>,
    /// Every line, for failure messages and for notes.
    lines: Vec<String>,
}

impl Desk {
    /// Connects to `server` and takes `name`; the history is skipped.
    #[track_caller]
    fn join(server: &ServerProcess, name: &str) -> Desk {
        let mut client = Client::connect(server.addr());
        let welcome = take_name(&mut client, name);
        let (epoch, secret) = match ServerLine::parse(&welcome) {
            Ok(ServerLine::Welcome { epoch, desk, .. }) => (epoch.to_string(), desk.to_string()),
            other => panic!("expected a WELCOME, got {other:?}"),
        };
        Desk {
            client,
            name: name.to_string(),
            epoch,
            secret,
            messages: Vec::new(),
            lines: Vec::new(),
        }
    }

    fn say(&mut self, text: &str) {
        let line = format!("{}<SEP>{text}", self.name);
        self.client.send_line(&line);
    }

    /// Reads one line within `timeout`, keeping what it holds; false if none
    /// came.
    fn read_one(&mut self, timeout: Duration) -> bool {
        match self.client.next(timeout) {
            crate::common::Next::Line(line) => {
                if let Some(message) = seen(&line, false) {
                    self.messages.push(message);
                }
                self.lines.push(line);
                true
            }
            _ => false,
        }
    }

    /// Reads until `done` holds of what it has, within [`TIMEOUT`].
    #[track_caller]
    fn read_until(&mut self, what: &str, mut done: impl FnMut(&Desk) -> bool) {
        self.read_until_within(TIMEOUT, what, &mut done);
    }

    #[track_caller]
    fn read_until_within(
        &mut self,
        timeout: Duration,
        what: &str,
        done: &mut dyn FnMut(&Desk) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.read_one(left) {
                let start = self.lines.len().saturating_sub(10);
                panic!(
                    "{} expected {what} within {timeout:?}; last lines: {:?}",
                    self.name,
                    &self.lines[start..]
                );
            }
        }
    }

    /// Reads until it has `count` messages.
    #[track_caller]
    fn read_messages(&mut self, count: usize) {
        self.read_until(&format!("{count} messages"), |desk| {
            desk.messages.len() >= count
        });
    }

    /// Reads until a line satisfies `wanted`; returns it.
    #[track_caller]
    fn read_line_where(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let from = self.lines.len();
        self.read_until(what, |desk| desk.lines[from..].iter().any(|l| wanted(l)));
        self.lines[from..]
            .iter()
            .find(|l| wanted(l))
            .cloned()
            .expect("just found")
    }

    /// Nothing more arrives within a short while (what it does get is kept).
    fn settle(&mut self) {
        while self.read_one(Duration::from_millis(300)) {}
    }
}

/// The message texts, in order.
fn texts(messages: &[Seen]) -> Vec<String> {
    messages
        .iter()
        .map(|m| format!("{}: {}", m.name, m.text))
        .collect()
}

/// Every desk saw exactly `expected` messages, all the same, in one order,
/// with strictly increasing IDs.
#[track_caller]
fn assert_one_order(desks: &[Desk], expected: usize) {
    let first = &desks[0].messages;
    assert_eq!(
        first.len(),
        expected,
        "{}: {:?}",
        desks[0].name,
        texts(first)
    );
    assert!(
        first.windows(2).all(|pair| pair[0].id < pair[1].id),
        "IDs must increase: {first:?}"
    );
    for desk in &desks[1..] {
        assert_eq!(
            desk.messages, *first,
            "{} saw another sequence than {}",
            desk.name, desks[0].name
        );
    }
}

/// `servers` servers, two desks on each; every desk says a few things at
/// once; every desk sees every message once, in one order.
fn one_order_across(servers: usize) {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let processes: Vec<ServerProcess> = (0..servers).map(|_| server_on(&redis)).collect();
    let mut desks: Vec<Desk> = processes
        .iter()
        .enumerate()
        .flat_map(|(s, server)| (0..2).map(move |d| (s, d, server)))
        .map(|(s, d, server)| Desk::join(server, &format!("desk{s}x{d}")))
        .collect();
    const EACH: usize = 5;
    for round in 0..EACH {
        for desk in &mut desks {
            desk.say(&format!("round {round}"));
        }
    }
    let expected = desks.len() * EACH;
    for desk in &mut desks {
        desk.read_messages(expected);
        desk.settle();
    }
    assert_one_order(&desks, expected);
}

#[test]
fn two_servers_show_every_message_once_in_one_order() {
    one_order_across(2);
}

#[test]
fn three_servers_show_every_message_once_in_one_order() {
    one_order_across(3);
}

/// The history a newcomer gets is the room's, whichever server it joins:
/// one that was running (and saw the messages) and one started after them
/// (which reads them from the stream).
#[test]
fn a_newcomer_gets_the_same_history_on_every_server() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b) = (server_on(&redis), server_on(&redis));
    let mut alice = Desk::join(&a, "alice");
    let mut bob = Desk::join(&b, "bob");
    alice.say("one");
    bob.say("two");
    alice.say("three");
    alice.read_messages(3);
    bob.read_messages(3);
    let c = server_on(&redis);
    let history = |server: &ServerProcess| -> Vec<Seen> {
        let mut newcomer = Client::connect_silent(server.addr());
        newcomer.send_line("/ping");
        let mut seen_lines = Vec::new();
        loop {
            let line = newcomer.line();
            if line == "PONG" {
                return seen_lines;
            }
            seen_lines.extend(seen(&line, true));
        }
    };
    for server in [&a, &b, &c] {
        assert_eq!(
            history(server),
            alice.messages,
            "history on {}",
            server.addr()
        );
    }
}

#[test]
fn names_are_unique_across_servers() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b) = (server_on(&redis), server_on(&redis));
    let mut alice = Desk::join(&a, "alice");
    let mut other = Client::connect(b.addr());
    other.send_line("ALICE<SEP>hi");
    // Her JOIN, from the stream, may come first.
    other.wait_for("ERR name-taken", |line| {
        line.starts_with("ERR<SEP>name-taken<SEP>")
    });
    // Free again once she leaves; the other server hears it.
    alice.client.send_line("/quit");
    other.wait_for("alice's LEAVE", |line| {
        crate::common::is_leave(line, "alice")
    });
    take_name(&mut other, "alice");
}

#[test]
fn who_lists_the_desks_of_every_server() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b) = (server_on(&redis), server_on(&redis));
    let mut alice = Desk::join(&a, "alice");
    let _bob = Desk::join(&b, "bob");
    alice.read_line_where("bob's JOIN", |line| crate::common::is_join(line, "bob"));
    alice.client.send_line("/who");
    let who = alice.read_line_where("a WHO", |line| line.starts_with("WHO<SEP>"));
    let people: Vec<&str> = who.split("<SEP>").skip(2).collect();
    assert!(who.starts_with("WHO<SEP>2<SEP>"), "{who}");
    assert!(
        people.iter().any(|p| p.starts_with("alice "))
            && people.iter().any(|p| p.starts_with("bob ")),
        "{who}"
    );
}

/// A direct message to a desk on another server reaches the two desks only,
/// and comes back on a third server to the desk that proves it is the
/// reader's; once there, that desk gets the next ones live.
#[test]
fn a_direct_message_crosses_servers_to_its_two_desks_only() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b, c) = (server_on(&redis), server_on(&redis), server_on(&redis));
    let mut alice = Desk::join(&a, "alice");
    let mut carol = Desk::join(&a, "carol");
    let mut bob = Desk::join(&b, "bob");
    alice.read_line_where("bob's JOIN", |line| crate::common::is_join(line, "bob"));
    alice.client.send_line("/msg bob psst");
    let is_dm = |line: &str| {
        line.starts_with("DM<SEP>")
            && line.ends_with("<SEP>alice<SEP>bright-yellow<SEP>bob<SEP>psst")
    };
    alice.read_line_where("her own DM", is_dm);
    bob.read_line_where("alice's DM", is_dm);
    carol.client.send_line("/ping");
    carol.read_line_where("PONG", |line| line == "PONG");
    carol.settle();
    assert!(
        !carol.lines.iter().any(|l| l.starts_with("DM<SEP>")),
        "a third desk got the DM: {:?}",
        carol.lines
    );

    bob.client.send_line("/quit");
    alice.read_line_where("bob's LEAVE", |line| crate::common::is_leave(line, "bob"));
    let mut back = Client::connect(c.addr());
    take_name(&mut back, "bob");
    back.send_line(&format!("/resume {} 0 {}", bob.epoch, bob.secret));
    back.wait_for("the DM replayed to bob's desk", |line| {
        line.starts_with("HISTDM<SEP>") && line.ends_with("<SEP>bob<SEP>psst")
    });
    // Said after the resume, so alice's server knows bob's desk once she
    // sees it.
    back.send_line("bob<SEP>ready");
    alice.read_until("bob's ready", |desk| {
        desk.messages.iter().any(|m| m.text == "ready")
    });
    alice.client.send_line("/msg bob again");
    back.wait_for("the next DM, live", |line| {
        line.starts_with("DM<SEP>") && line.ends_with("<SEP>bob<SEP>again")
    });
}

/// Takes `name` on `client`; in a shared room other lines may come between
/// its `WELCOME` and its `JOIN`, which comes from the log.
#[track_caller]
fn take_name(client: &mut Client, name: &str) -> String {
    client.send_line(&format!("/join {name}"));
    client.wait_for(&format!("WELCOME for {name}"), |line| {
        line.starts_with(&format!("WELCOME<SEP>{name}<SEP>"))
    })
}

/// A server dies with `kill -9` while its desk and a desk on another server
/// talk; the desk reconnects to the other server and resumes from the last
/// message it showed: it gets exactly what it missed. Meanwhile the dead
/// server's desks leave for the others, and its names are free again.
#[test]
fn a_killed_servers_desk_resumes_on_another_with_nothing_lost_or_doubled() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b) = (server_on(&redis), server_on(&redis));
    let mut alice = Desk::join(&a, "alice");
    let mut bob = Desk::join(&b, "bob");
    for n in 0..5 {
        alice.say(&format!("alice {n}"));
        bob.say(&format!("bob {n}"));
    }
    alice.read_messages(10);
    bob.read_messages(10);
    let shown = alice.messages.last().expect("alice saw messages").id;
    // Mid-run: alice's last words may or may not be stored; she never saw
    // them come back, so they are not hers to count.
    alice.say("famous last words");
    a.signal(libc::SIGKILL);
    for n in 5..10 {
        bob.say(&format!("bob {n}"));
    }
    bob.read_until("his own last message", |desk| {
        desk.messages.iter().any(|m| m.text == "bob 9")
    });
    let mut back = Client::connect(b.addr());
    back.send_line(&format!("/resume {} {shown}", alice.epoch));
    back.wait_for("RESUME", |line| line.starts_with("RESUME<SEP>"));
    let mut replayed = Vec::new();
    while let crate::common::Next::Line(line) = back.next(Duration::from_millis(500)) {
        replayed.extend(seen(&line, true));
    }
    let missed: Vec<Seen> = bob
        .messages
        .iter()
        .filter(|m| m.id > shown)
        .cloned()
        .collect();
    assert_eq!(
        texts(&replayed),
        texts(&missed),
        "the replay is what she missed"
    );
    assert_eq!(replayed, missed);
    let mut whole = alice.messages.clone();
    whole.extend(replayed);
    assert_eq!(
        whole, bob.messages,
        "nothing lost or doubled across the move"
    );

    bob.read_until_within(
        DEAD_SERVER_DEADLINE,
        "alice's LEAVE after her server died",
        &mut |desk| {
            desk.lines
                .iter()
                .any(|l| crate::common::is_leave(l, "alice"))
        },
    );
    let deadline = Instant::now() + DEAD_SERVER_DEADLINE;
    loop {
        back.send_line("/join alice");
        let answer = back.wait_for("an answer to /join", |line| {
            line.starts_with("WELCOME<SEP>") || line.starts_with("ERR<SEP>")
        });
        if answer.starts_with("WELCOME<SEP>alice<SEP>") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead server's name alice was not free within {DEAD_SERVER_DEADLINE:?}: {answer}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A desk whose server died comes back on another one with its desk secret
/// and gets its name at once, before the dead server is even counted dead;
/// the room sees its LEAVE from the old server before its JOIN on the new
/// one. A stranger without the secret still finds the name taken.
#[test]
fn a_desk_that_fails_over_takes_its_name_back_at_once() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b) = (server_on(&redis), server_on(&redis));
    let alice = Desk::join(&a, "alice");
    let mut bob = Desk::join(&b, "bob");
    a.signal(libc::SIGKILL);

    let mut stranger = Client::connect(b.addr());
    stranger.send_line("/join alice");
    let refused = stranger.wait_for("an answer to /join", |line| {
        line.starts_with("WELCOME<SEP>") || line.starts_with("ERR<SEP>")
    });
    assert!(
        refused.starts_with("ERR<SEP>name-taken<SEP>"),
        "without the desk's secret the name stays taken: {refused}"
    );

    let mut back = Client::connect(b.addr());
    back.send_line(&format!("/join alice {}", alice.secret));
    let welcome = back.wait_for("an answer to /join", |line| {
        line.starts_with("WELCOME<SEP>") || line.starts_with("ERR<SEP>")
    });
    assert!(
        welcome.starts_with("WELCOME<SEP>alice<SEP>") && welcome.ends_with(&alice.secret),
        "the desk gets its name and stays the same desk: {welcome}"
    );
    // In this order: each read starts after the line the one before found.
    bob.read_line_where("alice's LEAVE", |line| {
        crate::common::is_leave(line, "alice")
    });
    bob.read_line_where("alice's JOIN after it", |line| {
        crate::common::is_join(line, "alice")
    });
}

/// A server frozen (SIGSTOP) past its heartbeat's TTL counts as dead: its
/// desks leave for the others. Thawed, it finds out and its desks join
/// again, without telling its own desks the link was down.
#[test]
fn a_frozen_server_is_counted_dead_then_its_desks_join_again() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let (a, b) = (server_on(&redis), server_on(&redis));
    let mut alice = Desk::join(&a, "alice");
    let mut bob = Desk::join(&b, "bob");
    alice.read_line_where("bob's JOIN", |line| crate::common::is_join(line, "bob"));
    a.signal(libc::SIGSTOP);
    bob.read_until_within(
        DEAD_SERVER_DEADLINE,
        "alice's LEAVE while her server is frozen",
        &mut |desk| {
            desk.lines
                .iter()
                .any(|l| crate::common::is_leave(l, "alice"))
        },
    );
    a.signal(libc::SIGCONT);
    bob.read_line_where("alice's JOIN again", |line| {
        crate::common::is_join(line, "alice")
    });
    alice.say("still here");
    bob.read_until("alice's message", |desk| {
        desk.messages.iter().any(|m| m.text == "still here")
    });
    alice.settle();
    assert!(
        !alice.lines.iter().any(|l| l.starts_with("NOTE<SEP>")),
        "a signal is not a lost link: {:?}",
        alice.lines
    );
}

/// Redis goes away (killed) and comes back with its append-only file: the
/// desks stay connected, are told once, a message meanwhile is refused, and
/// after it returns every desk has seen every stored message once, in order.
#[test]
fn redis_away_refuses_tells_once_and_resumes_with_nothing_lost_or_doubled() {
    let Some(mut redis) = RedisServer::start_or_skip(Persistence::AppendFsyncAlways) else {
        return;
    };
    let (a, b) = (server_on(&redis), server_on(&redis));
    let mut alice = Desk::join(&a, "alice");
    let mut bob = Desk::join(&b, "bob");
    for n in 0..3 {
        alice.say(&format!("before {n}"));
        bob.say(&format!("before {n}"));
    }
    alice.read_messages(6);
    bob.read_messages(6);

    redis.kill();
    for desk in [&mut alice, &mut bob] {
        desk.read_line_where("the NOTE that messages cannot be saved", |line| {
            line.starts_with("NOTE<SEP>") && line.contains("cannot save")
        });
    }
    alice.say("while away");
    alice.read_line_where("ERR not-saved", |line| {
        line.starts_with("ERR<SEP>not-saved<SEP>")
    });
    alice.client.send_line("/ping");
    alice.read_line_where("PONG while Redis is away", |line| line == "PONG");
    // A name cannot be claimed: a goodbye, after which a desk retries.
    let mut newcomer = Client::connect(b.addr());
    newcomer.send_line("/join carol");
    newcomer.wait_for("a BYE", |line| line.starts_with("BYE<SEP>"));
    newcomer.expect_closed();

    redis
        .restart()
        .unwrap_or_else(|err| panic!("{err}; its log: {}", redis.log()));
    for desk in [&mut alice, &mut bob] {
        desk.read_line_where("the NOTE that messages are saved again", |line| {
            line.starts_with("NOTE<SEP>") && line.contains("saved and delivered again")
        });
    }
    for n in 0..3 {
        alice.say(&format!("after {n}"));
        bob.say(&format!("after {n}"));
    }
    alice.read_messages(12);
    bob.read_messages(12);
    alice.settle();
    bob.settle();
    let desks = [alice, bob];
    assert_one_order(&desks, 12);
    for desk in &desks {
        let notes = desk
            .lines
            .iter()
            .filter(|l| l.starts_with("NOTE<SEP>") && l.contains("cannot save"))
            .count();
        assert_eq!(
            notes, 1,
            "{} was told {notes} times: {:?}",
            desk.name, desk.lines
        );
        assert!(
            !desk.messages.iter().any(|m| m.text == "while away"),
            "a refused message was delivered"
        );
    }
}

#[test]
fn start_up_without_redis_exits_1_with_one_line() {
    let port = free_port().expect("a free port");
    let url = format!("redis://127.0.0.1:{port}");
    let output = run_cli(&["--host", "127.0.0.1", "--port", "0", "--redis", &url]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("chat-server: "))
        .unwrap_or_else(|| panic!("expected a 'chat-server: ' line, got {stderr:?}"));
    assert!(
        line.contains(&format!("the room's link {url}: cannot connect")),
        "{line}"
    );
}

/// A Redis that accepts connections and answers nothing (frozen): the
/// start gives up within its timeouts and says so in one line, instead of
/// hanging before it listens.
#[test]
fn start_up_with_a_frozen_redis_exits_1_with_one_line() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let url = redis.url();
    let frozen = Frozen::freeze(&redis);
    let output = run_cli(&["--host", "127.0.0.1", "--port", "0", "--redis", &url]);
    drop(frozen);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("chat-server: "))
        .unwrap_or_else(|| panic!("expected a 'chat-server: ' line, got {stderr:?}"));
    assert!(line.contains(&format!("the room's link {url}")), "{line}");
}
