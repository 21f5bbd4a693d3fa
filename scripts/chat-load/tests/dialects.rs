//! chat-load's IRC desks (`--irc`, `--irc-share`) and browser desks
//! (`--ws`) against the real chat-server (in-process, port 0): every
//! delivery arrives, in one order, whichever desks sent and read it.
//! Small volumes: the server is a debug build here.

mod common;

use common::{assert_complete_delivery, load, quiet_server, start_server};

const FANOUT: [&str; 9] = [
    "fanout",
    "-n",
    "40",
    "--senders",
    "8",
    "--rate",
    "2",
    "-d",
    "2",
];

#[track_caller]
fn assert_one_order(report: &chat_load::Report, receivers: u64) {
    let order = report.order.as_ref().expect("the order was checked");
    assert_eq!(order.receivers, receivers, "{order:?}");
    assert_eq!(order.receivers_differing, 0, "{order:?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn irc_desks_fan_out_like_ours() {
    let server = start_server(quiet_server());
    let report = load(&server, &[&FANOUT[..], &["--irc"]].concat());
    assert_complete_delivery(&report);
    assert_eq!(report.irc_share, 1.0);
    assert_one_order(&report, 40);
}

#[test]
fn irc_desks_and_ours_mixed_in_one_room_see_one_order() {
    let server = start_server(quiet_server());
    let report = load(&server, &[&FANOUT[..], &["--irc-share", "0.5"]].concat());
    assert_complete_delivery(&report);
    assert_eq!(report.irc_share, 0.5);
    assert_one_order(&report, 40);
}

#[test]
fn browser_desks_fan_out_like_ours() {
    let server = start_server(quiet_server());
    let report = load(&server, &[&FANOUT[..], &["--ws"]].concat());
    assert_complete_delivery(&report);
    assert!(report.ws);
    assert_one_order(&report, 40);
}

#[test]
fn idle_named_desks_of_each_dialect_stay_alive() {
    for desks in [&["--irc"][..], &["--ws", "--named"], &["--named"]] {
        let server = start_server(quiet_server());
        let report = load(&server, &[&["hold", "-n", "50", "-d", "1"], desks].concat());
        assert_complete_delivery(&report);
        assert_eq!(report.hold.map(|h| h.alive), Some(50), "{desks:?}");
    }
}
