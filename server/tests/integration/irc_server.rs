//! What the IRC front door answers about the server and its people, on the
//! real server over real sockets: operators (`OPER`, `KILL` of a desk and
//! of an IRC client, `WALLOPS`, `WHO` and `WHOIS` showing them), `WHOWAS`
//! and its bound, `NOTICE`, `PART` and `QUIT` reasons told to the room and
//! to nobody else, `NICK` changes, and the bad input around them.

use std::time::{Duration, Instant};

use crate::common::{config, start, Next};
use crate::irc::{desk, untagged, Irc};
use chat_server::secret::Oper;
use chat_server::Config;

/// A server whose operator is `root` with password `sesame`, IRC clients
/// out of `#main` unless `join_main`.
fn with_oper(join_main: bool) -> Config {
    Config {
        irc: chat_server::config::Irc {
            join_main,
            opers: vec![Oper::parse("root:sesame").unwrap()],
            ..Config::default().irc
        },
        ..config()
    }
}

/// The IRC client `nick`, made an operator.
fn oper(addr: std::net::SocketAddr, nick: &str) -> Irc {
    let mut irc = Irc::register(addr, nick, &[]);
    irc.send("OPER root sesame");
    let answer = irc.sync();
    assert!(answer[0].contains(&format!(" 381 {nick} ")), "{answer:?}");
    irc
}

#[test]
fn oper_takes_the_right_name_and_password_only() {
    // A server without operators refuses everyone.
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    alice.send("OPER root sesame");
    assert!(alice.sync()[0].contains(" 464 alice "));
    drop(server);

    let server = start(with_oper(true));
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    let mut bob = Irc::register(server.addr(), "bob", &[]);
    alice.wait_for("bob!bob@irc JOIN #main");
    alice.send("OPER root");
    assert!(alice.sync()[0].contains(" 461 alice OPER "));
    alice.send("OPER root wrong");
    assert!(alice.sync()[0].contains(" 464 alice "));
    alice.send("OPER admin sesame");
    assert!(alice.sync()[0].contains(" 464 alice "));
    bob.send("WHO alice");
    let who = bob.sync();
    assert!(who[0].contains(" 352 bob * alice irc "), "{who:?}");
    assert!(
        who[0].contains(" alice H :0 "),
        "not an operator yet: {who:?}"
    );

    alice.send("OPER root sesame");
    let answer = alice.sync();
    assert!(answer[0].contains(" 381 alice "), "{answer:?}");
    assert_eq!(answer[1], ":alice MODE alice +o");
    alice.send("MODE alice");
    assert!(alice.sync()[0].ends_with(" 221 alice :+o"));

    bob.send("WHO alice");
    assert!(bob.sync()[0].contains(" alice H* :0 "));
    bob.send("WHOIS alice");
    let whois = bob.sync();
    assert!(
        whois.iter().any(|l| l.contains(" 313 bob alice ")),
        "{whois:?}"
    );
    // LUSERS counts the operator.
    bob.send("LUSERS");
    let lusers = bob.sync();
    assert!(
        lusers.iter().any(|l| l.contains(" 252 bob 1 ")),
        "{lusers:?}"
    );
    // `-o` drops it, `+o` cannot take it back.
    alice.send("MODE alice -o");
    assert_eq!(alice.sync(), [":alice MODE alice -o"]);
    alice.send("MODE alice +o");
    assert!(alice.sync().is_empty());
    bob.send("WHOIS alice");
    assert!(bob.sync().iter().all(|l| !l.contains(" 313 ")));
}

#[test]
fn kill_needs_an_operator_and_ends_a_desk_or_an_irc_client() {
    let server = start(with_oper(false));
    let mut carol = desk(server.addr(), "carol");
    let mut bob = Irc::register(server.addr(), "bob", &[]);
    let mut dave = Irc::register(server.addr(), "dave", &[]);
    let mut erin = Irc::register(server.addr(), "erin", &[]);
    bob.send("JOIN #ops");
    bob.sync();
    dave.send("JOIN #ops");
    dave.sync();
    bob.sync();

    // Not an operator: 481, and nobody is harmed.
    bob.send("KILL carol :go away");
    assert!(bob.sync()[0].contains(" 481 bob "));
    bob.send("KILL bob :myself");
    assert!(bob.sync()[0].contains(" 481 bob "));
    carol.say("carol", "still here");

    let mut root = oper(server.addr(), "root");
    root.send("KILL nobody :who?");
    assert!(root.sync()[0].contains(" 401 root nobody "));
    root.send("KILL");
    assert!(root.sync()[0].contains(" 461 root KILL "));

    // A desk is told why, then closed.
    root.send("KILL carol :too loud");
    root.sync();
    let bye = carol.wait_for("BYE", |line| line.starts_with("BYE<SEP>"));
    assert_eq!(bye, "BYE<SEP>Killed (root (too loud))");
    carol.expect_closed();

    // An IRC client too; who shares a channel with it hears why, who
    // does not hears nothing.
    root.send("KILL bob :spam");
    root.sync();
    let error = bob.wait_for("ERROR");
    assert_eq!(error, "ERROR :Closing link: Killed (root (spam))");
    assert!(matches!(
        bob.client.next(Duration::from_secs(5)),
        Next::Closed(_)
    ));
    assert_eq!(
        dave.wait_for("QUIT"),
        ":bob!bob@irc QUIT :Killed (root (spam))"
    );
    erin.expect_quiet();
}

