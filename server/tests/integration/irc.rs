//! IRC clients on the real server: raw IRC lines over real sockets, beside
//! our desks on the same port. Registration and the welcome burst, #main and
//! rooms shared with desks, direct messages and actions both ways, the
//! capabilities, logins onto accounts, and bad input that must hurt nobody.

use std::time::Duration;

use crate::common::{config, run_cli, server_process, start, Client, Next, TIMEOUT};
use chat_server::Config;

/// An IRC client: lines in and out with `\r\n`.
pub(crate) struct Irc {
    pub(crate) client: Client,
    /// What came after `001` at registration, up to the answer to a `PING`.
    pub(crate) burst: Vec<String>,
}

impl Irc {
    /// Connects without registering.
    pub(crate) fn connect(addr: std::net::SocketAddr) -> Irc {
        Irc {
            client: Client::connect_silent(addr),
            burst: Vec::new(),
        }
    }

    /// Connects over TLS (trusting `tls`) without registering.
    fn connect_tls(addr: std::net::SocketAddr, tls: std::sync::Arc<rustls::ClientConfig>) -> Irc {
        Irc {
            client: Client::connect_tls_silent(addr, tls, "localhost"),
            burst: Vec::new(),
        }
    }

    /// Connects and registers as `nick` with `caps` (none: no CAP at all),
    /// then takes the rest of the welcome burst (into `burst`).
    pub(crate) fn register(addr: std::net::SocketAddr, nick: &str, caps: &[&str]) -> Irc {
        let mut irc = Irc::connect(addr);
        if !caps.is_empty() {
            irc.send("CAP LS 302");
            irc.send(&format!("CAP REQ :{}", caps.join(" ")));
        }
        irc.send(&format!("NICK {nick}"));
        irc.send(&format!("USER {nick} 0 * :{nick} Real"));
        if !caps.is_empty() {
            irc.send("CAP END");
        }
        irc.wait_for(" 001 ");
        irc.burst = irc.sync();
        irc
    }

    pub(crate) fn send(&mut self, line: &str) {
        self.client.send(format!("{line}\r\n").as_bytes());
    }

    /// The next line, without its `\r`.
    pub(crate) fn line(&mut self) -> String {
        let line = self.client.line();
        line.strip_suffix('\r').unwrap_or(&line).to_string()
    }

    /// Skips lines until one contains `needle`; returns it.
    #[track_caller]
    pub(crate) fn wait_for(&mut self, needle: &str) -> String {
        let line = self
            .client
            .wait_for(&format!("a line with {needle:?}"), |line| {
                line.contains(needle)
            });
        line.trim_end_matches('\r').to_string()
    }

    /// Everything until our `PING` is answered, in order: what the server
    /// sent in answer to the lines before it.
    pub(crate) fn sync(&mut self) -> Vec<String> {
        self.send("PING sync");
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if line.ends_with("PONG office.chat sync") {
                return lines;
            }
            lines.push(line);
        }
    }

    /// Nothing arrives within a short while.
    #[track_caller]
    pub(crate) fn expect_quiet(&mut self) {
        let got = self.client.next(Duration::from_millis(300));
        assert_eq!(got, Next::TimedOut, "expected nothing");
    }
}

/// A desk of ours with a name.
pub(crate) fn desk(addr: std::net::SocketAddr, name: &str) -> Client {
    let mut desk = Client::connect(addr);
    desk.join(name);
    desk
}

/// The `PRIVMSG` lines among `lines`, without their tags.
pub(crate) fn privmsgs(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|line| untagged(line).to_string())
        .filter(|line| line.contains(" PRIVMSG "))
        .collect()
}

pub(crate) fn untagged(line: &str) -> &str {
    match line.strip_prefix('@') {
        Some(tagged) => tagged.split_once(' ').map_or("", |(_, rest)| rest),
        None => line,
    }
}

