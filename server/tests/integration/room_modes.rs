//! Room modes and kicks against the real binary and a real SQLite log: a
//! kick is kept (the desk does not come back to the room after a restart),
//! modes are not (a room read back is `+n`, without operators).

use crate::common::desks::{desk, desk_with, in_room};
use crate::common::*;

#[test]
fn a_kick_survives_a_restart_and_modes_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("room.db");
    let mut server = server_on(&db, &[]);
    let mut alice = desk(&server, "alice");
    let mut bob = desk(&server, "bob");
    let mut carol = desk(&server, "carol");
    for desk in [&mut alice, &mut bob, &mut carol] {
        desk.client.send_line("/room join #dev");
        in_room(&mut desk.client, "#dev");
    }
    alice.client.send_line("/room mode #dev +m");
    bob.client
        .wait_for("MODE", |l| l == "MODE<SEP>#dev<SEP>alice<SEP>+m");
    alice.client.send_line("/room kick #dev bob off you go");
    bob.client.wait_for("KICKED", |l| {
        l == "KICKED<SEP>#dev<SEP>bob<SEP>alice<SEP>off you go"
    });
    carol
        .client
        .wait_for("KICKED", |l| l.starts_with("KICKED<SEP>#dev<SEP>bob<SEP>"));
    server.signal(libc::SIGKILL);
    server.wait_exit(TIMEOUT).expect("killed");

    let server = server_on(&db, &[]);
    let mut carol = desk_with(&server, "carol", Some(&carol.secret));
    in_room(&mut carol.client, "#dev");
    carol.client.send_line("/room mode #dev");
    carol
        .client
        .wait_for("MODE", |l| l == "MODE<SEP>#dev<SEP><SEP>+n");
    let mut bob = desk_with(&server, "bob", Some(&bob.secret));
    bob.client.send_line("/to #dev am I back?");
    bob.client
        .wait_for("not-in-room", |l| l.starts_with("ERR<SEP>not-in-room<SEP>"));
    // Nobody is an operator of a room read back, and it is not moderated.
    carol.client.send_line("/room mode #dev +m");
    carol.client.wait_for("not-operator", |l| {
        l.starts_with("ERR<SEP>not-operator<SEP>")
    });
    carol.client.send_line("/to #dev still heard");
    carol.client.wait_for("RMSG", |l| {
        l.starts_with("RMSG<SEP>#dev<SEP>") && l.ends_with("<SEP>still heard")
    });
}