#[test]
fn wallops_go_to_operators_and_to_those_with_plus_w_only() {
    let server = start(with_oper(false));
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    let mut bob = Irc::register(server.addr(), "bob", &[]);
    let mut desk_carol = desk(server.addr(), "carol");
    alice.send("MODE alice +w");
    assert_eq!(alice.sync(), [":alice MODE alice +w"]);
    alice.send("MODE alice +w");
    assert!(alice.sync().is_empty(), "no change, nothing said");
    bob.send("MODE bob +x");
    assert!(bob.sync()[0].contains(" 501 bob "));

    bob.send("WALLOPS :not an operator");
    assert!(bob.sync()[0].contains(" 481 bob "));

    let mut root = oper(server.addr(), "root");
    root.send("WALLOPS :deploy at noon");
    assert_eq!(root.sync(), [":root!root@irc WALLOPS :deploy at noon"]);
    assert_eq!(
        alice.wait_for("WALLOPS"),
        ":root!root@irc WALLOPS :deploy at noon"
    );
    bob.expect_quiet();
    let (lines, _, _) = desk_carol.drain(Duration::from_millis(300));
    assert!(lines.iter().all(|l| !l.contains("deploy")), "{lines:?}");
}

#[test]
fn whowas_gives_the_latest_first_with_any_count_and_keeps_a_bounded_past() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    alice.send("WHOWAS bob");
    assert_eq!(
        alice.sync(),
        [
            ":office.chat 406 alice bob :There was no such nickname",
            ":office.chat 369 alice bob :End of WHOWAS",
        ]
    );
    for user in ["first", "second", "third"] {
        let mut bob = Irc::connect(server.addr());
        bob.send("NICK bob");
        bob.send(&format!("USER {user} 0 * :Bob {user}"));
        bob.wait_for(" 001 ");
        bob.send("QUIT :bye");
        bob.wait_for("ERROR");
        assert!(matches!(
            bob.client.next(Duration::from_secs(5)),
            Next::Closed(_)
        ));
    }
    let users = |lines: Vec<String>| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.contains(" 314 "))
            .map(|l| l.split(' ').nth(4).unwrap_or("").to_string())
            .collect()
    };
    // The bob that left last has gone (and left WHOWAS) by the time the
    // server answers a later line of alice's.
    alice.send("WHOWAS bob");
    assert_eq!(users(alice.sync()), ["third", "second", "first"]);
    alice.send("WHOWAS BOB 1");
    let one = alice.sync();
    assert_eq!(users(one.clone()), ["third"]);
    assert!(
        one[0].ends_with(" 314 alice bob third irc * :Bob third"),
        "{one:?}"
    );
    assert!(one[1].contains(" 312 alice bob office.chat "), "{one:?}");
    for count in ["0", "-1", "99999999999999999999999999", "lots"] {
        alice.send(&format!("WHOWAS bob {count}"));
        assert_eq!(users(alice.sync()).len(), 3, "count {count}");
    }
    alice.send("WHOWAS");
    assert!(alice.sync()[0].contains(" 431 alice "));

    // Past the bound, the oldest are forgotten.
    let bound = 256;
    for n in 0..bound {
        let mut gone = Irc::connect(server.addr());
        gone.send(&format!("NICK w{n}"));
        gone.send("USER w 0 * :W");
        gone.send("QUIT");
        gone.wait_for("ERROR");
    }
    alice.send("PING settle");
    alice.wait_for("PONG");
    // Each left when its socket closed, which the server may see a moment
    // after answering: wait until the last one is kept.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        alice.send(&format!("WHOWAS w{}", bound - 1));
        if alice.sync()[0].contains(" 314 ") {
            break;
        }
        assert!(Instant::now() < deadline, "w{} never kept", bound - 1);
        std::thread::sleep(Duration::from_millis(20));
    }
    alice.send("WHOWAS bob");
    assert!(
        alice.sync()[0].contains(" 406 alice bob "),
        "bob pushed out"
    );
    alice.send("WHOWAS w0");
    assert!(alice.sync()[0].contains(" 314 alice w0 "), "w0 still kept");
}