#[test]
fn an_irc_client_registers_and_shares_main_with_a_desk() {
    let server = start(config());
    let mut bob = desk(server.addr(), "bob");
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    let burst = alice.burst.clone();
    assert!(
        burst.iter().any(|l| l == ":alice!alice@irc JOIN #main"),
        "{burst:?}"
    );
    let names = burst.iter().find(|l| l.contains(" 353 ")).expect("NAMES");
    assert!(names.contains("alice") && names.contains("bob"), "{names}");
    // The desk sees a person join, as for any desk.
    bob.wait_for("alice's JOIN", |line| crate::common::is_join(line, "alice"));

    alice.send("PRIVMSG #main :hello from irc");
    bob.expect_msg("alice", "hello from irc");
    assert!(alice.sync().is_empty(), "no echo without echo-message");

    bob.say("bob", "hello from a desk");
    assert_eq!(
        alice.wait_for("PRIVMSG"),
        ":bob!bob@desk PRIVMSG #main :hello from a desk"
    );
    // WHO and WHOIS know the desk.
    alice.send("WHOIS bob");
    let whois = alice.sync();
    assert!(
        whois
            .iter()
            .any(|l| l.contains(" 311 alice bob bob desk * ")),
        "{whois:?}"
    );
    assert!(
        whois.iter().any(|l| l.contains(" 318 alice bob ")),
        "{whois:?}"
    );
    // Our desks list the IRC client in /who.
    bob.send_line("/who");
    let who = bob.wait_for("WHO", |line| line.starts_with("WHO<SEP>"));
    assert!(who.contains("<SEP>alice "), "{who}");

    alice.send("QUIT :bye");
    alice.wait_for("ERROR");
    bob.wait_for("alice's LEAVE", |line| {
        crate::common::is_leave(line, "alice")
    });
}

#[test]
fn a_room_is_a_channel_for_irc_clients_and_desks_alike() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    alice.send("JOIN #dev");
    let joined = alice.sync();
    assert_eq!(joined[0], ":alice!alice@irc JOIN #dev", "{joined:?}");
    assert!(
        joined.iter().any(|l| l.contains(" 366 alice #dev ")),
        "{joined:?}"
    );

    let mut bob = desk(server.addr(), "bob");
    bob.send_line("/room join #dev");
    bob.wait_for("INROOM", |line| line.starts_with("INROOM<SEP>#dev<SEP>"));
    assert_eq!(alice.wait_for("JOIN #dev"), ":bob!bob@desk JOIN #dev");

    alice.send("TOPIC #dev :shipping friday");
    bob.wait_for("TOPIC", |line| {
        line.starts_with("TOPIC<SEP>#dev<SEP>") && line.ends_with("<SEP>alice<SEP>shipping friday")
    });
    alice.send("PRIVMSG #dev :in the room");
    bob.wait_for("RMSG", |line| {
        line.starts_with("RMSG<SEP>#dev<SEP>") && line.ends_with("<SEP>in the room")
    });
    bob.send_line("/to #dev from the desk");
    assert_eq!(
        untagged(&alice.wait_for("PRIVMSG")),
        ":bob!bob@desk PRIVMSG #dev :from the desk"
    );

    // A late IRC client sees the topic and both members.
    let mut carol = Irc::register(server.addr(), "carol", &[]);
    carol.send("JOIN #dev");
    let joined = carol.sync();
    assert!(
        joined
            .iter()
            .any(|l| l.ends_with(" 332 carol #dev :shipping friday")),
        "{joined:?}"
    );
    let names = joined.iter().find(|l| l.contains(" 353 ")).unwrap();
    assert!(names.ends_with(":@alice bob carol"), "{names}");
    carol.send("TOPIC #dev");
    let topic = carol.sync();
    assert!(
        topic[0].ends_with(" 332 carol #dev :shipping friday"),
        "{topic:?}"
    );
    assert!(topic[1].contains(" 333 carol #dev alice "), "{topic:?}");

    alice.send("PART #dev");
    assert!(alice
        .sync()
        .ends_with(&[":alice!alice@irc PART #dev".to_string()]));
    bob.wait_for("EXIT", |line| {
        line.starts_with("EXIT<SEP>#dev<SEP>") && line.contains("<SEP>alice<SEP>")
    });
    assert_eq!(carol.wait_for("PART"), ":alice!alice@irc PART #dev");
}

