//! Channel modes, KICK and INVITE on the real server: IRC clients and our
//! desks in the same rooms, governed by the same room rules. A room's maker
//! is its operator; +m silences a desk without voice, a kick puts a desk
//! out, a key, a limit, +i and a ban keep desks and IRC clients out; bad
//! MODE lines are numerics and bounded.

use crate::common::{config, start, Client};
use crate::irc::{desk, untagged, Irc};

/// `desk` enters `room` and waits for its `INROOM`.
fn desk_enters(desk: &mut Client, room: &str) {
    desk.send_line(&format!("/room join {room}"));
    desk.wait_for("INROOM", |line| {
        line.starts_with(&format!("INROOM<SEP>{room}<SEP>"))
    });
}

/// The next `ERR` a desk gets: its code.
fn desk_error(desk: &mut Client) -> String {
    let line = desk.wait_for("an ERR", |line| line.starts_with("ERR<SEP>"));
    line.split("<SEP>").nth(1).unwrap_or_default().to_string()
}

#[test]
fn a_moderated_room_silences_a_desk_until_it_has_voice() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    alice.send("JOIN #dev");
    let joined = alice.sync();
    let names = joined.iter().find(|l| l.contains(" 353 ")).unwrap();
    assert!(
        names.ends_with(":@alice"),
        "the maker is its operator: {names}"
    );
    let mut bob = desk(server.addr(), "bob");
    desk_enters(&mut bob, "#dev");
    alice.wait_for("JOIN #dev");

    alice.send("MODE #dev +m");
    assert_eq!(alice.sync(), [":alice!alice@irc MODE #dev +m"]);
    bob.wait_for("MODE", |line| line == "MODE<SEP>#dev<SEP>alice<SEP>+m");
    bob.send_line("/to #dev may I?");
    assert_eq!(desk_error(&mut bob), "cannot-send");
    alice.expect_quiet();

    alice.send("MODE #dev +v bob");
    assert_eq!(alice.sync(), [":alice!alice@irc MODE #dev +v bob"]);
    bob.wait_for("MODE", |line| line == "MODE<SEP>#dev<SEP>alice<SEP>+v bob");
    bob.send_line("/to #dev now I may");
    assert_eq!(
        untagged(&alice.wait_for("PRIVMSG")),
        ":bob!bob@desk PRIVMSG #dev :now I may"
    );
    alice.send("NAMES #dev");
    let names = alice.sync();
    assert!(names[0].ends_with(":@alice +bob"), "{names:?}");
    alice.send("WHO #dev");
    let who = alice.sync();
    assert!(who[0].contains(" alice H@ :0 "), "{who:?}");
    assert!(who[1].contains(" bob H+ :0 "), "{who:?}");
    alice.send("WHOIS alice");
    let whois = alice.sync();
    assert!(
        whois
            .iter()
            .any(|l| l.ends_with(" 319 alice alice :#main @#dev")),
        "{whois:?}"
    );
    // #main is listed only while the client shows it.
    alice.send("PART #main");
    alice.send("WHOIS alice");
    let whois = alice.sync();
    assert!(
        whois.iter().any(|l| l.ends_with(" 319 alice alice :@#dev")),
        "{whois:?}"
    );
}

#[test]
fn a_kick_puts_a_desk_and_an_irc_client_out_and_everyone_hears_it() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    alice.send("JOIN #dev");
    alice.sync();
    let mut bob = desk(server.addr(), "bob");
    desk_enters(&mut bob, "#dev");
    let mut carol = Irc::register(server.addr(), "carol", &[]);
    carol.send("JOIN #dev");
    carol.sync();
    alice.sync();

    carol.send("KICK #dev bob");
    let refused = carol.sync();
    assert!(refused[0].contains(" 482 carol #dev :"), "{refused:?}");

    alice.send("KICK #dev bob :too loud");
    assert_eq!(alice.sync(), [":alice!alice@irc KICK #dev bob :too loud"]);
    assert_eq!(
        carol.wait_for("KICK"),
        ":alice!alice@irc KICK #dev bob :too loud"
    );
    bob.wait_for("KICKED", |line| {
        line == "KICKED<SEP>#dev<SEP>bob<SEP>alice<SEP>too loud"
    });
    bob.send_line("/to #dev still here?");
    assert_eq!(desk_error(&mut bob), "not-in-room");

    // An IRC client kicked without a reason hears the kicker's nick.
    alice.send("KICK #dev carol");
    alice.sync();
    assert_eq!(
        carol.wait_for("KICK"),
        ":alice!alice@irc KICK #dev carol :alice"
    );
    carol.send("PRIVMSG #dev :back?");
    let refused = carol.sync();
    assert!(refused[0].contains(" 404 carol #dev :"), "{refused:?}");
    alice.send("KICK #dev carol");
    let gone = alice.sync();
    assert!(gone[0].contains(" 441 alice carol #dev :"), "{gone:?}");
    alice.send("KICK #nowhere carol");
    assert!(alice.sync()[0].contains(" 403 alice #nowhere "));
}