#[test]
fn a_notice_reaches_irc_clients_as_notice_and_desks_as_a_line() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &["echo-message"]);
    let mut bob = Irc::register(server.addr(), "bob", &[]);
    let mut carol = desk(server.addr(), "carol");
    for who in [&mut alice, &mut bob] {
        who.send("JOIN #dev");
        who.sync();
    }
    carol.send_line("/room join #dev");
    carol.wait_for("INROOM", |line| line.starts_with("INROOM<SEP>#dev<SEP>"));
    alice.sync();
    bob.sync();

    alice.send("NOTICE #dev :build is green");
    assert_eq!(
        untagged(&alice.wait_for("NOTICE #dev")),
        ":alice!alice@irc NOTICE #dev :build is green",
        "echo-message gives it back as a NOTICE"
    );
    assert_eq!(
        untagged(&bob.wait_for("NOTICE #dev")),
        ":alice!alice@irc NOTICE #dev :build is green"
    );
    carol.wait_for("RMSG", |line| {
        line.starts_with("RMSG<SEP>#dev<SEP>") && line.ends_with("<SEP>/notice build is green")
    });
    alice.send("NOTICE bob :just you");
    assert_eq!(
        untagged(&bob.wait_for("NOTICE bob")),
        ":alice!alice@irc NOTICE bob :just you"
    );
    // A PRIVMSG is still a PRIVMSG; a notice to nobody is not answered.
    alice.send("PRIVMSG #dev :plain");
    assert!(untagged(&bob.wait_for("#dev :plain")).contains(" PRIVMSG #dev "));
    alice.send("NOTICE nobody :hello?");
    let answer = alice.sync();
    assert!(answer.iter().all(|l| !l.contains(" 401 ")), "{answer:?}");
}

#[test]
fn part_and_quit_reasons_reach_those_in_the_room_and_nobody_else() {
    let server = start(with_oper(false));
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    let mut bob = Irc::register(server.addr(), "bob", &[]);
    let mut outsider = Irc::register(server.addr(), "outsider", &[]);
    let mut dave = desk(server.addr(), "dave");
    for who in [&mut alice, &mut bob] {
        who.send("JOIN #r");
        who.sync();
    }
    dave.send_line("/room join #r");
    dave.wait_for("INROOM", |line| line.starts_with("INROOM<SEP>#r<SEP>"));
    alice.sync();
    bob.sync();

    alice.send("PART #r :off to lunch");
    assert_eq!(
        alice.wait_for("PART"),
        ":alice!alice@irc PART #r :off to lunch"
    );
    assert_eq!(
        bob.wait_for("PART"),
        ":alice!alice@irc PART #r :off to lunch"
    );
    // Our desks get the reason too, after the colour.
    dave.wait_for("EXIT with the reason", |line| {
        line.starts_with("EXIT<SEP>#r<SEP>")
            && line.contains("<SEP>alice<SEP>")
            && line.ends_with("<SEP>off to lunch")
    });
    // A later PART without a reason has none.
    alice.send("JOIN #r");
    alice.sync();
    alice.send("PART #r");
    assert_eq!(bob.wait_for("PART"), ":alice!alice@irc PART #r");
    // One PART of two channels gives the reason to both of its own lines.
    alice.send("JOIN #r,#s");
    alice.sync();
    alice.send("PART #r,#s :two at once");
    assert_eq!(
        alice.sync(),
        [
            ":alice!alice@irc PART #r :two at once",
            ":alice!alice@irc PART #s :two at once"
        ]
    );
    alice.send("JOIN #r");
    alice.sync();
    bob.sync();

    alice.send("QUIT :gone home");
    alice.wait_for("ERROR");
    assert_eq!(
        bob.wait_for("QUIT"),
        ":alice!alice@irc QUIT :Quit: gone home"
    );
    dave.wait_for("LEAVE with the reason", |line| {
        line.starts_with("LEAVE<SEP>")
            && line.contains("<SEP>alice<SEP>")
            && line.ends_with("<SEP>Quit: gone home")
    });
    // A desk gives a reason when it leaves a room, and one that drops out
    // of a shared room is a QUIT too.
    dave.send_line("/room part #r back soon");
    assert_eq!(bob.wait_for("PART"), ":dave!dave@desk PART #r :back soon");
    dave.send_line("/room join #r");
    dave.wait_for("INROOM", |line| line.starts_with("INROOM<SEP>#r<SEP>"));
    bob.wait_for("JOIN #r");
    drop(dave);
    assert_eq!(bob.wait_for("QUIT"), ":dave!dave@desk QUIT :Quit: left");
    // Sharing no channel, the outsider heard none of it.
    outsider.expect_quiet();
}