#[test]
fn direct_messages_and_actions_go_both_ways_without_control_bytes() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    let mut bob = desk(server.addr(), "bob");
    alice.send("PRIVMSG bob :\x01ACTION waves\x01");
    let dm = bob.wait_for("DM", |line| line.starts_with("DM<SEP>"));
    assert!(dm.ends_with("<SEP>bob<SEP>/me waves"), "{dm}");
    alice.send("PRIVMSG bob :\x02bold\x02 and \x0304red\x03");
    let dm = bob.wait_for("DM", |line| line.starts_with("DM<SEP>"));
    assert!(
        dm.ends_with("<SEP>bob<SEP>bold and red"),
        "formatting codes dropped: {dm:?}"
    );
    bob.send_line("/msg alice /me nods");
    assert_eq!(
        alice.wait_for("PRIVMSG"),
        ":bob!bob@desk PRIVMSG alice :\x01ACTION nods\x01"
    );
    // A CTCP request has no meaning for desks: it is dropped, not relayed.
    alice.send("PRIVMSG bob :\x01VERSION\x01");
    alice.send("PRIVMSG bob :after");
    let next = bob.wait_for("DM", |line| {
        line.starts_with("DM<SEP>") && !line.ends_with("nods")
    });
    assert!(next.ends_with("<SEP>after"), "{next}");
    alice.send("PRIVMSG nobody :hi");
    let refused = alice.sync();
    assert!(refused[0].contains(" 401 alice nobody "), "{refused:?}");
}

#[test]
fn capabilities_bring_echo_time_and_message_ids() {
    let server = start(config());
    let mut alice = Irc::register(
        server.addr(),
        "alice",
        &["echo-message", "server-time", "message-tags"],
    );
    let mut bob = Irc::register(server.addr(), "bob", &[]);
    alice.sync();
    bob.sync();
    alice.send("PRIVMSG #main :tagged");
    let echoed = alice.sync();
    assert_eq!(
        echoed.len(),
        1,
        "the echo comes before the PONG: {echoed:?}"
    );
    let echo = &echoed[0];
    assert!(echo.starts_with("@time=20"), "{echo}");
    assert!(echo.contains(";msgid="), "{echo}");
    assert!(
        echo.ends_with(":alice!alice@irc PRIVMSG #main :tagged"),
        "{echo}"
    );
    let plain = bob.wait_for("PRIVMSG");
    assert_eq!(
        plain, ":alice!alice@irc PRIVMSG #main :tagged",
        "no tags without caps"
    );
    alice.send("CAP LIST");
    let list = alice.sync();
    assert!(
        list[0].ends_with("LIST :server-time message-tags echo-message cap-notify"),
        "{list:?}"
    );
}

#[test]
fn a_long_desk_message_reaches_irc_split_never_cut() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    let mut bob = desk(server.addr(), "bob");
    let words: Vec<String> = (0..600).map(|n| format!("w{n}")).collect();
    let text = words.join(" ");
    bob.say("bob", &text);
    let mut got = String::new();
    while got.len() < text.len() {
        let line = alice.wait_for("PRIVMSG");
        assert!(
            line.len() + 2 <= 512,
            "an IRC line is at most 512 bytes: {}",
            line.len()
        );
        got.push_str(line.split_once(" :").unwrap().1);
    }
    assert_eq!(got, text);
}

#[test]
fn history_is_shown_on_joining_to_clients_that_take_server_time() {
    let server = start(config());
    let mut bob = desk(server.addr(), "bob");
    bob.say("bob", "before you came");
    bob.send_line("/room join #dev");
    bob.wait_for("INROOM", |line| line.starts_with("INROOM<SEP>"));
    bob.send_line("/to #dev room history");
    bob.wait_for("RMSG", |line| line.starts_with("RMSG<SEP>"));
    let mut alice = Irc::register(server.addr(), "alice", &["server-time"]);
    let seen = privmsgs(&alice.burst);
    assert_eq!(seen, [":bob!bob@desk PRIVMSG #main :before you came"]);
    alice.send("JOIN #dev");
    let joined = alice.sync();
    assert_eq!(
        privmsgs(&joined),
        [":bob!bob@desk PRIVMSG #dev :room history"]
    );
    assert!(joined.iter().any(|l| l.starts_with("@time=")), "{joined:?}");
    // Without server-time old lines would look new: none are sent.
    let carol = Irc::register(server.addr(), "carol", &[]);
    assert!(privmsgs(&carol.burst).is_empty(), "{:?}", carol.burst);
}