#[test]
fn a_key_a_limit_an_invitation_and_a_ban_keep_desks_and_clients_out() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    alice.send("JOIN #dev");
    alice.sync();

    alice.send("MODE #dev +k beer");
    assert_eq!(alice.sync(), [":alice!alice@irc MODE #dev +k beer"]);
    let mut bob = desk(server.addr(), "bob");
    bob.send_line("/room join #dev");
    assert_eq!(desk_error(&mut bob), "bad-key");
    bob.send_line("/room join #dev key wine");
    assert_eq!(desk_error(&mut bob), "bad-key");
    bob.send_line("/room join #dev key beer");
    bob.wait_for("INROOM", |line| line.starts_with("INROOM<SEP>#dev<SEP>"));
    assert_eq!(alice.wait_for("JOIN #dev"), ":bob!bob@desk JOIN #dev");

    alice.send("MODE #dev -k+l * 2");
    assert_eq!(alice.sync(), [":alice!alice@irc MODE #dev -k+l * 2"]);
    let mut dave = Irc::register(server.addr(), "dave", &[]);
    dave.send("JOIN #dev");
    assert!(dave.sync()[0].contains(" 471 dave #dev :"));

    alice.send("MODE #dev -l+i");
    alice.sync();
    dave.send("JOIN #dev");
    assert!(dave.sync()[0].contains(" 473 dave #dev :"));
    alice.send("INVITE dave #dev");
    let invited = alice.sync();
    assert!(invited[0].ends_with(" 341 alice dave :#dev"), "{invited:?}");
    assert_eq!(dave.wait_for("INVITE"), ":alice!alice@irc INVITE dave #dev");
    dave.send("JOIN #dev");
    assert_eq!(dave.sync()[0], ":dave!dave@irc JOIN #dev");

    alice.send("MODE #dev -i+b eve!*@*");
    alice.sync();
    let mut eve = desk(server.addr(), "eve");
    eve.send_line("/room join #dev");
    assert_eq!(desk_error(&mut eve), "banned");
    let mut evan = Irc::register(server.addr(), "Eve2", &[]);
    alice.send("MODE #dev +b *!eve2@irc");
    alice.sync();
    evan.send("JOIN #dev");
    assert!(evan.sync()[0].contains(" 474 Eve2 #dev :"));
    alice.send("MODE #dev b");
    let bans = alice.sync();
    assert!(
        bans[0].contains(" 367 alice #dev eve!*@* alice "),
        "{bans:?}"
    );
    assert!(
        bans[1].contains(" 367 alice #dev *!eve2@irc alice "),
        "{bans:?}"
    );
    assert!(bans[2].contains(" 368 alice #dev :"), "{bans:?}");
}

#[test]
fn a_desk_that_made_a_room_runs_it_for_irc_clients_too() {
    let server = start(config());
    let mut bob = desk(server.addr(), "bob");
    desk_enters(&mut bob, "#ops");
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    alice.send("JOIN #ops");
    alice.sync();
    alice.send("TOPIC #ops :mine now");
    let refused = alice.sync();
    assert!(refused[0].contains(" 482 alice #ops :"), "{refused:?}");
    alice.send("MODE #ops");
    let modes = alice.sync();
    assert!(modes[0].ends_with(" 324 alice #ops :+nt"), "{modes:?}");
    assert!(modes[1].contains(" 329 alice #ops "), "{modes:?}");

    bob.send_line("/room mode #ops +o alice");
    assert_eq!(alice.wait_for("MODE"), ":bob!bob@desk MODE #ops +o alice");
    alice.send("TOPIC #ops :ours");
    assert_eq!(alice.sync(), [":alice!alice@irc TOPIC #ops :ours"]);
    bob.send_line("/room mode #ops");
    bob.wait_for("MODE", |line| line == "MODE<SEP>#ops<SEP><SEP>+nt");
}

#[test]
fn bad_mode_lines_are_numerics_and_bounded() {
    let server = start(config());
    let mut alice = Irc::register(server.addr(), "alice", &[]);
    let burst = alice.burst.join("\n");
    for token in [
        " MAXLIST=b:50 ",
        " MODES=6 ",
        " CHANMODES=b,k,l,imnst ",
        " PREFIX=(ov)@+ ",
    ] {
        assert!(burst.contains(token), "{token}: {burst}");
    }
    alice.send("JOIN #dev");
    alice.sync();

    alice.send("MODE #dev +Xm");
    let out = alice.sync();
    assert!(out[0].contains(" 472 alice X :"), "{out:?}");
    assert_eq!(out[1], ":alice!alice@irc MODE #dev +m");
    for key in ["", " ", &"long".repeat(10)] {
        alice.send(&format!("MODE #dev +k :{key}"));
        let out = alice.sync();
        assert_eq!(out.len(), 1, "{key:?}: {out:?}");
        assert!(out[0].contains(" 696 alice #dev k * :"), "{key:?}: {out:?}");
    }
    // A limit that is not a positive number is ignored, without a word.
    for limit in ["0", "-1", "abc", ""] {
        alice.send(&format!("MODE #dev +l :{limit}"));
        assert!(alice.sync().is_empty(), "{limit:?}");
    }
    alice.send(&format!("MODE #dev +{} :{}", "z".repeat(400), "x"));
    let out = alice.sync();
    assert!(out.iter().all(|l| l.contains(" 472 alice z :")), "{out:?}");
    alice.send("MODE #dev +o nobody");
    assert!(alice.sync()[0].contains(" 401 alice nobody :"));
    alice.send("MODE #nowhere +m");
    assert!(alice.sync()[0].contains(" 403 alice #nowhere :"));

    // At most 6 changes with arguments in a line; 50 bans in a room.
    alice.send("MODE #dev +bbbbbbbb a!*@* b!*@* c!*@* d!*@* e!*@* f!*@* g!*@* h!*@*");
    let out = alice.sync();
    assert_eq!(
        out,
        [":alice!alice@irc MODE #dev +bbbbbb a!*@* b!*@* c!*@* d!*@* e!*@* f!*@*"]
    );
    for n in 0..50 {
        alice.send(&format!("MODE #dev +b n{n}!*@*"));
    }
    alice.send("MODE #dev +b");
    let listed = alice.sync();
    assert_eq!(listed.iter().filter(|l| l.contains(" 367 ")).count(), 50);
    assert!(listed.last().unwrap().contains(" 368 alice #dev :"));
}