#[test]
fn in_main_everyone_hears_a_quit() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    let mut bob = Irc::register(server.addr(), "bob", &[]);
    bob.send("QUIT :bye all");
    assert_eq!(alice.wait_for("QUIT"), ":bob!bob@irc QUIT :Quit: bye all");
}

#[test]
fn nick_changes_are_told_to_those_sharing_a_channel_and_free_the_old_nick() {
    let server = start(with_oper(false));
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    let mut bob = Irc::register(server.addr(), "bob", &[]);
    let mut outsider = Irc::register(server.addr(), "outsider", &[]);
    let mut carol = desk(server.addr(), "carol");
    for who in [&mut alice, &mut bob] {
        who.send("JOIN #r");
        who.sync();
    }
    alice.sync();

    bob.send("NICK Alice");
    assert!(
        bob.sync()[0].contains(" 433 bob Alice "),
        "a lookalike is taken"
    );
    bob.send("NICK bad*nick");
    assert!(bob.sync()[0].contains(" 432 bob bad*nick "));
    alice.send("NICK Alice");
    assert_eq!(alice.sync(), [":alice!alice@irc NICK Alice"]);
    assert_eq!(bob.sync(), [":alice!alice@irc NICK Alice"]);
    alice.send("NICK Alice");
    assert!(alice.sync().is_empty(), "no change, nothing said");
    bob.sync();
    alice.send("NICK malice");
    assert_eq!(alice.sync(), [":Alice!alice@irc NICK malice"]);
    outsider.expect_quiet();

    // The old nick is free, WHOWAS knows it, and desks reach the new one.
    let mut again = Irc::register(server.addr(), "alice", &[]);
    again.send("WHOWAS Alice");
    assert!(again.sync()[0].contains(" 314 alice Alice alice irc "));
    carol.send_line("/msg malice hi");
    assert_eq!(
        alice.wait_for("PRIVMSG"),
        ":carol!carol@desk PRIVMSG malice :hi"
    );
    alice.send("PRIVMSG carol :hello");
    carol.wait_for("DM", |line| {
        line.starts_with("DM<SEP>") && line.contains("<SEP>malice<SEP>")
    });
}

#[test]
fn who_masks_do_not_find_the_invisible_but_whole_nicks_and_shared_channels_do() {
    let server = start(with_oper(false));
    let mut evan = Irc::register(server.addr(), "evan", &[]);
    let mut sam = Irc::register(server.addr(), "sam", &[]);
    evan.send("MODE evan +i");
    assert_eq!(evan.sync(), [":evan MODE evan +i"]);
    sam.send("WHO eva*");
    assert_eq!(sam.sync().len(), 1, "only the end of the list");
    sam.send("WHO evan");
    assert!(sam.sync()[0].contains(" 352 sam * evan "));
    for who in [&mut evan, &mut sam] {
        who.send("JOIN #x");
        who.sync();
    }
    sam.send("WHO eva*");
    assert!(sam.sync()[0].contains(" 352 sam * evan "));
}

#[test]
fn oper_guesses_are_paced_like_every_other_line() {
    let server = start(Config {
        rate_limit: Some(5),
        ..with_oper(true)
    });
    let mut mallory = Irc::register(server.addr(), "mallory", &[]);
    let guesses = 30;
    let started = Instant::now();
    for n in 0..guesses {
        mallory.send(&format!("OPER root guess{n}"));
    }
    let answers = mallory.sync();
    let elapsed = started.elapsed();
    assert_eq!(
        answers
            .iter()
            .filter(|l| l.contains(" 464 mallory "))
            .count(),
        guesses,
        "{answers:?}"
    );
    // A burst of ten lines, then five a second: the 31 lines (the PING
    // too) take at least (31 - 10) / 5 seconds.
    assert!(elapsed >= Duration::from_millis(4200), "{elapsed:?}");
    // Pacing, not a lockout: the right password still works.
    mallory.send("OPER root sesame");
    assert!(mallory.sync()[0].contains(" 381 mallory "));
}