#[test]
fn a_taken_name_is_433_with_the_nick_asked_for_and_lookalikes_count() {
    let server = start(config());
    let _bob = desk(server.addr(), "bob");
    let mut other = Irc::connect(server.addr());
    other.send("NICK BOB");
    other.send("USER x 0 * :x");
    assert!(other.wait_for(" 433 ").contains(" 433 * BOB :"));
    other.send("NICK b\u{043e}b"); // Cyrillic о
    assert!(other.wait_for(" 433 ").contains(" 433 * b\u{043e}b :"));
    other.send("NICK bobby");
    other.wait_for(" 001 bobby ");
    other.sync();
    // A taken name is still 433; a free one is taken.
    other.send("NICK bob");
    assert!(other.sync()[0].contains(" 433 bobby bob "));
    other.send("NICK robert");
    assert_eq!(other.sync(), [":bobby!x@irc NICK robert"]);
}

#[test]
fn a_desk_named_nick_is_still_a_desk() {
    let server = start(config());
    let mut desk = Client::connect_silent(server.addr());
    desk.send_line("NICK<SEP>hello");
    desk.wait_for("WELCOME", |line| line.starts_with("WELCOME<SEP>NICK<SEP>"));
    desk.expect_msg("NICK", "hello");
}

#[test]
fn bad_input_is_refused_and_hurts_nobody() {
    let server = start(config());
    let mut bob = desk(server.addr(), "bob");
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    alice.sync();
    alice.send("FROBNICATE now");
    assert!(alice.sync()[0].contains(" 421 alice FROBNICATE "));
    alice.send(&format!("PRIVMSG #main :{}", "x".repeat(600)));
    assert!(alice.sync()[0].contains(" 417 alice "));
    alice.send(&format!("@+tag={} PRIVMSG #main :hi", "t".repeat(5000)));
    assert!(alice.sync()[0].contains(" 417 alice "));
    // A flood of renames is a flood of lines like any other, each told.
    for n in 0..30 {
        alice.send(&format!("NICK loop{n}"));
    }
    alice.send("NICK alice");
    let renamed = alice.sync();
    assert_eq!(renamed.len(), 31, "{renamed:?}");
    assert!(renamed.iter().all(|l| l.contains(" NICK ")), "{renamed:?}");
    assert_eq!(renamed[30], ":loop29!alice@irc NICK alice");
    for n in 0..20 {
        alice.send(&format!("PRIVMSG bob :\x01PING {n}\x01"));
    }
    // Rooms are capped: a flood of JOINs ends in 405s.
    let many: Vec<String> = (0..60).map(|n| format!("#r{n}")).collect();
    alice.send(&format!("JOIN {}", many.join(",")));
    let joined = alice.sync();
    assert!(
        joined.iter().any(|l| l.contains(" 405 alice ")),
        "{joined:?}"
    );
    // And the desk still chats, and got none of the CTCP flood.
    bob.say("bob", "still here");
    assert!(privmsgs(&alice.sync())
        .iter()
        .any(|l| l.ends_with(":still here")));
    let (lines, _, _) = bob.drain(Duration::from_millis(300));
    assert!(lines.iter().all(|l| !l.starts_with("DM<SEP>")), "{lines:?}");
}

#[test]
fn a_client_that_never_registers_is_closed_at_the_login_timeout() {
    let server = start(Config {
        login_timeout: Duration::from_secs(1),
        ..config()
    });
    let mut lurker = Irc::connect(server.addr());
    lurker.send("NICK lurker");
    let (lines, _, end) = lurker.client.drain(TIMEOUT);
    assert!(end.is_some(), "closed: {lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("ERROR :")), "{lines:?}");
    // A registered client is not.
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    std::thread::sleep(Duration::from_millis(1500));
    alice.sync();
}

#[test]
fn commands_before_registration_are_451_and_ping_is_answered() {
    let server = start(config());
    let mut early = Irc::connect(server.addr());
    early.send("CAP LS");
    early.wait_for("CAP * LS :");
    early.send("JOIN #x");
    assert!(early.wait_for(" 451 ").contains(" 451 * :"));
    early.send("PING early");
    early.wait_for("PONG office.chat early");
    early.expect_quiet();
}

/// Makes an account with the real `user add` and returns its token.
fn add_account(db: &std::path::Path, name: &str) -> String {
    let output = run_cli(&["user", "add", name, "--db", db.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn with_accounts_irc_clients_log_in_with_sasl_or_pass_as_their_account() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("room.db");
    let token = add_account(&db, "Alice");
    let server = server_process(&["--db", db.to_str().unwrap(), "--auth", "token"]);

    let mut sasl = Irc::connect(server.addr());
    sasl.send("CAP LS 302");
    assert!(sasl.wait_for("CAP * LS").contains("sasl=PLAIN"));
    sasl.send("CAP REQ :sasl");
    sasl.send("NICK whatever");
    sasl.send("USER a 0 * :A");
    sasl.send("AUTHENTICATE PLAIN");
    sasl.wait_for("AUTHENTICATE +");
    let blob = base64::engine::general_purpose::STANDARD.encode(format!("\0alice\0{token}"));
    sasl.send(&format!("AUTHENTICATE {blob}"));
    sasl.wait_for(" 903 ");
    sasl.send("CAP END");
    // The account's name, whatever NICK said.
    sasl.wait_for(" 001 Alice ");
    sasl.send("QUIT");
    sasl.wait_for("ERROR");

    let mut pass = Irc::connect(server.addr());
    pass.send(&format!("PASS alice:{token}"));
    pass.send("NICK alice");
    pass.send("USER a 0 * :A");
    pass.wait_for(" 001 Alice ");

    let mut wrong = Irc::connect(server.addr());
    wrong.send("PASS alice:nope");
    wrong.send("NICK alice2");
    wrong.send("USER a 0 * :A");
    assert!(wrong.wait_for(" 464 ").contains("464"));
    wrong.wait_for("ERROR");
    let mut none = Irc::connect(server.addr());
    none.send("NICK eve");
    none.send("USER e 0 * :E");
    none.wait_for(" 464 ");
    assert!(none.client.drain(TIMEOUT).2.is_some(), "closed");
}

#[test]
fn main_may_be_left_and_joined_again_and_kept_out_of_by_a_flag() {
    let server = start(Config {
        irc: chat_server::config::Irc {
            join_main: false,
            ..Config::default().irc
        },
        ..config()
    });
    let mut bob = desk(server.addr(), "bob");
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    assert!(
        alice.burst.iter().all(|l| !l.contains(" JOIN ")),
        "{:?}",
        alice.burst
    );
    bob.say("bob", "not for alice");
    alice.send("PRIVMSG #main :not joined");
    assert!(alice.sync()[0].contains(" 404 alice #main "));
    alice.send("JOIN #main");
    let joined = alice.sync();
    assert_eq!(joined[0], ":alice!alice@irc JOIN #main");
    bob.say("bob", "now for alice");
    assert_eq!(
        privmsgs(&alice.sync()),
        [":bob!bob@desk PRIVMSG #main :now for alice"]
    );
    alice.send("PART #main");
    assert_eq!(alice.sync(), [":alice!alice@irc PART #main"]);
    // Still a person on the server, whom desks can write to.
    bob.send_line("/msg alice still there?");
    assert!(alice
        .wait_for("PRIVMSG")
        .ends_with("PRIVMSG alice :still there?"));
}

#[test]
fn an_irc_port_takes_irc_alone_beside_the_main_port() {
    let server = server_process(&["--irc-port", "0"]);
    let line = server.wait_for_log("IRC alone on ");
    let irc_addr: std::net::SocketAddr = line
        .split("IRC alone on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("expected an address in {line:?}"));
    assert_ne!(irc_addr, server.addr());
    let mut bob = desk(server.addr(), "bob");
    let mut alice = Irc::register(irc_addr, "alice", &[]);
    bob.wait_for("alice's JOIN", |line| crate::common::is_join(line, "alice"));
    bob.say("bob", "across the doors");
    assert!(alice
        .wait_for("PRIVMSG")
        .ends_with("PRIVMSG #main :across the doors"));
    // On the IRC port a desk's line is not a desk's: it is refused as IRC.
    let mut stray = Irc::connect(irc_addr);
    stray.send("carol<SEP>hello");
    assert!(stray.wait_for(" 451 ").contains(" 451 * :"));
}

#[test]
fn chathistory_answers_from_the_rooms_log_in_a_batch() {
    let server = start(config());
    let mut bob = desk(server.addr(), "bob");
    bob.send_line("/room join #dev");
    bob.wait_for("INROOM", |line| line.starts_with("INROOM<SEP>"));
    for n in 1..=5 {
        bob.send_line(&format!("/to #dev m{n}"));
        bob.wait_for("RMSG", |line| line.ends_with(&format!("<SEP>m{n}")));
    }
    let caps = ["batch", "draft/chathistory", "server-time", "message-tags"];
    let mut alice = Irc::register(server.addr(), "alice", &caps);
    alice.send("JOIN #dev");
    let joined = alice.sync();
    assert!(
        privmsgs(&joined).is_empty(),
        "no history on joining: {joined:?}"
    );

    alice.send("CHATHISTORY LATEST #dev * 3");
    let latest = alice.sync();
    assert!(
        latest[0].ends_with(" BATCH +history3 chathistory #dev"),
        "{latest:?}"
    );
    assert!(
        latest.last().unwrap().ends_with(" BATCH -history3"),
        "{latest:?}"
    );
    let texts = |lines: &[String]| -> Vec<String> {
        privmsgs(lines)
            .iter()
            .map(|line| line.rsplit(" :").next().unwrap().to_string())
            .collect()
    };
    assert_eq!(texts(&latest), ["m3", "m4", "m5"]);
    assert!(latest[1].starts_with("@batch=history3;time="), "{latest:?}");
    let msgid = |line: &str| -> String {
        let tags = line.split(' ').next().unwrap();
        let id = tags
            .split(';')
            .find_map(|tag| tag.strip_prefix("msgid="))
            .unwrap();
        format!("msgid={id}")
    };
    let m3 = msgid(&latest[1]);
    alice.send(&format!("CHATHISTORY BEFORE #dev {m3} 2"));
    assert_eq!(texts(&alice.sync()), ["m1", "m2"]);
    alice.send(&format!("CHATHISTORY AFTER #dev {m3} 1"));
    assert_eq!(texts(&alice.sync()), ["m4"]);
    alice.send("CHATHISTORY LATEST #nowhere * 3");
    assert!(alice.sync()[0].contains("FAIL CHATHISTORY INVALID_TARGET"));
}

#[test]
fn an_irc_client_over_tls_shares_the_port_with_plain_desks() {
    let server = server_process(&["--tls"]);
    let tls = crate::common::tls::pinning(crate::common::tls::fingerprint_of(&server));
    let mut bob = desk(server.addr(), "bob");
    let mut alice = Irc::connect_tls(server.addr(), tls);
    alice.send("NICK alice");
    alice.send("USER alice 0 * :Alice");
    alice.wait_for(" 001 alice ");
    bob.wait_for("alice's JOIN", |line| crate::common::is_join(line, "alice"));
    alice.send("PRIVMSG #main :over TLS");
    bob.expect_msg("alice", "over TLS");
}

#[test]
fn away_is_told_to_those_who_ask_and_shown_in_whois() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &["away-notify"]);
    let mut bob = Irc::register(server.addr(), "bob", &[]);
    alice.sync();
    bob.send("AWAY :at lunch");
    assert!(bob.sync()[0].contains(" 306 bob "));
    assert_eq!(alice.wait_for("AWAY"), ":bob!bob@irc AWAY :at lunch");
    alice.send("WHOIS bob");
    assert!(alice
        .sync()
        .iter()
        .any(|l| l.ends_with(" 301 alice bob :at lunch")));
    alice.send("PRIVMSG bob :are you there?");
    assert!(alice
        .sync()
        .iter()
        .any(|l| l.ends_with(" 301 alice bob :at lunch")));
    bob.send("AWAY");
    assert!(bob.sync().iter().any(|l| l.contains(" 305 bob ")));
    assert_eq!(alice.wait_for("AWAY"), ":bob!bob@irc AWAY");
}
